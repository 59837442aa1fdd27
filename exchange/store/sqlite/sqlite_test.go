package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/store/sqlite"
	"github.com/pontexchange/pont/exchange/store/storetest"
)

func open(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.New(context.Background(), sqlite.Config{Path: path})
	if err != nil {
		t.Fatalf("New(%s): %v", path, err)
	}
	return s
}

func TestConformance(t *testing.T) {
	var paths sync.Map // store.Store -> its file
	storetest.Run(t, func(t *testing.T) store.Store {
		path := filepath.Join(t.TempDir(), "pont.db")
		s := open(t, path)
		paths.Store(s, path)
		return s
	}, func(t *testing.T, s store.Store, sql string) {
		path, _ := paths.Load(s)
		db, err := sqlOpen(path.(string))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	})
}

// sqlOpen opens the file beside the store, as another process would.
func sqlOpen(path string) (*sql.DB, error) {
	return sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
}

func TestNewRefusesBadPaths(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file::memory:?cache=shared", "/tmp/x.db?mode=ro"} {
		if s, err := sqlite.New(context.Background(), sqlite.Config{Path: path}); err == nil {
			s.Close()
			t.Errorf("New(%q): nil error", path)
		}
	}
}

// TestReopen checks that records survive a reopen and that migrations are
// applied once, also when several stores open the same new file at once.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pont.db")
	var wg sync.WaitGroup
	stores := make([]*sqlite.Store, 4)
	errs := make([]error, len(stores))
	for i := range stores {
		wg.Go(func() {
			stores[i], errs[i] = sqlite.New(context.Background(), sqlite.Config{Path: path})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent New %d: %v", i, err)
		}
	}
	rec := store.Transfer{ID: "0192a000-0000-7000-8000-000000000001", Time: time.Now().UTC().Truncate(time.Microsecond),
		Node: "n", Kind: "query", RequesterOrg: "P0801900B", Service: "padro", Decision: store.Allow, Outcome: "ok"}
	if err := stores[0].AppendTransfers(context.Background(), []store.Transfer{rec}); err != nil {
		t.Fatalf("AppendTransfers: %v", err)
	}
	for _, s := range stores {
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}

	s := open(t, path)
	defer s.Close()
	got, err := s.GetTransfer(context.Background(), rec.ID)
	if err != nil || !got.Time.Equal(rec.Time) {
		t.Fatalf("after reopen: GetTransfer = %+v, %v", got, err)
	}

	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var versions, journal string
	if err := db.QueryRow(`SELECT group_concat(version) FROM schema_migrations`).Scan(&versions); err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	if versions != "1,2,3,4,5,6,7,8" {
		t.Errorf("schema_migrations versions = %q, want %q", versions, "1,2,3,4,5,6,7,8")
	}
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&journal); err != nil || journal != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", journal, err)
	}
}

// TestNewerSchemaRefused: a binary must not run on a schema it does not know.
func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pont.db")
	open(t, path).Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := sqlite.New(context.Background(), sqlite.Config{Path: path})
	if err == nil {
		s.Close()
		t.Fatal("New on a newer schema: nil error")
	}
	if !strings.Contains(err.Error(), "newer") {
		t.Errorf("err = %v, want one saying the schema is newer", err)
	}
}

// TestSealerAcrossStores: two Stores of one process on the same file share
// the sealing role: one Sealer at a time.
func TestSealerAcrossStores(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pont.db")
	a, b := open(t, path), open(t, path)
	defer a.Close()
	defer b.Close()
	x, err := a.AcquireSealer(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if y, err := b.AcquireSealer(ctx); !errors.Is(err, store.ErrUnavailable) {
		if y != nil {
			y.Release()
		}
		t.Fatalf("a second Store's AcquireSealer while the first's Sealer holds the role: %v, want ErrUnavailable", err)
	}
	// Closing a Store releases its Sealer.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	y, err := b.AcquireSealer(ctx)
	if err != nil {
		t.Fatalf("AcquireSealer after the first Store closed: %v", err)
	}
	defer y.Release()
	if _, _, err := x.Unsealed(context.Background(), 1); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Unsealed of a closed Store's Sealer: %v, want ErrUnavailable", err)
	}
}
