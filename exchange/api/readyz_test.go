package api

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/store/postgres"
	"github.com/pontexchange/pont/exchange/store/postgres/pgtest"
	"github.com/pontexchange/pont/exchange/store/sqlite"
	"github.com/pontexchange/pont/internal/testenv"
)

// readyStore is a real store that can say whether it is ready.
type readyStore interface {
	store.Store
	store.ReadinessChecker
}

// startReadyServer serves the whole API over st, with st.Ready as its
// readiness, and returns its URL and its log.
func startReadyServer(t *testing.T, st readyStore, cfg Config) (string, *testenv.SyncBuffer) {
	t.Helper()
	logs := &testenv.SyncBuffer{}
	cfg.Logger, cfg.Ready = slog.New(slog.NewTextHandler(logs, nil)), st.Ready
	srv, _ := startAPI(t, st, t.TempDir(), cfg)
	return srv.URL, logs
}

func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, strings.TrimSpace(string(body))
}

// TestReadyz breaks real stores as operators have broken them (a database
// recreated empty, a binary older than the schema, the transfers table
// gone) and as a full disk does (writes that do not commit), and checks
// that /readyz answers 503 with nothing but {"status":"unavailable"},
// while the reason reaches the node's log.
func TestReadyz(t *testing.T) {
	type backend struct {
		name string
		open func(t *testing.T) (readyStore, func(t *testing.T, sql string))
	}
	backends := []backend{
		{"sqlite", func(t *testing.T) (readyStore, func(*testing.T, string)) {
			path := filepath.Join(t.TempDir(), "pont.db")
			st, err := sqlite.New(context.Background(), sqlite.Config{Path: path})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			return st, func(t *testing.T, stmt string) {
				db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				if _, err := db.Exec(stmt); err != nil {
					t.Fatalf("%s: %v", stmt, err)
				}
			}
		}},
		{"postgres", func(t *testing.T) (readyStore, func(*testing.T, string)) {
			url := pgtest.NewDatabase(t)
			st, err := postgres.New(context.Background(), postgres.Config{URL: url})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			return st, func(t *testing.T, stmt string) {
				conn, err := pgx.Connect(context.Background(), url)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close(context.Background())
				if _, err := conn.Exec(context.Background(), stmt); err != nil {
					t.Fatalf("%s: %v", stmt, err)
				}
			}
		}},
	}
	breaks := []struct {
		name     string
		sqlite   string // statements, ';'-separated, run in one Exec
		postgres string
		logged   string // part of the logged reason
	}{
		{"as created", "", "", ""},
		{"recreated empty",
			"DROP TABLE transfers;DROP TABLE consents;DROP TABLE objections;DROP TABLE schema_migrations",
			"DROP SCHEMA public CASCADE; CREATE SCHEMA public",
			"schema_migrations"},
		{"a newer schema", "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '0999_future.sql', 0)",
			"INSERT INTO schema_migrations (version, name) VALUES (999, '0999_future.sql')",
			"the schema is at version 999"},
		{"transfers dropped", "DROP TABLE transfers", "DROP TABLE transfers CASCADE", "transfers"},
		// A store whose writes go through and whose commits fail, as on a
		// full disk: a constraint checked only at commit refuses every
		// transaction that writes the migrations' bookkeeping, which the
		// readiness check's heartbeat does.
		{"a commit refused",
			"CREATE TABLE commit_guard (id INTEGER PRIMARY KEY);" +
				"CREATE TABLE commit_refused (guard INTEGER REFERENCES commit_guard (id) DEFERRABLE INITIALLY DEFERRED);" +
				"CREATE TRIGGER refuse_commit AFTER UPDATE ON schema_migrations BEGIN INSERT INTO commit_refused VALUES (1); END",
			"CREATE FUNCTION refuse_commit() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'could not commit: no space left on device'; END$$;" +
				"CREATE CONSTRAINT TRIGGER refuse_commit AFTER UPDATE ON schema_migrations DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_commit()",
			"commit"},
	}
	for _, b := range backends {
		for _, br := range breaks {
			t.Run(b.name+"/"+br.name, func(t *testing.T) {
				st, exec := b.open(t)
				url, logs := startReadyServer(t, st, Config{})
				stmt := br.sqlite
				if b.name == "postgres" {
					stmt = br.postgres
				}
				if stmt == "" {
					if code, body := getBody(t, url+"/readyz"); code != http.StatusOK || body != `{"status":"ready"}` {
						t.Fatalf("readyz = %d %s, want 200 ready", code, body)
					}
					return
				}
				exec(t, stmt)
				code, body := getBody(t, url+"/readyz")
				if code != http.StatusServiceUnavailable || body != `{"status":"unavailable"}` {
					t.Fatalf(`readyz = %d %s, want 503 {"status":"unavailable"} and nothing more`, code, body)
				}
				if !strings.Contains(logs.String(), br.logged) || !strings.Contains(logs.String(), "not ready") {
					t.Errorf("the log does not say why (%q):\n%s", br.logged, logs)
				}
			})
		}
	}
}

// TestReadyzLogsOnceAMinute polls a store that is not ready as a load
// balancer would: the reason is logged once, not at every poll, and the
// node's return to readiness is logged once.
func TestReadyzLogsOnceAMinute(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pont.db")
	st, err := sqlite.New(context.Background(), sqlite.Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	url, logs := startReadyServer(t, st, Config{})
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	steps := []struct {
		name     string
		stmt     string
		polls    int
		code     int
		notReady int // "not ready" lines in the log after the step
		again    int // "ready again" lines
	}{
		{"ready", "", 3, http.StatusOK, 0, 0},
		{"a newer schema", "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'x', 0)", 20, http.StatusServiceUnavailable, 1, 0},
		{"repaired", "DELETE FROM schema_migrations WHERE version = 999", 5, http.StatusOK, 1, 1},
		{"broken again", "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'x', 0)", 5, http.StatusServiceUnavailable, 2, 1},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if s.stmt != "" {
				if _, err := db.Exec(s.stmt); err != nil {
					t.Fatal(err)
				}
			}
			for range s.polls {
				if code, body := getBody(t, url+"/readyz"); code != s.code {
					t.Fatalf("readyz = %d %s, want %d", code, body, s.code)
				}
			}
			out := logs.String()
			if n := strings.Count(out, `msg="not ready"`); n != s.notReady {
				t.Errorf(`%d "not ready" lines, want %d:\n%s`, n, s.notReady, out)
			}
			if n := strings.Count(out, `msg="ready again"`); n != s.again {
				t.Errorf(`%d "ready again" lines, want %d:\n%s`, n, s.again, out)
			}
		})
	}
}

// TestPrivateMetrics checks that a handler made for a production node
// leaves /metrics to MetricsHandler, and that a development one serves it.
func TestPrivateMetrics(t *testing.T) {
	for _, tt := range []struct {
		name    string
		private bool
		want    int
	}{{"development", false, http.StatusOK}, {"production", true, http.StatusNotFound}} {
		t.Run(tt.name, func(t *testing.T) {
			st, err := sqlite.New(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "pont.db")})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			url, _ := startReadyServer(t, st, Config{PrivateMetrics: tt.private})
			if code, _ := getBody(t, url+"/metrics"); code != tt.want {
				t.Errorf("GET /metrics = %d, want %d", code, tt.want)
			}
			if code, _ := getBody(t, url+"/openapi.json"); code != http.StatusOK {
				t.Errorf("GET /openapi.json = %d, want 200: the API's contract stays public", code)
			}
		})
	}
}
