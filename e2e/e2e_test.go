// Package e2e holds the browser tests of Pont's pages: pages.test.mjs drives
// Debian's Chromium with playwright-core through every page of the
// anonymous visitor, a citizen, the auditor and a data owner, runs axe-core
// (WCAG 2.1 A and AA) on each and takes a full-page screenshot of each into
// e2e/screenshots/. TestPages builds pont and the reference adapters,
// starts a real `pont dev` and runs them with node --test.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pontexchange/pont/internal/testenv"
)

const (
	// requireBrowser makes a missing Chromium or Node.js fail the test
	// instead of skipping it (.ci/run sets it, and installs them).
	requireBrowser = "PONT_REQUIRE_BROWSER"
	installBrowser = "Debian: apt-get install chromium"
	installNode    = "Node.js 20 or later with npm; Debian: apt-get install nodejs npm"
	// runTimeout bounds the browser run: it takes about half a minute.
	runTimeout = 3 * time.Minute
)

// TestPages runs the browser tests against a pont dev node of its own: a
// temporary data directory, a free loopback port, the pont binary and the
// adapters built from this tree.
func TestPages(t *testing.T) {
	if testing.Short() && !testenv.Required(requireBrowser) {
		t.Skip("drives a browser through every page against a pont dev node: about 40 seconds")
	}
	chromium := os.Getenv("PONT_CHROMIUM")
	if chromium == "" {
		testenv.NeedRequiredTools(t, requireBrowser, installBrowser, "chromium")
		chromium, _ = exec.LookPath("chromium")
	}
	testenv.NeedRequiredTools(t, requireBrowser, installNode, "node", "npm")
	needNode(t, 20)

	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Dir(dir)
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("the module's root is not above %s: %v", dir, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout+2*time.Minute)
	defer cancel()

	installPackages(ctx, t, dir)
	tmp := t.TempDir()
	bin := buildPont(ctx, t, root, tmp)
	base := startDev(t, bin, tmp)

	shots := os.Getenv("PONT_E2E_SCREENSHOTS")
	if shots == "" {
		shots = filepath.Join(dir, "screenshots")
	}
	runCtx, stop := context.WithTimeout(ctx, runTimeout)
	defer stop()
	cmd := exec.CommandContext(runCtx, "node", "--test", "--test-reporter=spec", "--test-concurrency=1", "pages.test.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"PONT_E2E_BASE_URL="+base,
		"PONT_E2E_SCREENSHOTS="+shots,
		"PONT_E2E_CHROMIUM="+chromium,
		"NO_COLOR=1",
	)
	// Their output, as it comes (go test -v, or a failing run, shows it).
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.WaitDelay = 10 * time.Second
	began := time.Now()
	err = cmd.Run()
	if runCtx.Err() != nil {
		t.Fatalf("the browser tests did not end within %s", runTimeout)
	}
	if err != nil {
		t.Fatalf("the browser tests failed (%v): their output above names each failure, each accessibility violation and layout problem with its page, element and rule; the screenshots are in %s", err, shots)
	}
	t.Logf("the browser tests passed in %s; screenshots in %s", time.Since(began).Round(time.Second), shots)
}

// needNode skips t, or fails it where the browser is required, unless
// node is at least version major (playwright-core needs 20).
func needNode(t *testing.T, major int) {
	t.Helper()
	out, err := exec.Command("node", "--version").Output()
	v := strings.TrimSpace(string(out))
	m := regexp.MustCompile(`^v(\d+)\.`).FindStringSubmatch(v)
	if err == nil && m != nil {
		if n, _ := strconv.Atoi(m[1]); n >= major {
			return
		}
	}
	msg := fmt.Sprintf("node %q is older than Node.js %d, so this test did NOT run (%s)", v, major, installNode)
	if testenv.Required(requireBrowser) {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// installPackages runs npm ci in dir unless node_modules holds the
// versions package.json pins.
func installPackages(ctx context.Context, t *testing.T, dir string) {
	t.Helper()
	missing := notInstalled(dir)
	if missing == "" {
		return
	}
	t.Logf("npm ci in %s: %s", dir, missing)
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
	if missing := notInstalled(dir); missing != "" {
		t.Fatalf("after npm ci in %s: %s", dir, missing)
	}
}

// notInstalled says which package of dir's package.json is not installed
// at its pinned version in dir/node_modules; "" when they all are.
func notInstalled(dir string) string {
	var pkg struct{ Dependencies map[string]string }
	b, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err == nil {
		err = json.Unmarshal(b, &pkg)
	}
	if err != nil {
		return "package.json: " + err.Error()
	}
	for name, want := range pkg.Dependencies {
		var got struct{ Version string }
		b, err := os.ReadFile(filepath.Join(dir, "node_modules", name, "package.json"))
		if err == nil {
			err = json.Unmarshal(b, &got)
		}
		if err != nil || got.Version != want {
			return fmt.Sprintf("%s %s is not installed", name, want)
		}
	}
	return ""
}

// buildPont builds the pont command and the reference adapters into dir
// the way make build does (go build, then pont adapter build), and
// answers the binary's path; the adapters are in dir/adapters.
func buildPont(ctx context.Context, t *testing.T, root, dir string) string {
	t.Helper()
	began := time.Now()
	bin := filepath.Join(dir, "pont")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/pont")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/pont: %v\n%s", err, out)
	}
	adapters := exec.CommandContext(ctx, bin, "adapter", "build", "--out", filepath.Join(dir, "adapters"))
	adapters.Dir = root
	if out, err := adapters.CombinedOutput(); err != nil {
		t.Fatalf("pont adapter build: %v\n%s", err, out)
	}
	t.Logf("built pont and the adapters in %s", time.Since(began).Round(100*time.Millisecond))
	return bin
}

// startDev starts `pont dev` on a free loopback port with a data
// directory in dir, waits until /readyz answers 200 and answers its base
// URL; the node is stopped when t ends.
func startDev(t *testing.T, bin, dir string) string {
	t.Helper()
	began := time.Now()
	cmd := exec.Command(bin, "dev", "-addr", "127.0.0.1:0", "-data", filepath.Join(dir, "data"), "-modules", filepath.Join(dir, "adapters"))
	cmd.Dir = dir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr testenv.SyncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("pont dev: %v", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("pont dev did not stop within 15s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("pont dev's log (stderr):\n%s", stderr.String())
		}
	})

	// pont dev prints the address it listens on: "The pages: open http://ADDR/ …".
	addr := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`open http://(127\.0\.0\.1:\d+)/`)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case <-exited:
		t.Fatalf("pont dev exited (%v) before it listened:\n%s", waitErr, stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("pont dev did not listen within 60s:\n%s", stderr.String())
	}
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := client.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-exited:
			t.Fatalf("pont dev exited (%v) before it was ready:\n%s", waitErr, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("pont dev at %s was not ready within 60s (%v):\n%s", base, err, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("pont dev ready at %s in %s", base, time.Since(began).Round(100*time.Millisecond))
	return base
}
