package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/pontexchange/pont/exchange/witness"
)

func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := pontRun(t, "keygen", "--name", "pont.example/log", "--out", filepath.Join(dir, "log"))
	if code != 0 {
		t.Fatalf("pont keygen: %d %s", code, errs)
	}
	vkey := strings.TrimSpace(out)
	if _, err := note.NewVerifier(vkey); err != nil || !strings.HasPrefix(vkey, "pont.example/log+") {
		t.Errorf("a log's vkey %q: %v", vkey, err)
	}
	if raw, _ := os.ReadFile(filepath.Join(dir, "log.vkey")); string(raw) != vkey+"\n" {
		t.Errorf("log.vkey = %q, want %q", raw, vkey)
	}
	fi, err := os.Stat(filepath.Join(dir, "log.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("log.key: %v %v; want mode 0600", fi, err)
	}
	skey, _ := os.ReadFile(filepath.Join(dir, "log.key"))
	if _, err := note.NewSigner(strings.TrimSpace(string(skey))); err != nil {
		t.Errorf("log.key: %v", err)
	}

	code, out, errs = pontRun(t, "keygen", "--witness", "--name", "witness.example", "--out", filepath.Join(dir, "w"))
	if code != 0 {
		t.Fatalf("pont keygen --witness: %d %s", code, errs)
	}
	wkey := strings.TrimSpace(out)
	if _, err := witness.ParseWitnessKey(wkey); err != nil {
		t.Errorf("a witness's vkey %q: %v", wkey, err)
	}
	if _, err := note.NewVerifier(wkey); err == nil {
		t.Errorf("a witness's vkey %q reads as a plain Ed25519 key", wkey)
	}

	code, _, errs = pontRun(t, "keygen", "--name", "other", "--out", filepath.Join(dir, "log"))
	if code != 1 || !strings.Contains(errs, "log.key exists") {
		t.Errorf("keygen over an existing key: %d %s", code, errs)
	}
	if raw, _ := os.ReadFile(filepath.Join(dir, "log.key")); string(raw) != string(skey) {
		t.Error("the existing key changed")
	}
	if code, _, errs = pontRun(t, "keygen", "--out", filepath.Join(dir, "x")); code != 2 || !strings.Contains(errs, "usage: pont keygen") {
		t.Errorf("keygen without --name: %d %s", code, errs)
	}
	if code, _, errs = pontRun(t, "keygen", "--name", "a b", "--out", filepath.Join(dir, "x")); code != 1 || !strings.Contains(errs, `--name "a b"`) {
		t.Errorf("keygen --name 'a b': %d %s", code, errs)
	}
}
