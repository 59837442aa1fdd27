package registry_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/envelope"
	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/internal/wasmbin"
	"github.com/pontexchange/pont/exchange/manifest"
	"github.com/pontexchange/pont/exchange/registry"
	"github.com/pontexchange/pont/exchange/router"
	"github.com/pontexchange/pont/exchange/signing"
	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/store/postgres"
	"github.com/pontexchange/pont/exchange/store/postgres/pgtest"
	"github.com/pontexchange/pont/exchange/store/sqlite"
	"github.com/pontexchange/pont/exchange/wasmhost"
	padro "github.com/pontexchange/pont/plugins/padro/source"
	"github.com/pontexchange/pont/plugins/pluginstest"
	"github.com/pontexchange/pont/sdk-wasm/abi"
)

var modulesDir, cacheDir string

func TestMain(m *testing.M) { pluginstest.Main(m, &modulesDir, &cacheDir) }

// rig is a catalog whose owners have keys of the test's, and the keys.
type rig struct {
	cat  *catalog.Catalog
	keys map[string]jwk.Key
}

func newRig(t *testing.T) *rig {
	t.Helper()
	cat, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{keys: map[string]jwk.Key{}}
	owners := map[string]*catalog.Owner{}
	for id, o := range cat.Owners {
		key, err := signing.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := signing.PublicJWKS(key)
		cp := *o
		cp.Keys = pub
		owners[id] = &cp
		r.keys[id] = key
	}
	if r.cat, err = cat.WithOwners(owners); err != nil {
		t.Fatal(err)
	}
	return r
}

// tarragona answers the padró adapter's code with a manifest for
// Tarragona (43148), a municipality no catalog source lists, at version.
func tarragona(t *testing.T, version string) []byte {
	t.Helper()
	wasm, err := os.ReadFile(filepath.Join(modulesDir, "padro-08019.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Read(wasm)
	if err != nil {
		t.Fatal(err)
	}
	m.Name, m.Version, m.Owner, m.Scope = "padro-43148", version, "L01431482", "43148"
	m.ConfigDefaults = map[string]string{"source_url": "http://padro-43148.sources.pont.test"}
	m.AllowedHosts = []string{"http://padro-43148.sources.pont.test"}
	out, err := manifest.Embed(wasm, m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// barcelona answers the reference padró adapter of Barcelona, as built.
func barcelona(t *testing.T) []byte {
	t.Helper()
	wasm, err := os.ReadFile(filepath.Join(modulesDir, "padro-08019.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}

func (r *rig) sign(t *testing.T, owner string, wasm []byte) []byte {
	t.Helper()
	out, err := signing.Sign(wasm, r.keys[owner])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// node is one registry on a store, with the router it installs into.
type node struct {
	reg    *registry.Registry
	router *router.Router
	mu     sync.Mutex
	sets   int
}

func startNode(t *testing.T, st store.Adapters, cat *catalog.Catalog) *node {
	return startNodeWith(t, st, cat, nil)
}

// startNodeWith starts a node whose adapters reach their sources with
// client (nil: none reachable).
func startNodeWith(t *testing.T, st store.Adapters, cat *catalog.Catalog, client *http.Client) *node {
	t.Helper()
	ctx := context.Background()
	host, err := wasmhost.New(ctx, wasmhost.Config{CacheDir: cacheDir, Logger: quiet(), HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	n := &node{router: router.New()}
	n.reg, err = registry.New(ctx, registry.Config{
		Store: st, Catalog: cat, Host: host, Logger: quiet(), Grace: 10 * time.Millisecond,
		Install: func(as []router.Adapter) error {
			n.mu.Lock()
			n.sets++
			n.mu.Unlock()
			return n.router.Set(cat, as)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); n.reg.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		<-done
		_ = n.reg.Close(ctx)
		_ = host.Close(ctx)
	})
	return n
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func sqliteStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.New(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "pont.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// servedVersion answers the version serving padró at scope on n, "" for none.
func (n *node) servedVersion(t *testing.T, cat *catalog.Catalog, scope string) string {
	t.Helper()
	svc, _ := cat.Service("padro")
	p, _ := json.Marshal(map[string]string{"municipality": scope})
	params, err := envelopeParams(p)
	if err != nil {
		t.Fatal(err)
	}
	a, err := n.router.Route(svc, params)
	if err != nil {
		return ""
	}
	return a.Manifest().Version
}

func envelopeParams(raw []byte) (envelope.Params, error) { return envelope.ParseParams(raw) }

// faultDetail answers a fault's message and fields, as a problem shows them.
func faultDetail(err error) string {
	f, ok := fault.As(err)
	if !ok {
		if err == nil {
			return ""
		}
		return err.Error()
	}
	out := f.Message
	for _, fe := range f.Fields {
		out += "; " + fe.Field + ": " + fe.Message
	}
	return out
}

var tgn = registry.Who{Owner: "L01431482", Subject: "it-tarragona-1"}

func TestPublishRefuses(t *testing.T) {
	r := newRig(t)
	n := startNode(t, sqliteStore(t), r.cat)
	ctx := context.Background()
	good := r.sign(t, "L01431482", tarragona(t, "1.0.0"))

	tampered := func() []byte {
		// The signed module with one more host its calls may reach: what
		// someone who wanted the citizens' data sent elsewhere would change.
		m, _ := manifest.Read(good)
		m.AllowedHosts = append(m.AllowedHosts, "https://collector.example")
		out, err := manifest.Embed(good, m)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}()
	otherKey, _ := signing.GenerateKey()
	wrongKey, _ := signing.Sign(tarragona(t, "1.0.0"), otherKey)
	barcelonaScope := func() []byte {
		wasm := tarragona(t, "1.0.0")
		m, _ := manifest.Read(wasm)
		m.Scope = "08019"
		out, _ := manifest.Embed(wasm, m)
		return r.sign(t, "L01431482", out)
	}()
	noExports := func() []byte {
		wasm, err := manifest.Embed(append([]byte(nil), wasmbin.Header...), manifest.Manifest{ABI: 1, Name: "empty-43148",
			Version: "1.0.0", Owner: "L01431482", Services: []string{"padro"}, Scope: "43148"})
		if err != nil {
			t.Fatal(err)
		}
		return r.sign(t, "L01431482", wasm)
	}()

	tests := []struct {
		name string
		wasm []byte
		who  registry.Who
		code fault.Code
		want string
	}{
		{"unsigned", tarragona(t, "1.0.0"), tgn, fault.ModuleRefused, "not signed"},
		{"signed by another key", wrongKey, tgn, fault.ModuleRefused, "is not one of owner L01431482's current keys"},
		{"changed after signing", tampered, tgn, fault.ModuleRefused, "changed after it was signed"},
		{"another municipality's scope", barcelonaScope, tgn, fault.ModuleRefused, `may not serve padro at scope "08019"`},
		{"another owner's publisher", good, registry.Who{Owner: "P0801900B", Subject: "bcn"}, fault.Forbidden, "the module is owner L01431482's"},
		{"no exports", noExports, tgn, fault.ModuleRefused, "pont_alloc"},
		{"not a module", []byte("\x00asm\x01\x00\x00\x00\xff\xff"), tgn, fault.ModuleRefused, "manifest"},
		{"NUL bytes", []byte{0, 0, 0, 0}, tgn, fault.ModuleRefused, "manifest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := n.reg.Publish(ctx, tt.wasm, tt.who, time.Now())
			if fault.CodeOf(err) != tt.code || !strings.Contains(faultDetail(err), tt.want) {
				t.Fatalf("Publish = %v (%s), want %s mentioning %q", err, faultDetail(err), tt.code, tt.want)
			}
		})
	}
	if infos, err := n.reg.List(ctx, ""); err != nil || len(infos) != 0 {
		t.Fatalf("after refusals, List = %v, %v; want nothing stored", infos, err)
	}

	if _, err := n.reg.Publish(ctx, good, tgn, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := n.reg.Publish(ctx, good, tgn, time.Now()); fault.CodeOf(err) != fault.VersionExists {
		t.Fatalf("publishing a version twice = %v, want version_exists", err)
	}
	// Another owner's adapter name: Barcelona's, for Tarragona's scope.
	squatter := tarragona(t, "9.0.0")
	m, _ := manifest.Read(squatter)
	m.Name = "padro-08019"
	squatter, _ = manifest.Embed(squatter, m)
	if _, err := n.reg.Publish(ctx, r.sign(t, "P0801900B", barcelona(t)), registry.Who{Owner: "P0801900B", Subject: "bcn"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := n.reg.Publish(ctx, r.sign(t, "L01431482", squatter), tgn, time.Now()); fault.CodeOf(err) != fault.Forbidden || !strings.Contains(err.Error(), "adapter padro-08019 is owner P0801900B's") {
		t.Fatalf("publishing under another owner's adapter name = %v, want forbidden", err)
	}
	// The same version with other bytes (one more custom section).
	other := r.sign(t, "L01431482", wasmbin.AppendSection(tarragona(t, "1.0.0"), wasmbin.CustomID, append(wasmbin.AppendName(nil, "x-build"), "2"...)))
	if _, err := n.reg.Publish(ctx, other, tgn, time.Now()); fault.CodeOf(err) != fault.VersionExists {
		t.Fatalf("publishing other bytes under a published version = %v, want version_exists", err)
	}

	small, err := registry.Check(good, r.cat, 1024)
	if fault.CodeOf(err) != fault.ModuleRefused || !strings.Contains(faultDetail(err), "over the limit of 1024") {
		t.Fatalf("Check with a 1 KiB limit = %+v, %v; want the size refused", small, err)
	}
}

func TestActivateAndRollBack(t *testing.T) {
	r := newRig(t)
	n := startNode(t, sqliteStore(t), r.cat)
	ctx := context.Background()
	for _, v := range []string{"1.0.0", "1.1.0"} {
		if _, err := n.reg.Publish(ctx, r.sign(t, "L01431482", tarragona(t, v)), tgn, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if got := n.servedVersion(t, r.cat, "43148"); got != "" {
		t.Fatalf("a published version serves before it is activated: %s", got)
	}
	if _, err := n.reg.Activate(ctx, "padro-43148", "1.0.0", registry.Who{Owner: "P0801900B", Subject: "bcn"}, time.Now()); fault.CodeOf(err) != fault.Forbidden {
		t.Fatalf("another owner's activation = %v, want forbidden", err)
	}
	if _, err := n.reg.Activate(ctx, "padro-43148", "9.9.9", tgn, time.Now()); fault.CodeOf(err) != fault.NotFound {
		t.Fatalf("activating an unpublished version = %v, want not_found", err)
	}
	for _, step := range []struct {
		do   func() error
		want string
	}{
		{func() error { _, err := n.reg.Activate(ctx, "padro-43148", "1.0.0", tgn, time.Now()); return err }, "1.0.0"},
		{func() error { _, err := n.reg.Activate(ctx, "padro-43148", "1.1.0", tgn, time.Now()); return err }, "1.1.0"},
		{func() error { _, err := n.reg.Rollback(ctx, "padro-43148", tgn, time.Now()); return err }, "1.0.0"},
	} {
		if err := step.do(); err != nil {
			t.Fatal(err)
		}
		if got := n.servedVersion(t, r.cat, "43148"); got != step.want {
			t.Fatalf("serving %q, want %q", got, step.want)
		}
	}
	// Names and versions no manifest can have name nothing: not a store
	// failure.
	for _, bad := range []string{"\x00", "1.0\xff", strings.Repeat("9", 1000), "padro\n"} {
		if _, err := n.reg.Activate(ctx, "padro-43148", bad, tgn, time.Now()); fault.CodeOf(err) != fault.NotFound {
			t.Errorf("activating version %q = %v, want not_found", bad, err)
		}
		if _, err := n.reg.Rollback(ctx, bad, tgn, time.Now()); fault.CodeOf(err) != fault.NotFound {
			t.Errorf("rolling %q back = %v, want not_found", bad, err)
		}
		if _, err := n.reg.Get(ctx, bad); fault.CodeOf(err) != fault.NotFound {
			t.Errorf("Get(%q) = %v, want not_found", bad, err)
		}
	}
	if _, err := n.reg.Rollback(ctx, "padro-43148", tgn, time.Now()); fault.CodeOf(err) != fault.NoEarlierVersion {
		t.Fatalf("rolling back past the first activation = %v, want no_earlier_version", err)
	}
	info, err := n.reg.Get(ctx, "padro-43148")
	if err != nil {
		t.Fatal(err)
	}
	if info.Active != "1.0.0" || info.Loaded != "1.0.0" || len(info.Activations) != 3 || info.Activations[2].Kind != store.Rollback {
		t.Fatalf("Get = %+v", info)
	}

	// The owner replaces its adapter by another of its own (its twin in
	// another language, say): the later activation serves the scope.
	twin := tarragona(t, "1.0.0")
	m, _ := manifest.Read(twin)
	m.Name = "padro-tgn-c"
	twin, _ = manifest.Embed(twin, m)
	if _, err := n.reg.Publish(ctx, r.sign(t, "L01431482", twin), tgn, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := n.reg.Activate(ctx, "padro-tgn-c", "1.0.0", tgn, time.Now()); err != nil {
		t.Fatalf("the owner's second adapter for its scope: %v", err)
	}
	svc, _ := r.cat.Service("padro")
	params, _ := envelopeParams([]byte(`{"municipality":"43148"}`))
	if a, err := n.router.Route(svc, params); err != nil || a.Manifest().Name != "padro-tgn-c" {
		t.Fatalf("after the owner's own takeover, 43148 is served by %v (%v), want padro-tgn-c", a, err)
	}
}

// TestAnotherOwnersScopeIsTaken: two owners both allowed a scope (a
// province and a consortium, say) cannot both serve it: the second's
// activation is refused while the first's adapter serves.
func TestAnotherOwnersScopeIsTaken(t *testing.T) {
	r := newRig(t)
	owners := map[string]*catalog.Owner{}
	for id, o := range r.cat.Owners {
		cp := *o
		owners[id] = &cp
	}
	owners["P0801900B"].Serves = map[string][]string{"padro": {"08019", "43148"}}
	cat, err := r.cat.WithOwners(owners)
	if err != nil {
		t.Fatal(err)
	}
	n := startNode(t, sqliteStore(t), cat)
	ctx := context.Background()
	if _, err := n.reg.Publish(ctx, r.sign(t, "L01431482", tarragona(t, "1.0.0")), tgn, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := n.reg.Activate(ctx, "padro-43148", "1.0.0", tgn, time.Now()); err != nil {
		t.Fatal(err)
	}
	bcnWho := registry.Who{Owner: "P0801900B", Subject: "it-bcn"}
	rival := tarragona(t, "1.0.0")
	m, _ := manifest.Read(rival)
	m.Name, m.Owner = "padro-bcn-43148", "P0801900B"
	rival, _ = manifest.Embed(rival, m)
	if _, err := n.reg.Publish(ctx, r.sign(t, "P0801900B", rival), bcnWho, time.Now()); err != nil {
		t.Fatal(err)
	}
	_, err = n.reg.Activate(ctx, "padro-bcn-43148", "1.0.0", bcnWho, time.Now())
	if fault.CodeOf(err) != fault.ScopeTaken || !strings.Contains(err.Error(), "adapter padro-43148 of owner L01431482 serves padro") {
		t.Fatalf("another owner's adapter for a served scope = %v, want scope_taken naming the adapter", err)
	}
}

// TestCallsInFlightFinishOnTheOldVersion: an activation swaps the new
// version in while a call is under way on the old one; that call ends
// with the old version's answer, and the next call is the new version's.
func TestCallsInFlightFinishOnTheOldVersion(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(700 * time.Millisecond)
		padro.New("43148").ServeHTTP(w, r)
	}))
	defer slow.Close()
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, slow.Listener.Addr().String())
	}}}
	r := newRig(t)
	n := startNodeWith(t, sqliteStore(t), r.cat, client)
	ctx := context.Background()
	for _, v := range []string{"1.0.0", "2.0.0"} {
		if _, err := n.reg.Publish(ctx, r.sign(t, "L01431482", tarragona(t, v)), tgn, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := n.reg.Activate(ctx, "padro-43148", "1.0.0", tgn, time.Now()); err != nil {
		t.Fatal(err)
	}
	svc, _ := r.cat.Service("padro")
	params, _ := envelopeParams([]byte(`{"municipality":"43148"}`))
	call := func() (string, json.RawMessage, error) {
		a, err := n.router.Route(svc, params)
		if err != nil {
			return "", nil, err
		}
		data, err := a.Call(ctx, abi.Input{TransferID: "0199b2e4-7c1a-7d3e-9f4b-2a6c8e0d1f35", Service: "padro", Purpose: "demo",
			Requester: "P0801900B", Procedure: "DEMO", Subject: abi.Subject{IDType: "DNI", ID: "12345678Z"}, Params: json.RawMessage(`{"municipality":"43148"}`)})
		return a.Manifest().Version, data, err
	}
	type result struct {
		version string
		data    json.RawMessage
		err     error
	}
	inFlight := make(chan result, 1)
	go func() {
		v, data, err := call()
		inFlight <- result{v, data, err}
	}()
	time.Sleep(200 * time.Millisecond) // the call is waiting on its source
	if _, err := n.reg.Activate(ctx, "padro-43148", "2.0.0", tgn, time.Now()); err != nil {
		t.Fatal(err)
	}
	res := <-inFlight
	if res.err != nil || res.version != "1.0.0" || !strings.Contains(string(res.data), "Tarragona") {
		t.Fatalf("the call under way during the activation: %s %s %v, want 1.0.0's answer", res.version, res.data, res.err)
	}
	if v, data, err := call(); err != nil || v != "2.0.0" || !strings.Contains(string(data), "Tarragona") {
		t.Fatalf("the call after the activation: %s %s %v, want 2.0.0's answer", v, data, err)
	}
}

// TestAKeyRemovedStopsItsVersions: a node checks every version against its
// catalog when it loads it, so that an owner's withdrawn key stops what it
// signed at the next start.
func TestAKeyRemovedStopsItsVersions(t *testing.T) {
	r := newRig(t)
	st := sqliteStore(t)
	ctx := context.Background()
	first := startNode(t, st, r.cat)
	if _, err := first.reg.Publish(ctx, r.sign(t, "L01431482", tarragona(t, "1.0.0")), tgn, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := first.reg.Activate(ctx, "padro-43148", "1.0.0", tgn, time.Now()); err != nil {
		t.Fatal(err)
	}
	owners := map[string]*catalog.Owner{}
	for id, o := range r.cat.Owners {
		cp := *o
		owners[id] = &cp
	}
	rotated, _ := signing.GenerateKey()
	pub, _ := signing.PublicJWKS(rotated)
	owners["L01431482"].Keys = pub
	withoutKey, err := r.cat.WithOwners(owners)
	if err != nil {
		t.Fatal(err)
	}
	second := startNode(t, st, withoutKey)
	if got := second.servedVersion(t, withoutKey, "43148"); got != "" {
		t.Fatalf("a version signed by a removed key serves: %s", got)
	}
	if got := first.servedVersion(t, r.cat, "43148"); got != "1.0.0" {
		t.Fatalf("the first node stopped serving: %q", got)
	}
}

// TestRollbackToAWithdrawnKeyIsRefused: rolling back to a version whose
// key the owner withdrew since is refused, and the current version keeps
// serving, rather than a rollback recorded that no node can load.
func TestRollbackToAWithdrawnKeyIsRefused(t *testing.T) {
	r := newRig(t)
	st := sqliteStore(t)
	ctx := context.Background()
	old := r.keys["L01431482"]
	rotated, _ := signing.GenerateKey()
	// The owner's keys: the old one and the new one, then the new alone.
	keysOf := func(keys ...jwk.Key) *catalog.Catalog {
		set := jwk.NewSet()
		for _, k := range keys {
			pub, _ := k.PublicKey()
			_ = set.AddKey(pub)
		}
		raw, _ := json.Marshal(set)
		owners := map[string]*catalog.Owner{}
		for id, o := range r.cat.Owners {
			cp := *o
			owners[id] = &cp
		}
		owners["L01431482"].Keys = raw
		c, err := r.cat.WithOwners(owners)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	both := startNode(t, st, keysOf(old, rotated))
	v1, _ := signing.Sign(tarragona(t, "1.0.0"), old)
	v2, _ := signing.Sign(tarragona(t, "2.0.0"), rotated)
	for _, step := range []func() error{
		func() error { _, err := both.reg.Publish(ctx, v1, tgn, time.Now()); return err },
		func() error { _, err := both.reg.Publish(ctx, v2, tgn, time.Now()); return err },
		func() error { _, err := both.reg.Activate(ctx, "padro-43148", "1.0.0", tgn, time.Now()); return err },
		func() error { _, err := both.reg.Activate(ctx, "padro-43148", "2.0.0", tgn, time.Now()); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	newOnly := keysOf(rotated)
	n := startNode(t, st, newOnly)
	if got := n.servedVersion(t, newOnly, "43148"); got != "2.0.0" {
		t.Fatalf("serving %q, want 2.0.0", got)
	}
	_, err := n.reg.Rollback(ctx, "padro-43148", tgn, time.Now())
	if fault.CodeOf(err) != fault.ModuleRefused || !strings.Contains(faultDetail(err), "not one of owner L01431482's current keys") {
		t.Fatalf("rolling back to a version signed by a withdrawn key = %v (%s), want module_refused naming the key", err, faultDetail(err))
	}
	if got := n.servedVersion(t, newOnly, "43148"); got != "2.0.0" {
		t.Fatalf("after the refused rollback, serving %q, want 2.0.0", got)
	}
	if info, _ := n.reg.Get(ctx, "padro-43148"); info.Active != "2.0.0" || len(info.Activations) != 2 {
		t.Fatalf("the refused rollback was recorded: %+v", info)
	}
}

// TestEveryNodeAtOnce: two registries on one PostgreSQL database, as two
// nodes are; an activation and a rollback on one reach the other within a
// second.
func TestEveryNodeAtOnce(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	open := func() store.Store {
		st, err := postgres.New(ctx, postgres.Config{URL: url})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st
	}
	r := newRig(t)
	a, b := startNode(t, open(), r.cat), startNode(t, open(), r.cat)
	for _, v := range []string{"1.0.0", "2.0.0"} {
		if _, err := a.reg.Publish(ctx, r.sign(t, "L01431482", tarragona(t, v)), tgn, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	// PostgreSQL refuses a NUL byte in a text parameter: a name or version
	// that no manifest can have is answered not found before the store.
	for _, bad := range []string{"\x00", "1.0\xff"} {
		if _, err := a.reg.Activate(ctx, "padro-43148", bad, tgn, time.Now()); fault.CodeOf(err) != fault.NotFound {
			t.Errorf("activating version %q on PostgreSQL = %v, want not_found", bad, err)
		}
		if _, err := a.reg.Rollback(ctx, bad, tgn, time.Now()); fault.CodeOf(err) != fault.NotFound {
			t.Errorf("rolling %q back on PostgreSQL = %v, want not_found", bad, err)
		}
	}
	waitServed := func(n *node, want string) time.Duration {
		t.Helper()
		start := time.Now()
		for time.Since(start) < 5*time.Second {
			if n.servedVersion(t, r.cat, "43148") == want {
				return time.Since(start)
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("the other node serves %q after 5 s, want %q", n.servedVersion(t, r.cat, "43148"), want)
		return 0
	}
	for _, step := range []struct {
		on   *node
		do   func(*node) error
		want string
	}{
		{a, func(n *node) error {
			_, err := n.reg.Activate(ctx, "padro-43148", "1.0.0", tgn, time.Now())
			return err
		}, "1.0.0"},
		{b, func(n *node) error {
			_, err := n.reg.Activate(ctx, "padro-43148", "2.0.0", tgn, time.Now())
			return err
		}, "2.0.0"},
		{a, func(n *node) error { _, err := n.reg.Rollback(ctx, "padro-43148", tgn, time.Now()); return err }, "1.0.0"},
	} {
		if err := step.do(step.on); err != nil {
			t.Fatal(err)
		}
		other := a
		if step.on == a {
			other = b
		}
		if got := step.on.servedVersion(t, r.cat, "43148"); got != step.want {
			t.Fatalf("the acting node serves %q, want %q", got, step.want)
		}
		if d := waitServed(other, step.want); d > time.Second {
			t.Errorf("the other node took %s to serve %s, more than a second", d, step.want)
		}
	}
}
