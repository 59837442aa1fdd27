// Package broker assembles one Pont node from its configuration: catalog,
// policies, Wasm host and adapters, transfer log, pipeline and HTTP API,
// around the parts its caller chooses (the store, the HTTP client that
// reaches the sources, a development token issuer). It owns the node's
// lifecycle and changes when the parts of a node, or how they are wired,
// change. It knows nothing of development fixtures: pont dev brings the
// embedded store and the simulated sources itself, so that a production
// node does not carry them.
package broker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/api"
	"github.com/pontexchange/pont/exchange/audit"
	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/citizens"
	"github.com/pontexchange/pont/exchange/guard"
	"github.com/pontexchange/pont/exchange/manifest"
	"github.com/pontexchange/pont/exchange/pipeline"
	"github.com/pontexchange/pont/exchange/policy"
	"github.com/pontexchange/pont/exchange/quota"
	"github.com/pontexchange/pont/exchange/router"
	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/translog"
	"github.com/pontexchange/pont/exchange/wasmhost"
	"github.com/pontexchange/pont/policies"
)

// Config is a node's configuration. Defaults are filled in by New.
type Config struct {
	// DataDir holds the node's own files: the compilation cache unless
	// CacheDir says otherwise. Defaults to ./.pont-dev.
	DataDir string
	// Store is the transfer log's store (required). The broker owns it from
	// the call to New: it closes it on Close, and when New fails.
	Store store.Store
	// HTTPClient carries the adapters' http_call; the Wasm host checks
	// every URL and redirect against the adapter's manifest before it is
	// used. Defaults to NewSourceClient(nil): connections go where DNS
	// says.
	HTTPClient *http.Client
	// DevIssuer, when set, is a development token issuer: the node trusts
	// its tokens besides Issuers' and serves POST /dev/token, which mints
	// them for anyone who asks. Development nodes only (pont dev).
	DevIssuer *auth.DevIssuer
	// CacheDir holds compiled adapter code between starts. Defaults to
	// DataDir/wasm-cache.
	CacheDir string
	// ModulesDir holds the adapters' .wasm modules; every source of the
	// catalog must have its module there, unless an extra module takes its
	// scope over.
	ModulesDir string
	// UnsignedModules are paths of .wasm modules to load besides
	// ModulesDir's (pont dev --adapter). Each one's manifest names the
	// services and the scope it serves; it takes that scope over from the
	// catalog's adapter (the router sends it the queries, with the catalog
	// source's configuration), and the catalog's module is then not loaded.
	// Nothing vouches for them: each is accepted with a warning in the
	// log, and only a development node gives any.
	UnsignedModules []string
	// Catalog defaults to the embedded catalog.
	Catalog *catalog.Catalog
	// Policies defaults to the embedded policies.
	Policies fs.FS
	// PoliciesDir, when set, loads the policies from this directory instead
	// of Policies, reloads them when its files change (and on
	// ReloadPolicies), and refuses a set that does not compile.
	PoliciesDir string
	// Issuers are the trusted token issuers (besides DevIssuer).
	Issuers []auth.Issuer
	// Limits are the adapters' default limits; zero fields take wasmhost's defaults.
	Limits wasmhost.Limits
	// Quota is each caller's allowance of requests; the zero value limits
	// nothing.
	Quota quota.Config
	// Guard tunes the circuit breakers and the fair share in front of every
	// adapter; zero fields take guard's defaults, and each adapter's
	// Capacity is its own.
	Guard guard.Config
	// CursorSecret signs audit search cursors (see api.Config.CursorSecret).
	CursorSecret []byte
	// AuditOptions tune the group commit.
	AuditOptions audit.Options
	// PrivateMetrics leaves /metrics off the API (api.Config.PrivateMetrics);
	// the caller serves MetricsHandler elsewhere.
	PrivateMetrics bool
	// LogSigner signs the tamper-evident log's checkpoints; its name is the
	// log's origin. Required, except on a development node (DevIssuer
	// set), which makes a key of its own in DataDir (log.key, log.vkey)
	// and keeps it across restarts.
	LogSigner note.Signer
	// LogVerifier is LogSigner's public key; derived from LogSigner when
	// the broker made the key.
	LogVerifier note.Verifier
	// Witnesses cosign the log's checkpoints (translog.SealerConfig).
	Witnesses []translog.Witness
	// SealInterval is the least time between two checkpoints. Defaults to 1 s.
	SealInterval time.Duration
	// Retention is how long records keep their personal fields; zero
	// keeps them for ever.
	Retention time.Duration
	// Node names this node in transfer records. Defaults to the host name.
	Node   string
	Logger *slog.Logger
}

// Broker is a running node.
type Broker struct {
	cfg      Config
	log      *slog.Logger
	store    store.Store
	audit    *audit.Log
	host     *wasmhost.Host
	handler  http.Handler
	metrics  http.Handler
	devIss   *auth.DevIssuer
	adapters map[string]*wasmhost.Adapter
	policies *policyReloader // nil unless PoliciesDir is set
	sealer   *translog.Sealer
	closers  []func(context.Context) error
	once     sync.Once
}

// New builds a node from cfg. On error everything it opened is closed, and
// cfg.Store too.
func New(ctx context.Context, cfg Config) (b *Broker, err error) {
	if cfg.Store == nil {
		return nil, errors.New("broker: a store is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DataDir == "" {
		cfg.DataDir = ".pont-dev"
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir = filepath.Join(cfg.DataDir, "wasm-cache")
	}
	if cfg.Node == "" {
		cfg.Node, _ = os.Hostname()
	}
	if cfg.Catalog == nil {
		if cfg.Catalog, err = catalog.Default(); err != nil {
			return nil, fmt.Errorf("broker: catalog: %w", err)
		}
	}
	if cfg.Policies == nil {
		cfg.Policies = policies.FS
	}
	// A `return nil, err` has set the result b to nil by the time the
	// deferred function runs: it puts the node back for Close (the closers
	// refer to b) before answering nil.
	node := &Broker{cfg: cfg, log: cfg.Logger, store: cfg.Store}
	b = node
	defer func() {
		if err != nil {
			b = node
			_ = b.Close(context.WithoutCancel(ctx))
			b = nil
		}
	}()
	b.closers = append(b.closers, func(context.Context) error { return b.store.Close() })
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("broker: data directory: %w", err)
	}

	policyFS := cfg.Policies
	if cfg.PoliciesDir != "" {
		policyFS = os.DirFS(cfg.PoliciesDir)
	}
	// One set of memo metrics for the node, shared by every engine a
	// reload builds, so that a mismatch seen before a reload stays counted.
	policyMetrics := policy.NewMetrics()
	policyOpts := []policy.Option{policy.WithMetrics(policyMetrics), policy.WithLogger(cfg.Logger)}
	engine, err := policy.New(ctx, policyFS, cfg.Catalog.PolicyData(), policyOpts...)
	if err != nil {
		return nil, fmt.Errorf("broker: policies: %w", err)
	}

	if cfg.LogSigner == nil {
		if cfg.DevIssuer == nil {
			return nil, errors.New("broker: a key to sign the log's checkpoints is required")
		}
		if cfg.LogSigner, cfg.LogVerifier, err = devLogKey(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	if cfg.LogVerifier == nil && len(cfg.Witnesses) > 0 {
		return nil, errors.New("broker: witnesses need the log's verifier key")
	}
	sealer, err := translog.NewSealer(translog.SealerConfig{
		Store: b.store, Signer: cfg.LogSigner, Verifier: cfg.LogVerifier, Witnesses: cfg.Witnesses,
		Interval: cfg.SealInterval, Retention: cfg.Retention, Node: cfg.Node, Logger: cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	b.sealer = sealer
	sealCtx, stopSealing := context.WithCancel(context.WithoutCancel(ctx))
	sealed := make(chan struct{})
	go func() {
		defer close(sealed)
		_ = sealer.Run(sealCtx)
	}()
	b.closers = append(b.closers, func(context.Context) error { stopSealing(); <-sealed; return nil })

	if cfg.AuditOptions.Logger == nil {
		cfg.AuditOptions.Logger = cfg.Logger
	}
	b.audit = audit.NewLog(b.store, cfg.AuditOptions)
	b.closers = append(b.closers, func(context.Context) error { return b.audit.Close() })

	httpClient := cfg.HTTPClient
	if httpClient == nil {
		if httpClient, err = NewSourceClient(nil); err != nil {
			return nil, err
		}
	}
	issuers := slices.Clone(cfg.Issuers)
	if cfg.DevIssuer != nil {
		b.devIss = cfg.DevIssuer
		issuers = append(issuers, b.devIss.Issuer())
	}
	verifier, err := auth.NewVerifier(ctx, issuers)
	if err != nil {
		return nil, fmt.Errorf("broker: token issuers: %w", err)
	}

	b.host, err = wasmhost.New(ctx, wasmhost.Config{
		CacheDir:   cfg.CacheDir,
		HTTPClient: httpClient,
		Logger:     cfg.Logger,
		Defaults:   cfg.Limits,
	})
	if err != nil {
		return nil, fmt.Errorf("broker: wasm host: %w", err)
	}
	b.closers = append(b.closers, b.host.Close)
	var routes map[string]*wasmhost.Adapter
	if b.adapters, routes, err = b.loadAdapters(ctx); err != nil {
		return nil, err
	}
	rt := router.New()
	if cfg.Guard.Logger == nil {
		cfg.Guard.Logger = cfg.Logger
	}
	if err := rt.Set(cfg.Catalog, routerAdapters(routes, cfg.Guard)); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(wasmhost.NewCollector(b.loadedAdapters), policyMetrics)
	metrics := api.NewMetrics(reg)
	limiter, err := quota.New(cfg.Quota)
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	pipe, err := pipeline.New(pipeline.Config{
		Catalog: cfg.Catalog, Policy: engine, Router: rt, Log: b.audit, Citizens: b.store,
		Quota: limiter, Node: cfg.Node, Observer: metrics,
	})
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	if cfg.PoliciesDir != "" {
		b.policies = &policyReloader{dir: cfg.PoliciesDir, data: cfg.Catalog.PolicyData(), install: func(e *policy.Engine) { pipe.SetPolicy(e) }, opts: policyOpts, log: cfg.Logger}
		if b.policies.current, err = dirHash(cfg.PoliciesDir); err != nil {
			return nil, err
		}
		watchCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
		go b.policies.watch(watchCtx)
		b.closers = append(b.closers, func(context.Context) error { stop(); return nil })
	}
	people, err := citizens.New(citizens.Config{Catalog: cfg.Catalog, Store: b.store})
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	ready := b.store.Ping
	if rc, ok := b.store.(store.ReadinessChecker); ok {
		ready = rc.Ready
	}
	b.metrics = api.MetricsHandler(reg)
	b.handler, err = api.New(api.Config{
		Pipeline: pipe, Citizens: people, Catalog: cfg.Catalog, Transfers: b.store, Verifier: verifier, Quota: limiter,
		DevIssuer: b.devIss, Registry: reg, Metrics: metrics, Logger: cfg.Logger,
		Ready: ready, CursorSecret: cfg.CursorSecret, PrivateMetrics: cfg.PrivateMetrics,
		Log: b.store, Events: b.audit, Node: cfg.Node,
	})
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	return b, nil
}

// routerAdapters is the loaded adapters as the router takes them, each
// behind its guard: one guard an adapter, shared by the catalog names an
// extra module takes over, since they share its pool and its source.
func routerAdapters(loaded map[string]*wasmhost.Adapter, cfg guard.Config) map[string]router.Adapter {
	guards := map[*wasmhost.Adapter]*guard.Adapter{}
	out := make(map[string]router.Adapter, len(loaded))
	for name, a := range loaded {
		g, ok := guards[a]
		if !ok {
			c := cfg
			c.Capacity = a.Capacity()
			g = guard.Wrap(a, c)
			guards[a] = g
		}
		out[name] = g
	}
	return out
}

// Seal has this node's sealer seal at once what has committed, instead of
// waiting for its next tick, when this node holds the sealing role (it
// waits for the role otherwise, until ctx ends). For tools and tests.
func (b *Broker) Seal(ctx context.Context) error { return b.sealer.Sync(ctx) }

// ReloadPolicies rebuilds the policies from PoliciesDir now (SIGHUP). A set
// that does not compile is refused and the serving one stays; the error
// says why.
func (b *Broker) ReloadPolicies(ctx context.Context) (revision string, err error) {
	if b.policies == nil {
		return "", errors.New("broker: policies are embedded; give a policies directory to reload them")
	}
	return b.policies.Reload(ctx)
}

// Handler is the node's HTTP API.
func (b *Broker) Handler() http.Handler { return b.handler }

// MetricsHandler serves the node's metrics, for a listener of their own
// when Config.PrivateMetrics keeps them off the API.
func (b *Broker) MetricsHandler() http.Handler { return b.metrics }

// DevIssuer is Config.DevIssuer: the development issuer whose tokens the
// node trusts and mints on POST /dev/token, or nil.
func (b *Broker) DevIssuer() *auth.DevIssuer { return b.devIss }

// loadedAdapters lists the loaded adapters, for the pool metrics.
func (b *Broker) loadedAdapters() []*wasmhost.Adapter {
	out := make([]*wasmhost.Adapter, 0, len(b.adapters))
	for _, a := range b.adapters {
		out = append(out, a)
	}
	return out
}

// Adapters lists the loaded adapters' names, sorted.
func (b *Broker) Adapters() []string {
	names := make([]string, 0, len(b.adapters))
	for n := range b.adapters {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Serve answers HTTP on ln until ctx is done, then shuts down gracefully:
// requests in flight finish (their records commit) before it returns.
func (b *Broker) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           b.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(b.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("broker: shutdown: %w", err)
	}
	return nil
}

// Close releases everything the node opened, in reverse order.
func (b *Broker) Close(ctx context.Context) error {
	var errs []error
	b.once.Do(func() {
		for i := len(b.closers) - 1; i >= 0; i-- {
			if err := b.closers[i](ctx); err != nil {
				errs = append(errs, err)
			}
		}
	})
	return errors.Join(errs...)
}

// loadAdapters loads the module of every catalog source from ModulesDir,
// each with its source's configuration, and the extra modules. It returns
// the loaded adapters by their manifest names, and the routes: for each
// catalog adapter name, the adapter that serves its sources (the catalog's
// own module, or the extra module that took its scope over).
func (b *Broker) loadAdapters(ctx context.Context) (loaded, routes map[string]*wasmhost.Adapter, err error) {
	if b.cfg.ModulesDir == "" {
		return nil, nil, errors.New("broker: ModulesDir is required: the adapters' .wasm modules")
	}
	wanted := map[string]map[string]string{} // adapter name -> config
	served := map[string][]servedScope{}     // adapter name -> its sources
	for _, name := range b.cfg.Catalog.ServiceNames() {
		svc, _ := b.cfg.Catalog.Service(name)
		for _, src := range svc.Sources {
			wanted[src.Adapter] = src.Config
			served[src.Adapter] = append(served[src.Adapter], servedScope{service: name, scope: src.Scope})
		}
	}

	extras, takenBy, err := b.readExtraModules(wanted, served)
	if err != nil {
		return nil, nil, err
	}

	extraNames := map[string]bool{}
	for _, j := range extras {
		extraNames[j.m.Name] = true
	}
	paths, err := filepath.Glob(filepath.Join(b.cfg.ModulesDir, "*.wasm"))
	if err != nil {
		return nil, nil, fmt.Errorf("broker: modules: %w", err)
	}
	var jobs []moduleJob
	for _, p := range paths {
		wasm, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, fmt.Errorf("broker: module %s: %w", p, err)
		}
		m, err := manifest.Read(wasm)
		if err != nil {
			return nil, nil, fmt.Errorf("broker: module %s: %w", p, err)
		}
		if _, ok := wanted[m.Name]; !ok {
			if !extraNames[m.Name] {
				b.log.Info("module is no catalog source; not loaded (pont dev --adapter loads such a module)",
					slog.String("module", p), slog.String("adapter", m.Name))
			}
			continue
		}
		if by, ok := takenBy[m.Name]; ok {
			b.log.Info("module not loaded: an extra module takes its scope over", slog.String("module", p),
				slog.String("adapter", m.Name), slog.String("by", by.m.Name))
			continue
		}
		jobs = append(jobs, moduleJob{path: p, wasm: wasm, m: m, config: wanted[m.Name]})
	}
	jobs = append(jobs, extras...)

	// Compiling is CPU-bound: two at a time keeps start-up short without
	// starving a small machine.
	loaded = map[string]*wasmhost.Adapter{}
	var mu sync.Mutex
	var errs []error
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			a, err := b.host.Load(ctx, j.wasm, j.config)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("module %s: %w", j.path, err))
				return
			}
			if _, dup := loaded[j.m.Name]; dup {
				errs = append(errs, fmt.Errorf("module %s: adapter %s is loaded twice", j.path, j.m.Name))
				return
			}
			loaded[j.m.Name] = a
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, nil, fmt.Errorf("broker: adapters: %w", err)
	}
	routes = map[string]*wasmhost.Adapter{}
	var missing []string
	for name := range wanted {
		if by, ok := takenBy[name]; ok {
			routes[name] = loaded[by.m.Name]
			continue
		}
		a, ok := loaded[name]
		if !ok {
			missing = append(missing, name)
			continue
		}
		routes[name] = a
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, nil, fmt.Errorf("broker: the catalog's adapters %s have no module in %s (run make build)", strings.Join(missing, ", "), b.cfg.ModulesDir)
	}
	b.log.Info("adapters loaded", slog.Int("count", len(loaded)))
	return loaded, routes, nil
}

// moduleJob is a module to load with its configuration.
type moduleJob struct {
	path   string
	wasm   []byte
	m      manifest.Manifest
	config map[string]string
}

// servedScope is one catalog source of an adapter.
type servedScope struct{ service, scope string }

// readExtraModules reads the UnsignedModules and works out which catalog
// adapters each takes over: those whose every source is a service the
// module declares at the module's scope. Each extra module gets the
// configuration of the sources it takes over, limited to the keys its
// manifest declares. It returns the modules to load, and the extra module
// that takes each catalog adapter name over.
func (b *Broker) readExtraModules(wanted map[string]map[string]string, served map[string][]servedScope) ([]moduleJob, map[string]moduleJob, error) {
	if len(b.cfg.UnsignedModules) == 0 {
		return nil, nil, nil
	}
	var jobs []moduleJob
	takenBy := map[string]moduleJob{}
	names := map[string]string{} // extra adapter name -> path
	for _, p := range b.cfg.UnsignedModules {
		wasm, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, fmt.Errorf("broker: extra module: %w", err)
		}
		m, err := manifest.Read(wasm)
		if err != nil {
			return nil, nil, fmt.Errorf("broker: extra module %s: %w", p, err)
		}
		if other, dup := names[m.Name]; dup {
			return nil, nil, fmt.Errorf("broker: extra modules %s and %s are both adapter %s", other, p, m.Name)
		}
		names[m.Name] = p
		job := moduleJob{path: p, wasm: wasm, m: m, config: map[string]string{}}
		var takes []string
		for name, scopes := range served {
			covered := 0
			for _, s := range scopes {
				if s.scope == m.Scope && slices.Contains(m.Services, s.service) {
					covered++
				}
			}
			switch {
			case covered == 0:
				continue
			case covered < len(scopes):
				return nil, nil, fmt.Errorf("broker: extra module %s (adapter %s) would take over part of adapter %s, which also serves %v; an extra module takes whole adapters over", p, m.Name, name, scopes)
			}
			if other, taken := takenBy[name]; taken {
				return nil, nil, fmt.Errorf("broker: extra modules %s and %s both take adapter %s over", other.path, p, name)
			}
			takes = append(takes, name)
			for k, v := range wanted[name] {
				if m.Declares(k) {
					job.config[k] = v
				}
			}
		}
		if len(takes) == 0 {
			return nil, nil, fmt.Errorf("broker: extra module %s (adapter %s) serves scope %q of %s, which no catalog source has; an extra module takes a catalog scope over", p, m.Name, m.Scope, strings.Join(m.Services, ", "))
		}
		if _, ok := wanted[m.Name]; ok && !slices.Contains(takes, m.Name) {
			return nil, nil, fmt.Errorf("broker: extra module %s is named %s, a catalog adapter it does not take over", p, m.Name)
		}
		sort.Strings(takes)
		for _, name := range takes {
			takenBy[name] = job
		}
		jobs = append(jobs, job)
		sum := sha256.Sum256(wasm)
		b.log.Warn("unsigned adapter module accepted (development mode only)",
			slog.String("module", p), slog.String("adapter", m.Name), slog.String("version", m.Version),
			slog.String("module_sha256", hex.EncodeToString(sum[:])), slog.String("scope", m.Scope),
			slog.String("takes_over", strings.Join(takes, ", ")))
	}
	return jobs, takenBy, nil
}
