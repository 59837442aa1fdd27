// Command run is `make bench`: it measures Pont layer by layer (the
// packages' Go benchmarks), end to end (`pont serve` on PostgreSQL under a
// load run, side by side with a bare Go handler doing the same source call),
// at start (`pont dev`, cold and warm compilation cache), and in the
// auditors' search over a 10-million-record transfer log, and in sealing
// and verifying the tamper-evident log of a million records; then writes the
// figures as JSON under bench/results/, rewrites the table in
// BENCHMARKS.md and prints it.
//
// It expects `make build` to have run (bin/pont, bin/adapters) and a
// PostgreSQL server at $PONT_BENCH_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable), on which it
// creates and drops a fresh database for the load run and keeps the search
// database pont_bench_10m between runs.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Results is everything one run measured; bench/results/<date>.json holds it.
type Results struct {
	Date    time.Time     `json:"date"`
	Machine Machine       `json:"machine"`
	Layers  []Layer       `json:"layers,omitempty"`
	Load    *LoadResults  `json:"load,omitempty"`
	Start   *StartTimes   `json:"start,omitempty"`
	Search  *SearchResult `json:"search,omitempty"`
	Log     *LogResult    `json:"log,omitempty"`
	Targets []Target      `json:"targets"`
}

// LoadResults is the end-to-end load run.
type LoadResults struct {
	PhaseSeconds float64 `json:"phase_seconds"`
	Workers      uint64  `json:"workers"`
	Subjects     int     `json:"distinct_subjects"`
	Pont         Phase   `json:"pont_max"`
	PontHalf     Phase   `json:"pont_half"`
	Baseline     Phase   `json:"baseline_max"`
	// BaselineHalf is the baseline at Pont's half rate: beside PontHalf,
	// the latency Pont adds at the same offered load.
	BaselineHalf Phase   `json:"baseline_half"`
	Ratio        float64 `json:"throughput_ratio"`   // Pont max / baseline max
	PoolMax      int     `json:"pool_max,omitempty"` // limits.pool_max given to pont serve (0: its default)
	RSSIdleMiB   float64 `json:"rss_idle_mib"`       // VmRSS once ready, before any query
	RSSPeakMiB   float64 `json:"rss_peak_mib"`       // largest VmRSS sample under load
	HWMMiB       float64 `json:"vmhwm_mib"`          // VmHWM at the end of the load
	// Jobs: 10,000 subjects of asynchronous jobs worked while synchronous
	// queries arrive at the half rate.
	Jobs *JobsResult `json:"jobs,omitempty"`
	// Profiled is a shorter maximum-rate phase during which pont serve's
	// CPU profile is taken (apart from Pont's maximum, so that profiling
	// does not lower it); Stages split its CPU by stage.
	Profiled *Phase  `json:"pont_max_profiled,omitempty"`
	Stages   []Stage `json:"stages,omitempty"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	db := os.Getenv("PONT_BENCH_DATABASE_URL")
	if db == "" {
		db = defaultDatabaseURL
	}
	parts := flag.String("parts", "layers,load,start,search,log", "what to run, comma-separated")
	phase := flag.Duration("phase", 20*time.Second, "length of each load phase")
	workers := flag.Uint64("workers", 32, "concurrent requests of a maximum-rate phase")
	benchtime := flag.String("benchtime", "500ms", "-benchtime of the layer benchmarks (500ms keeps a first run, which seeds the search database, under five minutes)")
	rows := flag.Int64("search-rows", 10_000_000, "records in the search database")
	out := flag.String("out", "bench/results", "directory of the JSON results")
	doc := flag.String("doc", "BENCHMARKS.md", "document whose table to rewrite (\"\" for none)")
	pontBin := flag.String("pont", "bin/pont", "the pont binary")
	modules := flag.String("modules", "bin/adapters", "the adapters' modules")
	poolMax := flag.Int("pool-max", 0, "limits.pool_max of pont serve (0: its default)")
	logRecords := flag.Int64("log-records", 1_000_000, "records sealed and verified by the log part")
	logBatch := flag.Int("log-batch", 0, "the sealer's MaxBatch in the log part (0: its default)")
	logConcurrency := flag.Int("log-verify-concurrency", 0, "requests in flight of the log part's verifier (0: its default)")
	var under SealUnderWrites
	flag.Int64Var(&under.Backlog, "log-under-writes", 200_000, "a backlog the log part seals while records are written (0: none)")
	flag.IntVar(&under.WriteRate, "log-write-rate", 2500, "records a second written while that backlog is sealed")
	flag.IntVar(&under.PerCommit, "log-write-batch", 10, "records a transaction of those writes")
	var logProf logProfiles
	flag.StringVar(&logProf.seal, "log-seal-cpuprofile", "", "write a pprof CPU profile of the sealing (in this process) to this file")
	flag.StringVar(&logProf.client, "log-verify-cpuprofile", "", "write a pprof CPU profile of the verifier (in this process) to this file")
	flag.StringVar(&logProf.verify, "log-serve-cpuprofile", "", "write a pprof CPU profile of pont serve during 8 s of the verification to this file")
	flag.BoolVar(&logProf.keep, "log-keep", false, "keep the log part's database and data directory (their names are printed)")
	soakFor := flag.Duration("soak", 30*time.Minute, "length of the soak (-parts soak)")
	soakRate := flag.Int("soak-rate", 150, "requests a second of the soak")
	var prof profiles
	flag.StringVar(&prof.perf, "perf", "", "record `perf record -g` of pont serve during its maximum-rate phase into this file")
	flag.StringVar(&prof.cpu, "cpuprofile", "", "write a pprof CPU profile of pont serve during its maximum-rate phase to this file")
	flag.StringVar(&prof.trace, "trace", "", "write a Go execution trace of pont serve, 3 s from the middle of its half-rate phase, to this file (tracing slows that phase)")
	flag.Parse()
	want := map[string]bool{}
	for _, p := range strings.Split(*parts, ",") {
		want[strings.TrimSpace(p)] = true
	}
	logf := func(format string, a ...any) { fmt.Fprintf(os.Stderr, "bench: "+format+"\n", a...) }

	modulesDir, err := filepath.Abs(*modules)
	if err != nil {
		return fmt.Errorf("modules: %w", err)
	}
	bin, err := filepath.Abs(*pontBin)
	if err != nil {
		return fmt.Errorf("pont binary: %w", err)
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%w (run make build first)", err)
	}
	goBin := os.Getenv("GO")
	if goBin == "" {
		goBin = "go"
	}

	if want["soak"] {
		// The soak is a part of its own (make soak): half an hour, its own
		// section of the document.
		logf("soak: %s at %d requests a second", *soakFor, *soakRate)
		r, err := runSoak(ctx, bin, modulesDir, db, *soakFor, *soakRate, logf)
		if err != nil {
			return err
		}
		path, err := writeSoak(*out, *doc, r)
		if err != nil {
			return err
		}
		fmt.Print(soakMarkdown(r, path))
		if !r.Flat {
			return fmt.Errorf("soak: memory, goroutines or open files grew: %+v → %+v", r.Start, r.End)
		}
		return nil
	}

	res := Results{Date: time.Now().UTC()}
	if res.Machine, err = machine(ctx, goBin, db); err != nil {
		return err
	}
	begin := time.Now()
	if want["layers"] {
		logf("layer benchmarks (-benchtime %s)", *benchtime)
		if res.Layers, err = runLayers(ctx, goBin, *benchtime, db, os.Stderr); err != nil {
			return err
		}
	}
	if want["load"] {
		logf("load run: %s a phase, %d workers at maximum rate", *phase, *workers)
		lr, err := runLoad(ctx, bin, modulesDir, db, *phase, *workers, *poolMax, prof, logf)
		if err != nil {
			return err
		}
		res.Load = lr
	}
	if want["start"] {
		logf("start time of pont dev, cold then warm")
		dir, err := os.MkdirTemp("", "pont-bench-dev-")
		if err != nil {
			return fmt.Errorf("start: %w", err)
		}
		st, err := measureStart(ctx, bin, modulesDir, dir, 5)
		os.RemoveAll(dir)
		if err != nil {
			return err
		}
		res.Start = &st
	}
	if want["search"] {
		logf("search benchmark on %d records", *rows)
		sr, err := runSearch(ctx, db, *rows, 500, logf)
		if err != nil {
			return err
		}
		res.Search = &sr
	}
	if want["log"] {
		if under.Backlog > 0 && (under.WriteRate <= 0 || under.PerCommit <= 0) {
			return fmt.Errorf("-log-write-rate and -log-write-batch must be positive with -log-under-writes")
		}
		logf("log: sealing and verifying %d records", *logRecords)
		lr, err := runLog(ctx, bin, modulesDir, db, *logRecords, *logBatch, *logConcurrency, under, logProf, logf)
		if err != nil {
			return err
		}
		res.Log = lr
	}
	res.Targets = targets(res)
	logf("done in %s", time.Since(begin).Round(time.Second))

	path, err := writeJSON(*out, res)
	if err != nil {
		return err
	}
	table := markdown(res, path)
	if *doc != "" {
		if err := rewriteDoc(*doc, table); err != nil {
			return err
		}
	}
	fmt.Print(table)
	return nil
}

// profiles names the files into which the load run records profiles of
// pont serve ("" for none).
type profiles struct {
	perf  string // perf record -g, maximum-rate phase
	cpu   string // pprof CPU profile, maximum-rate phase
	trace string // Go execution trace, half-rate phase
}

// freshNode makes what one pont serve of a run needs: a database of its own
// (its URL) and a data directory, and the function that removes both.
func freshNode(ctx context.Context, admin, prefix string, logf func(string, ...any)) (databaseURL, dataDir string, cleanup func(), err error) {
	name := fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano())
	if _, err := createDatabase(ctx, admin, name); err != nil {
		return "", "", nil, err
	}
	drop := func() {
		if err := dropDatabase(context.WithoutCancel(ctx), admin, name); err != nil {
			logf("%v", err)
		}
	}
	if databaseURL, err = dbURL(admin, name); err != nil {
		drop()
		return "", "", nil, err
	}
	if dataDir, err = os.MkdirTemp("", prefix+"-"); err != nil {
		drop()
		return "", "", nil, fmt.Errorf("data directory: %w", err)
	}
	return databaseURL, dataDir, func() { os.RemoveAll(dataDir); drop() }, nil
}

// runLoad starts the simulated sources, `pont serve` on a fresh database
// and the baseline, and runs the three phases: Pont at maximum rate, Pont
// at half that rate, the baseline at maximum rate.
func runLoad(ctx context.Context, pontBin, modulesDir, admin string, phase time.Duration, workers uint64, poolMax int, prof profiles, logf func(string, ...any)) (*LoadResults, error) {
	u, dataDir, cleanup, err := freshNode(ctx, admin, "pont_bench_load", logf)
	if err != nil {
		return nil, err
	}
	defer cleanup()

	// pont serve always serves its profiles here: the stages of a query
	// are read from a CPU profile of a phase of its own.
	debug, err := freePort()
	if err != nil {
		return nil, err
	}
	sources, sourcesAddr, err := startSources(ctx, pontBin)
	if err != nil {
		return nil, err
	}
	defer sources.stop()
	logf("simulated sources (pid %d) at %s", sources.cmd.Process.Pid, sourcesAddr)
	srv, err := startPontServe(ctx, pontBin, modulesDir, dataDir, u, sourcesAddr, poolMax, debug)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	pid := srv.cmd.Process.Pid
	m, err := newMix(srv.base, srv.token, 20_000, 1)
	if err != nil {
		return nil, err
	}
	lr := &LoadResults{PhaseSeconds: phase.Seconds(), Workers: workers, Subjects: m.Subjects, PoolMax: poolMax}
	if lr.RSSIdleMiB, _, err = memory(pid); err != nil {
		return nil, err
	}

	stopRSS := make(chan struct{})
	peak := sampleRSS(pid, 200*time.Millisecond, stopRSS)
	settle(ctx, admin, logf)
	logf("pont serve (pid %d) at %s: warm-up 3s", pid, srv.base)
	attack("warm-up", "pont", m, 0, workers, 3*time.Second)
	logf("pont: maximum rate")
	profiled := phase * 3 / 4
	var perf *exec.Cmd
	if prof.perf != "" {
		perf = exec.CommandContext(ctx, "perf", "record", "-F", "499", "-g", "-p", strconv.Itoa(pid), "-o", prof.perf,
			"--", "sleep", strconv.Itoa(int(profiled.Seconds())))
		perf.Stderr = os.Stderr
		if err := perf.Start(); err != nil {
			return nil, fmt.Errorf("perf: %w", err)
		}
	}
	cpu := fetchProfile(ctx, debug, fmt.Sprintf("profile?seconds=%d", int(profiled.Seconds())), prof.cpu, 0)
	srcPID := sources.cmd.Process.Pid
	if lr.Pont, err = measured(ctx, u, pid, srcPID, func() Phase { return attack("pont max", "pont", m, 0, workers, phase) }); err != nil {
		return nil, err
	}
	if perf != nil {
		if err := perf.Wait(); err != nil {
			return nil, fmt.Errorf("perf: %w", err)
		}
		logf("perf profile of pont serve in %s: perf report -i %s --no-children", prof.perf, prof.perf)
	}
	if err := cpu(); err != nil {
		return nil, err
	} else if prof.cpu != "" {
		logf("CPU profile of pont serve in %s: go tool pprof -top %s", prof.cpu, prof.cpu)
	}
	if err := profileStages(ctx, debug, lr, u, pid, srcPID, m, workers, logf); err != nil {
		return nil, err
	}
	half := max(1, int(lr.Pont.Throughput/2))
	logf("pont: %.0f answers/s at most; now %d/s", lr.Pont.Throughput, half)
	trace := fetchProfile(ctx, debug, "trace?seconds=3", prof.trace, phase/2)
	if lr.PontHalf, err = measured(ctx, u, pid, srcPID, func() Phase { return attack("pont half", "pont", m, half, workers, phase) }); err != nil {
		return nil, err
	}
	if err := trace(); err != nil {
		return nil, err
	} else if prof.trace != "" {
		logf("execution trace of pont serve in %s: go tool trace %s", prof.trace, prof.trace)
	}
	if lr.Jobs, err = runJobs(ctx, pontBin, dataDir, srv.base, m, half, workers, phase, lr.PontHalf, logf); err != nil {
		return nil, err
	}
	close(stopRSS)
	lr.RSSPeakMiB = <-peak
	if _, lr.HWMMiB, err = memory(pid); err != nil {
		return nil, err
	}
	srv.stop()

	baseBin := filepath.Join(filepath.Dir(pontBin), "bench-baseline")
	build := exec.CommandContext(ctx, goBinary(), "build", "-o", baseBin, "./bench/baseline")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("build the baseline: %w", err)
	}
	base, err := startProc(ctx, 30*time.Second, baseBin, "--sources", sourcesAddr)
	if err != nil {
		return nil, err
	}
	defer base.stop()
	bm, err := newMix(base.base, "unused", 20_000, 1)
	if err != nil {
		return nil, err
	}
	logf("baseline at %s: warm-up 3s, then maximum rate", base.base)
	attack("warm-up", "baseline", bm, 0, workers, 3*time.Second)
	basePID := base.cmd.Process.Pid
	if lr.Baseline, err = measured(ctx, u, basePID, srcPID, func() Phase { return attack("baseline max", "baseline", bm, 0, workers, phase) }); err != nil {
		return nil, err
	}
	logf("baseline: now at Pont's half rate, %d/s", half)
	if lr.BaselineHalf, err = measured(ctx, u, basePID, srcPID, func() Phase { return attack("baseline half", "baseline", bm, half, workers, phase) }); err != nil {
		return nil, err
	}
	if lr.Baseline.Throughput > 0 {
		lr.Ratio = lr.Pont.Throughput / lr.Baseline.Throughput
	}
	return lr, nil
}

func goBinary() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	return "go"
}

// profileStages runs a 10-second maximum-rate phase while pont serve's CPU
// profile is taken, and splits pont serve's CPU per answer in it by stage.
func profileStages(ctx context.Context, debug string, lr *LoadResults, databaseURL string, pid, srcPID int, m *mix, workers uint64, logf func(string, ...any)) error {
	f, err := os.CreateTemp("", "pont-bench-stages-*.pprof")
	if err != nil {
		return err
	}
	path := f.Name()
	f.Close()
	logf("CPU profile of pont serve for the stages in %s: go tool pprof -top %s", path, path)
	const seconds = 10
	wait := fetchProfile(ctx, debug, fmt.Sprintf("profile?seconds=%d", seconds), path, 0)
	ph, err := measured(ctx, databaseURL, pid, srcPID, func() Phase { return attack("pont max, profiled", "pont", m, 0, workers, seconds*time.Second) })
	if err != nil {
		return err
	}
	if err := wait(); err != nil {
		return err
	}
	lr.Profiled = &ph
	if lr.Stages, err = stagesOf(path, perAnswer(ph.CPU.Serve, ph)); err != nil {
		return err
	}
	logf("stages of pont serve's CPU from a %d s profile: %d stages", seconds, len(lr.Stages))
	return nil
}
