package translog_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"filippo.io/torchwood"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/note"

	"github.com/pontexchange/pont/exchange/audit"
	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/store/postgres"
	"github.com/pontexchange/pont/exchange/store/postgres/pgtest"
	"github.com/pontexchange/pont/exchange/translog"
)

// benchLeaves is the size of the benchmarks' logs: 100 entry bundles.
const benchLeaves = 100 * translog.TileWidth

// BenchmarkSeal seals a backlog of benchLeaves records on PostgreSQL with
// Sealer.Step, end to end (the store's reads and writes, entries, hashes,
// tiles, the signature): each iteration writes another backlog, untimed,
// then seals it. It reports records sealed a second.
func BenchmarkSeal(b *testing.B) {
	ctx := context.Background()
	st, u := benchStore(b)
	signer, _ := benchKey(b)
	s, err := translog.NewSealer(translog.SealerConfig{Store: st, Signer: signer, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	cpu := newCPUClock(b, u)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		appendRecords(b, st, i*benchLeaves, benchLeaves)
		cpu.start(b)
		b.StartTimer()
		for sealed := 0; sealed < benchLeaves; {
			n, err := s.Step(ctx)
			if err != nil {
				b.Fatal(err)
			}
			sealed += n
			if n == 0 {
				time.Sleep(time.Millisecond) // an older transaction of the server is still open
			}
		}
		cpu.stopClock()
	}
	b.ReportMetric(float64(b.N*benchLeaves)/b.Elapsed().Seconds(), "records/s")
	cpu.report(b, b.N*benchLeaves, "record")
}

// BenchmarkVerifyLog verifies a log of benchLeaves records on PostgreSQL
// with VerifyLog, over loopback HTTP, against an in-process server that
// does for each request what the API's log routes do (exchange/api): the
// tree's state, a log_read event committed (in the group commit of package
// audit) before each entry bundle, the bundle from the store's leaves, hash
// tiles from the store. It reports
// leaves verified a second.
func BenchmarkVerifyLog(b *testing.B) {
	ctx := context.Background()
	st, u := benchStore(b)
	signer, verifier := benchKey(b)
	appendRecords(b, st, 0, benchLeaves)
	s, err := translog.NewSealer(translog.SealerConfig{Store: st, Signer: signer, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	for sealed := 0; sealed < benchLeaves; {
		n, err := s.Step(ctx)
		if err != nil {
			b.Fatal(err)
		}
		sealed += n
		if n == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	events := audit.NewLog(st, audit.Options{Logger: quiet})
	defer events.Close()
	srv := httptest.NewServer(logHandler(st, events))
	defer srv.Close()
	for _, c := range []int{8, 16} {
		b.Run(fmt.Sprintf("concurrency=%d", c), func(b *testing.B) {
			cpu := newCPUClock(b, u)
			cpu.start(b)
			for b.Loop() {
				res, err := translog.VerifyLog(ctx, translog.VerifyConfig{Server: srv.URL, Token: "t", LogKey: verifier, Concurrency: c})
				if err != nil {
					b.Fatal(err)
				}
				if res.Leaves < benchLeaves {
					b.Fatalf("verified %d leaves, not %d", res.Leaves, benchLeaves)
				}
			}
			b.ReportMetric(float64(b.N*benchLeaves)/b.Elapsed().Seconds(), "leaves/s")
			cpu.report(b, b.N*benchLeaves, "leaf")
		})
	}
}

// cpuClock adds up the CPU time that this process and the PostgreSQL
// backends of the benchmark's database spend while it runs: on a shared
// machine, where wall time says as much about the neighbours as about the
// code, CPU time a leaf is the steadier figure. PostgreSQL's share is read
// from /proc, so only for a server on this machine; elsewhere it is left out.
// The backends are listed every 50 ms while the clock runs, so that one
// that ends (the sealer's, after each Step) counts up to its last reading.
type cpuClock struct {
	conn      *pgx.Conn // to list the database's backends
	self, db  time.Duration
	self0     time.Duration
	dbUnknown bool

	first, last map[int32]time.Duration
	stop, done  chan struct{}
}

func newCPUClock(b *testing.B, databaseURL string) *cpuClock {
	conn, err := pgx.Connect(context.Background(), databaseURL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close(context.Background()) })
	return &cpuClock{conn: conn}
}

func (c *cpuClock) start(b *testing.B) {
	c.first, c.last = map[int32]time.Duration{}, map[int32]time.Duration{}
	c.sample(b, true)
	c.self0 = selfCPU()
	c.stop, c.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(c.done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				c.sample(b, false)
				return
			case <-t.C:
				c.sample(b, false)
			}
		}
	}()
}

func (c *cpuClock) stopClock() {
	if c.stop == nil {
		return
	}
	c.self += selfCPU() - c.self0
	close(c.stop)
	<-c.done
	c.stop = nil
	for pid, d := range c.last {
		c.db += d - c.first[pid]
	}
}

func (c *cpuClock) report(b *testing.B, n int, unit string) {
	c.stopClock()
	b.ReportMetric(float64(c.self.Nanoseconds())/1e3/float64(n), "go-cpu-µs/"+unit)
	if !c.dbUnknown {
		b.ReportMetric(float64(c.db.Nanoseconds())/1e3/float64(n), "pg-cpu-µs/"+unit)
	}
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// sample reads the CPU time of the other backends connected to the
// database, from /proc/PID/stat (utime and stime, in ticks of 10 ms).
func (c *cpuClock) sample(b *testing.B, initial bool) {
	rows, err := c.conn.Query(context.Background(), "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
	if err != nil {
		c.dbUnknown = true
		return
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		c.dbUnknown = true
		return
	}
	for _, pid := range pids {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if errors.Is(err, os.ErrNotExist) {
			continue // ended since listed: its last reading stands
		}
		f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
		if err != nil || len(f) < 13 {
			c.dbUnknown = true
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		d := time.Duration(u+s) * 10 * time.Millisecond
		if _, ok := c.first[pid]; !ok {
			c.first[pid] = 0 // started while the clock ran
			if initial {
				c.first[pid] = d
			}
		}
		c.last[pid] = d
	}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func benchStore(b *testing.B) (*postgres.Store, string) {
	b.Helper()
	u := pgtest.NewDatabase(b)
	st, err := postgres.New(context.Background(), postgres.Config{URL: u})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st, u
}

func benchKey(b *testing.B) (note.Signer, note.Verifier) {
	b.Helper()
	skey, _, err := note.GenerateKey(rand.Reader, "bench.pont.test/log")
	if err != nil {
		b.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		b.Fatal(err)
	}
	verifier, err := torchwood.NewVerifierFromSigner(skey)
	if err != nil {
		b.Fatal(err)
	}
	return signer, verifier
}

// appendRecords writes n typical records, from number first on.
func appendRecords(b *testing.B, st store.Store, first, n int) {
	b.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	for i := 0; i < n; i += 5000 {
		recs := make([]store.Transfer, min(5000, n-i))
		for j := range recs {
			k := first + i + j
			recs[j] = store.Transfer{ID: fmt.Sprintf("0199a1b2-c3d4-7e5f-8a9b-%012d", k), Time: now, Node: "node-1", Kind: "query",
				RequesterOrg: "P0801900B", OfficialID: "38000001E", OfficialName: "Joana Puig i Ferrer",
				ProcedureCode: "DEMO", ProcedureName: "Demostració", Purpose: "demo", LegalBasis: "presumed",
				LawReference: "Llei 39/2015, art. 28.2", CaseID: fmt.Sprintf("EXP-2026-%05d", k%100000), SubjectIDType: "DNI",
				SubjectID: "12345678Z", Service: "padro", Adapter: "padro-08019", AdapterVersion: "1.0.0",
				ModuleSHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", Decision: store.Allow,
				PolicyRevision: "rev-42", Outcome: "ok", SCSPCode: "0003", HTTPStatus: 200, LatencyMicros: 1234,
				DataSHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}
		}
		if err := st.AppendTransfers(context.Background(), recs); err != nil {
			b.Fatal(err)
		}
	}
}

// logHandler serves the log as exchange/api's log routes do, in store
// calls: GET /v1/audit/log/checkpoint, tile/<L>/<N>[.p/<W>] and
// tile/entries/<N>[.p/<W>], the last after committing a log_read event.
func logHandler(st store.Log, events *audit.Log) http.Handler {
	buffers := sync.Pool{New: func() any { return new([]byte) }}
	fail := func(w http.ResponseWriter, err error) { http.Error(w, err.Error(), http.StatusInternalServerError) }
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		path, ok := strings.CutPrefix(r.URL.Path, "/v1/audit/log/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		if path == "checkpoint" {
			state, err := st.TreeState(ctx)
			if err != nil {
				fail(w, err)
				return
			}
			_, _ = w.Write(state.Checkpoint)
			return
		}
		t, err := torchwood.ParseTilePath(path)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		if t.L >= 0 {
			data, err := st.ReadTile(ctx, t.L, t.N)
			if errors.Is(err, store.ErrNotFound) || err == nil && len(data) < t.W*32 {
				http.NotFound(w, r)
				return
			}
			if err != nil {
				fail(w, err)
				return
			}
			w.Header().Set("Content-Length", strconv.Itoa(t.W*32))
			_, _ = w.Write(data[:t.W*32])
			return
		}
		state, err := st.TreeState(ctx)
		if err != nil {
			fail(w, err)
			return
		}
		if t.N<<translog.TileHeight+int64(t.W) > state.Size {
			http.NotFound(w, r)
			return
		}
		e := store.Event{ID: uuid.Must(uuid.NewV7()).String(), Time: time.Now().UTC().Truncate(time.Microsecond), Node: "node-1",
			Kind: store.EventLogRead, Operation: "entries", Count: int64(t.W), Actor: "dpo", Filter: r.URL.Path}
		if err := events.AppendEvent(ctx, e); err != nil {
			fail(w, err)
			return
		}
		buf := buffers.Get().(*[]byte)
		defer buffers.Put(buf)
		data, err := translog.AppendBundle(ctx, (*buf)[:0], st, t.N, t.W, nil)
		*buf = data[:0]
		if err != nil {
			fail(w, err)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		_, _ = w.Write(data)
	})
}
