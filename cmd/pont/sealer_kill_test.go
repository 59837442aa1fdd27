package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/pontexchange/pont/exchange/store/postgres/pgtest"
	"github.com/pontexchange/pont/exchange/translog"
	"github.com/pontexchange/pont/internal/testenv"
	"github.com/pontexchange/pont/plugins"
)

const (
	// sealsLine is the log line with which a node says it took the sealer's
	// role, gaveUpLine the one with which it says it lost it
	// (exchange/translog/sealer.go).
	sealsLine  = "translog: this node seals the log"
	gaveUpLine = "translog: sealer: gave the role up"
	// sealWait is the most a takeover, or the sealing of the last records,
	// may take.
	sealWait = 20 * time.Second
)

// TestSealerKilledUnderLoad is the issue's kill test: "if the sealing node
// dies, another takes over with no gap and no fork". Two `pont serve`
// processes share one PostgreSQL database and the log's key; a steady load
// of queries goes to both. The sealer's process is killed (SIGKILL) in the
// middle of the load, the survivor must take the role and keep sealing;
// the killed node is started again, and the new sealer is killed in turn.
// Then every committed record (every query answered 200, every row of
// transfers and log_events) must be a leaf, once, the tree as large as the
// records; `pont audit verify` with the state it kept before the first kill
// must pass, and every checkpoint ever stored must be consistent with the
// final one.
func TestSealerKilledUnderLoad(t *testing.T) {
	if testing.Short() && !testenv.InCI() {
		t.Skip("kills and restarts pont serve processes under load: about half a minute")
	}
	dbURL := pgtest.NewDatabase(t)
	began := time.Now()
	bin := buildPont(t)
	t.Logf("built pont in %s", time.Since(began).Round(time.Millisecond))
	dir := t.TempDir()

	// The keys: the development issuer's (pont token), the log's (pont keygen).
	keys := filepath.Join(dir, "keys")
	mint := func(args ...string) string {
		out := pontExec(t, bin, append([]string{"token", "--data", keys}, args...)...)
		return strings.TrimSpace(out)
	}
	requester := mint("--role", "requester", "--org", "P0801900B")
	auditor := mint("--role", "auditor", "--sub", "dpo-1")
	logKey := filepath.Join(keys, "log")
	pontExec(t, bin, "keygen", "--name", "pont.localhost/kill-test-log", "--out", logKey)
	vkey, err := os.ReadFile(logKey + ".vkey")
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		t.Fatal(err)
	}

	// The simulated sources, in this process as in TestServeWithTheExampleConfig.
	srcCtx, stopSources := context.WithCancel(context.Background())
	var srcOut, srcErr testenv.SyncBuffer
	srcExited := make(chan int, 1)
	go func() {
		srcExited <- run(srcCtx, []string{"dev", "sources", "--listen", "127.0.0.1:0"}, &srcOut, &srcErr)
	}()
	t.Cleanup(func() {
		stopSources()
		if code := <-srcExited; code != 0 {
			t.Errorf("pont dev sources exited %d:\n%s", code, srcErr.String())
		}
	})
	sources := strings.TrimPrefix(waitFor(t, &srcOut, "Simulated sources listening on ", srcExited, &srcErr), "http://")

	// The load asks for the padró of Barcelona: the nodes' catalog is the
	// repository's cut down to that source, so that each compiles one
	// adapter, not all of them.
	modules, catalogDir := padroOnly(t, dir)

	policies, err := filepath.Abs(filepath.Join(repoRoot, "policies"))
	if err != nil {
		t.Fatal(err)
	}

	// Two nodes of one deployment: the same database, log key, issuer,
	// catalog and policies; each its own name, port and data directory.
	nodeConfig := func(name string) string {
		cfg := map[string]any{
			"listen":           "127.0.0.1:0",
			"database_url":     dbURL,
			"node":             name,
			"data_dir":         filepath.Join(dir, name),
			"modules_dir":      modules,
			"catalog_dir":      catalogDir,
			"policies_dir":     policies,
			"cursor_secret":    "kill-test-cursor-secret",
			"issuers":          []any{map[string]any{"issuer": "pont-dev", "audience": "pont", "key_file": filepath.Join(keys, "dev-issuer.jwk")}},
			"source_addresses": map[string]any{".sources.pont.test": sources},
			"quota":            map[string]any{"requester": map[string]any{"requests_per_second": 100000, "burst": 100000}},
			"transfer_log":     map[string]any{"signing_key_file": logKey + ".key", "seal_interval": "200ms"},
			"log_level":        "info",
		}
		path := filepath.Join(dir, name+".json")
		writeJSON(t, path, cfg)
		return path
	}
	nodes := []*serveProc{
		{name: "node-a", config: nodeConfig("node-a")},
		{name: "node-b", config: nodeConfig("node-b")},
	}
	for _, n := range nodes {
		n.start(t, bin)
	}

	ctx := context.Background()
	db, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)

	sealer := waitSealer(t, db, nodes)
	t.Logf("%s seals the log", sealer.name)

	// The load: two callers a node, for as long as the test runs. An answer
	// 200 with a transfer_id is a committed record; the rest is counted.
	type tally struct {
		ids      []string    // the transfer_ids answered 200, in order
		statuses map[int]int // the answers other than 200
		refused  int         // no answer: the node was dead, or died mid-request
	}
	var mu sync.Mutex
	tallies := map[*serveProc]*tally{}
	stop := make(chan struct{})
	var load sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	t.Cleanup(client.CloseIdleConnections)
	for _, n := range nodes {
		tl := &tally{statuses: map[int]int{}}
		tallies[n] = tl
		for range 2 {
			load.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					id, status, err := postQuery(client, n.baseURL(), requester)
					mu.Lock()
					switch {
					case err != nil:
						tl.refused++
					case status == http.StatusOK && id != "":
						tl.ids = append(tl.ids, id)
					default:
						tl.statuses[status]++
					}
					mu.Unlock()
					if err != nil || status != http.StatusOK {
						time.Sleep(20 * time.Millisecond) // a dead node refuses at once
					}
				}
			})
		}
	}
	stopLoad := sync.OnceFunc(func() { close(stop); load.Wait() })
	t.Cleanup(stopLoad)
	time.Sleep(1500 * time.Millisecond)

	// `pont audit verify` keeps the checkpoint it verified before the kill.
	for deadline := time.Now().Add(sealWait); fetchCheckpoint(t, sealer.baseURL(), verifier).Tree.N == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s holds the sealer's role, and no checkpoint after %s:\n%s", sealer.name, sealWait, sealer.stderr.String())
		}
	}
	state := filepath.Join(dir, "verify-state")
	out := pontExec(t, bin, "audit", "verify", "--server", sealer.baseURL(), "--token", auditor, "--log-key", logKey+".vkey", "--state", state)
	before, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	preKill, err := translog.OpenCheckpoint(before, verifier)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("verified before the kill: %d leaves (%s)", preKill.Tree.N, lastLine(out))

	type round struct {
		killed, survivor     *serveProc
		lastCP, nextCP       tlog.Tree // the last checkpoint the killed node served, the survivor's first past the kill
		sizeAtKill           int64     // the stored tree's size at the kill
		lockAfter, sealAfter time.Duration
		lastIDs              []string // the last queries the killed node answered
	}
	var rounds []round
	kill := func(victim, survivor *serveProc) {
		time.Sleep(time.Second) // load on both before the kill
		holder := sealerHolder(t, db)
		if holder == 0 || !victim.holdsRole() {
			t.Fatalf("%s is to be killed as the sealer; it says it holds the role: %v; the lock is held by backend %d (0: none)",
				victim.name, victim.holdsRole(), holder)
		}
		r := round{killed: victim, survivor: survivor, lastCP: fetchCheckpoint(t, victim.baseURL(), verifier).Tree}
		if err := db.QueryRow(ctx, "SELECT size FROM log_state").Scan(&r.sizeAtKill); err != nil {
			t.Fatal(err)
		}
		killedAt := time.Now()
		victim.kill(t)
		mu.Lock()
		ids := tallies[victim].ids
		r.lastIDs = slices.Clone(ids[max(0, len(ids)-10):])
		mu.Unlock()

		// The killed process held the lock: its session ends with it, and
		// the survivor's takes the lock, then seals past the size at the kill.
		for deadline := time.Now().Add(sealWait); ; time.Sleep(10 * time.Millisecond) {
			if now := sealerHolder(t, db); now != 0 && now != holder {
				r.lockAfter = time.Since(killedAt)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s was killed %s ago, and the sealer's lock is still held by backend %d or by none:\n%s",
					victim.name, sealWait, holder, survivor.stderr.String())
			}
		}
		for deadline := time.Now().Add(sealWait); ; time.Sleep(10 * time.Millisecond) {
			cp := fetchCheckpoint(t, survivor.baseURL(), verifier)
			if cp.Tree.N > r.sizeAtKill {
				r.sealAfter, r.nextCP = time.Since(killedAt), cp.Tree
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s was killed at tree size %d; %s later the checkpoint is at %d:\n%s",
					victim.name, r.sizeAtKill, sealWait, cp.Tree.N, survivor.stderr.String())
			}
		}
		if !survivor.holdsRole() {
			t.Fatalf("the tree grew after %s was killed, but %s did not say it seals:\n%s", victim.name, survivor.name, survivor.stderr.String())
		}
		rounds = append(rounds, r)
		t.Logf("killed %s, the sealer, at tree size %d (it served %d); %s took the lock after %s and sealed to %d after %s",
			victim.name, r.sizeAtKill, r.lastCP.N, survivor.name, r.lockAfter.Round(time.Millisecond), r.nextCP.N, r.sealAfter.Round(time.Millisecond))
		time.Sleep(2 * time.Second) // the survivor alone under load
	}

	other := func(n *serveProc) *serveProc {
		if n == nodes[0] {
			return nodes[1]
		}
		return nodes[0]
	}
	// Round 1: kill the sealer; the other node takes over.
	kill(sealer, other(sealer))
	// Round 2: the killed node starts again and waits for the role while
	// its load resumes; the new sealer is killed, and the restarted node
	// takes over.
	restarted := sealer
	restarted.start(t, bin)
	sealer = waitSealer(t, db, nodes)
	if sealer == restarted {
		t.Fatalf("%s took the role back from %s, which is alive", restarted.name, other(restarted).name)
	}
	kill(sealer, restarted)
	stopLoad()
	final := restarted

	// The last records sealed: the tree as large as the records.
	var size, transfers, events int64
	for deadline := time.Now().Add(sealWait); ; time.Sleep(100 * time.Millisecond) {
		if err := db.QueryRow(ctx, `SELECT (SELECT size FROM log_state), (SELECT count(*) FROM transfers), (SELECT count(*) FROM log_events)`).
			Scan(&size, &transfers, &events); err != nil {
			t.Fatal(err)
		}
		if size == transfers+events {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("%s after the load, the tree has %d leaves for %d transfers and %d events", sealWait, size, transfers, events)
			break
		}
	}

	// NO GAP: every query answered 200, and every record of either table,
	// is a leaf; each leaf is one record, and the leaves are 0..size-1.
	var ids []string
	for _, tl := range tallies {
		ids = append(ids, tl.ids...)
	}
	rows, err := db.Query(ctx, `SELECT id FROM unnest($1::text[]) id WHERE NOT EXISTS (SELECT 1 FROM log_leaves l WHERE l.record_id = id)`, ids)
	if err != nil {
		t.Fatal(err)
	}
	missing, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) > 0 {
		t.Errorf("%d of the %d queries answered 200 have no leaf, e.g. %v", len(missing), len(ids), missing[:min(5, len(missing))])
	}
	var leaves, indexes, records, first, last, unsealedTransfers, unsealedEvents int64
	if err := db.QueryRow(ctx, `SELECT count(*), count(DISTINCT leaf_index), count(DISTINCT (record_id, record_at, source)),
			coalesce(min(leaf_index), -1), coalesce(max(leaf_index), -1),
			(SELECT count(*) FROM transfers t WHERE NOT EXISTS (SELECT 1 FROM log_leaves l WHERE l.source = 'transfer' AND l.record_id = t.id AND l.record_at = t.at)),
			(SELECT count(*) FROM log_events e WHERE NOT EXISTS (SELECT 1 FROM log_leaves l WHERE l.source = 'event' AND l.record_id = e.id AND l.record_at = e.at))
		FROM log_leaves`).Scan(&leaves, &indexes, &records, &first, &last, &unsealedTransfers, &unsealedEvents); err != nil {
		t.Fatal(err)
	}
	if leaves != size || indexes != size || records != size || first != 0 || last != size-1 {
		t.Errorf("log_leaves: %d rows, %d indexes, %d records, from %d to %d; the tree has %d leaves", leaves, indexes, records, first, last, size)
	}
	if unsealedTransfers != 0 || unsealedEvents != 0 {
		t.Errorf("%d transfers and %d events are not leaves", unsealedTransfers, unsealedEvents)
	}
	// The last queries each killed node answered are proved to their
	// requester by the node left, and the receipts verify offline.
	for _, r := range rounds {
		for _, id := range r.lastIDs {
			receipt := fetchReceipt(t, final.baseURL(), requester, id)
			if _, err := receipt.Verify(verifier, nil, 0); err != nil {
				t.Errorf("the receipt of %s, answered by %s just before it was killed: %v", id, r.killed.name, err)
			}
		}
	}

	// NO FORK: pont audit verify, from the state it kept before the kill.
	out = pontExec(t, bin, "audit", "verify", "--server", final.baseURL(), "--token", auditor, "--log-key", logKey+".vkey", "--state", state)
	if !strings.Contains(out, fmt.Sprintf("contains the one of %d checked before", preKill.Tree.N)) {
		t.Errorf("pont audit verify did not check consistency with the checkpoint of %d leaves:\n%s", preKill.Tree.N, out)
	}
	// Every checkpoint stored, and every one the test was served around the
	// kills, is signed by the log's key and contained in the final tree.
	finalCP := fetchCheckpoint(t, final.baseURL(), verifier)
	rows, err = db.Query(ctx, "SELECT size, checkpoint FROM log_checkpoints ORDER BY size")
	if err != nil {
		t.Fatal(err)
	}
	type stored struct {
		size int64
		cp   []byte
	}
	checkpoints, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (stored, error) {
		var s stored
		return s, r.Scan(&s.size, &s.cp)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range checkpoints {
		cp, err := translog.OpenCheckpoint(s.cp, verifier)
		if err != nil {
			t.Fatalf("the checkpoint of size %d: %v", s.size, err)
		}
		if cp.Tree.N != s.size {
			t.Errorf("the checkpoint stored as size %d is of %d leaves", s.size, cp.Tree.N)
		}
		checkConsistent(t, final.baseURL(), cp.Tree, finalCP.Tree)
	}
	checkConsistent(t, final.baseURL(), preKill.Tree, finalCP.Tree)
	for _, r := range rounds {
		checkConsistent(t, final.baseURL(), r.lastCP, finalCP.Tree)
		checkConsistent(t, final.baseURL(), r.nextCP, finalCP.Tree)
	}

	for i, r := range rounds {
		t.Logf("kill %d: %s at tree size %d; %s held the lock after %s, sealed to %d after %s; its last %d answers proved",
			i+1, r.killed.name, r.sizeAtKill, r.survivor.name, r.lockAfter.Round(time.Millisecond), r.nextCP.N, r.sealAfter.Round(time.Millisecond), len(r.lastIDs))
	}
	for _, n := range nodes {
		tl := tallies[n]
		t.Logf("%s: %d queries answered 200, %d unanswered (dead), other answers %v", n.name, len(tl.ids), tl.refused, tl.statuses)
	}
	t.Logf("%d transfers and %d events, %d leaves; %d checkpoints stored, each checked against the final one of %d",
		transfers, events, size, len(checkpoints), finalCP.Tree.N)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// buildPont builds the pont command into a temporary directory and
// answers the binary's path.
func buildPont(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pont")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// pontExec runs the pont binary to its end and answers its standard
// output; it fails the test when the command fails.
func pontExec(t *testing.T, bin string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("pont %s: %v\n%s%s", strings.Join(args[:min(2, len(args))], " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// serveProc is a `pont serve` process.
type serveProc struct {
	name, config string
	cmd          *exec.Cmd
	base         atomic.Pointer[string]
	stderr       *testenv.SyncBuffer
	exited       chan struct{}
}

// start runs `pont serve` with the node's configuration and waits until it
// serves and is ready.
func (p *serveProc) start(t *testing.T, bin string) {
	t.Helper()
	started := time.Now()
	cmd := exec.Command(bin, "serve", "--config", p.config)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.stderr = &testenv.SyncBuffer{}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	p.cmd, p.exited = cmd, exited
	serving := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "Pont is serving on "); ok {
				serving <- strings.TrimSpace(rest)
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	select {
	case base := <-serving:
		p.base.Store(&base)
	case <-exited:
		t.Fatalf("%s exited before serving:\n%s", p.name, p.stderr.String())
	case <-time.After(2 * time.Minute):
		t.Fatalf("%s did not serve within 2 minutes:\n%s", p.name, p.stderr.String())
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(p.baseURL() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Logf("%s is ready after %s", p.name, time.Since(started).Round(time.Millisecond))
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not ready after 30 s:\n%s", p.name, p.stderr.String())
		}
	}
}

func (p *serveProc) baseURL() string { return *p.base.Load() }

func (p *serveProc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// kill ends the process with SIGKILL: no cleanup of any kind, as when a
// machine dies.
func (p *serveProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.exited
}

// holdsRole reports whether the node said it took the sealer's role more
// often than it said it gave it up.
func (p *serveProc) holdsRole() bool {
	log := p.stderr.String()
	return strings.Count(log, sealsLine) > strings.Count(log, gaveUpLine)
}

// sealerLock is postgres.lockSealer, the sealer's session advisory lock.
const sealerLock int64 = 0x706f6e74_0003

// sealerHolder answers the PostgreSQL backend holding the sealer's lock in
// the test's database (a bigint advisory lock: its high half in classid,
// its low half in objid), 0 when none does.
func sealerHolder(t *testing.T, db *pgx.Conn) int32 {
	t.Helper()
	var pids []int32
	rows, err := db.Query(context.Background(), `SELECT pid FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objsubid = 1
		AND classid::bigint = $1 AND objid::bigint = $2
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, sealerLock>>32, sealerLock&0xffffffff)
	if err == nil {
		pids, err = pgx.CollectRows(rows, pgx.RowTo[int32])
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(pids) > 1 {
		t.Fatalf("%d sessions hold the sealer's lock: %v", len(pids), pids)
	}
	if len(pids) == 0 {
		return 0
	}
	return pids[0]
}

// waitSealer waits until one session holds the sealer's lock and exactly
// one live node says it holds the role, and answers that node.
func waitSealer(t *testing.T, db *pgx.Conn, nodes []*serveProc) *serveProc {
	t.Helper()
	for deadline := time.Now().Add(sealWait); ; time.Sleep(20 * time.Millisecond) {
		var holding []*serveProc
		for _, n := range nodes {
			if n.alive() && n.holdsRole() {
				holding = append(holding, n)
			}
		}
		if len(holding) == 1 && sealerHolder(t, db) != 0 {
			return holding[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no single sealer after %s: %d nodes say they seal", sealWait, len(holding))
		}
	}
}

// postQuery sends a padró query and answers its status and, for a 200, its
// transfer_id; the error is a request that got no whole answer.
func postQuery(client *http.Client, base, token string) (string, int, error) {
	body, _ := json.Marshal(map[string]any{
		"procedure":   map[string]any{"code": "DEMO", "name": "Demostració"},
		"purpose":     "demo",
		"legal_basis": map[string]any{"type": "presumed"},
		"case_id":     "EXP-2026-00001",
		"official":    map[string]any{"id": "38000001E", "name": "Anna Puig"},
		"subject":     map[string]any{"id_type": "DNI", "id": "12345678Z"},
		"params":      map[string]any{"municipality": "08019"},
	})
	req, err := http.NewRequest(http.MethodPost, base+"/v1/services/padro/queries", bytes.NewReader(body))
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	var out struct {
		TransferID string `json:"transfer_id"`
	}
	if resp.StatusCode != http.StatusOK {
		_, err := io.Copy(io.Discard, resp.Body)
		return "", resp.StatusCode, err
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return "", resp.StatusCode, err
	}
	return out.TransferID, resp.StatusCode, nil
}

// fetchCheckpoint answers the node's latest checkpoint, checked with the
// log's key; a zero one while there is none.
func fetchCheckpoint(t *testing.T, base string, verifier note.Verifier) translog.Checkpoint {
	t.Helper()
	resp, err := http.Get(base + "/v1/audit/log/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusNotFound {
		return translog.Checkpoint{}
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET checkpoint: %d %s", resp.StatusCode, raw)
	}
	cp, err := translog.OpenCheckpoint(raw, verifier)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// fetchReceipt answers a record's receipt, as its requester gets it.
func fetchReceipt(t *testing.T, base, token, id string) translog.Receipt {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/v1/audit/proofs/inclusion?transfer_id="+id, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the inclusion proof of %s: %d %s", id, resp.StatusCode, raw)
	}
	var r translog.Receipt
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// checkConsistent checks, with the node's consistency proof, that the
// tree to contains the tree from.
func checkConsistent(t *testing.T, base string, from, to tlog.Tree) {
	t.Helper()
	if from.N == to.N {
		if from.Hash != to.Hash {
			t.Errorf("two trees of %d leaves: %s and %s", from.N, from.Hash, to.Hash)
		}
		return
	}
	resp, err := http.Get(base + "/v1/audit/proofs/consistency?from=" + strconv.FormatInt(from.N, 10) + "&to=" + strconv.FormatInt(to.N, 10))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Proof [][]byte `json:"proof"`
	}
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(resp.Body)
		t.Fatalf("the consistency proof %d..%d: %d %s", from.N, to.N, resp.StatusCode, raw)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	proof := make(tlog.TreeProof, len(out.Proof))
	for i, h := range out.Proof {
		copy(proof[i][:], h)
	}
	if err := tlog.CheckTree(proof, to.N, to.Hash, from.N, from.Hash); err != nil {
		t.Errorf("FORK: the tree of %d leaves does not contain the checkpoint of %d: %v", to.N, from.N, err)
	}
}

// padroOnly writes, under dir, a deployment (plugins.Deploy) whose modules
// directory holds the padró of Barcelona's adapter only, so that each node
// starts fast. It answers the modules and catalog directories.
func padroOnly(t *testing.T, dir string) (modules, catalogDir string) {
	t.Helper()
	const adapter = "padro-08019"
	d, err := plugins.Deploy(filepath.Join(dir, "deploy"), modulesDir)
	if err != nil {
		t.Fatal(err)
	}
	paths, err := filepath.Glob(filepath.Join(d.ModulesDir, "*.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		if filepath.Base(p) != adapter+".wasm" {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	return d.ModulesDir, d.CatalogDir
}
