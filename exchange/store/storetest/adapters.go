package storetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pontexchange/pont/exchange/store"
)

// signalWait bounds how long the suite waits for a watch to receive. The
// contract is "soon" (a node must learn of a change within a second); the
// margin is for a loaded machine, not for a slow store.
const signalWait = 5 * time.Second

// quiet is how long the suite listens to be sure that a watch received
// nothing.
const quiet = 300 * time.Millisecond

// wasmModule answers a valid WebAssembly module of one custom section whose
// payload is tag, so that each tag gives other bytes and another SHA-256.
func wasmModule(tag string) []byte {
	const name = "pont.test"
	payload := append([]byte{byte(len(name))}, name...)
	payload = append(payload, tag...)
	m := []byte("\x00asm\x01\x00\x00\x00")
	m = append(m, 0) // custom section
	for n := len(payload); ; n >>= 7 {
		if n < 0x80 {
			m = append(m, byte(n))
			break
		}
		m = append(m, byte(n&0x7f|0x80))
	}
	return append(m, payload...)
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// adapterVersion answers version of the adapter name with every field set,
// its module tagged with both and tag.
func adapterVersion(name, version, tag string, at time.Time) store.AdapterVersion {
	module := wasmModule(name + "@" + version + "/" + tag)
	return store.AdapterVersion{
		Name: name, Version: version, Owner: "L01080193", Services: []string{"padro", "padro-historic"},
		Scope: "08019", ModuleSHA256: sha256Hex(module), KeyID: "ajuntament-bcn-2026",
		Signature:   "eyJhbGciOiJFZERTQSIsImtpZCI6ImFqdW50YW1lbnQtYmNuLTIwMjYifQ.." + strings.Repeat("c2ln", 20),
		Module:      module,
		PublishedAt: at,
		PublishedBy: "publisher@ajuntament.example",
	}
}

func mustPublish(t *testing.T, s store.Store, vs ...store.AdapterVersion) {
	t.Helper()
	for _, v := range vs {
		if err := s.PublishAdapter(context.Background(), v); err != nil {
			t.Fatalf("PublishAdapter(%s@%s): %v", v.Name, v.Version, err)
		}
	}
}

// checkAdapter compares a version the store answered with the one
// published: the time in UTC at microsecond precision, no services as
// nil, the module only when module is true.
func checkAdapter(t *testing.T, what string, got, exp store.AdapterVersion, module bool) {
	t.Helper()
	checkTime(t, what+": PublishedAt", got.PublishedAt, exp.PublishedAt)
	got.PublishedAt, exp.PublishedAt = time.Time{}, time.Time{}
	if !module {
		exp.Module = nil
	}
	if len(exp.Services) == 0 {
		exp.Services = nil
	}
	if !reflect.DeepEqual(got, exp) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, brief(got), brief(exp))
	}
}

// brief is v without its module's bytes, for messages.
func brief(v store.AdapterVersion) string {
	m := v.Module
	v.Module = nil
	return fmt.Sprintf("%+v (module of %d bytes, SHA-256 %s)", v, len(m), sha256Hex(m))
}

// testPublishAdapter: a version comes back whole, module included; the
// same name and version cannot be published again, whatever the module;
// versions never published are not found; what the store cannot keep as
// given is refused, naming what is wrong, and nothing is stored.
func testPublishAdapter(t *testing.T, s store.Store) {
	ctx := context.Background()
	v := adapterVersion("padro-08019", "1.0.0", "", base)
	v.Signature = strings.Repeat("s", 3*store.MaxText) // kept whole, not cut as a transfer's text
	mustPublish(t, s, v)
	got, err := s.AdapterVersion(ctx, v.Name, v.Version)
	if err != nil {
		t.Fatalf("AdapterVersion: %v", err)
	}
	checkAdapter(t, "published", got, v, true)

	other := adapterVersion("padro-08019", "1.0.0", "another module", base.Add(time.Hour))
	if err := s.PublishAdapter(ctx, other); !errors.Is(err, store.ErrExists) {
		t.Errorf("PublishAdapter of a published name and version with another module: %v, want ErrExists", err)
	}
	if err := s.PublishAdapter(ctx, v); !errors.Is(err, store.ErrExists) {
		t.Errorf("PublishAdapter of the same version again: %v, want ErrExists", err)
	}
	if got, err := s.AdapterVersion(ctx, v.Name, v.Version); err != nil {
		t.Fatal(err)
	} else {
		checkAdapter(t, "after publishing it again", got, v, true)
	}

	for _, nv := range [][2]string{{"padro-08019", "1.0.1"}, {"padro-08020", "1.0.0"}, {"", ""}, {"padro\x00", "1.0.0"}, {"padro-08019", "1.0.0\xff"}} {
		if _, err := s.AdapterVersion(ctx, nv[0], nv[1]); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("AdapterVersion(%q, %q): %v, want ErrNotFound", nv[0], nv[1], err)
		}
	}

	for _, c := range []struct {
		name   string
		change func(*store.AdapterVersion)
		names  string
	}{
		{"no name", func(v *store.AdapterVersion) { v.Name = "" }, "Name"},
		{"a name with @", func(v *store.AdapterVersion) { v.Name = "padro@08019" }, "padro@08019"},
		{"no version", func(v *store.AdapterVersion) { v.Version = "" }, "Version"},
		{"no module", func(v *store.AdapterVersion) { v.Module, v.ModuleSHA256 = nil, sha256Hex(nil) }, "Module"},
		{"another module's SHA-256", func(v *store.AdapterVersion) { v.ModuleSHA256 = sha256Hex([]byte("x")) }, "ModuleSHA256"},
		{"no time", func(v *store.AdapterVersion) { v.PublishedAt = time.Time{} }, "PublishedAt"},
		{"a NUL in the version", func(v *store.AdapterVersion) { v.Version = "2\x00" }, "Version"},
		{"bytes that are not UTF-8 in the signature", func(v *store.AdapterVersion) { v.Signature = "a\xffb" }, "Signature"},
	} {
		bad := adapterVersion("padro-08019", "2.0.0", "", base)
		c.change(&bad)
		err := s.PublishAdapter(ctx, bad)
		if err == nil || errors.Is(err, store.ErrExists) || !strings.Contains(err.Error(), c.names) {
			t.Errorf("PublishAdapter with %s: %v; want an error naming %s", c.name, err, c.names)
		}
	}
	list, err := s.ListAdapters(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("ListAdapters after refused publications: %d versions, %v; want the 1 published", len(list), err)
	}

	// Two publications of one version at once, with other modules: one
	// is stored, the other refused.
	racing := []store.AdapterVersion{adapterVersion("padro-08019", "3.0.0", "first", base), adapterVersion("padro-08019", "3.0.0", "second", base)}
	errs := make([]error, len(racing))
	var wg sync.WaitGroup
	for i, v := range racing {
		wg.Go(func() { errs[i] = s.PublishAdapter(ctx, v) })
	}
	wg.Wait()
	won := slices.IndexFunc(errs, func(err error) bool { return err == nil })
	if won < 0 || !errors.Is(errs[1-won], store.ErrExists) {
		t.Fatalf("racing publications of one version: %v; want one stored and ErrExists", errs)
	}
	if got, err := s.AdapterVersion(ctx, "padro-08019", "3.0.0"); err != nil {
		t.Fatal(err)
	} else {
		checkAdapter(t, "the racing publication stored", got, racing[won], true)
	}
}

// testListAdapters: every version of every adapter, without modules, by
// name and then by publication: neither by version text nor by the order
// of the calls across adapters.
func testListAdapters(t *testing.T, s store.Store) {
	ctx := context.Background()
	if list, err := s.ListAdapters(ctx); err != nil || len(list) != 0 {
		t.Fatalf("ListAdapters of an empty store: %d, %v", len(list), err)
	}
	zeta := adapterVersion("zeta", "1.0.0", "", base)
	a9 := adapterVersion("alpha", "9.0.0", "", base.Add(time.Hour))
	a10 := adapterVersion("alpha", "10.0.0", "", base.Add(2*time.Hour))
	// Published at the same instant: in the order published.
	b2 := adapterVersion("beta", "2", "", base.Add(time.Minute))
	b1 := adapterVersion("beta", "1", "", base.Add(time.Minute))
	b1.Services, b1.Scope, b1.KeyID, b1.Owner = nil, "*", "", ""
	mustPublish(t, s, zeta, a9, b2, a10, b1)
	list, err := s.ListAdapters(ctx)
	if err != nil {
		t.Fatalf("ListAdapters: %v", err)
	}
	exp := []store.AdapterVersion{a9, a10, b2, b1, zeta}
	if len(list) != len(exp) {
		t.Fatalf("ListAdapters: %d versions, want %d", len(list), len(exp))
	}
	for i := range exp {
		checkAdapter(t, fmt.Sprintf("version %d", i), list[i], exp[i], false)
	}
	got, err := s.AdapterVersion(ctx, b1.Name, b1.Version)
	if err != nil {
		t.Fatal(err)
	}
	checkAdapter(t, "a version with nothing optional", got, b1, true)
}

// step is one change of an adapter in a scenario: an activation of
// version, or a rollback when version is empty; active is the version the
// adapter then serves from ("" when none), err the error expected.
type step struct {
	version string
	active  string
	err     error
}

// testActivations: an adapter's versions are a stack (an activation
// pushes, a rollback pops), each adapter's its own; ActivateAdapter and
// RollbackAdapter answer what they recorded, Activations the history and
// ActiveAdapters the versions served from.
func testActivations(t *testing.T, s store.Store) {
	ctx := context.Background()
	scenarios := []struct {
		name  string
		steps []step
	}{
		{"A, B, back to A, then nothing earlier", []step{
			{"A", "A", nil}, {"B", "B", nil}, {"", "A", nil}, {"", "A", store.ErrNoEarlier},
		}},
		{"A, B, C, back to B, C again, back to B", []step{
			{"A", "A", nil}, {"B", "B", nil}, {"C", "C", nil}, {"", "B", nil}, {"C", "C", nil},
			{"", "B", nil}, {"", "A", nil}, {"", "A", store.ErrNoEarlier},
		}},
		{"never activated", []step{
			{"", "", store.ErrNotFound}, {"unpublished", "", store.ErrNotFound}, {"A", "A", nil},
			{"unpublished", "A", store.ErrNotFound}, {"", "A", store.ErrNoEarlier},
		}},
		{"the same version twice", []step{
			{"A", "A", nil}, {"A", "A", nil}, {"", "A", nil}, {"", "A", store.ErrNoEarlier},
		}},
	}
	versions := map[string]store.AdapterVersion{} // "name@version"
	for i := range scenarios {
		name := fmt.Sprintf("adapter-%d", i)
		for j, v := range []string{"A", "B", "C"} {
			av := adapterVersion(name, v, "", base.Add(time.Duration(j)*time.Minute))
			versions[name+"@"+v] = av
			mustPublish(t, s, av)
		}
	}
	if _, err := s.ActivateAdapter(ctx, store.Activation{Name: "nobody", Version: "A", Kind: store.Activate, At: base}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ActivateAdapter of an adapter never published: %v, want ErrNotFound", err)
	}
	if _, err := s.ActivateAdapter(ctx, store.Activation{Name: "adapter-0", Version: "A", Kind: store.Rollback, At: base}); err == nil {
		t.Error("ActivateAdapter of Kind Rollback: nil error")
	}
	var lastSeq int64
	for i, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			name := fmt.Sprintf("adapter-%d", i)
			var history []store.Activation
			for j, st := range sc.steps {
				what := fmt.Sprintf("step %d", j)
				at := base.Add(time.Duration(i*100+j) * time.Second)
				actor := fmt.Sprintf("operator-%d", j)
				var a store.Activation
				var err error
				exp := store.Activation{Name: name, Version: st.active, At: at, Actor: actor}
				if st.version != "" {
					what += " (activate " + st.version + ")"
					exp.Kind = store.Activate
					a, err = s.ActivateAdapter(ctx, store.Activation{Seq: 999999, Name: name, Version: st.version, Kind: store.Activate, At: at, Actor: actor})
				} else {
					what += " (roll back)"
					exp.Kind = store.Rollback
					a, err = s.RollbackAdapter(ctx, name, actor, at)
				}
				if !errors.Is(err, st.err) || (err != nil) != (st.err != nil) {
					t.Fatalf("%s: err = %v, want %v", what, err, st.err)
				}
				if err == nil {
					if a.Seq <= lastSeq {
						t.Errorf("%s: Seq %d, not after the previous change's %d", what, a.Seq, lastSeq)
					}
					lastSeq = a.Seq
					checkActivation(t, what, a, exp)
					history = append(history, a)
				}
				got, err := s.Activations(ctx, name)
				if err != nil {
					t.Fatalf("%s: Activations: %v", what, err)
				}
				if len(got) != len(history) {
					t.Fatalf("%s: Activations answers %d, want %d", what, len(got), len(history))
				}
				for k := range history {
					checkActivation(t, fmt.Sprintf("%s: activation %d", what, k), got[k], history[k])
					if got[k].Seq != history[k].Seq {
						t.Errorf("%s: activation %d has Seq %d, answered %d", what, k, got[k].Seq, history[k].Seq)
					}
				}
				active := activeOf(t, s, name)
				switch {
				case st.active == "" && active != nil:
					t.Errorf("%s: serves from %s, want none", what, active.Version)
				case st.active != "" && active == nil:
					t.Errorf("%s: serves from none, want %s", what, st.active)
				case active != nil:
					checkAdapter(t, what+": active", *active, versions[name+"@"+st.active], true)
				}
			}
		})
	}
	if got, err := s.Activations(ctx, "nobody"); err != nil || len(got) != 0 {
		t.Errorf("Activations of an adapter never activated: %v, %v; want none", got, err)
	}
	if got, err := s.Activations(ctx, "no\x00body"); err != nil || len(got) != 0 {
		t.Errorf("Activations of a name the store cannot hold: %v, %v; want none", got, err)
	}
}

// checkActivation compares an activation the store answered with the one
// expected, all but Seq.
func checkActivation(t *testing.T, what string, got, exp store.Activation) {
	t.Helper()
	checkTime(t, what+": At", got.At, exp.At)
	got.At, exp.At, got.Seq, exp.Seq = time.Time{}, time.Time{}, 0, 0
	if got != exp {
		t.Errorf("%s: %+v, want %+v", what, got, exp)
	}
}

// activeOf answers the version ActiveAdapters gives for name, or nil.
func activeOf(t *testing.T, s store.Store, name string) *store.AdapterVersion {
	t.Helper()
	active, err := s.ActiveAdapters(context.Background())
	if err != nil {
		t.Fatalf("ActiveAdapters: %v", err)
	}
	var found *store.AdapterVersion
	for i, v := range active {
		if i > 0 && active[i-1].Name >= v.Name {
			t.Errorf("ActiveAdapters: %s after %s, want one version per adapter, by name", v.Name, active[i-1].Name)
		}
		if v.Name == name {
			found = &active[i]
		}
	}
	return found
}

// testActiveAdapters: one version per activated adapter, by name, with its
// module; an adapter published and never activated serves from none.
func testActiveAdapters(t *testing.T, s store.Store) {
	ctx := context.Background()
	if active, err := s.ActiveAdapters(ctx); err != nil || len(active) != 0 {
		t.Fatalf("ActiveAdapters of an empty store: %d, %v", len(active), err)
	}
	z1, z2 := adapterVersion("zeta", "1", "", base), adapterVersion("zeta", "2", "", base.Add(time.Hour))
	m1 := adapterVersion("mid", "1", "", base)
	a1 := adapterVersion("alpha", "1", "", base)
	idle := adapterVersion("idle", "1", "", base)
	mustPublish(t, s, z1, z2, m1, a1, idle)
	for _, v := range []store.AdapterVersion{z1, z2, a1, m1} {
		if _, err := s.ActivateAdapter(ctx, store.Activation{Name: v.Name, Version: v.Version, Kind: store.Activate, At: base, Actor: "op"}); err != nil {
			t.Fatalf("ActivateAdapter(%s@%s): %v", v.Name, v.Version, err)
		}
	}
	active, err := s.ActiveAdapters(ctx)
	if err != nil {
		t.Fatalf("ActiveAdapters: %v", err)
	}
	exp := []store.AdapterVersion{a1, m1, z2}
	if len(active) != len(exp) {
		t.Fatalf("ActiveAdapters: %d versions, want %d", len(active), len(exp))
	}
	for i := range exp {
		checkAdapter(t, fmt.Sprintf("active %d", i), active[i], exp[i], true)
	}
}

// received reports whether ch receives within d; closed reports whether
// it was closed instead.
func received(ch <-chan struct{}, d time.Duration) (got, closed bool) {
	select {
	case _, ok := <-ch:
		return ok, !ok
	case <-time.After(d):
		return false, false
	}
}

// expectSignal fails unless every channel receives within signalWait.
func expectSignal(t *testing.T, what string, chs ...<-chan struct{}) {
	t.Helper()
	for i, ch := range chs {
		if got, closed := received(ch, signalWait); !got {
			t.Fatalf("%s: watch %d received nothing in %v (closed: %v)", what, i, signalWait, closed)
		}
	}
}

// expectQuiet fails when a channel receives within quiet.
func expectQuiet(t *testing.T, what string, chs ...<-chan struct{}) {
	t.Helper()
	for i, ch := range chs {
		if got, closed := received(ch, quiet); got || closed {
			t.Fatalf("%s: watch %d received (closed: %v), want nothing", what, i, closed)
		}
	}
}

// testWatchAdapters: every watch receives after each publication,
// activation and rollback, and nothing for a change refused; it is closed
// when its context ends, and when the store closes.
func testWatchAdapters(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w1, w2 := s.WatchAdapters(ctx), s.WatchAdapters(ctx)
	expectQuiet(t, "before any change", w1, w2)
	v1, v2 := adapterVersion("padro", "1", "", base), adapterVersion("padro", "2", "", base)
	mustPublish(t, s, v1)
	expectSignal(t, "publication", w1, w2)
	expectQuiet(t, "after the publication's signal", w1, w2)
	if err := s.PublishAdapter(ctx, v1); !errors.Is(err, store.ErrExists) {
		t.Fatalf("PublishAdapter again: %v", err)
	}
	expectQuiet(t, "a refused publication", w1, w2)
	mustPublish(t, s, v2)
	expectSignal(t, "second publication", w1, w2)
	for _, v := range []string{"1", "2"} {
		if _, err := s.ActivateAdapter(ctx, store.Activation{Name: "padro", Version: v, Kind: store.Activate, At: base}); err != nil {
			t.Fatal(err)
		}
		expectSignal(t, "activation of "+v, w1, w2)
	}
	if _, err := s.ActivateAdapter(ctx, store.Activation{Name: "padro", Version: "3", Kind: store.Activate, At: base}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ActivateAdapter of an unpublished version: %v", err)
	}
	expectQuiet(t, "a refused activation", w1, w2)
	if _, err := s.RollbackAdapter(ctx, "padro", "op", base); err != nil {
		t.Fatal(err)
	}
	expectSignal(t, "rollback", w1, w2)
	if _, err := s.RollbackAdapter(ctx, "padro", "op", base); !errors.Is(err, store.ErrNoEarlier) {
		t.Fatalf("RollbackAdapter with nothing earlier: %v", err)
	}
	expectQuiet(t, "a refused rollback", w1, w2)

	// Many changes while nobody receives leave one value pending.
	for i := range 3 {
		mustPublish(t, s, adapterVersion("padro", fmt.Sprint(10+i), "", base))
	}
	time.Sleep(time.Second) // let every notification arrive
	expectSignal(t, "changes received late", w1)
	expectQuiet(t, "after the pending value", w1)

	// The end of a watch's context closes it; the others go on.
	ctx1, cancel1 := context.WithCancel(context.Background())
	w3 := s.WatchAdapters(ctx1)
	cancel1()
	for {
		got, closed := received(w3, signalWait)
		if closed {
			break
		}
		if !got {
			t.Fatal("a watch whose context ended is not closed")
		}
	}
	mustPublish(t, s, adapterVersion("padro", "20", "", base))
	expectSignal(t, "after another watch ended", w1, w2)

	// Closing the store closes its watches; a watch of a closed store is
	// closed at once.
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for i, w := range []<-chan struct{}{w1, w2, s.WatchAdapters(context.Background())} {
		for {
			got, closed := received(w, signalWait)
			if closed {
				break
			}
			if !got {
				t.Fatalf("watch %d is not closed when the store is", i)
			}
		}
	}
}

// testConcurrentRollbacks: rollbacks of one adapter from two goroutines
// each pop a version of their own; activations and rollbacks racing each
// other leave a history that is a stack and whose top is served.
func testConcurrentRollbacks(t *testing.T, s store.Store) {
	RunConcurrentRollbacks(t, s, s)
}

// RunConcurrentRollbacks races changes of one adapter through a and b,
// two Stores on one database (or the same Store twice): every rollback
// pops a version of its own, and the history stays a stack whose top is
// served. A backend runs it with two nodes.
func RunConcurrentRollbacks(t *testing.T, a, b store.Store) {
	ctx := context.Background()
	const name, n = "racing", 8
	for i := range n {
		v := adapterVersion(name, fmt.Sprint(i), "", base.Add(time.Duration(i)*time.Second))
		mustPublish(t, a, v)
		if _, err := a.ActivateAdapter(ctx, store.Activation{Name: name, Version: v.Version, Kind: store.Activate, At: base}); err != nil {
			t.Fatal(err)
		}
	}
	popped := make([][]string, 2)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for g, s := range []store.Store{a, b} {
		wg.Go(func() {
			for {
				r, err := s.RollbackAdapter(ctx, name, fmt.Sprintf("goroutine-%d", g), time.Now())
				if errors.Is(err, store.ErrNoEarlier) {
					return
				}
				if err != nil {
					errs <- err
					return
				}
				popped[g] = append(popped[g], r.Version)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("RollbackAdapter: %v", err)
	}
	all := slices.Concat(popped[0], popped[1])
	slices.Sort(all)
	if want := []string{"0", "1", "2", "3", "4", "5", "6"}; !slices.Equal(all, want) {
		t.Fatalf("the rollbacks went back to %v and %v: want each of %v once", popped[0], popped[1], want)
	}
	checkStack(t, a, name, "0")

	// Activations and rollbacks racing: each goroutine activates a version
	// and rolls it back, again and again.
	for g, s := range []store.Store{a, b} {
		wg.Go(func() {
			for range 10 {
				if _, err := s.ActivateAdapter(ctx, store.Activation{Name: name, Version: fmt.Sprint(n - 1 - g), Kind: store.Activate, At: time.Now()}); err != nil {
					t.Errorf("ActivateAdapter: %v", err)
					return
				}
				if _, err := s.RollbackAdapter(ctx, name, "op", time.Now()); err != nil {
					t.Errorf("RollbackAdapter: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	checkStack(t, b, name, "0")
}

// checkStack replays the adapter's history as a stack, failing on a
// rollback that did not go back to the version under the current one, and
// checks that the top is active, and is active.
func checkStack(t *testing.T, s store.Store, name, active string) {
	t.Helper()
	history, err := s.Activations(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	var stack []string
	for i, a := range history {
		if i > 0 && a.Seq <= history[i-1].Seq {
			t.Fatalf("activation %d has Seq %d, after %d", i, a.Seq, history[i-1].Seq)
		}
		switch a.Kind {
		case store.Activate:
			stack = append(stack, a.Version)
		case store.Rollback:
			if len(stack) < 2 || stack[len(stack)-2] != a.Version {
				t.Fatalf("activation %d (Seq %d) rolled back to %s over the stack %v", i, a.Seq, a.Version, stack)
			}
			stack = stack[:len(stack)-1]
		default:
			t.Fatalf("activation %d has Kind %q", i, a.Kind)
		}
	}
	if len(stack) == 0 || stack[len(stack)-1] != active {
		t.Fatalf("the history leaves %v, want %s on top", stack, active)
	}
	if v := activeOf(t, s, name); v == nil || v.Version != active {
		t.Fatalf("ActiveAdapters serves %s from %v, want %s", name, v, active)
	}
}

// testAdapterEvents: each publication, activation and rollback leaves
// exactly one event, written by the store with the members of its kind
// and a salt of its own; a refused change leaves none.
func testAdapterEvents(t *testing.T, s store.Store) {
	ctx := context.Background()
	v1 := adapterVersion("padro-08019", "1.0.0", "", base)
	v1.Signature = strings.Repeat("s", 2*store.MaxText)
	v2 := adapterVersion("padro-08019", "1.1.0", "", base.Add(time.Hour))
	v2.Services, v2.Scope = nil, "*"
	mustPublish(t, s, v1, v2)
	if err := s.PublishAdapter(ctx, v1); !errors.Is(err, store.ErrExists) {
		t.Fatalf("PublishAdapter again: %v", err)
	}
	act := func(v store.AdapterVersion, at time.Time, actor string) store.Activation {
		t.Helper()
		a, err := s.ActivateAdapter(ctx, store.Activation{Name: v.Name, Version: v.Version, Kind: store.Activate, At: at, Actor: actor})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a1 := act(v1, base.Add(2*time.Hour), "operator-1")
	a2 := act(v2, base.Add(3*time.Hour), "operator-2")
	if _, err := s.ActivateAdapter(ctx, store.Activation{Name: v1.Name, Version: "9", Kind: store.Activate, At: base}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ActivateAdapter of an unpublished version: %v", err)
	}
	r, err := s.RollbackAdapter(ctx, v1.Name, "operator-3", base.Add(4*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RollbackAdapter(ctx, v1.Name, "operator-3", base.Add(5*time.Hour)); !errors.Is(err, store.ErrNoEarlier) {
		t.Fatalf("RollbackAdapter with nothing earlier: %v", err)
	}

	x := Acquire(t, s)
	leaves := sealUntil(t, x, &Tree{}, 100, 5)
	events := eventsOf(t, leaves)
	published := func(v store.AdapterVersion) store.Event {
		ref := v.Name + "@" + v.Version
		return store.Event{ID: ref + ":" + store.EventAdapterPublished, Time: v.PublishedAt, Kind: store.EventAdapterPublished,
			Ref: ref, Owner: v.Owner, Adapter: v.Name, Version: v.Version, Services: v.Services, Scope: v.Scope,
			ModuleSHA256: v.ModuleSHA256, KeyID: v.KeyID, Signature: v.Signature, Actor: v.PublishedBy}
	}
	changed := func(a store.Activation, kind string, v store.AdapterVersion) store.Event {
		return store.Event{ID: fmt.Sprintf("%s:%d:%s", a.Name, a.Seq, kind), Time: a.At, Kind: kind,
			Ref: v.Name + "@" + v.Version, Owner: v.Owner, Adapter: v.Name, Version: v.Version,
			ModuleSHA256: v.ModuleSHA256, Actor: a.Actor}
	}
	exp := []store.Event{
		published(v1), published(v2),
		changed(a1, store.EventAdapterActivated, v1),
		changed(a2, store.EventAdapterActivated, v2),
		changed(r, store.EventAdapterRolledBack, v1),
	}
	for i := range exp {
		checkEvent(t, fmt.Sprintf("event %d", i), events[i], exp[i])
	}
	distinctSalts(t, leaves)
	if more, _, err := x.Unsealed(ctx, 100); err != nil || len(more) != 0 {
		t.Errorf("Unsealed after the changes' events: %v, %v; want nothing more (refused changes write none)", leafIDs(more), err)
	}
	if got := sealedLeaves(t, s, 0, 5); !reflect.DeepEqual(got, leaves) {
		t.Errorf("Leaves answers other events than Unsealed:\n got %+v\nwant %+v", got, leaves)
	}
}

// RunAdapterNodes tests the registry across two nodes: a and b are two
// Stores on one database. A change through either is signalled to the
// watches of both and read through the other, and rollbacks racing from
// both each pop a version of their own.
func RunAdapterNodes(t *testing.T, a, b store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wa, wb := a.WatchAdapters(ctx), b.WatchAdapters(ctx)
	v := adapterVersion("padro", "1", "", base)
	mustPublish(t, a, v)
	expectSignal(t, "a publication on one node", wa, wb)
	got, err := b.AdapterVersion(ctx, v.Name, v.Version)
	if err != nil {
		t.Fatalf("AdapterVersion on the other node: %v", err)
	}
	checkAdapter(t, "published on the other node", got, v, true)
	if _, err := b.ActivateAdapter(ctx, store.Activation{Name: v.Name, Version: v.Version, Kind: store.Activate, At: base}); err != nil {
		t.Fatal(err)
	}
	expectSignal(t, "an activation on the other node", wa, wb)
	if active := activeOf(t, a, v.Name); active == nil || active.Version != v.Version {
		t.Fatalf("the first node serves padro from %v, want %s", active, v.Version)
	}
	RunConcurrentRollbacks(t, a, b)
}
