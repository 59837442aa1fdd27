package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/broker"
	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/internal/testenv"
	"github.com/pontexchange/pont/plugins/pluginstest"
)

// modulesDir holds the reference adapters, built once for the package, and
// cacheDir their compiled code, so that only the first node compiles.
var modulesDir, cacheDir string

func TestMain(m *testing.M) { pluginstest.Main(m, &modulesDir, &cacheDir) }

// devNode is a dev-mode node on a loopback port, with its issuer.
type devNode struct {
	base string
	iss  *auth.DevIssuer
	b    *broker.Broker
	dir  string // its data directory: log.vkey is the log's public key
}

func startDevNode(t *testing.T) *devNode {
	t.Helper()
	return startDevNodeOn(t, nil)
}

// startDevNodeOn starts a dev-mode node on st, or on the embedded store
// when st is nil.
func startDevNodeOn(t *testing.T, st store.Store) *devNode {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	parts, err := openDevParts(ctx, dir)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(parts.close)
	if st == nil {
		st = parts.store
	} else if err := parts.store.Close(); err != nil {
		cancel()
		t.Fatal(err)
	}
	b, err := broker.New(ctx, broker.Config{
		DataDir: dir, Store: st, HTTPClient: parts.client, DevIssuer: parts.issuer,
		ModulesDir: modulesDir, CacheDir: cacheDir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		cancel()
		t.Fatalf("broker.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if err := b.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &devNode{base: "http://" + ln.Addr().String(), iss: parts.issuer, b: b, dir: dir}
}

func (n *devNode) token(t *testing.T, p auth.Principal) string {
	t.Helper()
	tok, err := n.iss.Mint(p, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// query sends a DEMO query for subject on service and answers the status
// and the decoded answer.
func query(t *testing.T, base, token, service, subject string, params map[string]any, basis map[string]any) (int, map[string]any) {
	t.Helper()
	if basis == nil {
		basis = map[string]any{"type": "presumed"}
	}
	body, _ := json.Marshal(map[string]any{
		"procedure":   map[string]any{"code": "DEMO", "name": "Demostració"},
		"purpose":     "demo",
		"legal_basis": basis,
		"case_id":     "EXP-2026-00001",
		"official":    map[string]any{"id": "38000001E", "name": "Anna Puig"},
		"subject":     map[string]any{"id_type": "DNI", "id": subject},
		"params":      params,
	})
	req, err := http.NewRequest(http.MethodPost, base+"/v1/services/"+service+"/queries", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("query %s: %d, not JSON: %v", service, resp.StatusCode, err)
	}
	return resp.StatusCode, out
}

// pontRun runs the pont command in-process and answers its exit code,
// standard output and standard error.
func pontRun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// waitFor polls buf until it holds a line starting with prefix and answers
// the rest of that line.
func waitFor(t *testing.T, buf *testenv.SyncBuffer, prefix string, done <-chan int, errs *testenv.SyncBuffer) string {
	t.Helper()
	deadline := time.After(2 * time.Minute)
	for {
		for line := range strings.Lines(buf.String()) {
			if rest, ok := strings.CutPrefix(line, prefix); ok {
				return strings.TrimSpace(rest)
			}
		}
		select {
		case code := <-done:
			t.Fatalf("the command ended (%d) before printing %q:\n%s", code, prefix, errs.String())
		case <-deadline:
			t.Fatalf("no %q after 2 minutes:\n%s", prefix, errs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
