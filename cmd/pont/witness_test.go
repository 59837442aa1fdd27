package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/pontexchange/pont/exchange/witness"
	"github.com/pontexchange/pont/internal/testenv"
)

// hashes is an in-memory tlog.HashReader: a tree's stored hashes.
type hashes []tlog.Hash

func (h hashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		out[i] = h[x]
	}
	return out, nil
}

// witnessRun is pont witness running in-process until stop.
type witnessRun struct {
	url, key       string
	stdout, stderr *testenv.SyncBuffer
	stop           func() int
}

func startWitnessCommand(t *testing.T, args ...string) *witnessRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &witnessRun{stdout: &testenv.SyncBuffer{}, stderr: &testenv.SyncBuffer{}}
	exited := make(chan int, 1)
	go func() { exited <- run(ctx, append([]string{"witness"}, args...), r.stdout, r.stderr) }()
	code, stopped := 0, false
	r.stop = func() int {
		if !stopped {
			cancel()
			code, stopped = <-exited, true
		}
		return code
	}
	t.Cleanup(func() { r.stop() })
	r.url = waitFor(t, r.stdout, "Pont witness is serving on ", exited, r.stderr)
	r.key = waitFor(t, r.stdout, "Witness witness.example cosigns with the key ", exited, r.stderr)
	return r
}

// TestWitnessCommand runs the README's witness: keys from pont keygen, a
// log's checkpoints cosigned by pont witness over HTTP, checked with the
// published keys; then the same witness from a configuration file, which
// remembers what it cosigned.
func TestWitnessCommand(t *testing.T) {
	dir := t.TempDir()
	const origin = "pont.example/transfer-log"
	for _, args := range [][]string{
		{"keygen", "--name", origin, "--out", filepath.Join(dir, "log")},
		{"keygen", "--witness", "--name", "witness.example", "--out", filepath.Join(dir, "witness")},
	} {
		if code, _, errs := pontRun(t, args...); code != 0 {
			t.Fatalf("pont %v: %d %s", args, code, errs)
		}
	}
	read := func(name string) string {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(raw))
	}
	logVKey, witnessVKey := read("log.vkey"), read("witness.vkey")
	logSigner, err := note.NewSigner(read("log.key"))
	if err != nil {
		t.Fatal(err)
	}
	logVerifier, _ := note.NewVerifier(logVKey)
	witnessVerifier, err := witness.ParseWitnessKey(witnessVKey)
	if err != nil {
		t.Fatal(err)
	}

	// The log: a tree of 12 leaves, and its signed checkpoints.
	var tree hashes
	for i := range int64(12) {
		hs, err := tlog.StoredHashes(i, fmt.Appendf(nil, "leaf %d", i), tree)
		if err != nil {
			t.Fatal(err)
		}
		tree = append(tree, hs...)
	}
	checkpoint := func(n int64) []byte {
		root, err := tlog.TreeHash(n, tree)
		if err != nil {
			t.Fatal(err)
		}
		signed, err := note.Sign(&note.Note{Text: torchwood.Checkpoint{Origin: origin, Tree: tlog.Tree{N: n, Hash: root}}.String()}, logSigner)
		if err != nil {
			t.Fatal(err)
		}
		return signed
	}
	ctx := context.Background()
	cosign := func(url string, old, n int64) {
		t.Helper()
		var proof tlog.TreeProof
		if old > 0 {
			if proof, err = tlog.ProveTree(n, old, tree); err != nil {
				t.Fatal(err)
			}
		}
		cp := checkpoint(n)
		cosig, err := witness.AddCheckpoint(ctx, url, old, proof, cp)
		if err != nil {
			t.Fatalf("add-checkpoint %d → %d: %v", old, n, err)
		}
		merged, err := witness.MergeCosignatures(cp, cosig)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := witness.VerifyCheckpoint(merged, logVerifier, []note.Verifier{witnessVerifier}, 1); err != nil {
			t.Fatalf("checkpoint %d: %v", n, err)
		}
	}

	state := filepath.Join(dir, "state", "witness.json")
	if err := os.Mkdir(filepath.Dir(state), 0o700); err != nil {
		t.Fatal(err)
	}
	w := startWitnessCommand(t, "--listen", "127.0.0.1:0", "--key", filepath.Join(dir, "witness.key"),
		"--state", state, "--log", origin+"="+logVKey)
	if w.key != witnessVKey {
		t.Errorf("the witness announces the key %q; witness.vkey is %q", w.key, witnessVKey)
	}
	cosign(w.url, 0, 5)
	cosign(w.url, 5, 9)
	if code := w.stop(); code != 0 {
		t.Fatalf("pont witness exited %d:\n%s", code, w.stderr.String())
	}
	logs := w.stderr.String()
	for _, want := range []string{"pont witness ready", "checkpoint cosigned", "size=9", "pont witness stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log has no %q:\n%s", want, logs)
		}
	}
	secret := read("witness.key")
	// PRIVATE+KEY+name+hash+key: the key is base64, whose alphabet has
	// '+' too, so it is the fifth field on, not what follows the last '+'.
	parts := strings.SplitN(strings.TrimSpace(secret), "+", 5)
	if len(parts) != 5 || len(parts[4]) < 40 {
		t.Fatalf("witness.key is not a private signed-note key")
	}
	if strings.Contains(logs+w.stdout.String(), parts[4]) {
		t.Error("the private key is in the output")
	}

	// The same witness from a configuration file, with relative paths.
	cfg, _ := json.Marshal(map[string]any{
		"listen": "127.0.0.1:0", "key_file": "witness.key", "state_file": "state/witness.json",
		"logs": []map[string]any{{"origin": origin, "keys": []string{logVKey}}}, "log_level": "warn",
	})
	cfgPath := filepath.Join(dir, "witness.json")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	w = startWitnessCommand(t, "--config", cfgPath)
	_, err = witness.AddCheckpoint(ctx, w.url, 0, nil, checkpoint(12))
	var conflict *witness.ConflictError
	if !errors.As(err, &conflict) || conflict.Size != 9 {
		t.Fatalf("after a restart, old 0: %v; want a ConflictError of size 9", err)
	}
	cosign(w.url, conflict.Size, 12)
	if code := w.stop(); code != 0 {
		t.Fatalf("pont witness --config exited %d:\n%s", code, w.stderr.String())
	}

	// A corrupt state file stops it at once, named.
	if err := os.WriteFile(state, []byte(`{"logs":`), 0o600); err != nil {
		t.Fatal(err)
	}
	stop, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr testenv.SyncBuffer
	code := run(stop, []string{"witness", "--config", cfgPath}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "witness state "+state+" is corrupt") {
		t.Errorf("a corrupt state: %d %s", code, stderr.String())
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--state", state, "--log", origin + "=" + logVKey}, "no key"},
		{[]string{"--key", filepath.Join(dir, "witness.key"), "--log", origin + "=" + logVKey}, "no state file"},
		{[]string{"--key", filepath.Join(dir, "witness.key"), "--state", state}, "no log to cosign"},
		{[]string{"--key", filepath.Join(dir, "log.vkey"), "--state", state, "--log", origin + "=" + logVKey}, "log.vkey: not a note private key"},
		{[]string{"--key", filepath.Join(dir, "witness.key"), "--state", state, "--log", origin + "=" + witnessVKey}, "a log's key is a plain Ed25519 note verifier key"},
	} {
		code, _, errs := pontRun(t, append([]string{"witness"}, c.args...)...)
		if code != 1 || !strings.Contains(errs, c.want) {
			t.Errorf("pont witness %v: %d %s; want %q", c.args, code, errs, c.want)
		}
	}
	if code, _, errs := pontRun(t, "witness", "--log", "no-equals-sign"); code != 2 || !strings.Contains(errs, "not ORIGIN=VKEY") {
		t.Errorf("--log without =: %d %s", code, errs)
	}
}
