package wasmhost

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/manifest"
	"github.com/pontexchange/pont/internal/testenv"
	"github.com/pontexchange/pont/sdk-wasm/abi"
)

// The package's tests share one built adapter, one compilation cache and
// one simulated source, so that the module is built and compiled once.
var (
	adapterWasm []byte // the test adapter with testManifest embedded
	cacheDir    string
	source      *httptest.Server
	sourceHosts sync.Map // Host headers the source has seen
)

// sourceOrigin is the adapter's one allowed host. Every host name resolves
// to the test source through the client's dialer, as a development dialer
// would: the host must refuse other names by itself.
const sourceOrigin = "http://source.pont.test"

var testManifest = manifest.Manifest{
	ABI: 1, Name: "test-adapter", Version: "1.0.0", Owner: "S0800000A",
	Services: []string{"padro"}, Scope: "*",
	AllowedHosts: []string{sourceOrigin},
	Config:       []string{"source_url", "empty_key", "init_fetch"},
}

func TestMain(m *testing.M) {
	code, err := setup(m)
	if err != nil {
		log.Print(err)
		os.Exit(1)
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "wasmhost-test-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	cacheDir = filepath.Join(dir, "cache")
	out := filepath.Join(dir, "adapter.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, "./testdata/adapter")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("building the test adapter: %v\n%s", err, b)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		return 0, err
	}
	if adapterWasm, err = manifest.Embed(raw, testManifest); err != nil {
		return 0, err
	}
	source = httptest.NewServer(http.HandlerFunc(serveSource))
	defer source.Close()
	return m.Run(), nil
}

func serveSource(w http.ResponseWriter, r *http.Request) {
	sourceHosts.Store(r.Host, true)
	switch r.URL.Path {
	case "/json":
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"host":%q,"accept":%q}`, r.Host, r.Header.Get("Accept"))
	case "/headers":
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{"host": r.Host, "user_agent": r.Header.Get("User-Agent"), "x_test": r.Header.Get("X-Test")})
	case "/echo":
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%s %s", r.Method, b)
	case "/redirect-in":
		http.Redirect(w, r, sourceOrigin+"/json", http.StatusFound)
	case "/redirect-out":
		http.Redirect(w, r, "http://evil.pont.test/json", http.StatusFound)
	case "/big":
		w.Write(bytes.Repeat([]byte("x"), 64<<10))
	case "/slow":
		<-r.Context().Done()
	case "/latin1":
		// An old municipal system: JSON in ISO-8859-1, declared.
		w.Header().Set("Content-Type", "application/json; charset=ISO-8859-1")
		w.Write([]byte("{\"nom_via\":\"Pla\xe7a de Sant Jaume\"}"))
	case "/undeclared":
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write([]byte{0x1f, 0x8b, 0x08, 0x00, 0xff, 0xfe})
	case "/utf8":
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		w.Write([]byte("Plaça \xef\xbf\xbd"))
	default:
		http.NotFound(w, r)
	}
}

// devClient dials the test source whatever the host name.
func devClient() *http.Client {
	addr := source.Listener.Addr().String()
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}}
}

func newHost(t testing.TB, cfg Config) (*Host, *testenv.SyncBuffer) {
	t.Helper()
	logs := &testenv.SyncBuffer{}
	cfg.CacheDir = cacheDir
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = devClient()
	}
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h, logs
}

func load(t testing.TB, h *Host, config map[string]string) *Adapter {
	t.Helper()
	a, err := h.Load(context.Background(), adapterWasm, config)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	t.Cleanup(func() { a.Close(context.Background()) })
	return a
}

func query(params string) abi.Input {
	return abi.Input{
		TransferID: "7c1e0a52-0000-4000-8000-000000000001", Service: "padro", Purpose: "social-benefits",
		Requester: "P0801900B", Procedure: "AJUT-MENJADOR",
		Subject: abi.Subject{IDType: "DNI", ID: "12345678Z", Name: "Maria", Surname1: "Puig"},
		Params:  json.RawMessage(params),
	}
}

func call(t *testing.T, a *Adapter, params string) map[string]any {
	t.Helper()
	data, err := a.Call(context.Background(), query(params))
	if err != nil {
		t.Fatalf("Call(%s): %v", params, err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("Call(%s): data %s: %v", params, data, err)
	}
	return got
}

func TestCallPassesTheQuery(t *testing.T) {
	h, _ := newHost(t, Config{})
	a := load(t, h, nil)
	got := call(t, a, `{"behave":"ok","municipality":"08019"}`)
	want := map[string]any{
		"transfer_id": "7c1e0a52-0000-4000-8000-000000000001", "service": "padro", "purpose": "social-benefits",
		"requester": "P0801900B", "procedure": "AJUT-MENJADOR", "id_type": "DNI", "id": "12345678Z",
		"name": "Maria", "municipality": "08019",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("data[%s] = %v, want %v", k, got[k], v)
		}
	}

	// The reflection path of the SDK answers the same input.
	got = call(t, a, `{"behave":"reflect","n":3,"list":[1,"a"]}`)
	if s, _ := got["subject"].(map[string]any); s["surname1"] != "Puig" {
		t.Errorf("reflect: subject = %v", got["subject"])
	}
	if p, _ := got["params"].(map[string]any); p["n"] != 3.0 {
		t.Errorf("reflect: params = %v", got["params"])
	}
	if a.SHA256() == "" || len(a.SHA256()) != 64 || a.Manifest().Name != "test-adapter" {
		t.Errorf("SHA256 = %q, Manifest().Name = %q", a.SHA256(), a.Manifest().Name)
	}
}

func TestFetch(t *testing.T) {
	h, _ := newHost(t, Config{Defaults: Limits{MaxHTTPResponseBytes: 16 << 10}})
	a := load(t, h, nil)
	tests := []struct {
		name, url, method, body string
		wantStatus              float64
		wantBody                string // substring
		wantError               string // http_error code
	}{
		{name: "allowed", url: sourceOrigin + "/json", wantStatus: 200, wantBody: `"accept":"application/json"`},
		{name: "explicit default port", url: "http://SOURCE.pont.test:80/json", wantStatus: 200, wantBody: `"host":"SOURCE.pont.test:80"`},
		{name: "post body", url: sourceOrigin + "/echo", method: "POST", body: "hola", wantStatus: 200, wantBody: "POST hola"},
		{name: "source status", url: sourceOrigin + "/missing", wantStatus: 404},
		{name: "redirect within", url: sourceOrigin + "/redirect-in", wantStatus: 200, wantBody: `"host":"source.pont.test"`},
		{name: "other host", url: "http://evil.pont.test/json", wantError: "host_not_allowed"},
		{name: "other port", url: "http://source.pont.test:8080/json", wantError: "host_not_allowed"},
		{name: "other scheme", url: "https://source.pont.test/json", wantError: "host_not_allowed"},
		{name: "file scheme", url: "file:///etc/passwd", wantError: "bad_request"},
		{name: "redirect out", url: sourceOrigin + "/redirect-out", wantError: "host_not_allowed"},
		{name: "too large", url: sourceOrigin + "/big", wantError: "too_large"},
		{name: "not a url", url: "::", wantError: "bad_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			params, _ := json.Marshal(map[string]string{"behave": "fetch", "url": tt.url, "method": tt.method, "body": tt.body})
			got := call(t, a, string(params))
			if tt.wantError != "" {
				if got["http_error"] != tt.wantError {
					t.Errorf("http_error = %v (%v), want %s", got["http_error"], got["message"], tt.wantError)
				}
				return
			}
			if got["http_error"] != nil {
				t.Fatalf("http_error = %v: %v", got["http_error"], got["message"])
			}
			if got["status"] != tt.wantStatus {
				t.Errorf("status = %v, want %v", got["status"], tt.wantStatus)
			}
			if body, _ := got["body"].(string); !strings.Contains(body, tt.wantBody) {
				t.Errorf("body = %q, want it to contain %q", body, tt.wantBody)
			}
		})
	}
	if _, hit := sourceHosts.Load("evil.pont.test"); hit {
		t.Errorf("a request reached evil.pont.test: the host check or the redirect check let it through")
	}
}

func TestConfig(t *testing.T) {
	h, logs := newHost(t, Config{})
	a := load(t, h, map[string]string{"source_url": "http://source.pont.test/api", "empty_key": ""})
	tests := []struct {
		key   string
		value string
		found bool
	}{
		{"source_url", "http://source.pont.test/api", true},
		{"empty_key", "", false},
		{"undeclared", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			got := call(t, a, fmt.Sprintf(`{"behave":"config","key":%q}`, tt.key))
			if got["value"] != tt.value || got["found"] != tt.found {
				t.Errorf("config_get(%q) = %v, %v; want %q, %v", tt.key, got["value"], got["found"], tt.value, tt.found)
			}
			if got["init_value"] != "http://source.pont.test/api" || got["init_found"] != true {
				t.Errorf("config read during _initialize = %v, %v", got["init_value"], got["init_found"])
			}
		})
	}

	// Values are never logged (a key may hold a secret).
	if strings.Contains(logs.String(), "source.pont.test/api") {
		t.Errorf("the host logged a config value:\n%s", logs)
	}

	_, err := h.Load(context.Background(), adapterWasm, map[string]string{"password": "x"})
	if err == nil || !strings.Contains(err.Error(), "password") {
		t.Errorf("Load with an undeclared config key = %v, want an error naming it", err)
	}
}

func TestAdapterErrors(t *testing.T) {
	h, _ := newHost(t, Config{Defaults: Limits{PoolMax: 1}})
	a := load(t, h, nil)
	tests := []struct {
		code    string
		want    fault.Code
		message string
	}{
		{"subject_not_found", fault.SubjectNotFound, "no record"},
		{"source_unavailable", fault.SourceUnavailable, "503"},
		{"invalid_params", fault.InvalidRequest, "municipality"},
		{"misconfigured", fault.AdapterMisconfigured, "source_url"},
		{"plain", fault.SourceUnavailable, "a plain failure"},
		{"made_up", fault.AdapterFailed, "made_up"},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			_, err := a.Call(context.Background(), query(fmt.Sprintf(`{"behave":"error","code":%q,"municipality":"99999"}`, tt.code)))
			fe, ok := fault.As(err)
			if !ok {
				t.Fatalf("Call error = %v, want a *fault.Error", err)
			}
			if fe.Code != tt.want || !strings.Contains(fe.Message, tt.message) {
				t.Errorf("Call error = %s %q, want %s containing %q", fe.Code, fe.Message, tt.want, tt.message)
			}
			call(t, a, `{"behave":"ok"}`)
		})
	}
}

// TestFailuresCostOneCall runs each failure on a pool of one instance and
// checks that the next call on the same Adapter answers.
func TestFailuresCostOneCall(t *testing.T) {
	h, logs := newHost(t, Config{Defaults: Limits{PoolMin: 1, PoolMax: 1, MemoryPages: 256, MaxAnswerBytes: 64 << 10}})
	a := load(t, h, nil)
	const deadline = 300 * time.Millisecond
	tests := []struct {
		name   string
		params string
		want   fault.Code
		// slow cases (touching tens of MiB) get a longer deadline, so
		// that a loaded machine does not turn them into timeouts.
		slow bool
	}{
		{"trap", `{"behave":"trap"}`, fault.AdapterFailed, false},
		{"endless loop", `{"behave":"loop"}`, fault.AdapterTimeout, false},
		{"slow source", `{"behave":"fetch","url":"` + sourceOrigin + `/slow"}`, fault.AdapterTimeout, false},
		{"garbage", `{"behave":"garbage"}`, fault.AdapterFailed, false},
		{"data not an object", `{"behave":"array"}`, fault.AdapterFailed, false},
		{"answer too large", `{"behave":"big","size":100000}`, fault.AdapterFailed, false},
		{"memory over the limit", `{"behave":"alloc","mb":40}`, fault.AdapterFailed, true},
		{"unbounded memory growth", `{"behave":"alloc","mb":1000000}`, fault.AdapterFailed, true},
		{"undeclared host, answer passed on", `{"behave":"fetch","url":"http://evil.pont.test/json"}`, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := deadline
			if tt.slow {
				d = 3 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), d)
			defer cancel()
			start := time.Now()
			_, err := a.Call(ctx, query(tt.params))
			elapsed := time.Since(start)
			t.Logf("after %s: %v", elapsed.Round(time.Millisecond), err)
			if tt.want == "" && err != nil {
				t.Fatalf("Call = %v, want an answer", err)
			}
			if got := fault.CodeOf(err); tt.want != "" && got != tt.want {
				t.Fatalf("Call = %v, want code %s", err, tt.want)
			}
			// Loose bound: the machine is shared.
			if elapsed > d+time.Second {
				t.Errorf("the call took %s, over its %s deadline by more than 1s", elapsed, d)
			}
			call(t, a, `{"behave":"ok"}`)
		})
	}
	// Memory under the limit still works.
	if got := call(t, a, `{"behave":"alloc","mb":4}`); got["allocated_mb"] != 4.0 {
		t.Errorf("alloc 4 MiB = %v", got)
	}
	if !strings.Contains(logs.String(), "instance replaced") {
		t.Errorf("the log does not say that instances were replaced")
	}
}

func TestLimitsTimeout(t *testing.T) {
	h, _ := newHost(t, Config{Defaults: Limits{Timeout: 200 * time.Millisecond}})
	a := load(t, h, nil)
	start := time.Now()
	_, err := a.Call(context.Background(), query(`{"behave":"loop"}`))
	if fault.CodeOf(err) != fault.AdapterTimeout {
		t.Fatalf("Call = %v, want adapter_timeout", err)
	}
	if d := time.Since(start); d > 1200*time.Millisecond {
		t.Errorf("the loop ran %s with a 200ms limit", d)
	}
}

func TestBusy(t *testing.T) {
	h, _ := newHost(t, Config{Defaults: Limits{PoolMin: 1, PoolMax: 1, PoolWait: 50 * time.Millisecond, Timeout: 5 * time.Second}})
	a := load(t, h, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := a.Call(ctx, query(`{"behave":"loop"}`))
		done <- err
	}()
	// Wait until the looping call holds the only instance.
	for len(a.idle) > 0 {
		time.Sleep(5 * time.Millisecond)
	}
	_, err := a.Call(context.Background(), query(`{"behave":"ok"}`))
	if fault.CodeOf(err) != fault.AdapterBusy {
		t.Errorf("Call while busy = %v, want adapter_busy", err)
	}
	cancel()
	if err := <-done; fault.CodeOf(err) != fault.AdapterTimeout {
		t.Errorf("cancelled call = %v, want adapter_timeout", err)
	}
	// The pool starts a replacement in the background; with a 50ms wait
	// the next call could come before it is ready on a loaded machine.
	for start := time.Now(); len(a.idle) == 0 && time.Since(start) < 10*time.Second; {
		time.Sleep(5 * time.Millisecond)
	}
	call(t, a, `{"behave":"ok"}`)
}

func TestConcurrentCalls(t *testing.T) {
	h, _ := newHost(t, Config{Defaults: Limits{PoolMin: 1, PoolMax: 3}})
	a := load(t, h, nil)
	var wg sync.WaitGroup
	var failed atomic.Int32
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				in := query(fmt.Sprintf(`{"behave":"ok","municipality":"%d-%d"}`, g, i))
				data, err := a.Call(context.Background(), in)
				if err != nil || !bytes.Contains(data, fmt.Appendf(nil, `"municipality":"%d-%d"`, g, i)) {
					failed.Add(1)
					t.Errorf("call %d-%d = %s, %v", g, i, data, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := len(a.slots); n > 3 {
		t.Errorf("%d instances live, over PoolMax 3", n)
	}
}

func TestLog(t *testing.T) {
	h, logs := newHost(t, Config{})
	a := load(t, h, nil)
	call(t, a, `{"behave":"log"}`)
	var sawLog, sawStdout bool
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == "warning from the adapter" {
			sawLog = rec["level"] == "WARN" && rec["adapter"] == "test-adapter" && rec["transfer_id"] == "7c1e0a52-0000-4000-8000-000000000001"
		}
		if rec["msg"] == "adapter output" && rec["line"] == "a line on stdout" {
			sawStdout = rec["adapter"] == "test-adapter" && rec["stream"] == "stdout"
		}
	}
	if !sawLog || !sawStdout {
		t.Errorf("log: adapter message tagged = %v, stdout line tagged = %v\n%s", sawLog, sawStdout, logs)
	}
	if strings.Contains(logs.String(), "12345678Z") {
		t.Errorf("the host logged the subject's id")
	}
}

func TestClose(t *testing.T) {
	h, _ := newHost(t, Config{})
	a := load(t, h, nil)
	call(t, a, `{"behave":"ok"}`)
	if err := a.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := a.Call(context.Background(), query(`{}`)); fault.CodeOf(err) != fault.AdapterFailed {
		t.Errorf("Call after Close = %v, want adapter_failed", err)
	}
}

// TestSharedCompiledModule loads one program twice with different
// manifests, as padro-08019 and padro-17079 are: the adapters share one
// compiled module, keep their own manifest and hash, and closing one leaves
// the other working; the module is closed with the last of them.
func TestSharedCompiledModule(t *testing.T) {
	h, _ := newHost(t, Config{})
	other := testManifest
	other.Name, other.Scope = "test-adapter-2", "17079"
	wasm2, err := manifest.Embed(adapterWasm, other)
	if err != nil {
		t.Fatal(err)
	}
	a := load(t, h, nil)
	b, err := h.Load(context.Background(), wasm2, nil)
	if err != nil {
		t.Fatalf("Load of the second manifest: %v", err)
	}
	if a.code != b.code || a.compiled != b.compiled {
		t.Fatalf("the two adapters compiled the same code twice")
	}
	if got := len(h.modules); got != 1 {
		t.Errorf("%d compiled modules, want 1", got)
	}
	if b.Manifest().Name != "test-adapter-2" || a.Manifest().Name != "test-adapter" {
		t.Errorf("manifests %q and %q, want each adapter's own", a.Manifest().Name, b.Manifest().Name)
	}
	sumA, sumB := sha256.Sum256(adapterWasm), sha256.Sum256(wasm2)
	if a.SHA256() != hex.EncodeToString(sumA[:]) || b.SHA256() != hex.EncodeToString(sumB[:]) || a.SHA256() == b.SHA256() {
		t.Errorf("SHA256 = %s and %s, want the hashes of the modules as shipped", a.SHA256(), b.SHA256())
	}
	call(t, a, `{"behave":"ok"}`)
	call(t, b, `{"behave":"ok"}`)

	if err := a.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// The other adapter keeps its instances and starts new ones from the
	// shared module.
	var wg sync.WaitGroup
	for range b.Limits().PoolMax {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := b.Call(context.Background(), query(`{"behave":"ok"}`)); err != nil {
				t.Errorf("Call after the other adapter closed: %v", err)
			}
		}()
	}
	wg.Wait()
	call(t, b, `{"behave":"ok"}`)
	if got := len(h.modules); got != 1 {
		t.Errorf("%d compiled modules after closing one adapter, want 1", got)
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := len(h.modules); got != 0 {
		t.Errorf("%d compiled modules after closing both adapters, want 0", got)
	}
	// Loading again compiles again (from the cache) and works.
	c := load(t, h, nil)
	call(t, c, `{"behave":"ok"}`)
}

// TestConcurrentLoadsCompileOnce loads one program from many goroutines at
// once, each under a manifest of its own: they wait for one compile and
// share its module, which is closed with the last adapter.
func TestConcurrentLoadsCompileOnce(t *testing.T) {
	h, _ := newHost(t, Config{Defaults: Limits{PoolMin: 1}})
	const n = 6
	adapters := make([]*Adapter, n)
	var wg sync.WaitGroup
	for i := range n {
		m := testManifest
		m.Name = fmt.Sprintf("test-adapter-%d", i)
		wasm, err := manifest.Embed(adapterWasm, m)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			a, err := h.Load(context.Background(), wasm, nil)
			if err != nil {
				t.Errorf("Load %d: %v", i, err)
				return
			}
			adapters[i] = a
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for i, a := range adapters {
		if a.code != adapters[0].code || a.compiled != adapters[0].compiled {
			t.Errorf("adapter %d has a compiled module of its own", i)
		}
		call(t, a, `{"behave":"ok"}`)
	}
	if got := len(h.modules); got != 1 {
		t.Errorf("%d compiled modules, want 1", got)
	}
	for _, a := range adapters {
		if err := a.Close(context.Background()); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
	if got := len(h.modules); got != 0 {
		t.Errorf("%d compiled modules after closing every adapter, want 0", got)
	}
}

// TestLoadGivesUpWithItsContext cancels a Load during its compile: the Load
// returns at once and leaves nothing behind, and the next Load works.
func TestLoadGivesUpWithItsContext(t *testing.T) {
	h, _ := newHost(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Load(ctx, adapterWasm, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Load with a cancelled context: %v, want context.Canceled", err)
	}
	h.modulesMu.Lock()
	left := len(h.modules)
	h.modulesMu.Unlock()
	if left != 0 {
		t.Errorf("%d compiled modules after a cancelled Load, want 0", left)
	}
	call(t, load(t, h, nil), `{"behave":"ok"}`)
}

func TestInvalidParams(t *testing.T) {
	h, _ := newHost(t, Config{})
	a := load(t, h, nil)
	for _, p := range []string{`[1]`, `{"a":`} {
		if _, err := a.Call(context.Background(), query(p)); fault.CodeOf(err) != fault.InvalidRequest {
			t.Errorf("Call with params %s = %v, want invalid_request", p, err)
		}
	}
}

// fn is a function of a hand-built module.
type fn struct {
	name            string
	params, results []byte
	// code is the body's instructions; nil returns zeros.
	code []byte
}

// module builds a small module exporting funcs (bodies return zeros) and a
// memory, importing imports (module, name; type () -> ()).
func module(funcs []fn, imports [][2]string, exportStart bool) []byte {
	vec := func(items ...[]byte) []byte {
		out := []byte{byte(len(items))}
		for _, it := range items {
			out = append(out, it...)
		}
		return out
	}
	name := func(s string) []byte { return append([]byte{byte(len(s))}, s...) }
	section := func(id byte, body []byte) []byte { return append([]byte{id, byte(len(body))}, body...) }

	var types, funcIdx, exports, bodies [][]byte
	types = append(types, []byte{0x60, 0, 0}) // type 0: () -> ()
	var imps [][]byte
	for _, im := range imports {
		imps = append(imps, append(append(name(im[0]), name(im[1])...), 0x00, 0x00))
	}
	for i, f := range funcs {
		types = append(types, append(append([]byte{0x60}, vec(bytesEach(f.params)...)...), vec(bytesEach(f.results)...)...))
		funcIdx = append(funcIdx, []byte{byte(i + 1)})
		exports = append(exports, append(name(f.name), 0x00, byte(len(imports)+i)))
		body := []byte{0x00} // no locals
		if f.code != nil {
			body = append(body, f.code...)
		}
		for _, r := range f.results {
			switch {
			case f.code != nil:
			case r == 0x7f:
				body = append(body, 0x41, 0x00)
			case r == 0x7e:
				body = append(body, 0x42, 0x00)
			}
		}
		body = append(body, 0x0b)
		bodies = append(bodies, append([]byte{byte(len(body))}, body...))
	}
	if exportStart {
		types = append(types, []byte{0x60, 0, 0})
		funcIdx = append(funcIdx, []byte{0})
		exports = append(exports, append(name("_start"), 0x00, byte(len(imports)+len(funcs))))
		bodies = append(bodies, []byte{2, 0x00, 0x0b})
	}
	exports = append(exports, append(name("memory"), 0x02, 0x00))
	out := []byte{0, 'a', 's', 'm', 1, 0, 0, 0}
	out = append(out, section(1, vec(types...))...)
	if len(imps) > 0 {
		out = append(out, section(2, vec(imps...))...)
	}
	out = append(out, section(3, vec(funcIdx...))...)
	out = append(out, section(5, []byte{1, 0x00, 1})...)
	out = append(out, section(7, vec(exports...))...)
	out = append(out, section(10, vec(bodies...))...)
	return out
}

func bytesEach(b []byte) [][]byte {
	out := make([][]byte, len(b))
	for i := range b {
		out[i] = b[i : i+1]
	}
	return out
}

func TestLoadErrors(t *testing.T) {
	const I32, I64 = 0x7f, 0x7e
	alloc := fn{"pont_alloc", []byte{I32}, []byte{I32}, nil}
	handle := fn{"pont_handle", []byte{I32, I32}, []byte{I64}, nil}
	embed := func(wasm []byte) []byte {
		out, err := manifest.Embed(wasm, testManifest)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	tests := []struct {
		name string
		wasm []byte
		want string
	}{
		{"not wasm", []byte("#!/bin/sh\necho hello\n"), "not a WebAssembly module"},
		{"no manifest", module([]fn{alloc, handle}, nil, false), "no pont.manifest"},
		{"no pont_handle", embed(module([]fn{alloc}, nil, false)), "does not export pont_handle(i32, i32) -> i64"},
		{"no pont_alloc", embed(module([]fn{handle}, nil, false)), "does not export pont_alloc"},
		{"wrong signature", embed(module([]fn{alloc, {"pont_handle", []byte{I32, I32}, []byte{I32}, nil}}, nil, false)), "pont_handle has signature (i32, i32) -> (i32)"},
		{"command module", embed(module([]fn{alloc, handle}, nil, true)), "reactor"},
		{"unknown pont import", embed(module([]fn{alloc, handle}, [][2]string{{"pont", "exec"}}, false)), "pont.exec"},
		{"foreign import", embed(module([]fn{alloc, handle}, [][2]string{{"env", "socket"}}, false)), "env.socket"},
	}
	h, _ := newHost(t, Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := h.Load(context.Background(), tt.wasm, nil)
			if err == nil {
				a.Close(context.Background())
				t.Fatalf("Load succeeded, want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load = %q, want it to contain %q", err, tt.want)
			}
		})
	}

	// The hand-built module is otherwise loadable: the errors above come
	// from what each case changes.
	a, err := h.Load(context.Background(), embed(module([]fn{alloc, handle}, nil, false)), nil)
	if err != nil {
		t.Fatalf("Load of the minimal module: %v", err)
	}
	defer a.Close(context.Background())
	if _, err := a.Call(context.Background(), query(`{}`)); fault.CodeOf(err) != fault.AdapterFailed {
		t.Errorf("Call of a module answering an empty answer = %v, want adapter_failed", err)
	}
}

func TestLimits(t *testing.T) {
	h, _ := newHost(t, Config{Defaults: Limits{Timeout: 5 * time.Second}, Max: Limits{Timeout: 3 * time.Second, MemoryPages: 600}})
	tests := []struct {
		name string
		m    manifest.Limits
		want Limits
	}{
		{"defaults capped", manifest.Limits{}, Limits{MemoryPages: 512, Timeout: 3 * time.Second, MaxAnswerBytes: 1 << 20}},
		{"manifest asks less", manifest.Limits{MemoryPages: 100, TimeoutMS: 500, MaxAnswerBytes: 1000}, Limits{MemoryPages: 100, Timeout: 500 * time.Millisecond, MaxAnswerBytes: 1000}},
		{"manifest asks more", manifest.Limits{MemoryPages: 5000, TimeoutMS: 60000, MaxAnswerBytes: 1 << 30}, Limits{MemoryPages: 600, Timeout: 3 * time.Second, MaxAnswerBytes: 8 << 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := h.limitsFor(manifest.Manifest{Limits: tt.m})
			if got.MemoryPages != tt.want.MemoryPages || got.Timeout != tt.want.Timeout || got.MaxAnswerBytes != tt.want.MaxAnswerBytes {
				t.Errorf("limitsFor = %+v, want %+v", got, tt.want)
			}
			if wantMax := max(2, runtime.GOMAXPROCS(0)); got.PoolMin != 1 || got.PoolMax != wantMax || got.PoolWait != time.Second {
				t.Errorf("pool limits = %d..%d wait %s, want the defaults 1..%d wait 1s", got.PoolMin, got.PoolMax, got.PoolWait, wantMax)
			}
		})
	}
}

func TestLimitsPool(t *testing.T) {
	h, _ := newHost(t, Config{Max: Limits{PoolMin: 4, PoolMax: 8}})
	defaultMax := min(8, max(2, runtime.GOMAXPROCS(0)))
	tests := []struct {
		pmin, pmax       int
		wantMin, wantMax int
	}{
		{0, 0, 1, defaultMax},
		{2, 6, 2, 6},
		{6, 20, 4, 8},
		{0, 1, 1, 1},
	}
	for _, tt := range tests {
		got := h.limitsFor(manifest.Manifest{Limits: manifest.Limits{PoolMin: tt.pmin, PoolMax: tt.pmax}})
		if got.PoolMin != tt.wantMin || got.PoolMax != tt.wantMax {
			t.Errorf("manifest pool %d..%d: limits %d..%d, want %d..%d", tt.pmin, tt.pmax, got.PoolMin, got.PoolMax, tt.wantMin, tt.wantMax)
		}
	}
}

// BenchmarkCall measures one call on a warm pooled instance: the host's
// overhead, the SDK's decoding and a small answer built without reflection.
func BenchmarkCall(b *testing.B) {
	h, _ := newHost(b, Config{})
	a := load(b, h, nil)
	in := query(`{"behave":"ok","municipality":"08019"}`)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Call(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

// runawayModule is a hand-assembled adapter, no language runtime: its
// pont_alloc returns a buffer at 4096 and its pont_handle returns f(depth)
// of the functions recursive builds, each calling the next of them (the
// last the first) twice, depth levels deep. One function is a double
// recursion, two a mutual one: 2^depth calls and not a single loop.
func runawayModule(functions int, depth byte) []byte {
	const first = 2 // pont_alloc and pont_handle come first
	recursive := func(callee int) []byte {
		// n == 0 ? 1 : callee(n-1) + callee(n-1)
		return []byte{0x00,
			0x20, 0, 0x45, 0x04, 0x7f, 0x41, 1,
			0x05,
			0x20, 0, 0x41, 1, 0x6b, 0x10, byte(callee),
			0x20, 0, 0x41, 1, 0x6b, 0x10, byte(callee),
			0x6a, 0x0b, 0x0b}
	}
	bodies := [][]byte{
		{0x00, 0x41, 0x80, 0x20, 0x0b},               // i32.const 4096
		{0x00, 0x41, depth, 0x10, first, 0xad, 0x0b}, // f(depth), i64.extend_i32_u
	}
	funcs := []byte{byte(2 + functions), 0, 1}
	for i := range functions {
		bodies = append(bodies, recursive(first+(i+1)%functions))
		funcs = append(funcs, 0)
	}
	out := append([]byte(nil), "\x00asm\x01\x00\x00\x00"...)
	section := func(id byte, body []byte) {
		out = append(append(append(out, id), byte(len(body))), body...)
	}
	section(1, []byte{2, 0x60, 1, 0x7f, 1, 0x7f, 0x60, 2, 0x7f, 0x7f, 1, 0x7e})
	section(3, funcs)
	section(5, []byte{1, 0x00, 1})
	exports := []byte{3}
	for _, e := range []struct {
		name        string
		kind, index byte
	}{{"pont_alloc", 0, 0}, {"pont_handle", 0, 1}, {"memory", 2, 0}} {
		exports = append(append(append(exports, byte(len(e.name))), e.name...), e.kind, e.index)
	}
	section(7, exports)
	code := []byte{byte(len(bodies))}
	for _, b := range bodies {
		code = append(append(code, byte(len(b))), b...)
	}
	section(10, code)
	return out
}

// TestRunawayDeadline checks what ABI.md section 7 promises: a call that
// outlives its deadline is stopped within 50 ms, whatever its code does (an
// endless loop in a Go adapter; a double recursion and a mutual one in
// hand-assembled adapters, which have no loop at all), answers
// adapter_timeout and loses its instance, while another adapter of the
// same Host keeps answering. Each figure is logged.
func TestRunawayDeadline(t *testing.T) {
	const (
		deadline = 500 * time.Millisecond
		promised = 50 * time.Millisecond
	)
	h, _ := newHost(t, Config{Defaults: Limits{Timeout: deadline, PoolMin: 1, PoolMax: 1}})
	good := load(t, h, nil)
	tests := []struct {
		name   string
		wasm   []byte // nil: the Go test adapter
		params string
	}{
		{"endless loop", nil, `{"behave":"loop"}`},
		{"double recursion", runawayModule(1, 40), `{}`},
		{"mutual double recursion", runawayModule(2, 36), `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a *Adapter
			if tt.wasm == nil {
				a = load(t, h, nil)
			} else {
				wasm, err := manifest.Embed(tt.wasm, manifest.Manifest{ABI: 1, Name: "runaway", Version: "0.0.1", Owner: "S0000000X", Services: []string{"padro"}, Scope: "*"})
				if err != nil {
					t.Fatal(err)
				}
				if a, err = h.Load(context.Background(), wasm, nil); err != nil {
					t.Fatalf("Load: %v", err)
				}
				defer a.Close(context.Background())
			}
			var overs []time.Duration
			for range 3 {
				// Another adapter's calls go on meanwhile.
				stop := make(chan struct{})
				others := make(chan int, 1)
				go func() {
					n := 0
					defer func() { others <- n }()
					for {
						select {
						case <-stop:
							return
						default:
						}
						if _, err := good.Call(context.Background(), query(`{"behave":"ok"}`)); err != nil {
							t.Errorf("another adapter's call during the runaway: %v", err)
							return
						}
						n++
					}
				}()
				discarded := a.Stats().Discarded
				start := time.Now()
				_, err := a.Call(context.Background(), query(tt.params))
				over := time.Since(start) - deadline
				close(stop)
				answered := <-others
				if fault.CodeOf(err) != fault.AdapterTimeout {
					t.Fatalf("Call = %v, want adapter_timeout", err)
				}
				overs = append(overs, over)
				if got := a.Stats().Discarded; got != discarded+1 {
					t.Errorf("%d instances discarded by the call; want 1", got-discarded)
				}
				if answered == 0 {
					t.Errorf("another adapter answered no call during the %s runaway", deadline)
				}
				t.Logf("adapter_timeout %s after the deadline; another adapter answered %d calls meanwhile", over.Round(time.Millisecond), answered)
			}
			// The median run keeps the promise; one run may be late by what a
			// loaded machine adds to any timer (the test shares its cores with
			// the rest of the suite), never by the guest going on: a guest
			// the interrupt misses runs for hours.
			slices.Sort(overs)
			median, worst := overs[len(overs)/2], overs[len(overs)-1]
			t.Logf("%s: adapter_timeout %s (median) and at most %s after its %s deadline", tt.name, median.Round(time.Millisecond), worst.Round(time.Millisecond), deadline)
			if median > promised || worst > 4*promised {
				t.Errorf("%s ran %s (median) and %s (worst) past its deadline; ABI.md promises %s", tt.name, median, worst, promised)
			}
			call(t, good, `{"behave":"ok"}`)
		})
	}
}

// TestSleepDeadline checks that a guest asleep (WASI poll_oneoff on a clock)
// is woken at its call's deadline, not when its sleep would end.
func TestSleepDeadline(t *testing.T) {
	const deadline = 300 * time.Millisecond
	h, _ := newHost(t, Config{Defaults: Limits{Timeout: deadline, PoolMin: 1, PoolMax: 1}})
	a := load(t, h, nil)
	if got := call(t, a, `{"behave":"sleep","ms":"10"}`); got["slept"] != "10" {
		t.Fatalf("a short sleep answered %v", got)
	}
	start := time.Now()
	_, err := a.Call(context.Background(), query(`{"behave":"sleep","ms":"30000"}`))
	elapsed := time.Since(start)
	if fault.CodeOf(err) != fault.AdapterTimeout {
		t.Fatalf("Call = %v, want adapter_timeout", err)
	}
	t.Logf("a 30 s sleep answered adapter_timeout after %s, its deadline %s", elapsed.Round(time.Millisecond), deadline)
	if elapsed > deadline+2*time.Second {
		t.Errorf("a 30 s sleep held the call for %s past its %s deadline", elapsed-deadline, deadline)
	}
	call(t, a, `{"behave":"ok"}`) // the instance was replaced
}

func TestLogRateLimit(t *testing.T) {
	h, logs := newHost(t, Config{Defaults: Limits{LogRate: 1, LogBurst: 10}})
	a := load(t, h, nil)
	if got := call(t, a, `{"behave":"spam","n":1000}`); got["lines"] != 1000.0 {
		t.Fatalf("spam = %v", got)
	}
	var lines int
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		msg, _ := rec["msg"].(string)
		if strings.HasPrefix(msg, "spam line") || (msg == "adapter output" && strings.HasPrefix(rec["line"].(string), "spam stdout")) {
			lines++
			if rec["transfer_id"] != "7c1e0a52-0000-4000-8000-000000000001" || rec["adapter"] != "test-adapter" {
				t.Errorf("a spam line is not tagged with adapter and transfer id: %s", line)
			}
		}
	}
	// The burst of 10, and perhaps a line or two refilled while the call ran.
	if lines < 10 || lines > 15 {
		t.Errorf("%d of 1000 lines logged with a burst of 10 at 1 line/s", lines)
	}
	if d := a.Stats().LogsDropped; d != uint64(1000-lines) {
		t.Errorf("LogsDropped = %d, want %d", d, 1000-lines)
	}
	// Once the bucket refills, the next line says how many were dropped.
	time.Sleep(1100 * time.Millisecond)
	call(t, a, `{"behave":"spam","n":1}`)
	if !strings.Contains(logs.String(), `"msg":"adapter log lines dropped by the rate limit"`) {
		t.Errorf("the log does not report the dropped lines")
	}
}

// TestRefusedCallsLogged checks that a call to a host the manifest does not
// allow is refused to the adapter and logged (origin only), and that a
// loop of them cannot flood the log.
func TestRefusedCallsLogged(t *testing.T) {
	h, logs := newHost(t, Config{Defaults: Limits{LogRate: 1, LogBurst: 5}})
	a := load(t, h, nil)
	if got := call(t, a, `{"behave":"refused","n":200}`); got["refused"] != 200.0 {
		t.Fatalf("refused = %v, want 200", got)
	}
	if _, hit := sourceHosts.Load("evil.pont.test"); hit {
		t.Fatal("a refused request reached the network")
	}
	n := strings.Count(logs.String(), `"msg":"adapter http_call refused"`)
	if n < 1 || n > 8 {
		t.Errorf("%d refusal lines logged for 200 refusals with a burst of 5", n)
	}
	if !strings.Contains(logs.String(), `"origin":"http://evil.pont.test:80"`) || strings.Contains(logs.String(), "/steal") {
		t.Errorf("the refusal does not name the origin, or names the path:\n%s", logs)
	}
}

func TestStatsAndCollector(t *testing.T) {
	h, _ := newHost(t, Config{Defaults: Limits{PoolMin: 2, PoolMax: 3}})
	a := load(t, h, nil)
	if s := a.Stats(); s.Idle != 2 || s.InUse != 0 || s.Created != 2 {
		t.Fatalf("after load: %+v, want 2 idle warmed instances", s)
	}
	call(t, a, `{"behave":"ok"}`)
	call(t, a, `{"behave":"ok"}`)
	_, _ = a.Call(context.Background(), query(`{"behave":"error","code":"subject_not_found"}`))
	_, _ = a.Call(context.Background(), query(`{"behave":"trap"}`))
	// Wait for the background refill of the trapped instance.
	for start := time.Now(); a.Stats().Idle < 2 && time.Since(start) < 10*time.Second; {
		time.Sleep(5 * time.Millisecond)
	}
	s := a.Stats()
	if s.Calls["ok"] != 2 || s.Calls["subject_not_found"] != 1 || s.Calls["adapter_failed"] != 1 {
		t.Errorf("Calls = %v", s.Calls)
	}
	if s.Discarded != 1 || s.Created != 3 || s.Idle != 2 || s.InUse != 0 {
		t.Errorf("Stats = %+v, want 1 discarded, 3 created, 2 idle", s)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(func() []*Adapter { return []*Adapter{a} }))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				if l.GetName() != "adapter" && l.GetName() != "version" {
					key += "," + l.GetName() + "=" + l.GetValue()
				} else if l.GetName() == "adapter" && l.GetValue() != "test-adapter" {
					t.Errorf("%s: adapter label %q", f.GetName(), l.GetValue())
				}
			}
			switch {
			case m.GetCounter() != nil:
				got[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				got[key] = m.GetGauge().GetValue()
			}
		}
	}
	want := map[string]float64{
		"pont_adapter_pool_created_total":                         3,
		"pont_adapter_pool_discarded_total":                       1,
		"pont_adapter_pool_instances,state=idle":                  2,
		"pont_adapter_pool_instances,state=in_use":                0,
		"pont_adapter_pool_calls_total,outcome=ok":                2,
		"pont_adapter_pool_calls_total,outcome=adapter_failed":    1,
		"pont_adapter_pool_calls_total,outcome=subject_not_found": 1,
		"pont_adapter_pool_calls_total,outcome=adapter_busy":      0,
		"pont_adapter_log_dropped_total":                          0,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if len(got) != 5+len(outcomes) {
		t.Errorf("%d series, want %d: %v", len(got), 5+len(outcomes), got)
	}
}

// trapModule is a minimal adapter whose pont_handle traps (unreachable):
// instantiating it costs microseconds, so that a test can fail it
// thousands of times.
func trapModule(t testing.TB) []byte {
	t.Helper()
	const I32, I64 = 0x7f, 0x7e
	wasm, err := manifest.Embed(module([]fn{
		{name: "pont_alloc", params: []byte{I32}, results: []byte{I32}},
		{name: "pont_handle", params: []byte{I32, I32}, results: []byte{I64}, code: []byte{0x00}},
	}, nil, false), testManifest)
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}

// TestManyFailuresDoNotLeak makes 10,000 failing calls in a row — traps,
// each dropping and replacing its instance, and adapter errors — and
// checks that goroutines and the heap come back to where they were.
func TestManyFailuresDoNotLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 calls")
	}
	h, _ := newHost(t, Config{Logger: nil, Defaults: Limits{PoolMin: 1, PoolMax: 2}})
	trap, err := h.Load(context.Background(), trapModule(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer trap.Close(context.Background())
	good := load(t, h, nil)
	ctx := context.Background()

	measure := func() (int, uint64) {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return runtime.NumGoroutine(), ms.HeapAlloc
	}
	// Warm up: the first calls allocate what stays (pools, caches).
	for range 200 {
		_, _ = trap.Call(ctx, query(`{}`))
		_, _ = good.Call(ctx, query(`{"behave":"error","code":"source_unavailable"}`))
	}
	settle(t, trap)
	g0, h0 := measure()

	n := 10000
	if v, _ := strconv.Atoi(os.Getenv("LEAKN")); v > 0 {
		n = v
	}
	start := time.Now()
	for i := range n {
		if _, err := trap.Call(ctx, query(`{}`)); fault.CodeOf(err) != fault.AdapterFailed {
			t.Fatalf("trap call %d = %v, want adapter_failed", i, err)
		}
	}
	traps := time.Since(start)
	start = time.Now()
	for i := range n {
		if _, err := good.Call(ctx, query(`{"behave":"error","code":"source_unavailable"}`)); fault.CodeOf(err) != fault.SourceUnavailable {
			t.Fatalf("error call %d = %v, want source_unavailable", i, err)
		}
	}
	errs := time.Since(start)
	settle(t, trap)
	g1, h1 := measure()
	t.Logf("%d traps in %s, %d adapter errors in %s; goroutines %d -> %d, heap %.1f -> %.1f MiB",
		n, traps.Round(time.Millisecond), n, errs.Round(time.Millisecond), g0, g1, float64(h0)/(1<<20), float64(h1)/(1<<20))
	if g1 > g0+5 {
		t.Errorf("goroutines grew from %d to %d over %d failing calls", g0, g1, 2*n)
	}
	const heapBound = 8 << 20
	if h1 > h0+heapBound {
		t.Errorf("the heap grew by %d bytes over %d failing calls, more than %d", h1-h0, 2*n, heapBound)
	}
	if s := trap.Stats(); s.Calls["adapter_failed"] < uint64(n) || s.Discarded < uint64(n) {
		t.Errorf("trap stats = %+v", s)
	}
	call(t, good, `{"behave":"ok"}`)
}

// settle waits until the adapter's background refills are done: its pool is
// back to PoolMin idle instances.
func settle(t *testing.T, a *Adapter) {
	t.Helper()
	for start := time.Now(); len(a.idle) < a.limits.PoolMin || len(a.slots) != len(a.idle); {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("the pool did not settle: %+v", a.Stats())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestABIExample loads the adapter of ABI.md section 10, assembled from the
// text in testdata/abi_example.wat (wat2wasm abi_example.wat), and checks
// that the document still shows that text and that it answers as the
// document says.
func TestABIExample(t *testing.T) {
	wat, err := os.ReadFile("testdata/abi_example.wat")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../sdk-wasm/ABI.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(doc, wat) {
		t.Fatal("ABI.md no longer shows testdata/abi_example.wat: reassemble it from the document")
	}
	raw, err := os.ReadFile("testdata/abi_example.wasm")
	if err != nil {
		t.Fatal(err)
	}
	wasm, err := manifest.Embed(raw, manifest.Manifest{ABI: 1, Name: "abi-example", Version: "1", Owner: "S0000000X", Services: []string{"padro"}, Scope: "*"})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := newHost(t, Config{})
	a, err := h.Load(context.Background(), wasm, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	defer a.Close(context.Background())
	for range 3 {
		_, err := a.Call(context.Background(), query(`{"municipality":"08019"}`))
		if fe, ok := fault.As(err); !ok || fe.Code != fault.SubjectNotFound || fe.Message != "this example knows nobody" {
			t.Fatalf("Call = %v, want subject_not_found", err)
		}
	}
}

// TestPoolGrowsWhileInstancesWaitOnSources: a call that finds the only
// instance blocked in http_call on a source that does not answer gets an
// instance beyond PoolMax, within NetworkWaitMemory; an instance busy
// computing, or a pool without that memory, leaves it adapter_busy.
func TestPoolGrowsWhileInstancesWaitOnSources(t *testing.T) {
	slow, _ := json.Marshal(map[string]string{"behave": "fetch", "url": sourceOrigin + "/slow"})
	const pages = 256 // 16 MiB an instance
	tests := []struct {
		name     string
		memory   int64  // NetworkWaitMemory
		hold     string // the params of the calls that hold the pool
		holders  int
		wantCode fault.Code // of the call that comes next; "" is an answer
	}{
		{"instance waits on its source", 2 * pages * pageSize, string(slow), 1, ""},
		{"every extra instance waits too", 2 * pages * pageSize, string(slow), 3, fault.AdapterBusy},
		{"instance computes", 2 * pages * pageSize, `{"behave":"loop"}`, 1, fault.AdapterBusy},
		{"no memory to grow", -1, string(slow), 1, fault.AdapterBusy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := newHost(t, Config{Defaults: Limits{PoolMin: 1, PoolMax: 1, MemoryPages: pages,
				PoolWait: 500 * time.Millisecond, Timeout: 20 * time.Second, NetworkWaitMemory: tt.memory}})
			a := load(t, h, nil)
			ctx, cancel := context.WithCancel(context.Background())
			var held sync.WaitGroup
			for range tt.holders {
				held.Add(1)
				go func() {
					defer held.Done()
					_, _ = a.Call(ctx, query(tt.hold))
				}()
			}
			defer func() { cancel(); held.Wait() }()
			// Wait until the holders hold every instance they can get.
			for start := time.Now(); a.Stats().InUse < min(tt.holders, a.Capacity()) || len(a.idle) > 0; {
				if time.Since(start) > 10*time.Second {
					t.Fatalf("the holders did not take the pool: %+v", a.Stats())
				}
				time.Sleep(5 * time.Millisecond)
			}
			_, err := a.Call(context.Background(), query(`{"behave":"ok"}`))
			if tt.wantCode == "" && err != nil {
				t.Fatalf("Call beside the holders = %v, want an answer", err)
			}
			if tt.wantCode != "" && fault.CodeOf(err) != tt.wantCode {
				t.Fatalf("Call beside the holders = %v, want %s", err, tt.wantCode)
			}
			if s := a.Stats(); s.InUse+s.Idle > a.Capacity() {
				t.Errorf("%d instances live, over the capacity %d", s.InUse+s.Idle, a.Capacity())
			}
		})
	}
}
