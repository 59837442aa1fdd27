// Package broker assembles one Pont node from its configuration: catalog,
// policies, Wasm host and adapters, store, transfer log, pipeline and HTTP
// API, and in development mode the simulated sources and the development
// token issuer. It owns the node's lifecycle and changes when the parts of a
// node, or how they are wired, change.
package broker

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/api"
	"github.com/pontexchange/pont/exchange/audit"
	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/manifest"
	"github.com/pontexchange/pont/exchange/pipeline"
	"github.com/pontexchange/pont/exchange/policy"
	"github.com/pontexchange/pont/exchange/router"
	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/store/sqlite"
	"github.com/pontexchange/pont/exchange/wasmhost"
	"github.com/pontexchange/pont/plugins"
	"github.com/pontexchange/pont/policies"
)

// Config is a node's configuration. Defaults are filled in by New.
type Config struct {
	// DataDir holds the embedded store, the development issuer's key and the
	// compilation cache. Defaults to ./.pont-dev.
	DataDir string
	// Dev runs the node in development mode: embedded store, simulated
	// sources for the reference adapters, and POST /dev/token.
	Dev bool
	// SimulatedSources serves the reference adapters' simulated source
	// systems (always on in dev mode): for demonstrations and load tests of
	// a production-configured node.
	SimulatedSources bool
	// Store is the transfer log's store; nil in dev mode opens the embedded
	// store in DataDir. The broker closes it.
	Store store.Store
	// CacheDir holds compiled adapter code between starts. Defaults to
	// DataDir/wasm-cache.
	CacheDir string
	// ModulesDir holds the adapters' .wasm modules; every source of the
	// catalog must have its module there.
	ModulesDir string
	// Catalog defaults to the embedded catalog.
	Catalog *catalog.Catalog
	// Policies defaults to the embedded policies.
	Policies fs.FS
	// Issuers are the trusted token issuers (the dev issuer is added in dev mode).
	Issuers []auth.Issuer
	// Limits are the adapters' default limits; zero fields take wasmhost's defaults.
	Limits wasmhost.Limits
	// AuditOptions tune the group commit.
	AuditOptions audit.Options
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
	devIss   *auth.DevIssuer
	sources  *http.Server // simulated sources, dev mode only
	adapters map[string]*wasmhost.Adapter
	closers  []func(context.Context) error
	once     sync.Once
}

// New builds a node from cfg. On error everything it opened is closed.
func New(ctx context.Context, cfg Config) (b *Broker, err error) {
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
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("broker: data directory: %w", err)
	}
	b = &Broker{cfg: cfg, log: cfg.Logger}
	defer func() {
		if err != nil {
			_ = b.Close(context.WithoutCancel(ctx))
			b = nil
		}
	}()

	engine, err := policy.New(ctx, cfg.Policies, cfg.Catalog.PolicyData())
	if err != nil {
		return nil, fmt.Errorf("broker: policies: %w", err)
	}

	b.store = cfg.Store
	if b.store == nil {
		if !cfg.Dev {
			return nil, errors.New("broker: a store is required outside dev mode")
		}
		if b.store, err = sqlite.New(ctx, sqlite.Config{Path: filepath.Join(cfg.DataDir, "pont.db")}); err != nil {
			return nil, fmt.Errorf("broker: embedded store: %w", err)
		}
	}
	b.closers = append(b.closers, func(context.Context) error { return b.store.Close() })
	b.audit = audit.NewLog(b.store, cfg.AuditOptions)
	b.closers = append(b.closers, func(context.Context) error { return b.audit.Close() })

	httpClient := &http.Client{Timeout: 10 * time.Second}
	issuers := cfg.Issuers
	if cfg.Dev || cfg.SimulatedSources {
		if httpClient, err = b.startSources(); err != nil {
			return nil, err
		}
	}
	if cfg.Dev {
		if b.devIss, err = auth.NewDevIssuer(cfg.DataDir); err != nil {
			return nil, fmt.Errorf("broker: development issuer: %w", err)
		}
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
	if b.adapters, err = b.loadAdapters(ctx); err != nil {
		return nil, err
	}
	rt := router.New()
	if err := rt.Set(cfg.Catalog, b.adapters); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}

	reg := prometheus.NewRegistry()
	metrics := api.NewMetrics(reg)
	pipe, err := pipeline.New(pipeline.Config{
		Catalog: cfg.Catalog, Policy: engine, Router: rt, Log: b.audit, Citizens: b.store,
		Node: cfg.Node, Observer: metrics,
	})
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	b.handler, err = api.New(api.Config{
		Pipeline: pipe, Catalog: cfg.Catalog, Transfers: b.store, Verifier: verifier,
		DevIssuer: b.devIss, Registry: reg, Metrics: metrics, Logger: cfg.Logger,
		Ready: b.store.Ping,
	})
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	return b, nil
}

// Handler is the node's HTTP API.
func (b *Broker) Handler() http.Handler { return b.handler }

// DevIssuer is the development issuer, nil outside dev mode.
func (b *Broker) DevIssuer() *auth.DevIssuer { return b.devIss }

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

// startSources serves the simulated source systems on a loopback port and
// returns the HTTP client for adapters, whose dialer sends every
// *.sources.pont.test host there: the manifests name real-looking hosts and
// the host still checks them, only the network underneath is simulated.
func (b *Broker) startSources() (*http.Client, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("broker: simulated sources: %w", err)
	}
	b.sources = &http.Server{Handler: plugins.DevSources(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = b.sources.Serve(ln) }()
	b.closers = append(b.closers, func(ctx context.Context) error { return b.sources.Close() })

	addr := ln.Addr().String()
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	transport := &http.Transport{
		DialContext: func(ctx context.Context, network, hostport string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(hostport)
			if err != nil {
				return nil, err
			}
			if strings.HasSuffix(host, "."+plugins.DevSourceDomain) {
				return dialer.DialContext(ctx, network, addr)
			}
			return dialer.DialContext(ctx, network, hostport)
		},
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}
	return &http.Client{Transport: transport, Timeout: 30 * time.Second}, nil
}

// loadAdapters loads the module of every catalog source from ModulesDir,
// each with its source's configuration.
func (b *Broker) loadAdapters(ctx context.Context) (map[string]*wasmhost.Adapter, error) {
	if b.cfg.ModulesDir == "" {
		return nil, errors.New("broker: ModulesDir is required: the adapters' .wasm modules")
	}
	wanted := map[string]map[string]string{} // adapter name -> config
	for _, name := range b.cfg.Catalog.ServiceNames() {
		svc, _ := b.cfg.Catalog.Service(name)
		for _, src := range svc.Sources {
			wanted[src.Adapter] = src.Config
		}
	}
	paths, err := filepath.Glob(filepath.Join(b.cfg.ModulesDir, "*.wasm"))
	if err != nil {
		return nil, fmt.Errorf("broker: modules: %w", err)
	}
	type job struct {
		path string
		wasm []byte
		m    manifest.Manifest
	}
	var jobs []job
	for _, p := range paths {
		wasm, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("broker: module %s: %w", p, err)
		}
		m, err := manifest.Read(wasm)
		if err != nil {
			return nil, fmt.Errorf("broker: module %s: %w", p, err)
		}
		if _, ok := wanted[m.Name]; !ok {
			b.log.Warn("module not in the catalog; not loaded", slog.String("module", p), slog.String("adapter", m.Name))
			continue
		}
		jobs = append(jobs, job{path: p, wasm: wasm, m: m})
	}

	// Compiling is CPU-bound: two at a time keeps start-up short without
	// starving a small machine.
	loaded := map[string]*wasmhost.Adapter{}
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
			a, err := b.host.Load(ctx, j.wasm, wanted[j.m.Name])
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
		return nil, fmt.Errorf("broker: adapters: %w", err)
	}
	var missing []string
	for name := range wanted {
		if _, ok := loaded[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("broker: the catalog's adapters %s have no module in %s (run make build)", strings.Join(missing, ", "), b.cfg.ModulesDir)
	}
	b.log.Info("adapters loaded", slog.Int("count", len(loaded)))
	return loaded, nil
}
