// Package wasmhost runs adapters: WebAssembly modules that implement the
// adapter ABI (sdk-wasm/ABI.md), on wazero. It compiles each module once,
// keeps a pool of warm instances per adapter, gives them the host
// capabilities of the ABI (log, http_call to allowed hosts, config_get) and
// turns every way a call can fail into a fault code. It changes only when the
// ABI or the way adapters are run changes.
package wasmhost

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"golang.org/x/sync/singleflight"

	"github.com/pontexchange/pont/exchange/wasmhost/internal/dataseg"
	"github.com/pontexchange/pont/exchange/wasmhost/internal/interrupt"
)

// Limits bound an adapter's resources. A zero field takes its default.
type Limits struct {
	// MemoryPages caps an instance's linear memory, in 64 KiB pages.
	// Defaults to 512 (32 MiB); at most 1024 (64 MiB) unless Max says
	// otherwise.
	MemoryPages uint32
	// Timeout is each call's deadline, including the time spent in the
	// adapter's HTTP calls. Defaults to 2 s; at most 30 s.
	Timeout time.Duration
	// MaxAnswerBytes caps the answer JSON. Defaults to 1 MiB; at most 8 MiB.
	MaxAnswerBytes int
	// PoolMin is the number of instances kept warm. Defaults to 1.
	PoolMin int
	// PoolMax is the most instances an adapter runs at once. Defaults to
	// the number of CPUs the process may use, at least 2: more only help
	// while they wait on a slow source (an instance is held for the whole
	// call), and each instance of a Go guest holds about 10 MiB. An adapter
	// with a slow source asks for more.
	PoolMax int
	// PoolWait is how long a call waits for a free instance before
	// adapter_busy. Defaults to 1 s.
	PoolWait time.Duration
	// NetworkWaitMemory is the guest memory, in bytes, that the pool may
	// add beyond PoolMax for calls that find every busy instance blocked in
	// http_call on its source for a while: such an instance costs memory,
	// not CPU. Each instance beyond PoolMax counts at its whole memory limit
	// (MemoryPages × 64 KiB), since its guest may grow to it. It is dropped
	// when it finishes a call and no instance is waiting on a source any
	// more. Defaults to 256 MiB (8 instances at the default 32 MiB); a
	// negative value allows none; at most 2 GiB.
	NetworkWaitMemory int64
	// MaxHTTPResponseBytes caps a response body that http_call reads.
	// Defaults to 4 MiB; at most 16 MiB.
	MaxHTTPResponseBytes int
	// LogRate is how many log lines a second an adapter may write, all its
	// instances together (log, stdout and stderr), once its burst is spent;
	// lines over it are dropped and counted. Defaults to 100; at most 10000.
	LogRate float64
	// LogBurst is how many log lines an adapter may write at once. Defaults
	// to 200; at most 100000.
	LogBurst int
}

// defaultLimits are the limits of an adapter whose manifest asks nothing.
var defaultLimits = Limits{
	MemoryPages:          512,
	Timeout:              2 * time.Second,
	MaxAnswerBytes:       1 << 20,
	PoolMin:              1,
	PoolMax:              max(2, runtime.GOMAXPROCS(0)),
	PoolWait:             time.Second,
	NetworkWaitMemory:    256 << 20,
	MaxHTTPResponseBytes: 4 << 20,
	LogRate:              100,
	LogBurst:             200,
}

// maxLimits are the ceilings no manifest can raise a limit past.
var maxLimits = Limits{
	MemoryPages:          1024,
	Timeout:              30 * time.Second,
	MaxAnswerBytes:       8 << 20,
	PoolMin:              16,
	PoolMax:              64,
	PoolWait:             30 * time.Second,
	NetworkWaitMemory:    2 << 30,
	MaxHTTPResponseBytes: 16 << 20,
	LogRate:              10000,
	LogBurst:             100000,
}

// or fills l's zero fields from d.
func (l Limits) or(d Limits) Limits {
	if l.MemoryPages == 0 {
		l.MemoryPages = d.MemoryPages
	}
	if l.Timeout <= 0 {
		l.Timeout = d.Timeout
	}
	if l.MaxAnswerBytes <= 0 {
		l.MaxAnswerBytes = d.MaxAnswerBytes
	}
	if l.PoolMin <= 0 {
		l.PoolMin = d.PoolMin
	}
	if l.PoolMax <= 0 {
		l.PoolMax = d.PoolMax
	}
	if l.PoolWait <= 0 {
		l.PoolWait = d.PoolWait
	}
	if l.NetworkWaitMemory == 0 { // negative: none, on purpose
		l.NetworkWaitMemory = d.NetworkWaitMemory
	}
	if l.MaxHTTPResponseBytes <= 0 {
		l.MaxHTTPResponseBytes = d.MaxHTTPResponseBytes
	}
	if l.LogRate <= 0 {
		l.LogRate = d.LogRate
	}
	if l.LogBurst <= 0 {
		l.LogBurst = d.LogBurst
	}
	return l
}

// capped lowers every field of l to at most m's.
func (l Limits) capped(m Limits) Limits {
	l.MemoryPages = min(l.MemoryPages, m.MemoryPages)
	l.Timeout = min(l.Timeout, m.Timeout)
	l.MaxAnswerBytes = min(l.MaxAnswerBytes, m.MaxAnswerBytes)
	l.PoolMax = min(l.PoolMax, m.PoolMax)
	l.PoolMin = min(l.PoolMin, l.PoolMax)
	l.PoolWait = min(l.PoolWait, m.PoolWait)
	l.NetworkWaitMemory = min(l.NetworkWaitMemory, m.NetworkWaitMemory)
	l.MaxHTTPResponseBytes = min(l.MaxHTTPResponseBytes, m.MaxHTTPResponseBytes)
	l.LogRate = min(l.LogRate, m.LogRate)
	l.LogBurst = min(l.LogBurst, m.LogBurst)
	return l
}

// Config configures a Host.
type Config struct {
	// CacheDir keeps compiled modules across restarts. Defaults to none:
	// every start compiles every module (about half a second each).
	CacheDir string
	// HTTPClient carries the adapters' http_call. Its Transport may dial
	// anything (a development dialer); the host checks every URL and
	// redirect against the adapter's allowed hosts itself. Defaults to a
	// client on http.DefaultTransport.
	HTTPClient *http.Client
	// Logger receives the adapters' log and stdout/stderr, tagged with the
	// adapter's name. Defaults to slog.Default().
	Logger *slog.Logger
	// Defaults are the limits of an adapter whose manifest asks nothing.
	Defaults Limits
	// Max are the ceilings of any adapter's limits; MemoryPages is also the
	// runtime's hard cap.
	Max Limits
}

// Host runs adapters. It is safe for concurrent use.
type Host struct {
	cfg     Config
	runtime wazero.Runtime
	cache   wazero.CompilationCache
	log     *slog.Logger

	// modules are the compiled modules by the SHA-256 of their code (the
	// module without its manifest), shared by the adapters that run the
	// same program with different manifests.
	modulesMu sync.Mutex
	modules   map[[32]byte]*sharedModule
	// compiles deduplicates concurrent compiles of the same code, by its
	// SHA-256.
	compiles singleflight.Group
}

// New starts a Host: one wazero runtime (compiling where the platform
// supports it) with WASI preview 1 and the ABI's pont module.
func New(ctx context.Context, cfg Config) (*Host, error) {
	cfg.Max = cfg.Max.or(maxLimits)
	cfg.Defaults = cfg.Defaults.or(defaultLimits).capped(cfg.Max)
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &Host{cfg: cfg, log: cfg.Logger, modules: map[[32]byte]*sharedModule{}}

	// Calls are stopped at their deadline by the interrupt flag that
	// compile adds to every module, not by WithCloseOnContextDone, which
	// makes every loop iteration of the guest call into Go; the flag is
	// checked only once every interrupt.Period loop heads and function
	// entries.
	rc := wazero.NewRuntimeConfig().
		WithMemoryLimitPages(cfg.Max.MemoryPages)
	if cfg.CacheDir != "" {
		cache, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("wasmhost: compilation cache %s: %w", cfg.CacheDir, err)
		}
		h.cache = cache
		rc = rc.WithCompilationCache(cache)
	}
	h.runtime = wazero.NewRuntimeWithConfig(ctx, rc)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, h.runtime); err != nil {
		_ = h.Close(ctx)
		return nil, fmt.Errorf("wasmhost: WASI: %w", err)
	}
	if err := h.instantiatePont(ctx); err != nil {
		_ = h.Close(ctx)
		return nil, fmt.Errorf("wasmhost: pont module: %w", err)
	}
	return h, nil
}

// Close closes the runtime and with it every adapter's instances. Close
// adapters first to let their calls finish.
func (h *Host) Close(ctx context.Context) error {
	err := h.runtime.Close(ctx)
	if h.cache != nil {
		if cerr := h.cache.Close(ctx); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("wasmhost: close: %w", err)
	}
	return nil
}

// sharedModule is one compiled program and the adapters that run it.
type sharedModule struct {
	key [32]byte
	// compiled is nil until the compile that the module's first Load
	// started has finished.
	compiled wazero.CompiledModule
	refs     int // guarded by Host.modulesMu, as is compiled
}

// compile returns the compiled module of code (a module without its
// manifest), compiling it only when no loaded adapter runs the same code
// already; concurrent Loads of the same code share one compile
// (singleflight), each waiting for it only as long as its own ctx lasts.
// Every successful compile must be matched by a release.
func (h *Host) compile(ctx context.Context, code []byte) (*sharedModule, error) {
	key := sha256.Sum256(code)
	h.modulesMu.Lock()
	m := h.modules[key]
	if m == nil {
		m = &sharedModule{key: key}
		h.modules[key] = m
	}
	// The reference keeps m in h.modules until this Load releases it, so
	// that the compile below finds m to put its result in.
	m.refs++
	ready := m.compiled != nil
	h.modulesMu.Unlock()
	if ready {
		return m, nil
	}
	// The compile outlives a caller that gives up: the others, and the
	// next Load, still want it.
	done := h.compiles.DoChan(string(key[:]), func() (any, error) {
		return nil, h.compileShared(context.WithoutCancel(ctx), key, code)
	})
	select {
	case r := <-done:
		if r.Err != nil {
			_ = h.release(m)
			return nil, r.Err
		}
	case <-ctx.Done():
		_ = h.release(m)
		return nil, ctx.Err()
	}
	h.modulesMu.Lock()
	ready = m.compiled != nil
	h.modulesMu.Unlock()
	if !ready { // cannot happen: m stayed in h.modules while compiled
		_ = h.release(m)
		return nil, errors.New("the compiled module was lost")
	}
	return m, nil
}

// compileShared compiles code, rewritten for the interrupt, into the
// sharedModule of key, unless that already has its compiled module. When
// every Load that wanted it has given up meanwhile, the result is closed at
// once.
func (h *Host) compileShared(ctx context.Context, key [32]byte, code []byte) error {
	h.modulesMu.Lock()
	m := h.modules[key]
	done := m != nil && m.compiled != nil
	h.modulesMu.Unlock()
	if done {
		return nil
	}
	code, err := interrupt.Instrument(code)
	if err != nil {
		return err
	}
	compiled, err := h.runtime.CompileModule(ctx, dataseg.Merge(code))
	if err != nil {
		return err
	}
	h.modulesMu.Lock()
	m = h.modules[key]
	keep := m != nil && m.compiled == nil
	if keep {
		m.compiled = compiled
	}
	h.modulesMu.Unlock()
	if !keep {
		return compiled.Close(ctx)
	}
	return nil
}

// release drops one adapter's use of a compiled module and closes it with
// the last.
func (h *Host) release(m *sharedModule) error {
	h.modulesMu.Lock()
	m.refs--
	last := m.refs == 0
	if last && h.modules[m.key] == m {
		delete(h.modules, m.key)
	}
	compiled := m.compiled
	h.modulesMu.Unlock()
	if !last || compiled == nil {
		return nil
	}
	return compiled.Close(context.Background())
}
