// Package policy decides, for one query, whether Pont may serve it and what
// it may return, by evaluating the Rego policies (data.pont.decision) with
// OPA. It changes when the shape of that question or answer changes; the
// rules themselves live in policies/.
package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/pontexchange/pont/exchange/fault"
)

// Query is the one query the broker asks of the policies.
const Query = "data.pont.decision"

// Principal is who asks, as the policies see it.
type Principal struct {
	Role  string `json:"role"`  // requester, citizen, auditor or publisher
	Org   string `json:"org"`   // the requesting organisation's id (NIF), for requesters
	Sub   string `json:"sub"`   // the token's subject; a citizen's DNI/NIE
	Owner string `json:"owner"` // the data owner, for publishers
}

// Input is everything one decision depends on besides the catalog data.
//
// Request, Service, Consent and Objection are JSON-shaped values. They are
// fastest as map[string]any, []any, string, bool, float64, json.Number and
// nil, of which only the parts the policies read are converted; any other
// type (a struct) goes through a JSON round trip.
type Input struct {
	Request   any            // the query envelope
	Principal Principal      // who asks
	Service   map[string]any // the catalog's view of the service
	// ServiceValue is the catalog's view of the service converted once by
	// NewValue, for callers that decide many times on the same service:
	// when set, it is what the policies see as input.service and Service
	// is not read.
	ServiceValue Value
	Consent      any       // the consent record named by the legal basis, or nil
	Objection    any       // the citizen's objection to this service, or nil
	Now          time.Time // the decision's time, given to the policies as RFC 3339
	// Access is what kind of access is decided: AccessQuery (the default)
	// for a requester's query, AccessSelf for a citizen reading her own data.
	Access string
}

// Value is a JSON-shaped value converted once to the form the policies
// read, so that an input shared by many decisions (a service's catalog view)
// is not converted again on every one. The zero Value is unset.
//
// A Value is a snapshot: it is immutable and safe for concurrent use, and
// later changes to the Go value it was made from do not reach it. Make it
// from a view that does not change (catalog.Service.PolicyView is built once
// at load), or make it again when the view changes.
type Value struct{ v ast.Value }

// NewValue converts x, a JSON-shaped value as Input describes, once. A nil
// map is null, as a nil Input.Service is.
func NewValue(x any) (Value, error) {
	if m, ok := x.(map[string]any); ok && m == nil {
		return Value{v: ast.NullValue}, nil
	}
	v, err := ast.InterfaceToValue(x)
	if err != nil {
		return Value{}, fmt.Errorf("policy: convert value: %w", err)
	}
	return Value{v: v}, nil
}

// IsSet reports whether v was made by NewValue.
func (v Value) IsSet() bool { return v.v != nil }

// Kinds of access, given to the policies as input.access.
const (
	AccessQuery = "query"
	AccessSelf  = "self"
)

// Decision is the policies' answer for one query.
type Decision struct {
	Allow      bool           // true iff Deny is empty
	Deny       []fault.Reason // every reason to refuse, sorted by code then message
	Fields     []string       // the answer fields the purpose may see, unless AllFields
	AllFields  bool           // the purpose may see every field of the answer
	VerifyOnly bool           // verify mode: answer yes or no and nothing else
}

// Engine evaluates a compiled set of policies against fixed catalog data.
// Safe for concurrent use; to change policies or data, build a new Engine.
type Engine struct {
	pq       rego.PreparedEvalQuery
	data     dataCache
	revision string
	// memo remembers decisions by what they read of the input (memo.go);
	// nil when a policy calls a nondeterministic builtin.
	memo *memo
	// shadowEvery, metrics and log are the memo's check (shadow.go): one
	// hit in shadowEvery is evaluated again.
	shadowEvery uint64
	metrics     *Metrics
	log         *slog.Logger
}

// New compiles the policies in fsys (every .rego file but *_test.rego, in
// any directory) against data, the catalog's authorisations, purposes and
// laws, and prepares the decision query once. A policy that fails to parse or
// compile is an error naming the file and line, as is a policy set without a
// data.pont.decision rule. The options set how the Engine's memo is
// checked (WithShadowEvery, WithMetrics, WithLogger).
func New(ctx context.Context, fsys fs.FS, data map[string]any, opts ...Option) (*Engine, error) {
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	files, err := readPolicies(fsys, false)
	if err != nil {
		return nil, err
	}
	modules, err := parse(files)
	if err != nil {
		return nil, err
	}
	doc, canonical, err := normalise(data)
	if err != nil {
		return nil, err
	}

	compiler := ast.NewCompiler().WithDefaultRegoVersion(ast.RegoV1)
	if compiler.Compile(modules); compiler.Failed() {
		return nil, fmt.Errorf("policy: compile: %w", compiler.Errors)
	}
	if len(compiler.GetRulesExact(ast.MustParseRef(Query))) == 0 {
		return nil, fmt.Errorf("policy: no policy defines %s", Query)
	}

	cache, err := newDataCache(doc)
	if err != nil {
		return nil, err
	}
	pq, err := rego.New(
		rego.Query(Query),
		rego.Compiler(compiler),
		rego.Store(newStore(doc)),
		rego.StoreReadAST(true),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("policy: prepare %s: %w", Query, err)
	}
	e := &Engine{
		pq: pq, data: cache, revision: revision(files, canonical),
		shadowEvery: uint64(o.shadowEvery), metrics: o.metrics, log: o.logger,
	}
	if !usesNondeterministic(compiler) {
		e.memo = newMemo()
	}
	return e, nil
}

// Revision is the hex SHA-256 of the policy files (by name, in name order)
// and of the canonical JSON of the data: two engines with the same revision
// decide alike, so a transfer record can say which policy decided it.
func (e *Engine) Revision() string { return e.revision }

// Decide evaluates the policies for in. An input without Now, or an
// undefined or malformed answer, is an error, never an allow: the caller
// must refuse the query. Safe for concurrent use.
//
// A decision whose every observation of the input (memo.go) matches one
// already made is answered from the Engine's memo without evaluating: most
// queries differ from an earlier one only in what the rules they take do
// not read (the subject, the case, the time, on a presumed basis). A
// sample of those answers is evaluated again, and the memo is turned off
// for good at the first that the policies decide otherwise (shadow.go).
func (e *Engine) Decide(ctx context.Context, in Input) (Decision, error) {
	input, err := in.value()
	if err != nil {
		return Decision{}, err
	}
	if !e.memo.on() {
		return e.decide(ctx, input)
	}
	if d, ok := e.memo.lookup(input); ok {
		if e.sampled() {
			return e.shadow(ctx, input, d)
		}
		return d, nil
	}
	rec := &recorder{}
	d, err := e.decide(ctx, track(input, "", rec))
	if err == nil && !rec.spoilt {
		e.memo.store(rec.trail, d)
	}
	return d, err
}

// decide evaluates the policies for input and reads the decision.
func (e *Engine) decide(ctx context.Context, input ast.Object) (Decision, error) {
	t, err := e.eval(ctx, input)
	if err != nil {
		return Decision{}, err
	}
	d, err := decode(t)
	if err != nil {
		return Decision{}, fmt.Errorf("policy: malformed %s: %w", Query, err)
	}
	return d, nil
}

// eval evaluates the decision query for input and returns the decision as
// OPA computed it.
func (e *Engine) eval(ctx context.Context, input ast.Value) (*ast.Term, error) {
	// OPA would otherwise start a goroutine per evaluation to watch ctx.
	cancel := topdown.NewCancel()
	stop := context.AfterFunc(ctx, cancel.Cancel)
	defer stop()
	rs, err := e.pq.Eval(ctx,
		rego.EvalParsedInput(input),
		rego.EvalGenerateJSON(asTerm),
		rego.EvalExternalCancel(cancel),
		rego.EvalBaseCache(e.data),
		// Nobody reads a decision's metrics; collecting them costs
		// allocations on every evaluation.
		rego.EvalMetrics(metrics.NoOp()),
	)
	if err != nil {
		return nil, fmt.Errorf("policy: evaluate %s: %w", Query, err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return nil, fmt.Errorf("policy: %s is undefined for this input", Query)
	}
	t, ok := rs[0].Expressions[0].Value.(*ast.Term)
	if !ok {
		return nil, fmt.Errorf("policy: %s is %T, not a term", Query, rs[0].Expressions[0].Value)
	}
	return t, nil
}

// value builds the input as an AST object that converts each part of
// itself only when a policy first reads it: a decision reads a handful of
// the envelope's fields, and converting the rest (names, case id, params)
// cost more than evaluating some rules. Parts already converted (the
// service's Value) are used as they are.
func (in Input) value() (ast.Object, error) {
	if in.Now.IsZero() {
		return nil, errors.New("policy: input has no time (Now)")
	}
	request, err := lazyPart(in.Request)
	if err != nil {
		return nil, fmt.Errorf("policy: input request: %w", err)
	}
	var service any = ast.NullValue
	if in.ServiceValue.IsSet() {
		service = in.ServiceValue.v
	} else if in.Service != nil {
		if service, err = lazyPart(in.Service); err != nil {
			return nil, fmt.Errorf("policy: input service: %w", err)
		}
	}
	consent, err := lazyPart(in.Consent)
	if err != nil {
		return nil, fmt.Errorf("policy: input consent: %w", err)
	}
	objection, err := lazyPart(in.Objection)
	if err != nil {
		return nil, fmt.Errorf("policy: input objection: %w", err)
	}
	access := in.Access
	if access == "" {
		access = AccessQuery
	}
	return ast.LazyObject(map[string]any{
		"access":  ast.String(access),
		"request": request,
		"principal": map[string]any{
			"role":  ast.String(in.Principal.Role),
			"org":   ast.String(in.Principal.Org),
			"sub":   ast.String(in.Principal.Sub),
			"owner": ast.String(in.Principal.Owner),
		},
		"service":   service,
		"consent":   consent,
		"objection": objection,
		"now":       ast.String(in.Now.UTC().Format(time.RFC3339Nano)),
	}), nil
}

// lazyPart returns x as a lazy object's member may hold it: x itself when
// it is JSON-shaped, so that it is converted only if read, or else x
// converted now. A lazy object converts its members without a way to fail
// (it panics), so whatever could fail is converted here, where the error
// can be returned.
func lazyPart(x any) (any, error) {
	if jsonShaped(x) {
		return x, nil
	}
	v, err := ast.InterfaceToValue(x)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// jsonShaped reports whether x is made only of the types that
// ast.InterfaceToValue converts without a JSON round trip and without
// error.
func jsonShaped(x any) bool {
	switch x := x.(type) {
	case nil, bool, string, float64, int, int64, ast.Value:
		return true
	case json.Number:
		_, err := ast.NumberChecked(string(x))
		return err == nil
	case map[string]any:
		for _, v := range x {
			if !jsonShaped(v) {
				return false
			}
		}
		return true
	case []any:
		for _, v := range x {
			if !jsonShaped(v) {
				return false
			}
		}
		return true
	default:
		return false
	}
}

// asTerm hands the result over as OPA computed it: decode reads it
// directly, sparing a conversion to map[string]any on every request.
func asTerm(t *ast.Term, _ *rego.EvalContext) (any, error) { return t, nil }

// decode reads the decision document, checking every part of it: a policy
// that answers something else must not be taken for an allow.
func decode(t *ast.Term) (Decision, error) {
	doc, ok := t.Value.(ast.Object)
	if !ok {
		return Decision{}, fmt.Errorf("decision is %s, not an object", ast.ValueName(t.Value))
	}
	var d Decision
	if d.Allow, ok = boolOf(doc, "allow"); !ok {
		return Decision{}, errors.New("allow is not a boolean")
	}
	if d.VerifyOnly, ok = boolOf(doc, "verify_only"); !ok {
		return Decision{}, errors.New("verify_only is not a boolean")
	}
	deny, ok := valueOf(doc, "deny").(*ast.Array)
	if !ok {
		return Decision{}, errors.New("deny is not an array")
	}
	for i := range deny.Len() {
		r, _ := deny.Elem(i).Value.(ast.Object)
		code, okc := stringOf(r, "code")
		msg, okm := stringOf(r, "message")
		if !okc || !okm || code == "" {
			return Decision{}, fmt.Errorf("deny[%d] is not a {code, message} reason", i)
		}
		d.Deny = append(d.Deny, fault.Reason{Code: fault.Code(code), Message: msg})
	}
	if d.Allow != (len(d.Deny) == 0) {
		return Decision{}, fmt.Errorf("allow is %t with %d reasons to deny", d.Allow, len(d.Deny))
	}
	switch f := valueOf(doc, "fields").(type) {
	case ast.String:
		if f != "*" {
			return Decision{}, fmt.Errorf("fields is %q; only \"*\" may stand for all", string(f))
		}
		d.AllFields = true
	case *ast.Array:
		d.Fields = make([]string, f.Len())
		for i := range f.Len() {
			s, ok := f.Elem(i).Value.(ast.String)
			if !ok {
				return Decision{}, fmt.Errorf("fields[%d] is not a string", i)
			}
			d.Fields[i] = string(s)
		}
	default:
		return Decision{}, errors.New("fields is neither \"*\" nor an array of names")
	}
	return d, nil
}

// valueOf returns obj[key], or nil when obj is nil or lacks key.
func valueOf(obj ast.Object, key string) ast.Value {
	if obj == nil {
		return nil
	}
	t := obj.Get(ast.InternedTerm(key))
	if t == nil {
		return nil
	}
	return t.Value
}

func boolOf(obj ast.Object, key string) (bool, bool) {
	b, ok := valueOf(obj, key).(ast.Boolean)
	return bool(b), ok
}

func stringOf(obj ast.Object, key string) (string, bool) {
	s, ok := valueOf(obj, key).(ast.String)
	return string(s), ok
}

// policyFile is one Rego source, named by its path in the file system.
type policyFile struct {
	name string
	src  []byte
}

// readPolicies returns the .rego files of fsys in name order, with or
// without the *_test.rego files.
func readPolicies(fsys fs.FS, withTests bool) ([]policyFile, error) {
	var files []policyFile
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || path.Ext(p) != ".rego" {
			return nil
		}
		if !withTests && strings.HasSuffix(p, "_test.rego") {
			return nil
		}
		src, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		files = append(files, policyFile{name: p, src: src})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("policy: read policies: %w", err)
	}
	if len(files) == 0 {
		return nil, errors.New("policy: no .rego files found")
	}
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	return files, nil
}

// parse parses each file as Rego v1; errors carry the file name and line.
func parse(files []policyFile) (map[string]*ast.Module, error) {
	modules := make(map[string]*ast.Module, len(files))
	for _, f := range files {
		m, err := ast.ParseModuleWithOpts(f.name, string(f.src), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return nil, fmt.Errorf("policy: parse: %w", err)
		}
		modules[f.name] = m
	}
	return modules, nil
}

// normalise turns data into plain JSON values (whatever Go types it came
// in) and returns its canonical JSON: object keys sorted, as encoding/json
// writes maps.
func normalise(data map[string]any) (map[string]any, []byte, error) {
	if data == nil {
		data = map[string]any{}
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, nil, fmt.Errorf("policy: encode data: %w", err)
	}
	var doc map[string]any
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, nil, fmt.Errorf("policy: decode data: %w", err)
	}
	canonical, err := json.Marshal(doc)
	if err != nil {
		return nil, nil, fmt.Errorf("policy: encode data: %w", err)
	}
	return doc, canonical, nil
}

// revision hashes each file as name, NUL, length, NUL, contents, so that no
// two different file sets hash alike, then the data.
func revision(files []policyFile, canonicalData []byte) string {
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%d\x00", f.name, len(f.src))
		h.Write(f.src)
	}
	h.Write([]byte("data\x00"))
	h.Write(canonicalData)
	return hex.EncodeToString(h.Sum(nil))
}

// dataCache hands every evaluation the catalog data already converted to
// AST values. OPA's own base cache is per evaluation: each one would read
// the store again and cache what it read. The data never changes for an
// Engine, so one read-only cache serves every evaluation at once.
type dataCache struct{ data ast.Value }

func newDataCache(doc map[string]any) (dataCache, error) {
	v, err := ast.InterfaceToValue(doc)
	if err != nil {
		return dataCache{}, fmt.Errorf("policy: convert data: %w", err)
	}
	return dataCache{data: v}, nil
}

// Get returns the data at ref, or nil where there is none, so that OPA
// reads the store as it would without this cache. The root (data itself)
// is left to the store, which also knows about OPA's system document.
func (c dataCache) Get(ref ast.Ref) ast.Value {
	if len(ref) < 2 || !ref[0].Equal(ast.DefaultRootDocument) {
		return nil
	}
	v, err := c.data.Find(ref[1:])
	if err != nil {
		return nil
	}
	return v
}

// Put does nothing: the cache is shared and never changes.
func (dataCache) Put(ast.Ref, ast.Value) {}

// newStore returns an in-memory store holding doc. The data is normalised
// and never written again, so the store neither copies it on write nor
// converts it to AST values on every read.
func newStore(doc map[string]any) storage.Store {
	return inmem.NewFromObjectWithOpts(doc,
		inmem.OptRoundTripOnWrite(false),
		inmem.OptReturnASTValuesOnRead(true))
}
