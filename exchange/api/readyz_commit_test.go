package api

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pontexchange/pont/exchange/store/postgres"
	"github.com/pontexchange/pont/exchange/store/postgres/pgtest"
)

// TestReadyzWhenTheLogCannotCommit turns the node's PostgreSQL database
// read-only, as a failover onto a standby leaves it: the schema is in place
// and every read answers, but no transaction that writes can commit, so the
// transfer log could record nothing. /readyz must answer 503 with nothing
// but {"status":"unavailable"}, and the store's readiness name the cause.
func TestReadyzWhenTheLogCannotCommit(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	st, err := postgres.New(ctx, postgres.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	base, logs := startReadyServer(t, st, Config{})
	if code, body := getBody(t, base+"/readyz"); code != http.StatusOK {
		t.Fatalf("readyz before = %d %s, want 200", code, body)
	}

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// Every new session of the database is read-only; the node's sessions
	// are ended, so that its pool opens new ones.
	for _, stmt := range []string{
		`DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET default_transaction_read_only = on', current_database()); END $$`,
		`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
	} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	// The first poll may find a session that was ended; the next ones
	// open read-only sessions that can read the schema, and not commit.
	for i := range 3 {
		if code, body := getBody(t, base+"/readyz"); code != http.StatusServiceUnavailable || body != `{"status":"unavailable"}` {
			t.Fatalf(`readyz poll %d of a read-only database = %d %s, want 503 {"status":"unavailable"} and nothing more`, i+1, code, body)
		}
	}
	if !strings.Contains(logs.String(), "not ready") {
		t.Errorf("the log does not say that the node is not ready:\n%s", logs)
	}
	// The log says why once a minute; the reason now is the database's.
	if err := st.Ready(ctx); err == nil || !strings.Contains(err.Error(), "read-only transaction") {
		t.Errorf("Ready() = %v, want the read-only database named", err)
	}
}
