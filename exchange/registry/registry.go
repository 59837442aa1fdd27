// Package registry is how adapters reach a node: data owners publish
// signed modules, activate a version, roll back; the registry checks each
// module (its owner's rights and signature, the ABI), keeps every version
// in the store, and keeps the node's loaded adapters in step with the
// versions active in the store, on every node that shares it. It changes
// when the rules of publishing change.
package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/manifest"
	"github.com/pontexchange/pont/exchange/router"
	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/wasmhost"
)

// Config says where the registry keeps its versions and how it loads them.
type Config struct {
	// Store keeps the versions and activations (required).
	Store store.Adapters
	// Catalog names the owners, their keys and rights, and configures the
	// sources (required).
	Catalog *catalog.Catalog
	// Host compiles and runs the modules (required).
	Host *wasmhost.Host
	// Install receives every adapter the node is to serve from, each time
	// the set changes; the node routes queries to them from its return
	// (router.Router.Set, behind the node's guards). An error keeps the
	// set in place (required).
	Install func([]router.Adapter) error
	// MaxModuleBytes refuses larger modules. Defaults to
	// DefaultMaxModuleBytes.
	MaxModuleBytes int
	// Development accepts versions published unsigned (PublishUnsigned),
	// with a warning: a development node's. A production node refuses to
	// load them.
	Development bool
	// Grace is how long a replaced adapter keeps running for calls that
	// were routed to it just before the swap, before it is closed (and
	// waits for those under way). Defaults to 5 s.
	Grace  time.Duration
	Logger *slog.Logger
}

// Who is the principal asking the registry for a change: a publisher's
// owner (the data owner it acts for) and its token's subject, or the node
// itself acting on its operator's configuration (Operator: the modules a
// node publishes and activates at start).
type Who struct {
	Owner    string
	Subject  string
	Operator bool
}

// Registry publishes and activates adapters and keeps the node's loaded
// adapters in step with the store.
type Registry struct {
	cfg Config
	log *slog.Logger

	mu        sync.Mutex // one change at a time on this node
	loaded    map[string]*loaded
	installed map[string]bool // the loaded adapters the router has: not those another took the scope of
	retired   sync.WaitGroup
}

// loaded is an adapter the node serves from.
type loaded struct {
	version store.AdapterVersion // without its module
	adapter *wasmhost.Adapter
	seq     int64 // its latest activation's: the later wins a scope
	at      time.Time
}

// New loads the versions active in the store and installs them. A version
// that no longer passes its checks (its owner's key was removed, its
// rights withdrawn) or does not load is left out, with an error in the
// log: the node serves the others.
func New(ctx context.Context, cfg Config) (*Registry, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("registry: a store is required")
	case cfg.Catalog == nil:
		return nil, errors.New("registry: a catalog is required")
	case cfg.Host == nil:
		return nil, errors.New("registry: a Wasm host is required")
	case cfg.Install == nil:
		return nil, errors.New("registry: Install is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 5 * time.Second
	}
	r := &Registry{cfg: cfg, log: cfg.Logger, loaded: map[string]*loaded{}}
	if err := r.Reload(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Run reloads the active versions whenever the store says they changed,
// on this node or another, until ctx ends.
func (r *Registry) Run(ctx context.Context) {
	changes := r.cfg.Store.WatchAdapters(ctx)
	for range changes {
		if err := r.Reload(ctx); err != nil && ctx.Err() == nil {
			r.log.Error("registry: reloading the active adapters", slog.Any("error", err))
		}
	}
}

// Reload brings the loaded adapters in step with the store's active
// versions: it loads those that changed, installs the new set, and retires
// the adapters it replaced.
func (r *Registry) Reload(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	active, err := r.cfg.Store.ActiveAdapters(ctx)
	if err != nil {
		return fmt.Errorf("registry: active adapters: %w", err)
	}
	next := map[string]*loaded{}
	var fresh []*loaded
	var todo []store.AdapterVersion
	for _, v := range active {
		if cur, ok := r.loaded[v.Name]; ok && cur.version.Version == v.Version && cur.version.ModuleSHA256 == v.ModuleSHA256 {
			next[v.Name] = cur
			continue
		}
		todo = append(todo, v)
	}
	// Loading starts instances, which is CPU-bound: two at a time keeps a
	// node's start short without starving a small machine.
	results := make([]*loaded, len(todo))
	errs := make([]error, len(todo))
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for i, v := range todo {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i], errs[i] = r.load(ctx, v)
		}()
	}
	wg.Wait()
	for i, v := range todo {
		if err := errs[i]; err != nil {
			// Serving the version this node had beats serving nothing
			// for its scope; a node that had none leaves it unserved.
			r.log.Error("registry: an active version is not loaded", slog.String("adapter", v.Name),
				slog.String("version", v.Version), slog.Any("error", err))
			if cur, ok := r.loaded[v.Name]; ok {
				next[v.Name] = cur
			}
			continue
		}
		next[v.Name], fresh = results[i], append(fresh, results[i])
	}
	if err := r.install(next); err != nil {
		for _, l := range fresh {
			_ = l.adapter.Close(ctx)
		}
		return err
	}
	r.retire(next)
	return nil
}

// load checks a stored version again, against the catalog as it is now,
// and loads it into the host.
func (r *Registry) load(ctx context.Context, v store.AdapterVersion) (*loaded, error) {
	var checked Checked
	var err error
	if v.Signature == "" {
		if !r.cfg.Development {
			return nil, fmt.Errorf("version %s of %s was published unsigned, by a development node: a production node loads only signed versions", v.Version, v.Name)
		}
		checked, err = CheckUnsigned(v.Module, r.cfg.Catalog, r.cfg.MaxModuleBytes)
	} else {
		checked, err = Check(v.Module, r.cfg.Catalog, r.cfg.MaxModuleBytes)
	}
	if err != nil {
		return nil, err
	}
	if checked.SHA256 != v.ModuleSHA256 {
		return nil, fmt.Errorf("the stored module's SHA-256 is %s, not the %s it was published with", checked.SHA256, v.ModuleSHA256)
	}
	config, err := SourceConfig(checked.Manifest, r.cfg.Catalog)
	if err != nil {
		return nil, err
	}
	acts, err := r.cfg.Store.Activations(ctx, v.Name)
	if err != nil {
		return nil, err
	}
	a, err := r.cfg.Host.Load(ctx, v.Module, config)
	if err != nil {
		return nil, err
	}
	v.Module = nil
	l := &loaded{version: v, adapter: a, at: time.Now().UTC()}
	if len(acts) > 0 {
		l.seq = acts[len(acts)-1].Seq
	}
	return l, nil
}

// install hands the set to the node's router. Two adapters that serve
// one service at one scope (a development node's module that took a
// scope over, or activations on two nodes at once) are resolved for the
// one activated last; the other is left out, with a warning.
func (r *Registry) install(set map[string]*loaded) error {
	names := sortedNames(set)
	sort.SliceStable(names, func(i, j int) bool { return set[names[i]].seq > set[names[j]].seq })
	taken := map[[2]string]string{}
	installed := map[string]bool{}
	adapters := make([]router.Adapter, 0, len(set))
	for _, name := range names {
		m := set[name].adapter.Manifest()
		by := ""
		for _, svc := range m.Services {
			if other, ok := taken[[2]string{svc, m.Scope}]; ok {
				by = other
			}
		}
		if by != "" {
			r.log.Warn("registry: an adapter is not served: one activated later serves its scope",
				slog.String("adapter", name), slog.String("scope", m.Scope), slog.String("served_by", by))
			continue
		}
		for _, svc := range m.Services {
			taken[[2]string{svc, m.Scope}] = name
		}
		installed[name] = true
		adapters = append(adapters, set[name].adapter)
	}
	if err := r.cfg.Install(adapters); err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	r.installed = installed
	return nil
}

// retire makes next the loaded set and closes, after the grace period,
// the adapters it no longer holds: a call routed to one just before the
// swap still runs on it.
func (r *Registry) retire(next map[string]*loaded) {
	var old []*wasmhost.Adapter
	for name, l := range r.loaded {
		if n, ok := next[name]; !ok || n != l {
			old = append(old, l.adapter)
		}
	}
	r.loaded = next
	if len(old) == 0 {
		return
	}
	r.retired.Add(1)
	go func() {
		defer r.retired.Done()
		time.Sleep(r.cfg.Grace)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, a := range old {
			if err := a.Close(ctx); err != nil {
				r.log.Warn("registry: closing a replaced adapter", slog.Any("error", err))
			}
		}
	}()
}

// Close closes every loaded adapter, once the retired ones are closed.
func (r *Registry) Close(ctx context.Context) error {
	r.retired.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, l := range r.loaded {
		errs = append(errs, l.adapter.Close(ctx))
	}
	r.loaded = map[string]*loaded{}
	return errors.Join(errs...)
}

// Publish checks a module signed by its owner and stores it as a new
// version; it does not activate it. who must act for the manifest's owner.
func (r *Registry) Publish(ctx context.Context, wasm []byte, who Who, at time.Time) (store.AdapterVersion, error) {
	checked, err := Check(wasm, r.cfg.Catalog, r.cfg.MaxModuleBytes)
	if err != nil {
		return store.AdapterVersion{}, err
	}
	if who.Owner != checked.Manifest.Owner {
		return store.AdapterVersion{}, fault.New(fault.Forbidden, "the publisher acts for owner %s; the module is owner %s's", who.Owner, checked.Manifest.Owner)
	}
	return r.publish(ctx, wasm, checked, who, at)
}

// PublishUnsigned stores a module as a new version without its owner's
// signature or rights being checked: a development node's way to try a
// module (pont dev --adapter). Only a Development registry does it.
func (r *Registry) PublishUnsigned(ctx context.Context, wasm []byte, who Who, at time.Time) (store.AdapterVersion, error) {
	if !r.cfg.Development {
		return store.AdapterVersion{}, fault.New(fault.Forbidden, "only a development node takes unsigned modules")
	}
	checked, err := CheckUnsigned(wasm, r.cfg.Catalog, r.cfg.MaxModuleBytes)
	if err != nil {
		return store.AdapterVersion{}, err
	}
	r.log.Warn("unsigned adapter module accepted (development mode only)", slog.String("adapter", checked.Manifest.Name),
		slog.String("version", checked.Manifest.Version), slog.String("module_sha256", checked.SHA256),
		slog.String("scope", checked.Manifest.Scope), slog.String("services", strings.Join(checked.Manifest.Services, ", ")))
	return r.publish(ctx, wasm, checked, who, at)
}

func (r *Registry) publish(ctx context.Context, wasm []byte, checked Checked, who Who, at time.Time) (store.AdapterVersion, error) {
	// The module must compile, have the ABI's exports and import nothing
	// else before it is kept; its instances start when it is activated.
	if _, err := SourceConfig(checked.Manifest, r.cfg.Catalog); err != nil {
		return store.AdapterVersion{}, refused("manifest.config", "%v", err)
	}
	if err := r.cfg.Host.Check(ctx, wasm); err != nil {
		return store.AdapterVersion{}, refused("module", "%s", strings.TrimPrefix(err.Error(), "wasmhost: "))
	}
	m := checked.Manifest
	// An adapter's name is its first owner's: another owner publishing
	// under it would replace that owner's adapter when it activated it.
	all, err := r.cfg.Store.ListAdapters(ctx)
	if err != nil {
		return store.AdapterVersion{}, storeFault(err)
	}
	for _, v := range all {
		if v.Name == m.Name && v.Owner != m.Owner {
			return store.AdapterVersion{}, fault.New(fault.Forbidden, "adapter %s is owner %s's; owner %s publishes under a name of its own", m.Name, v.Owner, m.Owner)
		}
	}
	v := store.AdapterVersion{
		Name: m.Name, Version: m.Version, Owner: m.Owner, Services: slices.Clone(m.Services), Scope: m.Scope,
		ModuleSHA256: checked.SHA256, KeyID: checked.Signature.KeyID, Signature: checked.Signature.JWS,
		Module: wasm, PublishedAt: at.UTC().Truncate(time.Microsecond), PublishedBy: who.Subject,
	}
	if err := r.cfg.Store.PublishAdapter(ctx, v); err != nil {
		if errors.Is(err, store.ErrExists) {
			return store.AdapterVersion{}, fault.New(fault.VersionExists, "%s %s is already published; versions never change: publish %s under a new version", m.Name, m.Version, m.Name)
		}
		return store.AdapterVersion{}, storeFault(err)
	}
	v.Module = nil
	return v, nil
}

// ActivateOptions tune an activation.
type ActivateOptions struct {
	// TakeOver lets the version take its scope over from another adapter
	// that serves it: a development node's way to try a module in place of
	// a reference adapter. A production registry refuses it.
	TakeOver bool
}

// Activate makes version the one its adapter serves from, on every node:
// the version is checked again and loaded (its pool warmed) here before
// the store records the activation, and this node swaps it in at once.
// Another adapter serving one of its services at its scope refuses it
// (ScopeTaken).
func (r *Registry) Activate(ctx context.Context, name, version string, who Who, at time.Time) (store.Activation, error) {
	return r.ActivateWith(ctx, name, version, who, at, ActivateOptions{})
}

// ActivateWith is Activate with options.
func (r *Registry) ActivateWith(ctx context.Context, name, version string, who Who, at time.Time, opts ActivateOptions) (store.Activation, error) {
	if opts.TakeOver && !r.cfg.Development {
		return store.Activation{}, fault.New(fault.Forbidden, "only a development node lets an adapter take a scope over")
	}
	if !validRef(name) || !validRef(version) {
		return store.Activation{}, fault.New(fault.NotFound, "%s %s is not published", fault.SafeText(name), fault.SafeText(version))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	v, err := r.cfg.Store.AdapterVersion(ctx, name, version)
	if errors.Is(err, store.ErrNotFound) {
		return store.Activation{}, fault.New(fault.NotFound, "%s %s is not published", name, version)
	}
	if err != nil {
		return store.Activation{}, storeFault(err)
	}
	if err := mayChange(v.Owner, who); err != nil {
		return store.Activation{}, err
	}
	if !opts.TakeOver {
		if err := r.scopeFree(v); err != nil {
			return store.Activation{}, err
		}
	}
	l, err := r.load(ctx, v)
	if err != nil {
		if _, ok := fault.As(err); ok {
			return store.Activation{}, err
		}
		return store.Activation{}, refused("module", "%v", err)
	}
	act, err := r.cfg.Store.ActivateAdapter(ctx, store.Activation{Name: name, Version: version, Kind: store.Activate,
		At: at.UTC().Truncate(time.Microsecond), Actor: who.Subject})
	if err != nil {
		_ = l.adapter.Close(ctx)
		return store.Activation{}, storeFault(err)
	}
	l.seq = act.Seq
	if err := r.swap(name, l); err != nil {
		// Recorded, not served here: the next reload tries again.
		r.log.Error("registry: an activated version is not installed", slog.String("adapter", name), slog.Any("error", err))
	}
	return act, nil
}

// ActivationRequest asks ActivateAll for one version.
type ActivationRequest struct {
	Name, Version string
	TakeOver      bool // as ActivateOptions.TakeOver
}

// ActivateAll activates several versions at once, as a node does at start
// with the modules it was given: each version is checked against the
// catalog and recorded, then the node loads them together (two at a time)
// and swaps them in. A version that is checked and recorded but then fails
// to load is left out with an error in the log, as Reload does. It answers
// an error for each request (nil for those recorded): a version whose
// scope another adapter serves is ScopeTaken and not recorded.
func (r *Registry) ActivateAll(ctx context.Context, reqs []ActivationRequest, who Who, at time.Time) []error {
	errs := make([]error, len(reqs))
	r.mu.Lock()
	taken := map[[2]string]store.AdapterVersion{}
	for name := range r.installed {
		l := r.loaded[name]
		for _, svc := range l.version.Services {
			taken[[2]string{svc, l.version.Scope}] = l.version
		}
	}
	for i, req := range reqs {
		errs[i] = r.recordActivation(ctx, req, who, at, taken)
	}
	r.mu.Unlock()
	if err := r.Reload(ctx); err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
	return errs
}

// recordActivation checks one request of ActivateAll and records it.
func (r *Registry) recordActivation(ctx context.Context, req ActivationRequest, who Who, at time.Time, taken map[[2]string]store.AdapterVersion) error {
	if req.TakeOver && !r.cfg.Development {
		return fault.New(fault.Forbidden, "only a development node lets an adapter take a scope over")
	}
	v, err := r.cfg.Store.AdapterVersion(ctx, req.Name, req.Version)
	if errors.Is(err, store.ErrNotFound) {
		return fault.New(fault.NotFound, "%s %s is not published", req.Name, req.Version)
	}
	if err != nil {
		return storeFault(err)
	}
	if err := mayChange(v.Owner, who); err != nil {
		return err
	}
	if v.Signature == "" {
		if !r.cfg.Development {
			return refused("signature", "%s %s was published unsigned: a production node loads only signed versions", v.Name, v.Version)
		}
		_, err = CheckUnsigned(v.Module, r.cfg.Catalog, r.cfg.MaxModuleBytes)
	} else {
		_, err = Check(v.Module, r.cfg.Catalog, r.cfg.MaxModuleBytes)
	}
	if err != nil {
		return err
	}
	// At start a module takes only a scope nobody serves (unless it is a
	// development module taking one over): of two modules of one owner for
	// one scope (an adapter and its twin in another language), the first
	// by name serves, as on every start.
	for _, svc := range v.Services {
		if other, ok := taken[[2]string{svc, v.Scope}]; ok && other.Name != v.Name && !req.TakeOver {
			return fault.New(fault.ScopeTaken, "adapter %s serves %s at scope %q", other.Name, svc, v.Scope)
		}
	}
	if _, err := r.cfg.Store.ActivateAdapter(ctx, store.Activation{Name: v.Name, Version: v.Version, Kind: store.Activate,
		At: at.UTC().Truncate(time.Microsecond), Actor: who.Subject}); err != nil {
		return storeFault(err)
	}
	for _, svc := range v.Services {
		taken[[2]string{svc, v.Scope}] = v
	}
	return nil
}

// Rollback makes the adapter serve again from the version it served from
// before its current activation, on every node.
func (r *Registry) Rollback(ctx context.Context, name string, who Who, at time.Time) (store.Activation, error) {
	if !validRef(name) {
		return store.Activation{}, fault.New(fault.NotFound, "no adapter %s is published", fault.SafeText(name))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	cur, ok := r.loaded[name]
	owner := ""
	if ok {
		owner = cur.version.Owner
	} else {
		versions, err := r.versions(ctx, name)
		if err != nil {
			return store.Activation{}, err
		}
		owner = versions[0].Owner
	}
	if err := mayChange(owner, who); err != nil {
		return store.Activation{}, err
	}
	// The version to go back to is loaded first, as an activation's is:
	// one that no longer passes its checks (its owner's key was removed
	// since) is refused, and the current one keeps serving.
	acts, err := r.cfg.Store.Activations(ctx, name)
	if err != nil {
		return store.Activation{}, storeFault(err)
	}
	if len(acts) == 0 {
		return store.Activation{}, fault.New(fault.NotFound, "%s was never activated", name)
	}
	prev := PreviousOf(acts)
	if prev == "" {
		return store.Activation{}, fault.New(fault.NoEarlierVersion, "%s has no version active before the current one", name)
	}
	v, err := r.cfg.Store.AdapterVersion(ctx, name, prev)
	if err != nil {
		return store.Activation{}, storeFault(err)
	}
	l, err := r.load(ctx, v)
	if err != nil {
		if _, ok := fault.As(err); ok {
			return store.Activation{}, err
		}
		return store.Activation{}, refused("module", "%s %s, the version before the current one: %v", name, prev, err)
	}
	act, err := r.cfg.Store.RollbackAdapter(ctx, name, who.Subject, at.UTC().Truncate(time.Microsecond))
	switch {
	case errors.Is(err, store.ErrNotFound):
		err = fault.New(fault.NotFound, "%s was never activated", name)
	case errors.Is(err, store.ErrNoEarlier):
		err = fault.New(fault.NoEarlierVersion, "%s has no version active before the current one", name)
	case err != nil:
		err = storeFault(err)
	case act.Version != prev:
		// Another node changed the history meanwhile: the store's answer
		// stands, and the next reload loads it.
		_ = l.adapter.Close(ctx)
		return act, nil
	}
	if err != nil {
		_ = l.adapter.Close(ctx)
		return store.Activation{}, err
	}
	l.seq = act.Seq
	if err := r.swap(name, l); err != nil {
		r.log.Error("registry: the version rolled back to is not installed", slog.String("adapter", name), slog.Any("error", err))
	}
	return act, nil
}

// PreviousOf answers the version a rollback goes back to after acts
// (oldest first), as store.Adapters.RollbackAdapter replays them: an
// activation pushes its version, a rollback pops one; "" when nothing is
// under the current version.
func PreviousOf(acts []store.Activation) string {
	var stack []string
	for _, a := range acts {
		if a.Kind == store.Rollback {
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		stack = append(stack, a.Version)
	}
	if len(stack) < 2 {
		return ""
	}
	return stack[len(stack)-2]
}

// swap installs the loaded set with l in its adapter's place.
func (r *Registry) swap(name string, l *loaded) error {
	next := make(map[string]*loaded, len(r.loaded)+1)
	for n, cur := range r.loaded {
		next[n] = cur
	}
	next[name] = l
	if err := r.install(next); err != nil {
		_ = l.adapter.Close(context.Background())
		return err
	}
	r.retire(next)
	return nil
}

// scopeFree refuses a version whose services and scope another adapter
// serves.
func (r *Registry) scopeFree(v store.AdapterVersion) error {
	for _, name := range sortedNames(r.loaded) {
		if name == v.Name || !r.installed[name] {
			continue
		}
		if err := scopeOf(r.loaded[name].version, r.loaded[name].adapter.Manifest(), v); err != nil {
			return err
		}
	}
	return nil
}

// scopeOf refuses v when the adapter other (its manifest m) serves one of
// v's services at v's scope and belongs to another owner: an owner may
// replace its own adapter by another of its adapters (the later
// activation serves), not another owner's.
func scopeOf(other store.AdapterVersion, m manifest.Manifest, v store.AdapterVersion) error {
	if m.Scope != v.Scope || other.Owner == v.Owner {
		return nil
	}
	for _, svc := range v.Services {
		if slices.Contains(m.Services, svc) {
			return fault.New(fault.ScopeTaken, "adapter %s of owner %s serves %s at scope %q; %s cannot serve it while it does", other.Name, other.Owner, svc, v.Scope, v.Name)
		}
	}
	return nil
}

// mayChange refuses a publisher that does not act for owner.
func mayChange(owner string, who Who) error {
	if !who.Operator && who.Owner != owner {
		return fault.New(fault.Forbidden, "the adapter is owner %s's; the publisher acts for %s", owner, who.Owner)
	}
	return nil
}

// AdapterInfo is what the registry knows of one adapter.
type AdapterInfo struct {
	Name     string
	Owner    string
	Versions []store.AdapterVersion // oldest first, without modules
	// Active is the version the store says it serves from ("" when none),
	// Loaded the one this node serves from ("" when none).
	Active      string
	Loaded      string
	Activations []store.Activation
}

// List answers every adapter published, by name; owner, when not empty,
// keeps those of one owner.
func (r *Registry) List(ctx context.Context, owner string) ([]AdapterInfo, error) {
	all, err := r.cfg.Store.ListAdapters(ctx)
	if err != nil {
		return nil, storeFault(err)
	}
	byName := map[string]*AdapterInfo{}
	var names []string
	for _, v := range all {
		if owner != "" && v.Owner != owner {
			continue
		}
		info := byName[v.Name]
		if info == nil {
			info = &AdapterInfo{Name: v.Name, Owner: v.Owner, Loaded: r.loadedVersion(v.Name)}
			byName[v.Name] = info
			names = append(names, v.Name)
		}
		info.Versions = append(info.Versions, v)
	}
	sort.Strings(names)
	out := make([]AdapterInfo, 0, len(names))
	for _, n := range names {
		acts, err := r.cfg.Store.Activations(ctx, n)
		if err != nil {
			return nil, storeFault(err)
		}
		byName[n].Active = activeOf(acts)
		out = append(out, *byName[n])
	}
	return out, nil
}

// Get answers one adapter with its activations.
func (r *Registry) Get(ctx context.Context, name string) (AdapterInfo, error) {
	versions, err := r.versions(ctx, name)
	if err != nil {
		return AdapterInfo{}, err
	}
	acts, err := r.cfg.Store.Activations(ctx, name)
	if err != nil {
		return AdapterInfo{}, storeFault(err)
	}
	return AdapterInfo{Name: name, Owner: versions[0].Owner, Versions: versions, Active: activeOf(acts),
		Loaded: r.loadedVersion(name), Activations: acts}, nil
}

// Module answers a published version's module.
func (r *Registry) Module(ctx context.Context, name, version string) ([]byte, error) {
	if !validRef(name) || !validRef(version) {
		return nil, fault.New(fault.NotFound, "%s %s is not published", fault.SafeText(name), fault.SafeText(version))
	}
	v, err := r.cfg.Store.AdapterVersion(ctx, name, version)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fault.New(fault.NotFound, "%s %s is not published", name, version)
	}
	if err != nil {
		return nil, storeFault(err)
	}
	return v.Module, nil
}

// Served answers the version each adapter serves from on this node.
func (r *Registry) Served() map[string]store.AdapterVersion {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]store.AdapterVersion, len(r.loaded))
	for n, l := range r.loaded {
		if r.installed[n] {
			out[n] = l.version
		}
	}
	return out
}

// Pool is the live pool of a version this node serves from, and its calls.
type Pool struct {
	// Stats are the pool's figures now and its counters since LoadedAt
	// (Stats.Version is the version).
	Stats    wasmhost.Stats
	LoadedAt time.Time // when this node loaded the version, UTC
}

// Pool answers the pool of the version this node serves adapter name
// from, as Loaded names it; false when this node serves none. Its figures
// are this node's only, since it loaded that version.
func (r *Registry) Pool(name string) (Pool, bool) {
	r.mu.Lock()
	l, ok := r.loaded[name]
	ok = ok && r.installed[name]
	r.mu.Unlock()
	if !ok {
		return Pool{}, false
	}
	return Pool{Stats: l.adapter.Stats(), LoadedAt: l.at}, true
}

// Adapters answers the loaded adapters, for metrics.
func (r *Registry) Adapters() []*wasmhost.Adapter {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*wasmhost.Adapter, 0, len(r.loaded))
	for _, n := range sortedNames(r.loaded) {
		out = append(out, r.loaded[n].adapter)
	}
	return out
}

// validRef reports whether s can be an adapter's name or version as a
// manifest gives them: what is not (control characters, bytes that are
// not UTF-8, a name longer than any) names nothing published, and never
// reaches the store, which would refuse it as an error of its own.
func validRef(s string) bool {
	if s == "" || len(s) > 256 || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

func (r *Registry) versions(ctx context.Context, name string) ([]store.AdapterVersion, error) {
	if !validRef(name) {
		return nil, fault.New(fault.NotFound, "no adapter %s is published", fault.SafeText(name))
	}
	all, err := r.cfg.Store.ListAdapters(ctx)
	if err != nil {
		return nil, storeFault(err)
	}
	var out []store.AdapterVersion
	for _, v := range all {
		if v.Name == name {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return nil, fault.New(fault.NotFound, "no adapter %s is published", name)
	}
	return out, nil
}

// activeOf answers the version an adapter serves from after acts (oldest
// first): the version of its latest activation or rollback, since a
// rollback records the version it goes back to. It reads the history the
// store answered instead of every active module.
func activeOf(acts []store.Activation) string {
	if len(acts) == 0 {
		return ""
	}
	return acts[len(acts)-1].Version
}

func (r *Registry) loadedVersion(name string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if l, ok := r.loaded[name]; ok && r.installed[name] {
		return l.version.Version
	}
	return ""
}

func storeFault(err error) error {
	return fault.Wrap(fault.StoreUnavailable, err, "the adapter registry is unavailable")
}

func sortedNames(m map[string]*loaded) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
