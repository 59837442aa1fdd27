package query

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pontexchange/pont/exchange/store"
)

func TestRollbackTarget(t *testing.T) {
	act := func(v string) store.Activation { return store.Activation{Kind: store.Activate, Version: v} }
	back := func(v string) store.Activation { return store.Activation{Kind: store.Rollback, Version: v} }
	for _, c := range []struct {
		name    string
		history []store.Activation
		want    string
		err     error // nil: want; errBad: any other error
	}{
		{"never activated", nil, "", store.ErrNotFound},
		{"one version", []store.Activation{act("A")}, "", store.ErrNoEarlier},
		{"two versions", []store.Activation{act("A"), act("B")}, "A", nil},
		{"A, B, back to A", []store.Activation{act("A"), act("B"), back("A")}, "", store.ErrNoEarlier},
		{"A, B, C, back to B", []store.Activation{act("A"), act("B"), act("C"), back("B")}, "A", nil},
		{"A, B, C, back to B, C again", []store.Activation{act("A"), act("B"), act("C"), back("B"), act("C")}, "B", nil},
		{"A twice", []store.Activation{act("A"), act("A")}, "A", nil},
		{"a rollback to a version that was not under", []store.Activation{act("A"), act("B"), back("C")}, "", errBad},
		{"a rollback with nothing under", []store.Activation{act("A"), back("A")}, "", errBad},
		{"an unknown kind", []store.Activation{act("A"), {Kind: "undo", Version: "A"}}, "", errBad},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := RollbackTarget(c.history)
			switch {
			case c.err == errBad:
				if err == nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrNoEarlier) {
					t.Errorf("RollbackTarget = %q, %v; want an error about the history", got, err)
				}
			case !errors.Is(err, c.err) || got != c.want:
				t.Errorf("RollbackTarget = %q, %v; want %q, %v", got, err, c.want, c.err)
			}
		})
	}
}

var errBad = errors.New("a bad history")

func TestCheckAdapterVersion(t *testing.T) {
	module := []byte("\x00asm\x01\x00\x00\x00")
	sum := sha256.Sum256(module)
	good := store.AdapterVersion{Name: "padro-08019", Version: "1.0.0", Owner: "L01080193", Services: []string{"padro"},
		Scope: "08019", ModuleSHA256: hex.EncodeToString(sum[:]), KeyID: "k", Signature: strings.Repeat("s", 4*store.MaxText),
		Module: module, PublishedAt: time.Now(), PublishedBy: "publisher"}
	if err := CheckAdapterVersion(good); err != nil {
		t.Fatalf("a good version (with a signature longer than MaxText): %v", err)
	}
	for _, c := range []struct {
		name   string
		change func(*store.AdapterVersion)
		names  string // what the error must name
	}{
		{"no name", func(v *store.AdapterVersion) { v.Name = "" }, "Name"},
		{"@ in the name", func(v *store.AdapterVersion) { v.Name = "a@b" }, "a@b"},
		{"no version", func(v *store.AdapterVersion) { v.Version = "" }, "Version"},
		{"no module", func(v *store.AdapterVersion) { v.Module = nil }, "Module"},
		{"no time", func(v *store.AdapterVersion) { v.PublishedAt = time.Time{} }, "PublishedAt"},
		{"another module's hash", func(v *store.AdapterVersion) { v.Module = []byte("other") }, "ModuleSHA256"},
		{"uppercase hash", func(v *store.AdapterVersion) { v.ModuleSHA256 = strings.ToUpper(v.ModuleSHA256) }, "ModuleSHA256"},
		{"NUL in the version", func(v *store.AdapterVersion) { v.Version = "1\x00" }, "Version"},
		{"not UTF-8 in the signature", func(v *store.AdapterVersion) { v.Signature = "\xff" }, "Signature"},
		{"not UTF-8 in a service", func(v *store.AdapterVersion) { v.Services = []string{"padro", "\xfe"} }, "Services[1]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := good
			c.change(&v)
			err := CheckAdapterVersion(v)
			if err == nil || !strings.Contains(err.Error(), c.names) {
				t.Errorf("CheckAdapterVersion = %v; want an error naming %s", err, c.names)
			}
		})
	}
}

func TestCheckActivation(t *testing.T) {
	at := time.Now()
	a, err := CheckActivation(store.Activation{Seq: 9, Name: "padro", Version: "1", At: at, Actor: "op"})
	if err != nil || a.Kind != store.Activate || a.Seq != 0 {
		t.Errorf("CheckActivation without a kind = %+v, %v; want Kind %q and no Seq", a, err, store.Activate)
	}
	for _, bad := range []store.Activation{
		{Name: "padro", Version: "1", At: at, Kind: store.Rollback},
		{Name: "", Version: "1", At: at},
		{Name: "padro", Version: "", At: at},
		{Name: "padro", Version: "1"},
		{Name: "padro", Version: "1", At: at, Actor: "\x00"},
	} {
		if _, err := CheckActivation(bad); err == nil {
			t.Errorf("CheckActivation(%+v): nil error", bad)
		}
	}
}

// TestStorableEventKeepsAdapterMembers: a signature longer than MaxText
// is written again by Prune as it was, not cut.
func TestStorableEventKeepsAdapterMembers(t *testing.T) {
	e := store.Event{Kind: store.EventAdapterPublished, Signature: strings.Repeat("s", 3*store.MaxText), KeyID: "k\x00"}
	got := StorableEvent(e)
	if got.Signature != e.Signature {
		t.Errorf("the signature was altered: %d bytes, was %d", len(got.Signature), len(e.Signature))
	}
	if got.KeyID != `k\x00` {
		t.Errorf("KeyID = %q, want the NUL escaped", got.KeyID)
	}
}
