package sqlite_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"testing"
	"time"

	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/store/storetest"
)

// TestAdaptersAcrossStores: two Stores of one process on one file see
// each other's changes and are both told of them.
func TestAdaptersAcrossStores(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pont.db")
	a, b := open(t, path), open(t, path)
	defer a.Close()
	defer b.Close()
	storetest.RunAdapterNodes(t, a, b)
}

// TestAdapterTablesAppendOnly: the database itself refuses to change a
// published version or the history of activations.
func TestAdapterTablesAppendOnly(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pont.db")
	s := open(t, path)
	defer s.Close()
	module := []byte("\x00asm\x01\x00\x00\x00")
	sum := sha256.Sum256(module)
	v := store.AdapterVersion{Name: "padro", Version: "1", Owner: "L01080193", ModuleSHA256: hex.EncodeToString(sum[:]),
		Module: module, PublishedAt: time.Now()}
	if err := s.PublishAdapter(ctx, v); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ActivateAdapter(ctx, store.Activation{Name: v.Name, Version: v.Version, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	db, err := sqlOpen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, sql := range []string{
		"UPDATE adapter_versions SET module = x'00'",
		"DELETE FROM adapter_versions",
		"UPDATE adapter_activations SET version = '2'",
		"DELETE FROM adapter_activations",
	} {
		if _, err := db.Exec(sql); err == nil {
			t.Errorf("%s: nil error", sql)
		}
	}
	got, err := s.AdapterVersion(ctx, v.Name, v.Version)
	if err != nil || string(got.Module) != string(v.Module) {
		t.Errorf("the version after the refused changes: %v", err)
	}
}
