package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pontexchange/pont/exchange/store/postgres/pgtest"
	"github.com/pontexchange/pont/internal/testenv"
	"github.com/pontexchange/pont/plugins"
)

// dni answers the valid DNI of number n (its check letter computed).
func dni(n int) string {
	return fmt.Sprintf("%08d%c", n, "TRWAGMYFPDXBNJZSQVHLCKE"[n%23])
}

// countingSources serves the simulated sources, each call delayed by
// delay, and counts the calls for each document number: what the issue's
// "no element is run twice to the source" is measured with.
type countingSources struct {
	mu    sync.Mutex
	hits  map[string]int
	delay time.Duration
	next  http.Handler
}

func (c *countingSources) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	doc := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	c.mu.Lock()
	c.hits[doc]++
	c.mu.Unlock()
	time.Sleep(c.delay)
	c.next.ServeHTTP(w, r)
}

func (c *countingSources) count(doc string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits[doc]
}

// TestJobSurvivesAKilledNode is the kill test: a node is killed
// (SIGKILL) in the middle of a 1,000-subject job, another node finishes
// it, and then every subject has one result and one transfer record, and
// no subject was asked of its source twice.
func TestJobSurvivesAKilledNode(t *testing.T) {
	if testing.Short() && !testenv.InCI() {
		t.Skip("kills a pont serve process in the middle of a job: about a minute")
	}
	dbURL := pgtest.NewDatabase(t)
	bin := buildPont(t)
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	requester := strings.TrimSpace(pontExec(t, bin, "token", "--data", keys, "--role", "requester", "--org", "P0801900B"))
	logKey := filepath.Join(keys, "log")
	pontExec(t, bin, "keygen", "--name", "pont.localhost/jobs-kill-test-log", "--out", logKey)

	sources := &countingSources{hits: map[string]int{}, delay: 15 * time.Millisecond, next: plugins.DevSources()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: sources, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	modules, catalogDir := padroOnly(t, dir)
	nodeConfig := func(name string) string {
		cfg := map[string]any{
			"listen":           "127.0.0.1:0",
			"database_url":     dbURL,
			"node":             name,
			"data_dir":         filepath.Join(dir, name),
			"modules_dir":      modules,
			"catalog_dir":      catalogDir,
			"cursor_secret":    "jobs-kill-test-cursor-secret",
			"issuers":          []any{map[string]any{"issuer": "pont-dev", "audience": "pont", "key_file": filepath.Join(keys, "dev-issuer.jwk")}},
			"source_addresses": map[string]any{".sources.pont.test": ln.Addr().String()},
			"transfer_log":     map[string]any{"signing_key_file": logKey + ".key", "seal_interval": "200ms"},
			// A chunk whose node died is given to another attempt after
			// rescue_after: short here, so that the test takes a minute.
			"jobs":      map[string]any{"chunk_timeout": "4s", "rescue_after": "6s", "sweep_every": "2s", "chunk_size": 20, "per_source": 4},
			"log_level": "info",
		}
		path := filepath.Join(dir, name+".json")
		writeJSON(t, path, cfg)
		return path
	}
	a := &serveProc{name: "node-a", config: nodeConfig("node-a")}
	a.start(t, bin)

	// 1,000 subjects, each asked once: a few the padró of Barcelona
	// knows, the rest numbers it does not.
	const total = 1000
	known := []string{"12345678Z", "X1234567L", "45678901G"}
	subjects := make([]any, total)
	docs := make([]string, total)
	for i := range subjects {
		id, kind := dni(30000000+i), "DNI"
		if i < len(known) {
			id = known[i]
			if id[0] == 'X' {
				kind = "NIE"
			}
		}
		docs[i] = id
		subjects[i] = map[string]any{"subject": map[string]any{"id_type": kind, "id": id}}
	}
	batch := map[string]any{
		"procedure":   map[string]any{"code": "DEMO", "name": "Demostració"},
		"purpose":     "demo",
		"legal_basis": map[string]any{"type": "presumed"},
		"case_id":     "EXP-2026-KILL",
		"official":    map[string]any{"id": "38000001E", "name": "Anna Puig"},
		"params":      map[string]any{"municipality": "08019"},
		"subjects":    subjects,
	}
	status, accepted := jobCall(t, http.MethodPost, a.baseURL()+"/v1/services/padro/jobs", requester, batch)
	if status != http.StatusAccepted {
		t.Fatalf("submit: %d %v", status, accepted)
	}
	id := accepted["id"].(string)

	// Kill node-a once about a third of the job is done.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, job := jobCall(t, http.MethodGet, a.baseURL()+"/v1/jobs/"+id, requester, nil)
		if done, _ := job["done"].(float64); done >= total/3 {
			t.Logf("killing node-a with %v of %d elements done", done, total)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job did not reach a third in 2 minutes: %v\n%s", job, a.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.kill(t)

	b := &serveProc{name: "node-b", config: nodeConfig("node-b")}
	b.start(t, bin)
	var job map[string]any
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		_, job = jobCall(t, http.MethodGet, b.baseURL()+"/v1/jobs/"+id+"?limit=1000", requester, nil)
		if job["state"] == "0003" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node-b did not finish the job in 3 minutes: done %v\n%s", job["done"], b.stderr.String())
		}
	}
	t.Logf("finished: %v", job["counts"])

	// One result per subject, in request order.
	results, _ := job["results"].([]any)
	if len(results) != total {
		t.Fatalf("%d results, want %d", len(results), total)
	}
	interrupted := 0
	for i, r := range results {
		res := r.(map[string]any)
		if int(res["index"].(float64)) != i {
			t.Fatalf("result %d has index %v", i, res["index"])
		}
		if p, ok := res["problem"].(map[string]any); ok && p["code"] == "job_interrupted" {
			interrupted++
		}
	}
	// No subject asked of its source twice.
	for i, doc := range docs {
		if n := sources.count(doc); n > 1 {
			t.Errorf("subject %d (%s) was asked of the source %d times", i, doc, n)
		}
	}
	// One transfer record per subject, each linked to the job.
	ctx := context.Background()
	db, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	var records, distinct, subjectsRecorded int
	if err := db.QueryRow(ctx, `SELECT count(*), count(DISTINCT id), count(DISTINCT subject_id) FROM transfers WHERE job_id = $1`, id).
		Scan(&records, &distinct, &subjectsRecorded); err != nil {
		t.Fatal(err)
	}
	if records != total || distinct != total || subjectsRecorded != total {
		t.Fatalf("the job has %d records (%d distinct ids, %d subjects), want %d of each", records, distinct, subjectsRecorded, total)
	}
	// Only calls in flight at the kill can have been interrupted: at most
	// the source's slots on node-a.
	if interrupted > 4 {
		t.Errorf("%d elements interrupted; at most the calls in flight at the kill may be", interrupted)
	}
	t.Logf("%d elements were in flight at the kill and are recorded as interrupted", interrupted)
}

// jobCall sends a request with a requester's token and decodes its JSON.
func jobCall(t *testing.T, method, url, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("%s %s: %d, not JSON: %v", method, url, resp.StatusCode, err)
	}
	return resp.StatusCode, out
}
