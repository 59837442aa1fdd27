package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SoakSample is one reading of pont serve during the soak.
type SoakSample struct {
	Seconds    float64 `json:"seconds"`
	RSSMiB     float64 `json:"rss_mib"`
	Goroutines int     `json:"goroutines"`
	FDs        int     `json:"fds"`
}

// SoakResults is what `make soak` measured.
type SoakResults struct {
	Date     time.Time      `json:"date"`
	Minutes  float64        `json:"minutes"`
	Rate     int            `json:"rate_per_second"`
	Requests int            `json:"requests"`
	Outcomes map[string]int `json:"outcomes"`
	// Start is the first sample after the warm-up, End the last one.
	Start, End SoakSample   `json:"-"`
	Samples    []SoakSample `json:"samples"`
	// Flat is whether memory, goroutines and file descriptors ended near
	// where they started (see flat).
	Flat bool `json:"flat"`
}

// soakRequest is one kind of request of the soak's mix, with its share.
type soakRequest struct {
	share  int // out of 100
	method string
	path   string
	body   func(rng *rand.Rand) []byte
}

// soakMix is a day of a node's traffic, squeezed: mostly good queries and
// unknown subjects, and the faulty fixtures and malformed requests that
// must cost their senders only: a slow source, a broken record, a source
// in maintenance, poisoned names and bodies.
func soakMix() []soakRequest {
	query := func(subject string, params map[string]string) func(*rand.Rand) []byte {
		return func(rng *rand.Rand) []byte {
			s := subject
			if s == "" {
				for s == "" || faultSubjects[s] {
					s = dni(rng.IntN(100_000_000))
				}
			}
			b, _ := json.Marshal(map[string]any{
				"procedure": map[string]string{"code": "DEMO"}, "purpose": "demo",
				"legal_basis": map[string]string{"type": "presumed"}, "case_id": "EXP-SOAK",
				"official": map[string]string{"id": "38000001E", "name": "Anna Puig"},
				"subject":  map[string]string{"id_type": "DNI", "id": s},
				"params":   params,
			})
			return b
		}
	}
	bcn := map[string]string{"municipality": "08019"}
	return []soakRequest{
		{40, "POST", "/v1/services/padro/queries", query("12345678Z", bcn)},
		{30, "POST", "/v1/services/prestacions/queries", query("", map[string]string{})},
		{10, "POST", "/v1/services/titulacions/queries", query("45678901G", map[string]string{})},
		{4, "POST", "/v1/services/padro/queries", query("99999999R", bcn)}, // slow source
		{4, "POST", "/v1/services/padro/queries", query("11111111H", bcn)}, // broken record
		{4, "POST", "/v1/services/padro/queries", query("22222222J", bcn)}, // in maintenance
		{3, "POST", "/v1/services/x%00/queries", query("12345678Z", bcn)},  // poisoned name
		{3, "POST", "/v1/services/padro/queries", func(*rand.Rand) []byte { return []byte(`{"\u0000":1}`) }},
		{2, "POST", "/v1/services/padro/queries", func(*rand.Rand) []byte { return []byte(strings.Repeat("[", 20000)) }},
	}
}

// runSoak runs pont serve on a fresh database under a steady mixed load
// for d, reading its memory, goroutines and open files every interval.
func runSoak(ctx context.Context, pontBin, modulesDir, admin string, d time.Duration, rate int, logf func(string, ...any)) (*SoakResults, error) {
	u, dataDir, cleanup, err := freshNode(ctx, admin, "pont_soak", logf)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	debug, err := freePort()
	if err != nil {
		return nil, err
	}
	sources, sourcesAddr, err := startSources(ctx, pontBin)
	if err != nil {
		return nil, err
	}
	defer sources.stop()
	srv, err := startPontServe(ctx, pontBin, modulesDir, dataDir, u, sourcesAddr, 0, debug)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	pid := srv.cmd.Process.Pid
	logf("soak: pont serve (pid %d) at %s, %d requests a second for %s", pid, srv.base, rate, d)

	mix := soakMix()
	res := &SoakResults{Date: time.Now().UTC(), Rate: rate, Outcomes: map[string]int{}}
	var mu sync.Mutex
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	jobs := make(chan soakRequest, 1024)
	var wg sync.WaitGroup
	for w := range 64 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for r := range jobs {
				outcome := sendSoak(client, srv.base, srv.token, r, rng)
				mu.Lock()
				res.Outcomes[outcome]++
				res.Requests++
				mu.Unlock()
			}
		})
	}
	sample := func(start time.Time) (SoakSample, error) {
		rss, _, err := memory(pid)
		if err != nil {
			return SoakSample{}, err
		}
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			return SoakSample{}, fmt.Errorf("soak: open files: %w", err)
		}
		g, err := goroutines(ctx, debug)
		if err != nil {
			return SoakSample{}, err
		}
		return SoakSample{Seconds: time.Since(start).Seconds(), RSSMiB: rss, Goroutines: g, FDs: len(fds)}, nil
	}

	begin := time.Now()
	warm := min(time.Minute, d/10)
	interval := max(time.Second, d/60)
	tick := time.NewTicker(time.Second / time.Duration(rate))
	next := begin.Add(warm)
	var schedule []soakRequest
	for _, r := range mix {
		for range r.share {
			schedule = append(schedule, r)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var failed error
loop:
	for now := range tick.C {
		select {
		case <-ctx.Done():
			break loop
		default:
		}
		if now.Sub(begin) >= d {
			break
		}
		select {
		case jobs <- schedule[rng.IntN(len(schedule))]:
		default:
			mu.Lock()
			res.Outcomes["not sent: every worker busy"]++
			mu.Unlock()
		}
		if now.After(next) {
			s, err := sample(begin)
			if err != nil {
				failed = err
				break
			}
			res.Samples = append(res.Samples, s)
			next = now.Add(interval)
			if len(res.Samples)%10 == 1 {
				logf("soak: %4.0f s: %.0f MiB, %d goroutines, %d files", s.Seconds, s.RSSMiB, s.Goroutines, s.FDs)
			}
		}
	}
	tick.Stop()
	close(jobs)
	wg.Wait()
	if failed != nil {
		return nil, failed
	}
	if len(res.Samples) < 2 {
		return nil, fmt.Errorf("soak: %s is too short to compare a start with an end", d)
	}
	res.Minutes = time.Since(begin).Minutes()
	res.Start, res.End = res.Samples[0], res.Samples[len(res.Samples)-1]
	res.Flat = flat(res.Start, res.End)
	return res, nil
}

// flat judges whether a long run leaked: memory within a quarter and
// 32 MiB of where it started, goroutines and open files within a fifth and
// a few dozen (pools and connections move with the load).
func flat(start, end SoakSample) bool {
	return end.RSSMiB <= start.RSSMiB*1.25+32 &&
		float64(end.Goroutines) <= float64(start.Goroutines)*1.2+50 &&
		float64(end.FDs) <= float64(start.FDs)*1.2+20
}

// sendSoak sends one request and answers its outcome: the status and, for
// a problem, its code.
func sendSoak(client *http.Client, base, token string, r soakRequest, rng *rand.Rand) string {
	req, err := http.NewRequest(r.method, base+r.path, bytes.NewReader(r.body(rng)))
	if err != nil {
		return "error: " + err.Error()
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "error: transport"
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(raw, &p)
	return strings.TrimSpace(strconv.Itoa(resp.StatusCode) + " " + p.Code)
}

// goroutines reads the goroutine count from pont serve's profile listener.
func goroutines(ctx context.Context, debug string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+debug+"/debug/pprof/goroutine?debug=1", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("soak: goroutines: %w", err)
	}
	defer resp.Body.Close()
	line, _ := io.ReadAll(io.LimitReader(resp.Body, 128))
	// "goroutine profile: total 123"
	fields := strings.Fields(strings.SplitN(string(line), "\n", 2)[0])
	if len(fields) == 0 {
		return 0, fmt.Errorf("soak: goroutines: an empty profile")
	}
	n, err := strconv.Atoi(fields[len(fields)-1])
	if err != nil {
		return 0, fmt.Errorf("soak: goroutines: %q: %w", line, err)
	}
	return n, nil
}

// soakMarkdown is the soak's section of BENCHMARKS.md.
func soakMarkdown(r *SoakResults, path string) string {
	var b strings.Builder
	verdict := "flat"
	if !r.Flat {
		verdict = "**not flat**"
	}
	fmt.Fprintf(&b, "Soak of %s (`%s`): `pont serve` on PostgreSQL for %.0f minutes at %d requests a second, %d requests; memory, goroutines and open files %s.\n\n",
		r.Date.Format("2006-01-02 15:04 UTC"), filepath.ToSlash(path), r.Minutes, r.Rate, r.Requests, verdict)
	b.WriteString("| | resident memory | goroutines | open files |\n| --- | --- | --- | --- |\n")
	fmt.Fprintf(&b, "| after the warm-up (%.0f s) | %.0f MiB | %d | %d |\n", r.Start.Seconds, r.Start.RSSMiB, r.Start.Goroutines, r.Start.FDs)
	fmt.Fprintf(&b, "| at the end (%.0f s) | %.0f MiB | %d | %d |\n\n", r.End.Seconds, r.End.RSSMiB, r.End.Goroutines, r.End.FDs)
	keys := make([]string, 0, len(r.Outcomes))
	for k := range r.Outcomes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, r.Outcomes[k])
	}
	fmt.Fprintf(&b, "Outcomes: %s.\n", strings.Join(parts, ", "))
	return b.String()
}

// Markers of the soak's section in BENCHMARKS.md.
const (
	soakBegin = "<!-- make soak: begin -->"
	soakEnd   = "<!-- make soak: end -->"
)

// writeSoak writes the soak's JSON and its section of doc.
func writeSoak(dir, doc string, r *SoakResults) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("soak results: %w", err)
	}
	path := filepath.Join(dir, "soak-"+r.Date.Format("2006-01-02T150405Z")+".json")
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", fmt.Errorf("soak results: %w", err)
	}
	if err := os.WriteFile(path, append(raw, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("soak results: %w", err)
	}
	if doc == "" {
		return path, nil
	}
	text, err := os.ReadFile(doc)
	if err != nil {
		return "", fmt.Errorf("%s: %w", doc, err)
	}
	s := string(text)
	block := soakBegin + "\n" + soakMarkdown(r, path) + soakEnd
	if i, j := strings.Index(s, soakBegin), strings.Index(s, soakEnd); i >= 0 && j > i {
		s = s[:i] + block + s[j+len(soakEnd):]
	} else {
		s = strings.TrimRight(s, "\n") + "\n\n## Soak (`make soak`)\n\n" + block + "\n"
	}
	return path, os.WriteFile(doc, []byte(s), 0o644)
}
