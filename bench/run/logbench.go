package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/store/postgres"
	"github.com/pontexchange/pont/exchange/translog"
)

// LogResult is the figures of the log part: sealing a backlog of records
// into the tamper-evident log, and verifying the whole log over HTTP.
type LogResult struct {
	Records     int64   `json:"records"`
	SeedSeconds float64 `json:"seed_seconds"` // writing the records (not a measure)
	// YardstickNs is what one entry and its leaf hash took this process
	// just before the measures (translog's BenchmarkEntry, in a loop): the
	// same code took 1.5 µs and 2.2 µs on the development machine an hour
	// apart, and the measures move with it.
	YardstickNs float64 `json:"yardstick_entry_ns"`

	// Sealing: translog.Sealer.Step over the whole backlog, end to end.
	SealSeconds   float64 `json:"seal_seconds"`
	SealRate      float64 `json:"seal_records_per_second"`
	SealBatch     int     `json:"seal_max_batch"`
	SealSteps     int     `json:"seal_checkpoints"`
	UnsealedSecs  float64 `json:"seal_unsealed_seconds"`  // in the store's Unsealed
	SealStoreSecs float64 `json:"seal_store_seconds"`     // in the store's Seal
	ReadTileSecs  float64 `json:"seal_read_tile_seconds"` // in the store's ReadTile
	// The rest of SealSeconds is the sealer's own work: entries, hashes,
	// tiles, the signature.
	SealCPU CPUTimes `json:"seal_cpu"`

	// Verifying: translog.VerifyLog against pont serve over loopback.
	VerifySeconds     float64  `json:"verify_seconds"`
	VerifyLeaves      int64    `json:"verify_leaves"`
	VerifyRequests    int64    `json:"verify_requests"`
	VerifyBytes       int64    `json:"verify_bytes"`
	VerifyConcurrency int      `json:"verify_concurrency"`
	VerifyCPU         CPUTimes `json:"verify_cpu"`

	// Sealing a backlog while records keep being written (nil: not run).
	UnderWrites *SealUnderWrites `json:"seal_under_writes,omitempty"`
}

// SealUnderWrites is the sealing of a fresh backlog while writers append
// records at a steady rate, in small transactions as the group commit of a
// busy node does.
type SealUnderWrites struct {
	Backlog     int64   `json:"backlog"`
	WriteRate   int     `json:"write_rate"` // records a second, asked
	Written     int64   `json:"written"`    // records written while sealing
	PerCommit   int     `json:"records_per_commit"`
	Sealed      int64   `json:"sealed"` // leaves added until the backlog was sealed
	Seconds     float64 `json:"seconds"`
	Rate        float64 `json:"sealed_per_second"`
	WrittenRate float64 `json:"written_per_second"` // records a second, got
}

// CPUTimes is the CPU time the processes of a measure spent in it, in
// seconds, and the machine's load average when it began: on a shared
// machine the wall time depends on the neighbours; the CPU time a record
// much less.
type CPUTimes struct {
	Bench    float64 `json:"bench"`             // this process: the sealer, or the verifier
	Serve    float64 `json:"serve,omitempty"`   // pont serve
	Postgres float64 `json:"postgres"`          // the backends connected to the measured database (and, for the load, the server's own processes)
	Sources  float64 `json:"sources,omitempty"` // the simulated sources (load phases)
	Load     float64 `json:"load_average_1m"`   // /proc/loadavg when the measure began
	Unknown  bool    `json:"postgres_unreadable,omitempty"`
}

// logProfiles names the files of the log part's optional profiles.
type logProfiles struct {
	seal   string // pprof CPU profile of this process (the sealer) while sealing
	verify string // pprof CPU profile of pont serve while the log is verified
	client string // pprof CPU profile of this process (the verifier) while verifying
	keep   bool   // keep the database and the data directory, to look into them
}

// runLog writes records transfers to a fresh database through the store,
// seals them with translog.Sealer.Step, timed, then starts pont serve on
// that database and times translog.VerifyLog over the whole log.
func runLog(ctx context.Context, pontBin, modulesDir, admin string, records int64, maxBatch, concurrency int, under SealUnderWrites, prof logProfiles, logf func(string, ...any)) (*LogResult, error) {
	u, dataDir, cleanup, err := freshNode(ctx, admin, "pont_bench_log", logf)
	if err != nil {
		return nil, err
	}
	if prof.keep {
		logf("log: the database and data directory are kept: %s, %s", redact(u), dataDir)
	} else {
		defer cleanup()
	}
	res := &LogResult{Records: records}

	st, err := postgres.New(ctx, postgres.Config{URL: u, MaxConns: 4})
	if err != nil {
		return nil, fmt.Errorf("log: store: %w", err)
	}
	defer st.Close()
	// Autovacuum would start on the fresh rows at a moment of its choosing,
	// inside one measure in one run and not in the next: it is off for the
	// database's tables until the verification, before which they are
	// vacuumed.
	end := time.Now().UTC()
	if err := st.EnsurePartitions(ctx, end.Add(-time.Hour)); err != nil {
		return nil, fmt.Errorf("log: partitions: %w", err)
	}
	if err := autovacuum(ctx, u, false); err != nil {
		return nil, err
	}
	start := time.Now()
	if err := seedLog(ctx, st, records, end, logf); err != nil {
		return nil, err
	}
	res.SeedSeconds = time.Since(start).Seconds()
	logf("log: %d records written in %s", records, time.Since(start).Round(time.Second))
	if err := analyze(ctx, u); err != nil {
		return nil, err
	}
	if err := waitHorizon(ctx, u); err != nil {
		return nil, err
	}
	settle(ctx, admin, logf)

	_, signer, logKey, err := benchLogKey(dataDir)
	if err != nil {
		return nil, err
	}
	if res.YardstickNs, err = yardstick(); err != nil {
		return nil, err
	}
	timed := &timedLog{Log: st}
	sealer, err := translog.NewSealer(translog.SealerConfig{
		Store: timed, Signer: signer, MaxBatch: maxBatch,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return nil, err
	}
	stopProfile, err := cpuProfile(prof.seal)
	if err != nil {
		return nil, err
	}
	logf("log: sealing %d records", records)
	meter, err := startCPU(ctx, u, 0)
	if err != nil {
		stopProfile()
		return nil, err
	}
	start = time.Now()
	var sealed int64
	for sealed < records {
		n, err := sealer.Step(ctx)
		if err != nil {
			meter.Stop()
			stopProfile()
			return nil, fmt.Errorf("log: seal: %w", err)
		}
		sealed += int64(n)
		if n == 0 {
			time.Sleep(time.Millisecond) // cannot be after waitHorizon; a guard
		}
	}
	d := time.Since(start)
	res.SealCPU = meter.Stop()
	stopProfile()
	res.SealSeconds = d.Seconds()
	res.SealRate = float64(sealed) / d.Seconds()
	res.SealBatch = maxBatch
	if maxBatch <= 0 {
		res.SealBatch = 100_000 // SealerConfig's default
	}
	res.SealSteps = int(timed.seals.Load())
	res.UnsealedSecs = time.Duration(timed.unsealed.Load()).Seconds()
	res.SealStoreSecs = time.Duration(timed.seal.Load()).Seconds()
	res.ReadTileSecs = time.Duration(timed.readTile.Load()).Seconds()
	logf("log: sealed %d records in %s: %.0f records/s (Unsealed %.2f s, Seal %.2f s, the rest the sealer's own work; CPU: sealer %.1f s, PostgreSQL %.1f s; load average %.1f)",
		sealed, d.Round(time.Millisecond), res.SealRate, res.UnsealedSecs, res.SealStoreSecs, res.SealCPU.Bench, res.SealCPU.Postgres, res.SealCPU.Load)
	if sealed != records {
		return nil, fmt.Errorf("log: sealed %d records, not %d: something else wrote to the database", sealed, records)
	}

	// The log an auditor verifies is mostly older than autovacuum's cycle:
	// vacuumed, its visibility map set.
	logf("log: vacuuming")
	if err := vacuum(ctx, u); err != nil {
		return nil, err
	}

	// The node: pont serve on the database, with the log's key.
	var debug string
	if prof.verify != "" {
		if debug, err = freePort(); err != nil {
			return nil, err
		}
	}
	srv, err := startPontServe(ctx, pontBin, modulesDir, dataDir, u, "127.0.0.1:9", 0, debug)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	out, err := exec.CommandContext(ctx, pontBin, "token", "--data", dataDir, "--role", "auditor", "--sub", "dpo-bench", "--ttl", "2h").Output()
	if err != nil {
		return nil, fmt.Errorf("pont token: %w", exitDetail(err))
	}
	token := strings.TrimSpace(string(out))
	settle(ctx, admin, logf)

	// pont audit verify's client, counting what it fetches.
	client := translog.NewVerifyClient(time.Minute, concurrency)
	counter := &countingTransport{rt: client.Transport}
	client.Transport = counter
	cfg := translog.VerifyConfig{Server: srv.base, Token: token, LogKey: logKey, Concurrency: concurrency, Client: client}
	logf("log: pont serve (pid %d) at %s: verifying the whole log", srv.cmd.Process.Pid, srv.base)
	serverProfile := fetchProfile(ctx, debug, "profile?seconds=8", prof.verify, 0)
	stopProfile, err = cpuProfile(prof.client)
	if err != nil {
		return nil, err
	}
	if meter, err = startCPU(ctx, u, srv.cmd.Process.Pid); err != nil {
		stopProfile()
		return nil, err
	}
	start = time.Now()
	vr, err := translog.VerifyLog(ctx, cfg)
	d = time.Since(start)
	res.VerifyCPU = meter.Stop()
	stopProfile()
	if err != nil {
		return nil, fmt.Errorf("log: verify: %w", err)
	}
	if err := serverProfile(); err != nil {
		return nil, err
	} else if prof.verify != "" {
		logf("CPU profile of pont serve while verifying in %s: go tool pprof -top %s", prof.verify, prof.verify)
	}
	res.VerifySeconds = d.Seconds()
	res.VerifyLeaves = vr.Leaves
	res.VerifyRequests = counter.requests.Load()
	res.VerifyBytes = counter.bytes.Load()
	res.VerifyConcurrency = concurrency
	if res.VerifyConcurrency <= 0 {
		res.VerifyConcurrency = translog.DefaultConcurrency
	}
	logf("log: verified %d leaves in %s: %d requests, %.1f MB (CPU: pont serve %.1f s, PostgreSQL %.1f s, verifier %.1f s; load average %.1f)",
		vr.Leaves, d.Round(time.Millisecond), res.VerifyRequests, float64(res.VerifyBytes)/1e6,
		res.VerifyCPU.Serve, res.VerifyCPU.Postgres, res.VerifyCPU.Bench, res.VerifyCPU.Load)
	if vr.Leaves < records {
		return nil, fmt.Errorf("log: verified %d leaves, fewer than the %d sealed", vr.Leaves, records)
	}

	if under.Backlog > 0 {
		srv.stop() // its sealer holds the role
		if err := sealUnderWrites(ctx, st, u, sealer, &under, logf); err != nil {
			return nil, err
		}
		res.UnderWrites = &under
	}
	return res, nil
}

// sealUnderWrites writes a backlog of w.Backlog records, untimed, then
// seals with Step until the backlog is sealed while writers append
// w.WriteRate records a second, w.PerCommit a transaction, and fills in
// what it measured.
func sealUnderWrites(ctx context.Context, st *postgres.Store, u string, sealer *translog.Sealer, w *SealUnderWrites, logf func(string, ...any)) error {
	state, err := st.TreeState(ctx)
	if err != nil {
		return err
	}
	logf("log: a backlog of %d records, sealed while %d records a second are written, %d a transaction", w.Backlog, w.WriteRate, w.PerCommit)
	if err := seedLog(ctx, st, w.Backlog, time.Now().UTC(), logf); err != nil {
		return err
	}
	if err := waitHorizon(ctx, u); err != nil {
		return err
	}
	wctx, stop := context.WithCancel(ctx)
	var written atomic.Int64
	errs := make(chan error, 2)
	for k := range 2 { // two writers, so that one slow commit does not stall the rate
		go func() {
			rng := rand.New(rand.NewPCG(uint64(100+k), 13))
			every := time.Duration(float64(time.Second) * float64(2*w.PerCommit) / float64(w.WriteRate))
			tick := time.NewTicker(every)
			defer tick.Stop()
			recs := make([]store.Transfer, w.PerCommit)
			for i := int64(0); ; i++ {
				select {
				case <-wctx.Done():
					errs <- nil
					return
				case <-tick.C:
				}
				now := time.Now().UTC().Truncate(time.Microsecond)
				for j := range recs {
					recs[j] = logRecord(rng, i*int64(len(recs))+int64(j), now)
				}
				if err := st.AppendTransfers(wctx, recs); err != nil {
					if wctx.Err() != nil {
						errs <- nil
					} else {
						errs <- err
					}
					return
				}
				written.Add(int64(len(recs)))
			}
		}()
	}
	start := time.Now()
	var sealed int64
	for sealed < w.Backlog {
		n, err := sealer.Step(ctx)
		if err != nil {
			stop()
			return fmt.Errorf("log: seal under writes: %w", err)
		}
		sealed += int64(n)
		if n == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	d := time.Since(start)
	w.Written = written.Load()
	stop()
	if err := errors.Join(<-errs, <-errs); err != nil {
		return fmt.Errorf("log: writers: %w", err)
	}
	after, err := st.TreeState(ctx)
	if err != nil {
		return err
	}
	w.Sealed = after.Size - state.Size
	w.Seconds = d.Seconds()
	w.Rate = float64(w.Sealed) / d.Seconds()
	w.WrittenRate = float64(w.Written) / d.Seconds()
	logf("log: sealed %d leaves in %s (%.0f a second) while %d records were written (%.0f a second)", w.Sealed, d.Round(time.Millisecond), w.Rate, w.Written, w.WrittenRate)
	return nil
}

// yardstick answers the nanoseconds one entry and its leaf hash take
// (translog's BenchmarkEntry) in a loop of 200 000: a measure of the CPU
// this process gets now.
func yardstick() (float64, error) {
	rng := rand.New(rand.NewPCG(1, 1))
	t := logRecord(rng, 1, time.Now().UTC().Truncate(time.Microsecond))
	t.Salt = make([]byte, store.SaltSize)
	const n = 200_000
	var buf []byte
	var err error
	start := time.Now()
	for range n {
		if buf, err = translog.AppendEntry(buf[:0], &t, nil); err != nil {
			return 0, err
		}
		_ = translog.LeafHash(buf)
	}
	return float64(time.Since(start).Nanoseconds()) / n, nil
}

// cpuProfile starts a CPU profile of this process into path ("" for none)
// and answers the function that stops it.
func cpuProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// seedLog writes records transfers through the store's AppendTransfers, in
// batches of 10,000 (one COPY each), two writers at a time: records as the
// pipeline writes them, over the hour before end (its partitions made), with
// salts (the store gives each record its own).
func seedLog(ctx context.Context, st *postgres.Store, records int64, end time.Time, logf func(string, ...any)) error {
	begin := end.Add(-time.Hour)
	const batch = 10_000
	jobs := make(chan int64)
	errs := make(chan error, 2)
	var done atomic.Int64
	for w := range 2 {
		go func() {
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			var first error
			recs := make([]store.Transfer, 0, batch)
			for lo := range jobs {
				if first != nil {
					continue
				}
				recs = recs[:0]
				for i := lo; i < min(lo+batch, records); i++ {
					at := begin.Add(time.Duration(float64(time.Hour) * float64(i) / float64(records))).Truncate(time.Microsecond)
					recs = append(recs, logRecord(rng, i, at))
				}
				if err := st.AppendTransfers(ctx, recs); err != nil {
					first = fmt.Errorf("log: append records %d..%d: %w", lo, lo+int64(len(recs)), err)
					continue
				}
				if n := done.Add(int64(len(recs))); n%200_000 < batch {
					logf("log: %d records written", n)
				}
			}
			errs <- first
		}()
	}
	for lo := int64(0); lo < records; lo += batch {
		select {
		case jobs <- lo:
		case <-ctx.Done():
		}
	}
	close(jobs)
	return errors.Join(<-errs, <-errs, ctx.Err())
}

var (
	logServices = []struct{ service, adapter string }{
		{"padro", "padro-08019"}, {"titulacions", "titulacions"}, {"discapacitat", "discapacitat-09"},
		{"familia-nombrosa", "familia-nombrosa-09"}, {"prestacions", "prestacions"},
	}
	logOfficials = []struct{ id, name string }{
		{"38000001E", "Joana Puig i Ferrer"}, {"46000002K", "Marc Vidal Soler"}, {"77000003Q", "Núria Roca Martí"},
	}
)

// logRecord is record i of the log part: a query as the pipeline records
// it, served (with the hash of the data that left), not found, or denied
// (with its reason).
func logRecord(rng *rand.Rand, i int64, at time.Time) store.Transfer {
	svc := logServices[i%int64(len(logServices))]
	off := logOfficials[rng.IntN(len(logOfficials))]
	ms := at.UnixMilli()
	t := store.Transfer{
		ID:   fmt.Sprintf("%08x-%04x-7%03x-%04x-%012x", ms>>16, ms&0xffff, rng.IntN(1<<12), 0x8000|rng.IntN(1<<14), rng.Int64N(1<<48)),
		Time: at, Node: "bench-node", Kind: "query",
		RequesterOrg: requesterID(rng.IntN(seedRequesters)), OfficialID: off.id, OfficialName: off.name,
		ProcedureCode: "PROC-" + fmt.Sprint(100+rng.IntN(40)), ProcedureName: "Ajuts a famílies", Purpose: "Tramitació de l'expedient",
		LegalBasis: "law", LawReference: "Llei 39/2015, art. 28.2", CaseID: fmt.Sprintf("EXP-2026-%06d", rng.IntN(1_000_000)),
		SubjectIDType: "DNI", SubjectID: dni(10_000_000 + rng.IntN(seedSubjects)),
		Service: svc.service, Adapter: svc.adapter, AdapterVersion: "1.0.0",
		ModuleSHA256:   "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		PolicyRevision: "rev-42", LatencyMicros: 800 + rng.Int64N(4000),
		Decision: store.Allow, Outcome: "ok", SCSPCode: "0003", HTTPStatus: 200,
	}
	switch {
	case i%10 == 0:
		t.Decision, t.Outcome, t.SCSPCode, t.HTTPStatus = store.Deny, "not_authorized", "0401", 403
		t.Reasons = []store.Reason{{Code: "no_legal_basis", Message: "the procedure has no legal basis for this service"}}
	case i%3 == 0:
		t.Outcome, t.SCSPCode, t.HTTPStatus = "subject_not_found", "0233", 404
	default:
		t.DataSHA256 = fmt.Sprintf("%016x%016x%016x%016x", rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64())
	}
	return t
}

// analyze gives the planner the new table's statistics, as autovacuum
// would on a live log.
func analyze(ctx context.Context, u string) error {
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return fmt.Errorf("log: connect: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "ANALYZE transfers"); err != nil {
		return fmt.Errorf("log: analyze: %w", err)
	}
	return nil
}

// waitHorizon waits until no transaction older than the last record's is
// running anywhere on the server (the sealer only takes records below that
// horizon): the measure is of sealing, not of another database's long
// transaction.
func waitHorizon(ctx context.Context, u string) error {
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return fmt.Errorf("log: connect: %w", err)
	}
	defer conn.Close(ctx)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var below bool
		if err := conn.QueryRow(ctx, "SELECT (SELECT max(xid) FROM transfers) < pg_snapshot_xmin(pg_current_snapshot())").Scan(&below); err != nil {
			return fmt.Errorf("log: horizon: %w", err)
		}
		if below {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("log: a transaction older than the records' has run on the server for two minutes: sealing would wait for it")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// autovacuum turns autovacuum on or off for every table of the database.
func autovacuum(ctx context.Context, u string, on bool) error {
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return fmt.Errorf("log: connect: %w", err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT oid::regclass::text FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace")
	if err != nil {
		return fmt.Errorf("log: tables: %w", err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("log: tables: %w", err)
	}
	for _, t := range tables {
		if _, err := conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s SET (autovacuum_enabled = %t)", t, on)); err != nil {
			return fmt.Errorf("log: autovacuum of %s: %w", t, err)
		}
	}
	return nil
}

// vacuum vacuums and analyses the database and turns autovacuum on again.
func vacuum(ctx context.Context, u string) error {
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		return fmt.Errorf("log: connect: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "VACUUM (ANALYZE)"); err != nil {
		return fmt.Errorf("log: vacuum: %w", err)
	}
	return autovacuum(ctx, u, true)
}

// timedLog is a store.Log that adds up the time spent in the sealer's
// calls into the store.
type timedLog struct {
	store.Log
	unsealed, seal, readTile atomic.Int64 // nanoseconds
	seals                    atomic.Int64
}

func (t *timedLog) AcquireSealer(ctx context.Context) (store.Sealer, error) {
	x, err := t.Log.AcquireSealer(ctx)
	if err != nil {
		return nil, err
	}
	return &timedSealer{Sealer: x, t: t}, nil
}

func (t *timedLog) ReadTile(ctx context.Context, level int, index int64) ([]byte, error) {
	start := time.Now()
	defer func() { t.readTile.Add(int64(time.Since(start))) }()
	return t.Log.ReadTile(ctx, level, index)
}

type timedSealer struct {
	store.Sealer
	t *timedLog
}

func (x *timedSealer) Unsealed(ctx context.Context, limit int) ([]store.Leaf, string, error) {
	start := time.Now()
	defer func() { x.t.unsealed.Add(int64(time.Since(start))) }()
	return x.Sealer.Unsealed(ctx, limit)
}

func (x *timedSealer) Seal(ctx context.Context, s store.Seal) error {
	start := time.Now()
	defer func() { x.t.seal.Add(int64(time.Since(start))); x.t.seals.Add(1) }()
	return x.Sealer.Seal(ctx, s)
}

// countingTransport counts the requests made through it and the bytes of
// their bodies.
type countingTransport struct {
	rt       http.RoundTripper
	requests atomic.Int64
	bytes    atomic.Int64
}

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	c.requests.Add(1)
	resp, err := c.rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &countingBody{ReadCloser: resp.Body, n: &c.bytes}
	return resp, nil
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// cpuMeter measures the CPUTimes of a span: this process's from getrusage,
// pont serve's and the PostgreSQL backends' from /proc (PostgreSQL on this
// machine; elsewhere its share is unknown). The backends connected to the
// database are listed every 100 ms, so that one that ends within the span
// (the sealer's, released after each Step) still counts up to its last
// reading.
type cpuMeter struct {
	conn       *pgx.Conn
	servePID   int
	sourcesPID int
	// aux counts PostgreSQL's own processes too (WAL writer,
	// checkpointer, background writer: pg_stat_activity's rows without a
	// database), whose work a load of commits causes.
	aux      bool
	self0    time.Duration
	serve0   time.Duration
	sources0 time.Duration
	load     float64

	first, last map[int32]time.Duration // each backend's CPU when first and last read
	unknown     bool
	stop, done  chan struct{}
}

func startCPU(ctx context.Context, databaseURL string, servePID int) (*cpuMeter, error) {
	return startCPUOf(ctx, databaseURL, servePID, 0, false)
}

// startCPUOf is startCPU that also measures the simulated sources
// (sourcesPID, when not 0) and, with aux, PostgreSQL's own processes.
func startCPUOf(ctx context.Context, databaseURL string, servePID, sourcesPID int, aux bool) (*cpuMeter, error) {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return nil, fmt.Errorf("cpu: connect: %w", err)
	}
	m := &cpuMeter{conn: conn, servePID: servePID, sourcesPID: sourcesPID, aux: aux, first: map[int32]time.Duration{}, last: map[int32]time.Duration{},
		stop: make(chan struct{}), done: make(chan struct{})}
	if raw, err := os.ReadFile("/proc/loadavg"); err == nil {
		_, _ = fmt.Sscan(string(raw), &m.load)
	}
	m.sample(ctx, true)
	m.self0 = selfCPU()
	if servePID > 0 {
		m.serve0, _ = procCPU(int32(servePID))
	}
	if sourcesPID > 0 {
		m.sources0, _ = procCPU(int32(sourcesPID))
	}
	go func() {
		defer close(m.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				m.sample(ctx, false)
				return
			case <-t.C:
				m.sample(ctx, false)
			}
		}
	}()
	return m, nil
}

// sample reads the CPU time of every backend of the database but the
// meter's own.
func (m *cpuMeter) sample(ctx context.Context, initial bool) {
	q := "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
	if m.aux {
		q = "SELECT pid FROM pg_stat_activity WHERE (datname = current_database() OR datname IS NULL) AND pid <> pg_backend_pid()"
	}
	rows, err := m.conn.Query(ctx, q)
	if err != nil {
		m.unknown = true
		return
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		m.unknown = true
		return
	}
	for _, pid := range pids {
		d, err := procCPU(pid)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) { // ended since listed: its last reading stands
				m.unknown = true
			}
			continue
		}
		if _, ok := m.first[pid]; !ok {
			if initial {
				m.first[pid] = d
			} else {
				m.first[pid] = 0 // started within the span
			}
		}
		m.last[pid] = d
	}
}

// Stop ends the span and answers its CPU times.
func (m *cpuMeter) Stop() CPUTimes {
	self := selfCPU() - m.self0
	var serve time.Duration
	if m.servePID > 0 {
		d, _ := procCPU(int32(m.servePID))
		serve = d - m.serve0
	}
	var sources time.Duration
	if m.sourcesPID > 0 {
		d, _ := procCPU(int32(m.sourcesPID))
		sources = d - m.sources0
	}
	close(m.stop)
	<-m.done
	m.conn.Close(context.Background())
	var pg time.Duration
	for pid, d := range m.last {
		pg += d - m.first[pid]
	}
	return CPUTimes{Bench: self.Seconds(), Serve: serve.Seconds(), Postgres: pg.Seconds(), Sources: sources.Seconds(), Load: m.load, Unknown: m.unknown}
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU answers the user and system CPU time of process pid, from
// /proc/PID/stat (in clock ticks of 10 ms, Linux's USER_HZ).
func procCPU(pid int32) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command", pid)
	}
	// utime and stime, fields 14 and 15, are the 12th and 13th after the
	// command's closing parenthesis.
	f := strings.Fields(string(raw[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q, stime %q", pid, f[11], f[12])
	}
	return time.Duration(u+s) * 10 * time.Millisecond, nil
}
