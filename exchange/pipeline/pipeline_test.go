package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/envelope"
	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/manifest"
	"github.com/pontexchange/pont/exchange/policy"
	"github.com/pontexchange/pont/exchange/quota"
	"github.com/pontexchange/pont/exchange/router"
	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/translog"
	"github.com/pontexchange/pont/policies"
	"github.com/pontexchange/pont/sdk-wasm/abi"
)

// The pipeline's tests run the real catalog, the real policies in OPA and
// the real router, with in-memory parts where the pipeline meets the
// outside: adapters, the transfer log and the citizens' records. No
// WebAssembly is compiled.

// now is the fixed time of every test.
var now = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

// padroAnswer is what a padró adapter answers for a known subject, with
// characters that JSON encoders like to escape.
const padroAnswer = `{
  "province": {"code": "17", "name": "Girona"},
  "municipality": {"code": "17079", "name": "Girona"},
  "entity": {"singular": {"code": "000100", "name": "Girona"}, "nucleus": {"code": "01", "name": "Girona"}},
  "address": {"street_type": "C", "street_name": "de l'Àngel «Nou» & \"Vell\" <Baix>\\1", "number": "9", "postcode": "17002"},
  "registration_date": "2022-02-02"
}`

// fakeAdapter answers every call with answer, and counts its calls.
type fakeAdapter struct {
	m      manifest.Manifest
	mu     sync.Mutex
	calls  []abi.Input
	answer func(abi.Input) (json.RawMessage, error)
}

func (a *fakeAdapter) Manifest() manifest.Manifest { return a.m }
func (a *fakeAdapter) SHA256() string              { return strings.Repeat("ab", 32) }
func (a *fakeAdapter) Call(_ context.Context, in abi.Input) (json.RawMessage, error) {
	a.mu.Lock()
	a.calls = append(a.calls, in)
	a.mu.Unlock()
	if a.answer == nil {
		return nil, fault.New(fault.SubjectNotFound, "the source does not know the subject")
	}
	return a.answer(in)
}

func (a *fakeAdapter) called() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.calls)
}

// memoryLog is a transfer log in memory; fail makes Append fail.
type memoryLog struct {
	mu      sync.Mutex
	records []store.Transfer
	fail    error
}

func (l *memoryLog) Append(_ context.Context, t store.Transfer) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return l.fail
	}
	l.records = append(l.records, t)
	return nil
}

func (l *memoryLog) last(t *testing.T) store.Transfer {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.records) == 0 {
		t.Fatal("nothing was recorded")
	}
	return l.records[len(l.records)-1]
}

// memoryCitizens holds consents and objections in memory; fail makes
// every read fail.
type memoryCitizens struct {
	consents   map[string]store.Consent
	objections []store.Objection
	fail       error
}

func (c *memoryCitizens) GetConsent(_ context.Context, id string) (store.Consent, error) {
	if c.fail != nil {
		return store.Consent{}, c.fail
	}
	if cs, ok := c.consents[id]; ok {
		return cs, nil
	}
	return store.Consent{}, store.ErrNotFound
}

func (c *memoryCitizens) FindObjection(_ context.Context, subject, service, procedure string) (store.Objection, error) {
	if c.fail != nil {
		return store.Objection{}, c.fail
	}
	for _, o := range c.objections {
		if o.Subject == subject && o.Service == service && (o.Procedure == "" || o.Procedure == procedure) {
			return o, nil
		}
	}
	return store.Objection{}, store.ErrNotFound
}

// failingDecider is a policy that cannot decide.
type failingDecider struct{}

func (failingDecider) Decide(context.Context, policy.Input) (policy.Decision, error) {
	return policy.Decision{}, errors.New("evaluation failed")
}
func (failingDecider) Revision() string { return "broken" }

// rig is a pipeline with its parts in reach.
type rig struct {
	p        *Pipeline
	log      *memoryLog
	citizens *memoryCitizens
	adapters map[string]*fakeAdapter
}

var (
	sharedOnce   sync.Once
	sharedCat    *catalog.Catalog
	sharedEngine *policy.Engine
	sharedErr    error
)

// newRig builds a pipeline over the default catalog and policies, with a
// fake adapter for every source of the catalog that answers
// subject_not_found until told otherwise.
func newRig(t *testing.T) *rig {
	t.Helper()
	sharedOnce.Do(func() {
		if sharedCat, sharedErr = catalog.Default(); sharedErr != nil {
			return
		}
		sharedEngine, sharedErr = policy.New(context.Background(), policies.FS, sharedCat.PolicyData())
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	r := &rig{log: &memoryLog{}, citizens: &memoryCitizens{consents: map[string]store.Consent{}}, adapters: map[string]*fakeAdapter{}}
	for _, name := range sharedCat.ServiceNames() {
		svc, _ := sharedCat.Service(name)
		// One adapter a configured source, named as the reference
		// adapters are: the service, and its scope unless it is "*".
		for _, src := range svc.Sources {
			adapter := name
			if src.Scope != router.AnyScope {
				adapter += "-" + src.Scope
			}
			r.adapters[adapter] = &fakeAdapter{m: manifest.Manifest{Name: adapter, Version: "1.0.0", Scope: src.Scope, Services: []string{name}}}
		}
	}
	rt := router.New()
	var routes []router.Adapter
	for _, a := range r.adapters {
		routes = append(routes, a)
	}
	if err := rt.Set(sharedCat, routes); err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{
		Catalog: sharedCat, Policy: sharedEngine, Router: rt, Log: r.log, Citizens: r.citizens,
		Node: "test-node", Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	r.p = p
	return r
}

func (r *rig) answers(adapter string, data string) {
	r.adapters[adapter].answer = func(abi.Input) (json.RawMessage, error) { return json.RawMessage(data), nil }
}

func (r *rig) fails(adapter string, err error) {
	r.adapters[adapter].answer = func(abi.Input) (json.RawMessage, error) { return nil, err }
}

func (r *rig) calls() int {
	n := 0
	for _, a := range r.adapters {
		n += a.called()
	}
	return n
}

var requester = auth.Principal{Role: auth.RoleRequester, Org: "P0801900B"}

// query is a valid DEMO query for the padró of 17079, changed by edits
// (a path such as "legal_basis" or "subject.id", and its new value; nil
// removes the member).
func query(t *testing.T, edits ...any) []byte {
	t.Helper()
	env := map[string]any{
		"procedure":   map[string]any{"code": "DEMO", "name": "Demostració"},
		"purpose":     "demo",
		"legal_basis": map[string]any{"type": "presumed"},
		"case_id":     "EXP-2026-00001",
		"official":    map[string]any{"id": "38000001E", "name": "Anna Puig"},
		"subject":     map[string]any{"id_type": "DNI", "id": "67890123B"},
		"params":      map[string]any{"municipality": "17079"},
	}
	for i := 0; i+1 < len(edits); i += 2 {
		path := strings.Split(edits[i].(string), ".")
		obj := env
		for _, k := range path[:len(path)-1] {
			obj = obj[k].(map[string]any)
		}
		if edits[i+1] == nil {
			delete(obj, path[len(path)-1])
		} else {
			obj[path[len(path)-1]] = edits[i+1]
		}
	}
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestProblemCodes runs a query to each problem code the pipeline answers
// and checks the error, the record written for it, and that nothing
// refused before the adapter reached one.
func TestProblemCodes(t *testing.T) {
	consent := store.Consent{
		ID: "c-1", Subject: "67890123B", Requester: "P0801900B", Procedure: "DEMO",
		Services: []string{"padro"}, Purpose: "demo", CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(24 * time.Hour),
	}
	revokedAt := now.Add(-time.Minute)
	cases := []struct {
		name      string
		service   string
		body      []byte
		setup     func(*rig)
		want      fault.Code
		decision  string // the record's decision
		adapter   bool   // whether an adapter was called
		wantField string // a field the error must name, if any
	}{
		{name: "malformed envelope", service: "padro", body: []byte(`{"purpose":`), want: fault.InvalidRequest, decision: store.Deny, wantField: "$"},
		{name: "missing field", service: "padro", body: query(t, "purpose", nil), want: fault.InvalidRequest, decision: store.Deny, wantField: "purpose"},
		{name: "wrong check letter", service: "padro", body: query(t, "subject.id", "67890123C"), want: fault.InvalidSubjectID, decision: store.Deny, wantField: "subject.id"},
		{name: "params against the schema", service: "padro", body: query(t, "params", map[string]any{"municipality": "8019"}), want: fault.InvalidRequest, decision: store.Deny, wantField: "params.municipality"},
		{name: "unknown service", service: "cadastre", body: query(t), want: fault.UnknownService, decision: store.Deny},
		{name: "a service name of NUL bytes and a megabyte", service: "x\x00\xff" + strings.Repeat("B", 1<<20), body: query(t), want: fault.UnknownService, decision: store.Deny},
		{name: "organisation not authorised", service: "padro", body: query(t, "procedure", map[string]any{"code": "NOPE"}), want: fault.NotAuthorized, decision: store.Deny},
		{name: "purpose not allowed", service: "padro", body: query(t, "purpose", "public-employment"), want: fault.PurposeNotAllowed, decision: store.Deny},
		{name: "presumed basis for special-category data", service: "discapacitat", body: query(t, "params", map[string]any{"region": "09"}), want: fault.LegalBasisRequired, decision: store.Deny},
		{name: "law not listed", service: "padro", body: query(t, "legal_basis", map[string]any{"type": "law", "reference": "Llei 1/1900"}), want: fault.LegalBasisInvalid, decision: store.Deny},
		{name: "consent not found", service: "padro", body: query(t, "legal_basis", map[string]any{"type": "consent", "consent_id": "c-404"}), want: fault.ConsentNotFound, decision: store.Deny},
		{name: "consent expired", service: "padro", body: query(t, "legal_basis", map[string]any{"type": "consent", "consent_id": "c-1"}), setup: func(r *rig) {
			c := consent
			c.ExpiresAt = now.Add(-time.Second)
			r.citizens.consents[c.ID] = c
		}, want: fault.ConsentExpired, decision: store.Deny},
		{name: "consent revoked", service: "padro", body: query(t, "legal_basis", map[string]any{"type": "consent", "consent_id": "c-1"}), setup: func(r *rig) {
			c := consent
			c.RevokedAt = &revokedAt
			r.citizens.consents[c.ID] = c
		}, want: fault.ConsentRevoked, decision: store.Deny},
		{name: "another citizen's consent", service: "padro", body: query(t, "legal_basis", map[string]any{"type": "consent", "consent_id": "c-1"}), setup: func(r *rig) {
			c := consent
			c.Subject = "12345678Z"
			r.citizens.consents[c.ID] = c
		}, want: fault.ConsentMismatch, decision: store.Deny},
		{name: "objection", service: "padro", body: query(t), setup: func(r *rig) {
			r.citizens.objections = append(r.citizens.objections, store.Objection{ID: "o-1", Subject: "67890123B", Service: "padro"})
		}, want: fault.ObjectionRegistered, decision: store.Deny},
		{name: "citizens' records unreadable", service: "padro", body: query(t), setup: func(r *rig) {
			r.citizens.fail = store.ErrUnavailable
		}, want: fault.StoreUnavailable, decision: store.Deny},
		{name: "policy cannot decide", service: "padro", body: query(t), setup: func(r *rig) {
			r.p.SetPolicy(failingDecider{})
		}, want: fault.Internal, decision: store.Deny},
		{name: "no source for the routing key", service: "padro", body: query(t, "params", map[string]any{"municipality": "08001"}), want: fault.NoSource, decision: store.Allow},
		{name: "subject not found", service: "padro", body: query(t), want: fault.SubjectNotFound, decision: store.Allow, adapter: true},
		{name: "source unavailable", service: "padro", body: query(t), setup: func(r *rig) {
			r.fails("padro-17079", fault.New(fault.SourceUnavailable, "the source answered 503"))
		}, want: fault.SourceUnavailable, decision: store.Allow, adapter: true},
		{name: "adapter trapped", service: "padro", body: query(t), setup: func(r *rig) {
			r.fails("padro-17079", fault.New(fault.AdapterFailed, "the adapter trapped"))
		}, want: fault.AdapterFailed, decision: store.Allow, adapter: true},
		{name: "answer breaks the schema", service: "padro", body: query(t), setup: func(r *rig) {
			r.answers("padro-17079", strings.Replace(padroAnswer, `"17002"`, `"1700"`, 1))
		}, want: fault.AdapterFailed, decision: store.Allow, adapter: true},
		{name: "answer not UTF-8", service: "padro", body: query(t), setup: func(r *rig) {
			r.answers("padro-17079", strings.Replace(padroAnswer, `"Girona"}`, "\"Giron\xe0\"}", 1))
		}, want: fault.AdapterFailed, decision: store.Allow, adapter: true},
		{name: "adapter timed out", service: "padro", body: query(t), setup: func(r *rig) {
			r.fails("padro-17079", fault.New(fault.AdapterTimeout, "deadline"))
		}, want: fault.AdapterTimeout, decision: store.Allow, adapter: true},
		{name: "adapter misconfigured", service: "padro", body: query(t), setup: func(r *rig) {
			r.fails("padro-17079", fault.New(fault.AdapterMisconfigured, "adapter padro-17079 is misconfigured: the adapter has no source_url configured"))
		}, want: fault.AdapterMisconfigured, decision: store.Allow, adapter: true},
		{name: "adapter busy", service: "padro", body: query(t), setup: func(r *rig) {
			r.fails("padro-17079", fault.New(fault.AdapterBusy, "every instance busy"))
		}, want: fault.AdapterBusy, decision: store.Allow, adapter: true},
		{name: "quota used up", service: "padro", body: query(t), setup: func(r *rig) {
			q, err := quota.New(quota.Config{Organisations: map[string]quota.Limit{requester.Org: {Rate: 0.001, Burst: 1}}})
			if err != nil {
				t.Fatal(err)
			}
			q.Allow(quota.Requester, requester.Org) // the one request of the burst
			r.p.cfg.Quota = q
		}, want: fault.RateLimited, decision: store.Deny},
		{name: "an error without a code", service: "padro", body: query(t), setup: func(r *rig) {
			r.fails("padro-17079", errors.New("unexpected"))
		}, want: fault.Internal, decision: store.Allow, adapter: true},
	}
	seen := map[fault.Code]bool{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t)
			if c.setup != nil {
				c.setup(r)
			}
			ans, err := r.p.Query(context.Background(), requester, c.service, c.body)
			if got := fault.CodeOf(err); err == nil || got != c.want {
				t.Fatalf("Query: %v (code %s), want code %s", err, got, c.want)
			}
			if ans.Body != nil || ans.Data != nil {
				t.Errorf("a refusal carries data: %s", ans.Body)
			}
			var failure *Failure
			if !errors.As(err, &failure) {
				t.Fatalf("error %T is not a *Failure", err)
			}
			rec := r.log.last(t)
			spec := fault.SpecOf(c.want)
			switch {
			case failure.TransferID != rec.ID:
				t.Errorf("failure cites transfer %s, the record is %s", failure.TransferID, rec.ID)
			case rec.Outcome != string(c.want):
				t.Errorf("outcome = %s, want %s", rec.Outcome, c.want)
			case rec.HTTPStatus != spec.Status || rec.SCSPCode != spec.SCSP || rec.SCSPCode == "":
				t.Errorf("record http_status %d, scsp_code %q; want %d, %q", rec.HTTPStatus, rec.SCSPCode, spec.Status, spec.SCSP)
			case rec.Decision != c.decision:
				t.Errorf("decision = %s, want %s", rec.Decision, c.decision)
			case rec.DataSHA256 != "":
				t.Errorf("a refusal records a data hash %s", rec.DataSHA256)
			case (rec.Service != c.service && c.want != fault.UnknownService) || (rec.Service != "" && c.want == fault.UnknownService) || rec.Node != "test-node" || rec.RequesterOrg != requester.Org || !rec.Time.Equal(now):
				t.Errorf("record %+v lacks who, what or when", rec)
			}
			for _, r := range rec.Reasons {
				if fault.SafeText(r.Message) != r.Message || len(r.Message) > fault.MaxTextBytes {
					t.Errorf("a recorded reason carries the caller's bytes as they came: %q", r.Message)
				}
			}
			if c.decision == store.Deny && len(rec.Reasons) == 0 {
				t.Errorf("a denial without reasons: %+v", rec)
			}
			if c.wantField != "" {
				fe, _ := fault.As(err)
				if !slices.ContainsFunc(fe.Fields, func(f fault.FieldError) bool { return f.Field == c.wantField }) {
					t.Errorf("the error names %v, not %s", fe.Fields, c.wantField)
				}
			}
			if called := r.calls() > 0; called != c.adapter {
				t.Errorf("adapter called: %v, want %v", called, c.adapter)
			}
			seen[c.want] = true
		})
	}
	// Every code a query can end with is produced above; the HTTP layer's
	// own (authentication, roles, routes, media types) are tested there.
	// The adapter registry's are the registry's (exchange/registry), a
	// batch envelope's the envelope parser's (exchange/envelope), a job's
	// (a reused key, a callback, an interrupted element) the jobs' tests
	// (exchange/broker, cmd/pont).
	httpOnly := []fault.Code{fault.Unauthenticated, fault.Forbidden, fault.NotFound, fault.MethodNotAllowed, fault.UnsupportedMediaType, fault.StoreUnavailable,
		fault.ModuleRefused, fault.VersionExists, fault.ScopeTaken, fault.NoEarlierVersion, fault.TooManySubjects,
		fault.IdempotencyKeyReused, fault.CallbackNotAllowed, fault.JobInterrupted}
	for _, code := range fault.Codes() {
		if !seen[code] && !slices.Contains(httpOnly, code) {
			t.Errorf("no case produces %s", code)
		}
	}
}

// TestFailClosed: when the record cannot be committed, no data leaves.
func TestFailClosed(t *testing.T) {
	r := newRig(t)
	r.answers("padro-17079", padroAnswer)
	r.log.fail = store.ErrUnavailable
	ans, err := r.p.Query(context.Background(), requester, "padro", query(t))
	if fault.CodeOf(err) != fault.StoreUnavailable {
		t.Fatalf("Query: %v, want store_unavailable", err)
	}
	var failure *Failure
	if errors.As(err, &failure) {
		t.Errorf("a query that was not recorded cites transfer %s", failure.TransferID)
	}
	if ans.Body != nil || ans.Data != nil || ans.TransferID != "" {
		t.Errorf("data left without a record: %+v", ans)
	}
}

// TestAnswer checks an answered query: the body as it leaves, the data in
// it unchanged by any escaping, and the record's hash of exactly those bytes.
func TestAnswer(t *testing.T) {
	r := newRig(t)
	r.answers("padro-17079", padroAnswer)
	ans, err := r.p.Query(context.Background(), requester, "padro", query(t))
	if err != nil {
		t.Fatal(err)
	}
	rec := r.log.last(t)
	sum := sha256.Sum256(ans.Data)
	if rec.DataSHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("data_sha256 %s is not the hash of the data sent", rec.DataSHA256)
	}
	if rec.Outcome != OutcomeOK || rec.HTTPStatus != http.StatusOK || rec.SCSPCode != "0003" || rec.Decision != store.Allow {
		t.Errorf("record %+v, want ok, 200, 0003, allow", rec)
	}
	var body AnswerV1
	if err := json.Unmarshal(ans.Body, &body); err != nil {
		t.Fatalf("body: %v\n%s", err, ans.Body)
	}
	if !bytes.Equal(body.Data, ans.Data) {
		t.Errorf("the body's data\n%s\nis not Answer.Data\n%s", body.Data, ans.Data)
	}
	var want bytes.Buffer
	_ = json.Compact(&want, []byte(padroAnswer))
	if !bytes.Equal(ans.Data, want.Bytes()) {
		t.Errorf("data was rewritten:\n got %s\nwant %s", ans.Data, want.Bytes())
	}
	if body.TransferID != rec.ID || body.Status != StatusProcessed || body.Service != "padro" ||
		body.Source.Adapter != "padro-17079" || rec.Adapter != "padro-17079" || body.Source.ModuleSHA256 != rec.ModuleSHA256 {
		t.Errorf("body %+v does not match record %+v", body, rec)
	}
	entry, err := translog.Entry(&rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	leaf := translog.LeafHash(entry)
	if body.Receipt.TransferID != rec.ID || !bytes.Equal(body.Receipt.LeafHash, leaf[:]) || len(rec.Salt) != store.SaltSize {
		t.Errorf("receipt %+v is not the leaf of the record committed (salt %x)", body.Receipt, rec.Salt)
	}
	in := r.adapters["padro-17079"].calls[0]
	if in.ABI != abi.Version || in.TransferID != rec.ID || in.Subject.ID != "67890123B" || in.Purpose != "demo" ||
		in.Requester != requester.Org || in.Procedure != "DEMO" || string(in.Params) != `{"municipality":"17079"}` {
		t.Errorf("the adapter saw %+v", in)
	}
}

// TestMinimisation: a purpose sees only its fields, in the bytes the source sent.
func TestMinimisation(t *testing.T) {
	r := newRig(t)
	r.answers("padro-17079", padroAnswer)
	// school-admission may see municipality, address and registration_date.
	body := query(t, "procedure", map[string]any{"code": "PREINSCRIPCIO"}, "purpose", "school-admission")
	ans, err := r.p.Query(context.Background(), auth.Principal{Role: auth.RoleRequester, Org: "P1708500B"}, "padro", body)
	if err != nil {
		t.Fatal(err)
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(ans.Data, &data); err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(data)); !slices.Equal(got, []string{"address", "municipality", "registration_date"}) {
		t.Errorf("fields %v, want address, municipality, registration_date", got)
	}
	if !bytes.Contains(ans.Data, []byte(`& \"Vell\" <Baix>\\1`)) {
		t.Errorf("minimisation rewrote the kept values: %s", ans.Data)
	}
	sum := sha256.Sum256(ans.Data)
	if r.log.last(t).DataSHA256 != hex.EncodeToString(sum[:]) {
		t.Error("the hash is not of the minimised data sent")
	}
}

// TestVerifyMode answers yes or no, and nothing of the data.
func TestVerifyMode(t *testing.T) {
	cases := []struct {
		name     string
		params   map[string]any
		found    bool
		want     string
		wantCode fault.Code
	}{
		{"registered", map[string]any{"municipality": "17079", "mode": "verify"}, true, `{"verified":true}`, ""},
		{"not registered", map[string]any{"municipality": "17079", "mode": "verify"}, false, `{"verified":false}`, ""},
		{"expected value matches", map[string]any{"municipality": "17079", "mode": "verify", "expected": map[string]any{"address": map[string]any{"postcode": "17002"}}}, true, `{"verified":true}`, ""},
		{"expected value differs", map[string]any{"municipality": "17079", "mode": "verify", "expected": map[string]any{"address": map[string]any{"postcode": "17003"}}}, true, `{"verified":false}`, ""},
		{"expected must be an object", map[string]any{"municipality": "17079", "mode": "verify", "expected": "yes"}, true, "", fault.InvalidRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t)
			if c.found {
				r.answers("padro-17079", padroAnswer)
			}
			ans, err := r.p.Query(context.Background(), requester, "padro", query(t, "params", c.params))
			if c.wantCode != "" {
				if fault.CodeOf(err) != c.wantCode {
					t.Fatalf("Query: %v, want %s", err, c.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(ans.Data) != c.want {
				t.Errorf("data %s, want %s", ans.Data, c.want)
			}
		})
	}
}

// TestSelfAccess: a citizen reads her own data, and nothing in the request
// can name another.
func TestSelfAccess(t *testing.T) {
	r := newRig(t)
	r.answers("padro-17079", padroAnswer)
	her := auth.Principal{Role: auth.RoleCitizen, Sub: "67890123B"}
	ans, err := r.p.SelfAccess(context.Background(), her, "padro", mustStringParams(map[string]string{"municipality": "17079"}))
	if err != nil {
		t.Fatal(err)
	}
	rec := r.log.last(t)
	if rec.Kind != KindSelfAccess || rec.SubjectID != "67890123B" || rec.LegalBasis != "self" || rec.HTTPStatus != 200 {
		t.Errorf("record %+v", rec)
	}
	if in := r.adapters["padro-17079"].calls[0]; in.Subject.ID != her.Sub {
		t.Errorf("the adapter was asked about %s", in.Subject.ID)
	}
	if len(ans.Data) == 0 {
		t.Error("no data")
	}
}

func mustStringParams(m map[string]string) envelope.Params { return envelope.StringParams(m) }

// TestNoWebAssemblyNeeded keeps the pipeline's boundaries where they are:
// neither it nor its tests link the Wasm runtime or the reference adapters.
func TestNoWebAssemblyNeeded(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "-test", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.Contains(pkg, "tetratelabs/wazero") || strings.Contains(pkg, "exchange/wasmhost") || strings.Contains(pkg, "pont/plugins") {
			t.Errorf("the pipeline's tests link %s", pkg)
		}
	}
}

// TestRefuse: a request the HTTP layer refused is recorded all the same,
// with what it was answered.
func TestRefuse(t *testing.T) {
	r := newRig(t)
	her := auth.Principal{Role: auth.RoleCitizen, Sub: "67890123B"}
	err := r.p.Refuse(context.Background(), her, KindSelfAccess, "padro", fault.New(fault.UnsupportedMediaType, "not JSON"))
	var failure *Failure
	if !errors.As(err, &failure) || fault.CodeOf(err) != fault.UnsupportedMediaType {
		t.Fatalf("Refuse: %v, want the refusal with its transfer id", err)
	}
	rec := r.log.last(t)
	if rec.ID != failure.TransferID || rec.Kind != KindSelfAccess || rec.SubjectID != her.Sub || rec.Service != "padro" ||
		rec.HTTPStatus != 415 || rec.Outcome != string(fault.UnsupportedMediaType) || rec.Decision != store.Deny {
		t.Errorf("record %+v", rec)
	}
	if r.calls() != 0 {
		t.Error("a refused request reached an adapter")
	}
}

// TestQueryParsedWith: a query asked in an SCSP request is recorded with
// the request's IdPeticion and IdSolicitud however it ends (served,
// refused by the policy, refused for the quota), the receipt is the leaf of
// that record, and QueryParsed names no SCSP request.
func TestQueryParsedWith(t *testing.T) {
	origin := Origin{SCSPRequestID: "PONT-20261207-000000000042", SCSPSolicitudID: "SOL-0001"}
	parse := func(body []byte) envelope.Query {
		q, err := envelope.Parse(body)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	cases := []struct {
		name  string
		body  []byte
		setup func(*rig)
		want  string // the record's outcome
	}{
		{name: "served", body: query(t), setup: func(r *rig) { r.answers("padro-17079", padroAnswer) }, want: OutcomeOK},
		{name: "refused by the policy", body: query(t, "purpose", "public-employment"), want: string(fault.PurposeNotAllowed)},
		{name: "refused for the quota", body: query(t), setup: func(r *rig) {
			q, err := quota.New(quota.Config{Organisations: map[string]quota.Limit{requester.Org: {Rate: 0.001, Burst: 1}}})
			if err != nil {
				t.Fatal(err)
			}
			q.Allow(quota.Requester, requester.Org)
			r.p.cfg.Quota = q
		}, want: string(fault.RateLimited)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t)
			if c.setup != nil {
				c.setup(r)
			}
			ans, err := r.p.QueryParsedWith(context.Background(), requester, "padro", parse(c.body), origin)
			rec := r.log.last(t)
			if rec.Outcome != c.want {
				t.Fatalf("outcome %s (%v), want %s", rec.Outcome, err, c.want)
			}
			if rec.SCSPRequestID != origin.SCSPRequestID || rec.SCSPSolicitudID != origin.SCSPSolicitudID {
				t.Errorf("record names SCSP request %q, solicitud %q; want %+v", rec.SCSPRequestID, rec.SCSPSolicitudID, origin)
			}
			if err != nil {
				return
			}
			var body AnswerV1
			if err := json.Unmarshal(ans.Body, &body); err != nil {
				t.Fatal(err)
			}
			entry, err := translog.Entry(&rec, nil)
			if err != nil {
				t.Fatal(err)
			}
			if leaf := translog.LeafHash(entry); !bytes.Equal(body.Receipt.LeafHash, leaf[:]) {
				t.Error("the receipt is not the leaf of the record that names the SCSP request")
			}
		})
	}
	t.Run("QueryParsed", func(t *testing.T) {
		r := newRig(t)
		r.answers("padro-17079", padroAnswer)
		if _, err := r.p.QueryParsed(context.Background(), requester, "padro", parse(query(t))); err != nil {
			t.Fatal(err)
		}
		if rec := r.log.last(t); rec.SCSPRequestID != "" || rec.SCSPSolicitudID != "" {
			t.Errorf("QueryParsed's record names SCSP request %q, solicitud %q", rec.SCSPRequestID, rec.SCSPSolicitudID)
		}
	})
}
