package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Machine is what the figures were measured on.
type Machine struct {
	CPUs      int     `json:"nproc"`
	MemoryGiB float64 `json:"memory_gib"`
	CPUModel  string  `json:"cpu_model"`
	Go        string  `json:"go"`
	Postgres  string  `json:"postgres"`
	Kernel    string  `json:"kernel"`
}

func machine(ctx context.Context, goBin, db string) (Machine, error) {
	m := Machine{CPUs: runtime.NumCPU()}
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		for _, line := range strings.Split(string(raw), "\n") {
			if _, err := fmt.Sscanf(line, "MemTotal: %f kB", &kb); err == nil {
				m.MemoryGiB = kb / (1 << 20)
				break
			}
		}
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if raw, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(raw))
	}
	out, err := exec.CommandContext(ctx, goBin, "env", "GOVERSION").Output()
	if err != nil {
		return m, fmt.Errorf("go env GOVERSION: %w", err)
	}
	m.Go = strings.TrimSpace(string(out))
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		return m, fmt.Errorf("connect to %s: %w", redact(db), err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&m.Postgres); err != nil {
		return m, fmt.Errorf("PostgreSQL version: %w", err)
	}
	return m, nil
}

// Target is one of issue 6's and issue 3's targets and whether this run met it.
type Target struct {
	What   string `json:"what"`
	Target string `json:"target"`
	Got    string `json:"got"`
	Met    bool   `json:"met"`
}

func targets(r Results) []Target {
	var out []Target
	if l := r.Load; l != nil {
		out = append(out,
			Target{"throughput vs the baseline", "≥ 50 %", fmt.Sprintf("%.0f %%", 100*l.Ratio), l.Ratio >= 0.5},
			Target{"p99 at half of Pont's maximum", "< 20 ms", fmt.Sprintf("%.1f ms", l.PontHalf.P99ms), l.PontHalf.P99ms < 20 && l.PontHalf.Errors == 0},
			Target{"resident memory of pont serve under load", "< 300 MiB", fmt.Sprintf("%.0f MiB", max(l.RSSPeakMiB, l.HWMMiB)), max(l.RSSPeakMiB, l.HWMMiB) < 300},
		)
		if j := l.Jobs; j != nil {
			out = append(out, Target{fmt.Sprintf("synchronous p99 while %s subjects of jobs run, against without", thousands(int64(j.Subjects))), "≤ 2×",
				fmt.Sprintf("%.2f× (%.1f ms / %.1f ms)", j.P99Ratio, j.Sync.P99ms, l.PontHalf.P99ms), j.P99Ratio > 0 && j.P99Ratio <= 2 && j.Sync.Errors == 0})
		}
	}
	if s := r.Start; s != nil {
		out = append(out, Target{"warm start of pont dev", "< 1 s", fmt.Sprintf("%.0f ms", s.WarmMs), s.WarmMs < 1000})
	}
	if s := r.Search; s != nil {
		worst := max(s.BySubject.P99ms, s.ByReq.P99ms)
		out = append(out, Target{"search by subject or requester over 10M records (p99)", "< 50 ms", fmt.Sprintf("%.1f ms", worst), worst < 50 && s.Rows >= 10_000_000})
	}
	if l := r.Log; l != nil {
		out = append(out,
			Target{fmt.Sprintf("sealing a backlog of %s records", thousands(l.Records)), "≥ 20 000 records/s", fmt.Sprintf("%s records/s", thousands(int64(l.SealRate))), l.SealRate >= 20_000 && l.Records >= 1_000_000},
			Target{fmt.Sprintf("verifying a log of %s leaves", thousands(l.VerifyLeaves)), "< 10 s", fmt.Sprintf("%.1f s", l.VerifySeconds), l.VerifySeconds < 10 && l.VerifyLeaves >= 1_000_000},
		)
	}
	return out
}

// thousands writes n with a thin space between groups of three digits.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteRune(' ')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// writeJSON writes r to dir/<date>.json and answers the path.
func writeJSON(dir string, r Results) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("results: %w", err)
	}
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", fmt.Errorf("results: %w", err)
	}
	path := filepath.Join(dir, r.Date.Format("2006-01-02T150405Z")+".json")
	if err := os.WriteFile(path, append(raw, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("results: %w", err)
	}
	return path, nil
}

// markdown renders r as the tables of BENCHMARKS.md.
func markdown(r Results, jsonPath string) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	m := r.Machine
	p("Run of %s (`%s`) on %d CPUs (%s), %.1f GiB of memory, Linux %s, %s, PostgreSQL %s; load generator on the same machine.\n\n",
		r.Date.Format("2006-01-02 15:04 UTC"), jsonPath, m.CPUs, m.CPUModel, m.MemoryGiB, m.Kernel, m.Go, m.Postgres)
	if len(r.Targets) > 0 {
		p("| target | wanted | got | met |\n| --- | --- | --- | --- |\n")
		for _, t := range r.Targets {
			met := "yes"
			if !t.Met {
				met = "**no**"
			}
			p("| %s | %s | %s | %s |\n", t.What, t.Target, t.Got, met)
		}
		p("\n")
	}
	if l := r.Load; l != nil {
		p("End to end, over loopback, %.0f s a phase, the same mix of queries over the five services (%d distinct subjects; about two thirds unknown to the sources, answered 404 subject_not_found after the whole pipeline):\n\n", l.PhaseSeconds, l.Subjects)
		p("| phase | rate | requests | answers/s | p50 | p95 | p99 | max | errors | outcomes |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
		for _, ph := range []Phase{l.Pont, l.PontHalf, l.Baseline, l.BaselineHalf} {
			p("| %s | %s | %d | %.0f | %.1f ms | %.1f ms | %.1f ms | %.1f ms | %d | %s |\n",
				ph.Name, ph.Rate, ph.Requests, ph.Throughput, ph.P50ms, ph.P95ms, ph.P99ms, ph.MaxMs, ph.Errors, outcomes(ph.Outcomes))
		}
		pool := "its default"
		if l.PoolMax > 0 {
			pool = fmt.Sprint(l.PoolMax)
		}
		if j := l.Jobs; j != nil {
			ph := j.Sync
			p("| %s | %s | %d | %.0f | %.1f ms | %.1f ms | %.1f ms | %.1f ms | %d | %s |\n",
				ph.Name, ph.Rate, ph.Requests, ph.Throughput, ph.P50ms, ph.P95ms, ph.P99ms, ph.MaxMs, ph.Errors, outcomes(ph.Outcomes))
			p("\nJobs: %d jobs of %s subjects (%s in all) on the padró of Barcelona for another organisation, submitted at the start of the phase above: all done in %.1f s, **%.0f subjects a second**, while the synchronous p99 was %.2f× its value without them. Outcomes: %s.\n", j.Jobs, thousands(jobSize), thousands(int64(j.Subjects)), j.Seconds, j.PerSecond, j.P99Ratio, outcomes(j.Counts))
		}
		if l.BaselineHalf.Answered > 0 {
			p("\nAt the same offered rate (Pont's half, %s), Pont adds **%.1f ms** at p50 (%.1f against %.1f ms) and **%.1f ms** at p99 (%.1f against %.1f ms) to a direct call.\n",
				l.PontHalf.Rate, l.PontHalf.P50ms-l.BaselineHalf.P50ms, l.PontHalf.P50ms, l.BaselineHalf.P50ms,
				l.PontHalf.P99ms-l.BaselineHalf.P99ms, l.PontHalf.P99ms, l.BaselineHalf.P99ms)
		}
		cpuTable(p, l)
		stageTable(p, l)
		p("\nPont's maximum throughput is **%.0f %%** of the baseline's. Resident memory of `pont serve` (pool_max %s): %.0f MiB once ready, %.0f MiB at the largest sample under load, VmHWM %.0f MiB.\n\n", 100*l.Ratio, pool, l.RSSIdleMiB, l.RSSPeakMiB, l.HWMMiB)
	}
	if s := r.Start; s != nil {
		p("Start of `pont dev` until `/readyz` answers 200: cold (empty data directory, no compilation cache) **%.0f ms**; warm **%.0f ms** (median of %d: %s).\n\n", s.ColdMs, s.WarmMs, len(s.Warm), floats(s.Warm))
	}
	if s := r.Search; s != nil {
		p("Search through the PostgreSQL store's `SearchTransfers`, first page of 100, newest first, one query at a time, over %d records (%d months, %d subjects, %d requesters; %s):\n\n", s.Rows, s.Months, s.Subjects, s.Requesters, s.Seeded)
		p("| by | queries | distinct keys | p50 | p99 | max |\n| --- | --- | --- | --- | --- | --- |\n")
		p("| subject | %d | %d | %.2f ms | %.2f ms | %.2f ms |\n", s.BySubject.Queries, s.BySubject.Keys, s.BySubject.P50ms, s.BySubject.P99ms, s.BySubject.MaxMs)
		p("| requester | %d | %d | %.2f ms | %.2f ms | %.2f ms |\n\n", s.ByReq.Queries, s.ByReq.Keys, s.ByReq.P50ms, s.ByReq.P99ms, s.ByReq.MaxMs)
	}
	if l := r.Log; l != nil {
		logMarkdown(p, l)
	}
	if len(r.Layers) > 0 {
		p("Layers (Go benchmarks of each package, `go test -bench`):\n\n| package | benchmark | time/op | B/op | allocs/op | other |\n| --- | --- | --- | --- | --- | --- |\n")
		for _, l := range r.Layers {
			var other []string
			for k, v := range l.Metrics {
				if k != "B/op" && k != "allocs/op" && k != "MB/s" {
					other = append(other, fmt.Sprintf("%.1f %s", v, k))
				}
			}
			sort.Strings(other)
			p("| %s | %s | %s | %.0f | %.0f | %s |\n", l.Package, l.Name, duration(l.NsPerOp), l.Metrics["B/op"], l.Metrics["allocs/op"], strings.Join(other, ", "))
		}
		p("\n")
	}
	return b.String()
}

// logMarkdown renders the log part: its measures, where their time went,
// and the published figures of other logs beside them.
func logMarkdown(p func(string, ...any), l *LogResult) {
	p("The tamper-evident log (`-parts log`), on a fresh PostgreSQL database of %s records written through the store's `AppendTransfers` (10 000 a COPY, %.0f s, not measured); CPU time is each process's own, PostgreSQL's that of the database's backends:\n\n", thousands(l.Records), l.SeedSeconds)
	p("| measure | leaves | time | rate | CPU: Pont | CPU: PostgreSQL | CPU: verifier | load average |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	p("| sealing the backlog: `Sealer.Step`, checkpoints of at most %s leaves | %s | %.2f s | **%s records/s** | %.1f s (sealer) | %.1f s | | %.1f |\n",
		thousands(int64(l.SealBatch)), thousands(l.Records), l.SealSeconds, thousands(int64(l.SealRate)), l.SealCPU.Bench, l.SealCPU.Postgres, l.SealCPU.Load)
	p("| verifying the whole log: `VerifyLog` against `pont serve` over loopback, %d requests in flight | %s | **%.2f s** | %s leaves/s | %.1f s (pont serve) | %.1f s | %.1f s | %.1f |\n",
		l.VerifyConcurrency, thousands(l.VerifyLeaves), l.VerifySeconds, thousands(int64(float64(l.VerifyLeaves)/l.VerifySeconds)), l.VerifyCPU.Serve, l.VerifyCPU.Postgres, l.VerifyCPU.Bench, l.VerifyCPU.Load)
	if w := l.UnderWrites; w != nil {
		p("| sealing a fresh backlog of %s while %s records/s are written, %d a transaction (%s written, %.0f/s) | %s | %.2f s | %s leaves/s | | | | |\n",
			thousands(w.Backlog), thousands(int64(w.WriteRate)), w.PerCommit, thousands(w.Written), w.WrittenRate, thousands(w.Sealed), w.Seconds, thousands(int64(w.Rate)))
	}
	own := l.SealSeconds - l.UnsealedSecs - l.SealStoreSecs - l.ReadTileSecs
	p("\nSealing's %.2f s: %.2f s reading the records (`Unsealed`), %.2f s committing leaves, tiles and checkpoints (`Seal`, %d of them), %.2f s reading tiles, %.2f s the sealer's own work (entries, hashes, tiles, signatures). ",
		l.SealSeconds, l.UnsealedSecs, l.SealStoreSecs, l.SealSteps, l.ReadTileSecs, own)
	p("Verifying fetched the checkpoint, every entry bundle and every level-0 hash tile: %d requests, %.0f MB.%s ", l.VerifyRequests, float64(l.VerifyBytes)/1e6, unknownCPU(l))
	p("Yardstick of the CPU this run got: one typical entry and its leaf hash took %.2f µs (translog's `BenchmarkEntry` in a loop, just before sealing); the same code took from 1.1 µs on a quiet machine to 2.6 µs on one shared with another benchmark, and every figure above moves with it.\n\n", l.YardstickNs/1e3)
	p("Published figures of other logs (none found gives a time to verify a whole log; what each measured differs from the above: see \"The log beside Tessera, Trillian and the Go checksum database\" below):\n\n")
	p("| log | what was measured | figure | source |\n| --- | --- | --- | --- |\n")
	for _, f := range publishedLogFigures {
		p("| %s | %s | %s | %s |\n", f.log, f.what, f.figure, f.source)
	}
	p("\n")
}

// publishedLogFigures are other logs' published figures, each from a file
// that says so; a log without one says that too.
var publishedLogFigures = []struct{ log, what, figure, source string }{
	{"Tessera, POSIX storage", "entries appended through its API (its hammer), 12-core VM, local disks, no antispam", "~2 900 entries/s", "`github.com/transparency-dev/tessera/blob/main/docs/performance.md`"},
	{"Tessera, GCP storage", "the same, 100 Spanner processing units, one front end, no antispam", "> 3 000 entries/s", "`github.com/transparency-dev/tessera/blob/main/docs/performance.md`"},
	{"Tessera, MySQL storage", "the same, e2-micro VM with Cloud SQL (4 vCPU)", "~2 000 entries/s", "`github.com/transparency-dev/tessera/blob/main/storage/mysql/PERFORMANCE.md`"},
	{"Tessera, MySQL storage", "the same, Tessera and MySQL on one e2-micro VM", "~300 entries/s", "`github.com/transparency-dev/tessera/blob/main/storage/mysql/PERFORMANCE.md`"},
	{"Trillian", "no benchmark found; its log signer's defaults: a batch of at most 1 000 leaves a log, a sequencing pass every 100 ms", "none measured (the defaults' arithmetic: 10 000 leaves/s a log)", "`github.com/google/trillian/blob/master/cmd/trillian_log_signer/main.go`"},
	{"Go checksum database", "no throughput or verification figure found", "could not be checked", "`github.com/golang/proposal/blob/master/design/25530-sumdb.md` gives none"},
}

func unknownCPU(l *LogResult) string {
	if l.SealCPU.Unknown || l.VerifyCPU.Unknown {
		return " (PostgreSQL's CPU time could not be read in full from /proc: a server on another machine, or backends of another user.)"
	}
	return ""
}

func outcomes(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] })
	var parts []string
	for _, k := range keys {
		k2 := k
		if len(k2) > 60 {
			k2 = k2[:60] + "…"
		}
		parts = append(parts, fmt.Sprintf("%s: %d", strings.ReplaceAll(k2, "|", "/"), m[k]))
	}
	return strings.Join(parts, ", ")
}

func floats(fs []float64) string {
	var s []string
	for _, f := range fs {
		s = append(s, fmt.Sprintf("%.0f", f))
	}
	return strings.Join(s, ", ") + " ms"
}

func duration(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	}
	return fmt.Sprintf("%.0f ns", ns)
}

// The generated part of BENCHMARKS.md lies between these markers; the rest
// of the document is written by hand.
const (
	beginMarker = "<!-- make bench: begin -->"
	endMarker   = "<!-- make bench: end -->"
)

// rewriteDoc replaces the generated part of the document at path with
// table, or appends it when the markers are missing.
func rewriteDoc(path, table string) error {
	raw, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("%s: %w", path, err)
	}
	doc := string(raw)
	block := beginMarker + "\n" + table + endMarker
	i, j := strings.Index(doc, beginMarker), strings.Index(doc, endMarker)
	if i >= 0 && j > i {
		doc = doc[:i] + block + doc[j+len(endMarker):]
	} else {
		if doc == "" {
			doc = "# Benchmarks\n"
		}
		doc = strings.TrimRight(doc, "\n") + "\n\n" + block + "\n"
	}
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// cpuTable writes the machine-wide CPU of each phase, per answer: each
// process's user and system time over the phase (from /proc and
// getrusage), divided by the phase's answers.
func cpuTable(p func(string, ...any), l *LoadResults) {
	phases := []Phase{l.Pont, l.PontHalf, l.Baseline, l.BaselineHalf}
	if slices.IndexFunc(phases, func(ph Phase) bool { return ph.CPU != nil }) < 0 {
		return
	}
	p("\nCPU per answer, machine-wide, in µs (each process's user and system time over the phase, divided by its answers; the server is `pont serve` or the baseline):\n\n")
	p("| phase | answers | server | PostgreSQL | load generator | simulated sources | all | load average |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, ph := range phases {
		c := ph.CPU
		if c == nil || ph.Answered == 0 {
			continue
		}
		pg := fmt.Sprintf("%.0f", perAnswer(c.Postgres, ph))
		if c.Unknown {
			pg += " (incomplete)"
		}
		all := c.Serve + c.Postgres + c.Bench + c.Sources
		p("| %s | %d | %.0f | %s | %.0f | %.0f | %.0f | %.2f |\n", ph.Name, ph.Answered, perAnswer(c.Serve, ph), pg, perAnswer(c.Bench, ph), perAnswer(c.Sources, ph), perAnswer(all, ph), c.Load)
	}
}

// stageTable writes how pont serve's CPU per answer splits by stage.
func stageTable(p func(string, ...any), l *LoadResults) {
	if len(l.Stages) == 0 || l.Profiled == nil || l.Profiled.CPU == nil {
		return
	}
	ph := l.Profiled
	p("\nInside `pont serve`, by stage (a CPU profile of a %.0f s phase at the maximum rate, %.0f answers/s, %.0f µs of `pont serve`'s CPU an answer; each sample charged to the stage of the frame nearest its leaf that a stage names, `bench/run/stages.go`):\n\n", ph.Seconds, ph.Throughput, perAnswer(ph.CPU.Serve, *ph))
	p("| stage | share | µs per answer |\n| --- | --- | --- |\n")
	for _, s := range l.Stages {
		p("| %s | %.1f %% | %.0f |\n", s.Name, 100*s.Share, s.MicrosPerAnswer)
	}
}
