package policy

import (
	"encoding/json"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
)

// A decision is a function of the data, which an Engine holds fixed, and of
// what the policies read of the input. What they read depends on the input
// itself: a presumed basis never looks at the subject's id, a consent does.
// So the memo does not key decisions on chosen fields; it records, through
// the input object OPA is given, every observation an evaluation makes of
// the input (what a key holds, how many keys an object has, or the whole of
// a value), in the order made, and keeps them as a path in a tree whose
// leaves are decisions.
//
// Evaluation is deterministic (nondeterministic builtins turn the memo
// off), so two inputs that answer the first k observations alike lead OPA
// to the same (k+1)-th observation; an input that answers every
// observation on a path like the recorded one would be decided exactly as
// the recorded one was. A lookup replays the observations against the new
// input and returns the leaf's decision, or nothing at the first answer the
// tree has not seen.

// memoMaxNodes bounds the tree. Inputs whose observations never repeat
// (a consent reads the time of the request) only add nodes; when the tree
// is full it is dropped and grows again from what is asked next.
const memoMaxNodes = 20000

// memo is the tree of one Engine. Safe for concurrent use.
type memo struct {
	mu       sync.RWMutex
	root     *memoNode
	nodes    int
	maxNodes int // memoMaxNodes; smaller in tests

	hits, misses atomic.Uint64
	// off is set by disable, once a shadow evaluation (shadow.go) has
	// shown the memo wrong: from then on nothing is looked up or stored.
	off atomic.Bool
}

func newMemo() *memo { return &memo{maxNodes: memoMaxNodes} }

// on reports whether the memo may be used; false for a nil memo (the
// policies call a nondeterministic builtin) and once it is disabled.
func (m *memo) on() bool { return m != nil && !m.off.Load() }

// disable turns the memo off for good and drops the tree. It reports
// whether it did so, false when the memo was already off.
func (m *memo) disable() bool {
	if m == nil || !m.off.CompareAndSwap(false, true) {
		return false
	}
	m.mu.Lock()
	m.root, m.nodes = nil, 0
	m.mu.Unlock()
	return true
}

// observation is what one read of the input asks: the op at a path.
type observation struct {
	op     observeOp
	path   string    // the keys from the input's root, each as length:key
	parent string    // path without its last key
	key    *ast.Term // the last key of path (for observeGet)
}

type observeOp uint8

const (
	observeGet   observeOp = iota // what the object at parent holds at key
	observeLen                    // how many keys the object at path has
	observeWhole                  // the whole value at path
)

// memoNode is a point in a sequence of observations: the observation made
// there, and where each of its answers leads; or, at a leaf, the decision.
type memoNode struct {
	obs      observation
	next     map[string]*memoNode
	decision *Decision
}

// lookup replays the tree against input and returns the decision of the
// leaf it reaches.
func (m *memo) lookup(input ast.Object) (Decision, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	objects := map[string]ast.Object{"": input}
	n := m.root
	for n != nil {
		if n.decision != nil {
			m.hits.Add(1)
			return n.decision.clone(), true
		}
		n = n.next[answer(n.obs, objects)]
	}
	m.misses.Add(1)
	return Decision{}, false
}

// answer makes obs of the input whose objects by path are in objects,
// adding the objects it reaches, and returns the answer as the tree keys
// it. An observation whose parent is not an object answers "" (a parent
// is always observed as an object first, so this only happens on a path
// the recording did not take).
func answer(obs observation, objects map[string]ast.Object) string {
	switch obs.op {
	case observeGet:
		parent, ok := objects[obs.parent]
		if !ok {
			return ""
		}
		t := parent.Get(obs.key)
		if t != nil {
			if o, ok := t.Value.(ast.Object); ok {
				objects[obs.path] = o
			}
		}
		return getAnswer(t)
	case observeLen:
		o, ok := objects[obs.path]
		if !ok {
			return ""
		}
		return lenAnswer(o.Len())
	default:
		o, ok := objects[obs.path]
		if !ok {
			return ""
		}
		return valueKey(o)
	}
}

// getAnswer is the answer of observeGet, when recorded and when replayed:
// "-" for no such key, "o" for an object (whose members are observed one
// by one), else the value's key.
func getAnswer(t *ast.Term) string {
	switch {
	case t == nil:
		return "-"
	case isObject(t.Value):
		return "o"
	}
	return valueKey(t.Value)
}

// lenAnswer is the answer of observeLen.
func lenAnswer(n int) string { return "n" + strconv.Itoa(n) }

// valueKey names a value by its type and text: equal keys are values that
// OPA cannot tell apart (1 and 1.0, equal for OPA's comparisons, have
// different keys; that costs a miss, never a wrong decision).
func valueKey(v ast.Value) string {
	switch v := v.(type) {
	case ast.String:
		return "s" + string(v) // most answers: spared the quoting
	case ast.Boolean:
		if v {
			return "t"
		}
		return "f"
	case ast.Null:
		return "z"
	}
	return "v" + ast.ValueName(v) + ":" + v.String()
}

// store adds the observations of one evaluation and its decision. A
// sequence that contradicts the tree (an evaluation that observed
// something else at the same point) is not stored; it cannot happen while
// evaluation is deterministic.
func (m *memo) store(trail []step, d Decision) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.off.Load() {
		return // disabled while this evaluation ran
	}
	if m.nodes+len(trail)+1 > m.maxNodes {
		m.root, m.nodes = nil, 0
	}
	leaf := func() *memoNode { return &memoNode{decision: ptrTo(d.clone())} }
	inner := func(obs observation) *memoNode { return &memoNode{obs: obs, next: map[string]*memoNode{}} }
	if m.root == nil {
		if len(trail) == 0 {
			m.root = leaf() // the policies read nothing of the input
		} else {
			m.root = inner(trail[0].obs)
		}
		m.nodes++
	}
	n := m.root
	for i, s := range trail {
		if n.decision != nil || !n.obs.same(s.obs) {
			return
		}
		child := n.next[s.answer]
		if child == nil {
			if i+1 < len(trail) {
				child = inner(trail[i+1].obs)
			} else {
				child = leaf()
			}
			n.next[s.answer] = child
			m.nodes++
		}
		n = child
	}
}

// same reports whether two observations ask the same thing.
func (o observation) same(p observation) bool { return o.op == p.op && o.path == p.path }

func ptrTo[T any](v T) *T { return &v }

// step is one observation and its answer, as an evaluation made it.
type step struct {
	obs    observation
	answer string
}

// recorder collects one evaluation's observations.
type recorder struct {
	trail []step
	// spoilt is set when the evaluation did something the memo cannot
	// replay (it changed the input): its decision is not stored.
	spoilt bool
}

// tracked is the input, or an object in it, as OPA reads it during an
// evaluation that the memo records: each method that tells something of
// the value records it. The embedded Object is only there to satisfy the
// interface's unexported method, which OPA calls on its own objects only;
// every exported method is overridden below. A method the embedded Object
// answered would be a read the memo does not see, and the compiler cannot
// tell: TestTrackedOverridesObject fails when OPA's Object has a method
// not declared here, TestOPANeverCallsObjectGet when OPA calls the
// unexported one through the interface, and in production a sample of the
// memo's answers is evaluated again (shadow.go).
type tracked struct {
	ast.Object
	path     string
	rec      *recorder
	children map[string]*ast.Term // what Get answered, by string key
	len      bool                 // Len was recorded
	whole    bool                 // the whole value was recorded
}

func track(o ast.Object, path string, rec *recorder) *tracked {
	return &tracked{Object: o, path: path, rec: rec}
}

func (t *tracked) record(obs observation, answer string) {
	t.rec.trail = append(t.rec.trail, step{obs: obs, answer: answer})
}

// readWhole records the whole value once: the caller sees all of it.
func (t *tracked) readWhole() {
	if !t.whole {
		t.whole = true
		t.record(observation{op: observeWhole, path: t.path}, valueKey(t.Object))
	}
}

func (t *tracked) Get(k *ast.Term) *ast.Term {
	s, isString := k.Value.(ast.String)
	if isString {
		if c, ok := t.children[string(s)]; ok {
			return c
		}
	}
	kt := keyText(k)
	path := t.path + strconv.Itoa(len(kt)) + ":" + kt // length first: no two paths alike
	obs := observation{op: observeGet, path: path, parent: t.path, key: k}
	v := t.Object.Get(k)
	t.record(obs, getAnswer(v))
	result := v
	if v != nil && isObject(v.Value) {
		result = ast.NewTerm(track(v.Value.(ast.Object), path, t.rec))
	}
	if isString {
		if t.children == nil {
			t.children = map[string]*ast.Term{}
		}
		t.children[string(s)] = result
	}
	return result
}

func isObject(v ast.Value) bool {
	_, ok := v.(ast.Object)
	return ok
}

// keyText names a key in a path: a string as itself, anything else by its
// type and text, so that "1" and 1 are different keys.
func keyText(k *ast.Term) string {
	if s, ok := k.Value.(ast.String); ok {
		return string(s)
	}
	return "\x01" + valueKey(k.Value)
}

func (t *tracked) Find(path ast.Ref) (ast.Value, error) {
	if len(path) == 0 {
		return t, nil
	}
	v := t.Get(path[0])
	if v == nil {
		return nil, errNotFound
	}
	return v.Value.Find(path[1:])
}

var errNotFound = &notFoundError{}

type notFoundError struct{}

func (*notFoundError) Error() string { return "find: not found" }

func (t *tracked) Len() int {
	n := t.Object.Len()
	if !t.len {
		t.len = true
		t.record(observation{op: observeLen, path: t.path}, lenAnswer(n))
	}
	return n
}

func (t *tracked) IsGround() bool { return t.Object.IsGround() }

func (t *tracked) Compare(other ast.Value) int {
	t.readWhole()
	if o, ok := other.(*tracked); ok {
		o.readWhole()
		other = o.Object
	}
	return t.Object.Compare(other)
}

func (t *tracked) Hash() int         { t.readWhole(); return t.Object.Hash() }
func (t *tracked) String() string    { t.readWhole(); return t.Object.String() }
func (t *tracked) StringLength() int { t.readWhole(); return t.Object.StringLength() }
func (t *tracked) Keys() []*ast.Term { t.readWhole(); return t.Object.Keys() }

func (t *tracked) KeysIterator() ast.ObjectKeysIterator {
	t.readWhole()
	return t.Object.KeysIterator()
}

// The iterations hand OPA the members as they are, untracked: the whole
// value is recorded, so nothing further needs to be.
func (t *tracked) Iter(f func(*ast.Term, *ast.Term) error) error {
	t.readWhole()
	return t.Object.Iter(f)
}

func (t *tracked) Until(f func(*ast.Term, *ast.Term) bool) bool {
	t.readWhole()
	return t.Object.Until(f)
}

func (t *tracked) Foreach(f func(*ast.Term, *ast.Term)) {
	t.readWhole()
	t.Object.Foreach(f)
}

func (t *tracked) Map(f func(*ast.Term, *ast.Term) (*ast.Term, *ast.Term, error)) (ast.Object, error) {
	t.readWhole()
	return t.Object.Map(f)
}

func (t *tracked) Diff(other ast.Object) ast.Object {
	t.readWhole()
	return t.Object.Diff(untracked(other))
}

func (t *tracked) Intersect(other ast.Object) [][3]*ast.Term {
	t.readWhole()
	return t.Object.Intersect(untracked(other))
}

func (t *tracked) Merge(other ast.Object) (ast.Object, bool) {
	t.readWhole()
	return t.Object.Merge(untracked(other))
}

func (t *tracked) MergeWith(other ast.Object, resolve func(v1, v2 *ast.Term) (*ast.Term, bool)) (ast.Object, bool) {
	t.readWhole()
	return t.Object.MergeWith(untracked(other), resolve)
}

func (t *tracked) Filter(filter ast.Object) (ast.Object, error) {
	t.readWhole()
	return t.Object.Filter(untracked(filter))
}

// Copy and Insert are how OPA changes an input (`with input.x as ...`):
// a decision reached that way is not stored.
func (t *tracked) Copy() ast.Object {
	t.readWhole()
	t.rec.spoilt = true
	return t.Object.Copy()
}

func (t *tracked) Insert(k, v *ast.Term) {
	t.rec.spoilt = true
	t.Object.Insert(k, v)
}

// MarshalJSON writes the value, read whole, as OPA's own objects do.
func (t *tracked) MarshalJSON() ([]byte, error) {
	t.readWhole()
	return json.Marshal(t.Object)
}

// untracked returns the object under a tracked one, after recording that
// it was read whole, for the methods that combine two objects.
func untracked(o ast.Object) ast.Object {
	if t, ok := o.(*tracked); ok {
		t.readWhole()
		return t.Object
	}
	return o
}

// usesNondeterministic reports whether any rule of the compiled policies
// calls a builtin whose answer is not a function of its arguments (the
// clock, randomness, HTTP, DNS): their decisions cannot be remembered.
// Operators and calls nested in arguments are both references.
func usesNondeterministic(c *ast.Compiler) bool {
	found := false
	for _, m := range c.Modules {
		ast.WalkRefs(m, func(r ast.Ref) bool {
			if b, ok := ast.BuiltinMap[r.String()]; ok && b.Nondeterministic {
				found = true
			}
			return found
		})
	}
	return found
}

func (d Decision) clone() Decision {
	c := d
	if d.Deny != nil {
		c.Deny = append(d.Deny[:0:0], d.Deny...)
	}
	if d.Fields != nil {
		c.Fields = append(d.Fields[:0:0], d.Fields...)
	}
	return c
}
