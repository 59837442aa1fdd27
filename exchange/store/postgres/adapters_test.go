package postgres_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/store/postgres/pgtest"
	"github.com/pontexchange/pont/exchange/store/storetest"
)

// TestAdaptersAcrossNodes: two nodes on one database see each other's
// changes, are both told of them, and take turns on one adapter's
// rollbacks.
func TestAdaptersAcrossNodes(t *testing.T) {
	url := pgtest.NewDatabase(t)
	a, b := open(t, url), open(t, url)
	defer a.Close()
	defer b.Close()
	storetest.RunAdapterNodes(t, a, b)
}

func adapterVersion(name, version string) store.AdapterVersion {
	module := []byte("\x00asm\x01\x00\x00\x00" + name + version)
	sum := sha256.Sum256(module)
	return store.AdapterVersion{Name: name, Version: version, Owner: "L01080193", Services: []string{"padro"},
		Scope: "08019", ModuleSHA256: hex.EncodeToString(sum[:]), Module: module, PublishedAt: time.Now()}
}

// TestWatchAdaptersReconnects: a watch whose connection is cut listens
// again and then receives once, since changes may have been missed; it
// goes on receiving after, also when cut again.
func TestWatchAdaptersReconnects(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url := pgtest.NewDatabase(t)
	s := open(t, url)
	defer s.Close()
	admin := connect(t, url)
	w := s.WatchAdapters(ctx)
	receive := func(what string) {
		t.Helper()
		select {
		case _, ok := <-w:
			if !ok {
				t.Fatalf("%s: the watch is closed", what)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the watch received nothing", what)
		}
	}
	for round := range 2 {
		var cut int
		if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = 'pont-adapters-watch'`).Scan(&cut); err != nil {
			t.Fatal(err)
		}
		if cut != 1 {
			t.Fatalf("round %d: cut %d watch connections, want 1", round, cut)
		}
		// Nothing changed: only listening again makes it receive.
		receive("after the connection was cut")
		v := adapterVersion("padro", fmt.Sprint(round))
		if err := s.PublishAdapter(ctx, v); err != nil {
			t.Fatal(err)
		}
		receive("a publication after listening again")
		if _, err := s.ActivateAdapter(ctx, store.Activation{Name: v.Name, Version: v.Version, Kind: store.Activate, At: time.Now()}); err != nil {
			t.Fatal(err)
		}
		receive("an activation after listening again")
	}
}

// TestAdapterTablesAppendOnly: the database itself refuses to change a
// published version or the history of activations.
func TestAdapterTablesAppendOnly(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	s := open(t, url)
	defer s.Close()
	v := adapterVersion("padro", "1")
	if err := s.PublishAdapter(ctx, v); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ActivateAdapter(ctx, store.Activation{Name: v.Name, Version: v.Version, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	admin := connect(t, url)
	for _, sql := range []string{
		"UPDATE adapter_versions SET module = 'x'",
		"DELETE FROM adapter_versions",
		"UPDATE adapter_activations SET version = '2'",
		"DELETE FROM adapter_activations",
	} {
		if _, err := admin.Exec(ctx, sql); err == nil {
			t.Errorf("%s: nil error", sql)
		}
	}
	got, err := s.AdapterVersion(ctx, v.Name, v.Version)
	if err != nil || string(got.Module) != string(v.Module) {
		t.Errorf("the version after the refused changes: %v", err)
	}
}
