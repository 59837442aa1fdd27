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
	"crypto/ed25519"
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
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/api"
	"github.com/pontexchange/pont/exchange/audit"
	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/citizens"
	"github.com/pontexchange/pont/exchange/guard"
	"github.com/pontexchange/pont/exchange/pipeline"
	"github.com/pontexchange/pont/exchange/policy"
	"github.com/pontexchange/pont/exchange/quota"
	"github.com/pontexchange/pont/exchange/registry"
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
	// ModulesDir, when set, holds .wasm modules that the node publishes at
	// start through the same checks as POST /v1/adapters (a version
	// published before is not published again) and activates where their
	// adapter has no active version: a deployment's first adapters. On a
	// production node each must be signed by its owner; a development node
	// (DevIssuer set) signs them with development keys of the owners, made
	// in DataDir/owner-keys, and activates what it finds there even over
	// another active version, so that pont dev serves what was just built.
	ModulesDir string
	// UnsignedModules are paths of .wasm modules that a development node
	// publishes unsigned and activates at start (pont dev --adapter), for
	// any owner and any scope of a catalog service: each takes its scope
	// over from the adapter that served it. Each is accepted with a
	// warning in the log; a production node refuses them.
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
	// Jobs tunes the asynchronous queries.
	Jobs JobsConfig
	// Pages configures the web pages (a development node serves them
	// with a key of its own).
	Pages PagesConfig
	// SCSP, when set, opens the SCSP v3 SOAP door (api.SCSPDoor).
	SCSP *api.SCSPDoor
	// Node names this node in transfer records. Defaults to the host name.
	Node   string
	Logger *slog.Logger
}

// JobsConfig tunes the asynchronous queries: the fields of jobs.Config of
// the same names (zero takes its default), and the callbacks' key.
type JobsConfig struct {
	Workers, PerSource, PerOrganisation, ChunkSize   int
	RetainFor, ChunkTimeout, RescueAfter, SweepEvery time.Duration
	// CallbackKey signs the jobs' callbacks, named CallbackKeyID in their
	// JWS and in /v1/jobs/callback-keys. Without one, a production node
	// refuses jobs that ask for a callback; a development node makes one
	// in DataDir (callback.key) and keeps it across restarts.
	CallbackKey   ed25519.PrivateKey
	CallbackKeyID string
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
	registry *registry.Registry
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
	if len(cfg.UnsignedModules) > 0 && cfg.DevIssuer == nil {
		return nil, errors.New("broker: unsigned modules are for development nodes only")
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
	var devKeys map[string]jwk.Key
	if cfg.DevIssuer != nil {
		if cfg.Catalog, devKeys, err = devOwnerKeys(cfg.Catalog, cfg.DataDir); err != nil {
			return nil, err
		}
		b.cfg.Catalog = cfg.Catalog
	}
	adapterStore, ok := b.store.(store.Adapters)
	if !ok {
		return nil, errors.New("broker: the store keeps no adapters")
	}
	rt := router.New()
	if cfg.Guard.Logger == nil {
		cfg.Guard.Logger = cfg.Logger
	}
	guards := &guardSet{cfg: cfg.Guard}
	b.registry, err = registry.New(ctx, registry.Config{
		Store: adapterStore, Catalog: cfg.Catalog, Host: b.host, Development: cfg.DevIssuer != nil, Logger: cfg.Logger,
		Install: func(adapters []router.Adapter) error { return rt.Set(cfg.Catalog, guards.wrap(adapters)) },
	})
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	b.closers = append(b.closers, b.registry.Close)
	if err := b.bootstrap(ctx, b.registry, devKeys); err != nil {
		return nil, err
	}
	watchAdapters, stopWatching := context.WithCancel(context.WithoutCancel(ctx))
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		b.registry.Run(watchAdapters)
	}()
	b.closers = append(b.closers, func(context.Context) error { stopWatching(); <-watched; return nil })

	reg := prometheus.NewRegistry()
	reg.MustRegister(wasmhost.NewCollector(b.registry.Adapters), policyMetrics)
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
	if cfg.SCSP == nil && cfg.DevIssuer != nil {
		if cfg.SCSP, err = devSCSP(cfg.DataDir, cfg.Catalog); err != nil {
			return nil, err
		}
	}
	runner, notifier, err := b.startJobs(ctx, pipe)
	if err != nil {
		return nil, err
	}
	b.metrics = api.MetricsHandler(reg)
	pages, pagesNotFound, err := b.pages(cfg, &b.handler)
	if err != nil {
		return nil, err
	}
	b.handler, err = api.New(api.Config{
		Pipeline: pipe, Citizens: people, Catalog: cfg.Catalog, Transfers: b.store, Verifier: verifier, Quota: limiter,
		DevIssuer: b.devIss, Registry: reg, Metrics: metrics, Logger: cfg.Logger,
		Ready: ready, CursorSecret: cfg.CursorSecret, PrivateMetrics: cfg.PrivateMetrics,
		Log: b.store, Events: b.audit, Node: cfg.Node, Adapters: b.registry,
		Jobs: runner, CallbackKeys: notifier, SCSP: cfg.SCSP, Pages: pages, PagesNotFound: pagesNotFound,
	})
	if err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	return b, nil
}

// guardSet puts every adapter the router takes behind its guard, and
// keeps each adapter's guard (its breakers' state) while the adapter
// stays installed.
type guardSet struct {
	cfg    guard.Config
	mu     sync.Mutex
	guards map[router.Adapter]*guard.Adapter
}

func (g *guardSet) wrap(adapters []router.Adapter) []router.Adapter {
	g.mu.Lock()
	defer g.mu.Unlock()
	next := make(map[router.Adapter]*guard.Adapter, len(adapters))
	out := make([]router.Adapter, 0, len(adapters))
	for _, a := range adapters {
		w, ok := g.guards[a]
		if !ok {
			c := g.cfg
			if sized, ok := a.(interface{ Capacity() int }); ok {
				c.Capacity = sized.Capacity()
			}
			w = guard.Wrap(a, c)
		}
		next[a] = w
		out = append(out, w)
	}
	g.guards = next
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

// Registry is the node's adapter registry: what it publishes, activates
// and serves from.
func (b *Broker) Registry() *registry.Registry { return b.registry }

// Adapters lists the names of the adapters the node serves from, sorted.
func (b *Broker) Adapters() []string {
	served := b.registry.Served()
	names := make([]string, 0, len(served))
	for n := range served {
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
