package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"

	"github.com/pontexchange/pont/plugins"
)

// proc is a server process started by the bench, with the address it
// printed and what it wrote to stderr (kept for error messages).
type proc struct {
	cmd    *exec.Cmd
	base   string // http://host:port
	stderr *tailBuffer
	done   chan error
	once   sync.Once
}

// addrLine matches the line on which a server says where it listens.
var addrLine = regexp.MustCompile(`(?:serving on|listening on|running on) (http://[0-9.:\[\]a-z]+)`)

// startProc runs name with args and waits (up to timeout) for the address
// line on its stdout.
func startProc(ctx context.Context, timeout time.Duration, name string, args ...string) (*proc, error) {
	return startProcEnv(ctx, timeout, nil, name, args...)
}

// startProcEnv is startProc with env added to the process's environment.
func startProcEnv(ctx context.Context, timeout time.Duration, env []string, name string, args ...string) (*proc, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &proc{cmd: cmd, stderr: &tailBuffer{max: 8 << 10}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := addrLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { p.done <- cmd.Wait() }()
	select {
	case p.base = <-found:
		return p, nil
	case err := <-p.done:
		return nil, fmt.Errorf("%s exited before serving: %v\n%s", name, err, p.stderr)
	case <-time.After(timeout):
		p.stop()
		return nil, fmt.Errorf("%s did not say where it serves within %s\n%s", name, timeout, p.stderr)
	}
}

// stop sends SIGTERM and waits for the process to end. Later calls do
// nothing.
func (p *proc) stop() {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// memory reads VmRSS and VmHWM (peak) of pid, in MiB.
func memory(pid int) (rss, hwm float64, err error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("memory of %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		if err != nil {
			return 0, 0, fmt.Errorf("memory of %d: %s: %w", pid, line, err)
		}
		if k == "VmRSS" {
			rss = kb / 1024
		} else {
			hwm = kb / 1024
		}
	}
	return rss, hwm, nil
}

// sampleRSS samples pid's VmRSS every interval until stop is closed and
// answers the largest sample.
func sampleRSS(pid int, interval time.Duration, stop <-chan struct{}) <-chan float64 {
	out := make(chan float64, 1)
	go func() {
		var peak float64
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				out <- peak
				return
			case <-t.C:
				if rss, _, err := memory(pid); err == nil && rss > peak {
					peak = rss
				}
			}
		}
	}()
	return out
}

// pontServe is a running `pont serve` on its own fresh database.
type pontServe struct {
	*proc
	token string
}

// startSources starts `pont dev sources` on a free loopback port: the
// simulated sources in a process of their own, which pont serve and the
// baseline both call. It runs with one P (GOMAXPROCS=1): a source's work
// is a map lookup and a small JSON answer, and a Go process with idle Ps
// spins looking for work on the cores that the process under test needs;
// on two cores, that cost pont serve about a tenth of its throughput.
func startSources(ctx context.Context, pontBin string) (p *proc, addr string, err error) {
	if p, err = startProcEnv(ctx, 30*time.Second, []string{"GOMAXPROCS=1"}, pontBin, "dev", "sources", "--listen", "127.0.0.1:0"); err != nil {
		return nil, "", err
	}
	return p, strings.TrimPrefix(p.base, "http://"), nil
}

// startPontServe creates a data directory with a development key, mints a
// requester token with `pont token`, writes a serve configuration that
// trusts that key and sends the simulated sources' host names to sources
// (host:port), and starts `pont serve` on databaseURL; poolMax > 0 sets
// limits.pool_max.
func startPontServe(ctx context.Context, pontBin, modulesDir, dataDir, databaseURL, sources string, poolMax int, debugListen string) (*pontServe, error) {
	out, err := exec.CommandContext(ctx, pontBin, "token", "--data", dataDir, "--role", "requester", "--org", "P0801900B", "--ttl", "2h").Output()
	if err != nil {
		return nil, fmt.Errorf("pont token: %w", exitDetail(err))
	}
	token := strings.TrimSpace(string(out))
	keyFile, _, _, err := benchLogKey(dataDir)
	if err != nil {
		return nil, err
	}
	// pont serve publishes only signed modules, by owners the catalog
	// holds keys of: the reference adapters, signed with keys made here.
	deployment, err := plugins.Deploy(filepath.Join(dataDir, "deploy"), modulesDir)
	if err != nil {
		return nil, err
	}
	cfg := map[string]any{
		"listen":           "127.0.0.1:0",
		"database_url":     databaseURL,
		"node":             "bench",
		"data_dir":         dataDir,
		"modules_dir":      deployment.ModulesDir,
		"catalog_dir":      deployment.CatalogDir,
		"source_addresses": map[string]string{".sources.pont.test": sources},
		"log_level":        "warn",
		"transfer_log":     map[string]string{"signing_key_file": keyFile},
		"issuers": []map[string]string{{
			"issuer": "pont-dev", "audience": "pont", "key_file": filepath.Join(dataDir, "dev-issuer.jwk"),
		}},
	}
	if debugListen != "" {
		cfg["debug_listen"] = debugListen
	}
	if poolMax > 0 {
		cfg["limits"] = map[string]int{"pool_max": poolMax}
	}
	raw, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("serve configuration: %w", err)
	}
	path := filepath.Join(dataDir, "serve.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		return nil, fmt.Errorf("serve configuration: %w", err)
	}
	p, err := startProc(ctx, 2*time.Minute, pontBin, "serve", "--config", path)
	if err != nil {
		return nil, err
	}
	if err := waitReady(ctx, p.base, 30*time.Second); err != nil {
		p.stop()
		return nil, err
	}
	return &pontServe{proc: p, token: token}, nil
}

// benchLogOrigin is the origin of the logs of the bench's nodes.
const benchLogOrigin = "bench.pont.test/transfer-log"

// benchLogKey answers the log's signing key file in dataDir (log.key,
// made on the first call, as pont keygen would), its signer and its
// verifier: pont serve needs one, and the log part seals with it before the
// node serves, and verifies with the verifier.
func benchLogKey(dataDir string) (string, note.Signer, note.Verifier, error) {
	path := filepath.Join(dataDir, "log.key")
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		skey, _, gerr := note.GenerateKey(rand.Reader, benchLogOrigin)
		if gerr != nil {
			return "", nil, nil, fmt.Errorf("log key: %w", gerr)
		}
		if err := os.WriteFile(path, []byte(skey+"\n"), 0o600); err != nil {
			return "", nil, nil, fmt.Errorf("log key: %w", err)
		}
		raw, err = []byte(skey), nil
	}
	if err != nil {
		return "", nil, nil, fmt.Errorf("log key: %w", err)
	}
	skey := strings.TrimSpace(string(raw))
	signer, err := note.NewSigner(skey)
	if err != nil {
		return "", nil, nil, fmt.Errorf("log key %s: %w", path, err)
	}
	verifier, err := torchwood.NewVerifierFromSigner(skey)
	if err != nil {
		return "", nil, nil, fmt.Errorf("log key %s: %w", path, err)
	}
	return path, signer, verifier, nil
}

// waitReady polls base/readyz until it answers 200.
func waitReady(ctx context.Context, base string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if ready(ctx, base) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s/readyz did not answer 200 within %s", base, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var probe = &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func ready(ctx context.Context, base string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := probe.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// StartTimes are the start times of `pont dev`, process start to the
// first 200 of /readyz.
type StartTimes struct {
	ColdMs float64   `json:"cold_ms"` // empty data directory: no compilation cache
	WarmMs float64   `json:"warm_ms"` // median of the warm runs
	Warm   []float64 `json:"warm_runs_ms"`
}

// measureStart starts `pont dev` on a fresh data directory once (cold),
// then warmRuns times on the same directory (warm compilation cache).
func measureStart(ctx context.Context, pontBin, modulesDir, dir string, warmRuns int) (StartTimes, error) {
	var st StartTimes
	once := func() (float64, error) {
		port, err := freePort()
		if err != nil {
			return 0, err
		}
		base := "http://" + port
		cmd := exec.CommandContext(ctx, pontBin, "dev", "--addr", port, "--data", dir, "--modules", modulesDir)
		errBuf := &tailBuffer{max: 8 << 10}
		cmd.Stdout, cmd.Stderr = io.Discard, errBuf
		start := time.Now()
		if err := cmd.Start(); err != nil {
			return 0, fmt.Errorf("start pont dev: %w", err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		defer func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		}()
		for {
			if ready(ctx, base) {
				return ms(time.Since(start)), nil
			}
			select {
			case err := <-done:
				done <- err
				return 0, fmt.Errorf("pont dev exited before it was ready: %v\n%s", err, errBuf)
			case <-time.After(2 * time.Millisecond):
			}
			if time.Since(start) > 2*time.Minute {
				return 0, errors.New("pont dev was not ready within 2 minutes")
			}
		}
	}
	var err error
	if st.ColdMs, err = once(); err != nil {
		return st, fmt.Errorf("cold start: %w", err)
	}
	for range warmRuns {
		d, err := once()
		if err != nil {
			return st, fmt.Errorf("warm start: %w", err)
		}
		st.Warm = append(st.Warm, d)
	}
	w := append([]float64(nil), st.Warm...)
	slices.Sort(w)
	st.WarmMs = w[len(w)/2]
	return st, nil
}

// freePort answers a loopback host:port free at the time of the call.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// exitDetail adds a failed command's stderr to its error.
func exitDetail(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
	}
	return err
}

// fetchProfile starts fetching http://debug/debug/pprof/<what> into path
// after delay, and returns a function that waits for it to be written.
// With no path (or no debug listener), it does nothing.
func fetchProfile(ctx context.Context, debug, what, path string, delay time.Duration) func() error {
	if path == "" || debug == "" {
		return func() error { return nil }
	}
	done := make(chan error, 1)
	go func() {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			done <- ctx.Err()
			return
		}
		done <- func() error {
			url := "http://" + debug + "/debug/pprof/" + what
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fmt.Errorf("profile: %w", err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
				return fmt.Errorf("profile: GET %s: %s: %s", url, resp.Status, msg)
			}
			f, err := os.Create(path)
			if err != nil {
				return fmt.Errorf("profile: %w", err)
			}
			if _, err := io.Copy(f, resp.Body); err != nil {
				f.Close()
				return fmt.Errorf("profile: GET %s: %w", url, err)
			}
			return f.Close()
		}()
	}()
	return func() error { return <-done }
}
