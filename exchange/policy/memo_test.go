package policy

import (
	"context"
	"math/rand/v2"
	"reflect"
	"testing"
	"testing/fstest"
	"time"

	"github.com/pontexchange/pont/policies"
)

// randomInput draws an input from a space small enough that decisions
// repeat and large enough to take every rule's branches: roles, kinds of
// access, organisations, procedures, purposes, every legal basis with good
// and broken references and consent records, objections, modes, times and
// a handful of subjects.
func randomInput(rng *rand.Rand) Input {
	pick := func(xs ...any) any { return xs[rng.IntN(len(xs))] }
	subjects := []any{"12345678Z", "X1234567L", "45678901G", ""}
	req := map[string]any{
		"procedure": map[string]any{"code": pick("AJUT-MENJADOR", "DEMO", "OTHER"), "name": "x"},
		"purpose":   pick("social-benefits", "demo", "", "unknown"),
		"case_id":   "EXP-1",
		"official":  map[string]any{"id": "38000001E", "name": "Marta Puig"},
		"subject":   map[string]any{"id_type": "DNI", "id": pick(subjects...)},
		"params":    map[string]any{"municipality": "08019", "mode": pick("consult", "verify", nil)},
	}
	switch rng.IntN(7) {
	case 0, 1:
		req["legal_basis"] = map[string]any{"type": "presumed"}
	case 2:
		req["legal_basis"] = map[string]any{"type": "law", "reference": pick("Llei 7/1985 art. 16", "Reial Decret Legislatiu 1/2013", "", "Llei 1/1900", nil)}
	case 3, 4:
		req["legal_basis"] = map[string]any{"type": "consent", "consent_id": pick("CONS-0001", "CONS-0002", "")}
	case 5:
		req["legal_basis"] = map[string]any{"type": pick("contract", 7, nil)}
	default:
		if rng.IntN(2) == 0 {
			delete(req, "params")
		}
	}
	in := Input{
		Request: req,
		Principal: Principal{
			Role: pick("requester", "requester", "citizen", "auditor", "").(string),
			Org:  pick("P0801900B", "P4300000A", "").(string),
			Sub:  pick(subjects...).(string),
		},
		Service: pick(padro(), discapacitat(), map[string]any{"name": "titulacions"}).(map[string]any),
		Now:     pick(now, now.Add(400*24*time.Hour)).(time.Time),
		Access:  pick(AccessQuery, AccessQuery, AccessSelf, "", "other").(string),
	}
	if rng.IntN(3) == 0 {
		in.Objection = map[string]any{"id": "OBJ-1", "subject": in.Request.(map[string]any)["subject"].(map[string]any)["id"], "service": "padro"}
	}
	if rng.IntN(2) == 0 {
		in.Consent = consent(func(c map[string]any) {
			switch rng.IntN(8) {
			case 0:
				c["revoked_at"] = "2026-02-01T00:00:00Z"
			case 1:
				c["subject"] = pick(subjects...)
			case 2:
				c["requester"] = "P4300000A"
			case 3:
				delete(c, "services")
			case 4:
				c["expires_at"] = "not a time"
			case 5:
				c["id"] = "CONS-0002"
			}
		})
	}
	return in
}

// TestMemoDecidesAsEvaluation decides thousands of inputs twice with the
// memo, in different orders and with the service given both ways, and
// checks every decision against a plain evaluation of the same input.
func TestMemoDecidesAsEvaluation(t *testing.T) {
	ctx := context.Background()
	memoised := newEngine(t)
	memoised.memo.maxNodes = 1 << 20 // TestMemoBounded checks the bound
	plain := newEngine(t)
	plain.memo = nil
	rng := rand.New(rand.NewPCG(1, 2))
	inputs := make([]Input, 3000)
	for i := range inputs {
		inputs[i] = randomInput(rng)
		if i%2 == 0 {
			v, err := NewValue(inputs[i].Service)
			if err != nil {
				t.Fatal(err)
			}
			inputs[i].ServiceValue = v
		}
	}
	for pass := range 2 {
		rng.Shuffle(len(inputs), func(i, j int) { inputs[i], inputs[j] = inputs[j], inputs[i] })
		for i, in := range inputs {
			got, gerr := memoised.Decide(ctx, in)
			want, werr := plain.Decide(ctx, in)
			if (gerr == nil) != (werr == nil) || !reflect.DeepEqual(got, want) {
				t.Fatalf("pass %d, input %d %+v:\nmemo  %+v (%v)\nplain %+v (%v)", pass, i, in, got, gerr, want, werr)
			}
		}
	}
	if !memoised.memo.on() {
		t.Error("a shadow evaluation found the memo wrong and turned it off")
	}
	hits, misses := memoised.memo.hits.Load(), memoised.memo.misses.Load()
	t.Logf("%d hits, %d misses, %d nodes", hits, misses, memoised.memo.nodes)
	if hits < uint64(len(inputs)) {
		t.Errorf("only %d of %d decisions came from the memo: the comparison did not exercise it", hits, 2*len(inputs))
	}
}

// TestMemoReadsWhatTheRulesRead: with the repository's policies, a query
// on the presumed basis never reads the subject, so a new subject is
// decided from the memo; a citizen's own access compares the subject with
// the token's, so it is evaluated for each and decided right.
func TestMemoReadsWhatTheRulesRead(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t)
	ask := func(in Input) Decision {
		t.Helper()
		d, err := e.Decide(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	withSubject := func(id string) map[string]any {
		q := query(presumed, "consult")
		q["subject"] = map[string]any{"id_type": "DNI", "id": id}
		return q
	}
	ask(Input{Request: withSubject("12345678Z"), Principal: requester, Service: padro(), Now: now})
	before := e.memo.hits.Load()
	if d := ask(Input{Request: withSubject("45678901G"), Principal: requester, Service: padro(), Now: now.Add(time.Hour)}); !d.Allow {
		t.Fatalf("presumed query for another subject: %+v", d)
	}
	if e.memo.hits.Load() != before+1 {
		t.Error("a presumed query for another subject at another time was evaluated again: the memo keyed on what the rules do not read")
	}

	citizen := Principal{Role: "citizen", Sub: "12345678Z"}
	self := func(id string) Input {
		return Input{Request: withSubject(id), Principal: citizen, Service: padro(), Now: now, Access: AccessSelf}
	}
	if d := ask(self("12345678Z")); !d.Allow {
		t.Fatalf("a citizen reading her own data: %+v", d)
	}
	if d := ask(self("45678901G")); d.Allow {
		t.Fatal("a citizen read another's data: the memo answered for a subject it had not seen")
	}
	if d := ask(self("12345678Z")); !d.Allow {
		t.Fatalf("a citizen reading her own data, again: %+v", d)
	}
}

// TestMemoOffForNondeterministicPolicies: a policy that reads the clock
// decides differently for equal inputs, so nothing may be remembered.
func TestMemoOffForNondeterministicPolicies(t *testing.T) {
	for name, rule := range map[string]string{
		"operator": `verify_only if time.now_ns() < 0`,
		"argument": `verify_only if count([rand.intn("x", 10)]) > 1`,
	} {
		fsys := fstest.MapFS{"p.rego": {Data: []byte(`package pont

default verify_only := false

` + rule + `

decision := {"allow": true, "deny": [], "fields": "*", "verify_only": verify_only}
`)}}
		e, err := New(context.Background(), fsys, nil)
		if err != nil {
			t.Fatal(err)
		}
		if e.memo != nil {
			t.Errorf("%s: memo on for %s", name, rule)
		}
	}
	deterministic, err := New(context.Background(), policies.FS, catalogData())
	if err != nil {
		t.Fatal(err)
	}
	if deterministic.memo == nil {
		t.Fatal("memo off for the repository's policies")
	}
}

// TestMemoChangedInput: a rule that decides with a changed input (`with`)
// is decided right and not remembered as if it had read the input given.
func TestMemoChangedInput(t *testing.T) {
	fsys := fstest.MapFS{"p.rego": {Data: []byte(`package pont

_admin if input.principal.role == "admin"

default _as_admin := false

_as_admin if _admin with input.principal as {"role": "admin"}

decision := {"allow": _as_admin, "deny": [], "fields": "*", "verify_only": false} if input.access == "query"
`)}}
	e, err := New(context.Background(), fsys, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		d, err := e.Decide(context.Background(), Input{Request: map[string]any{}, Principal: requester, Now: now})
		if err != nil || !d.Allow {
			t.Fatalf("Decide = %+v, %v", d, err)
		}
	}
}

// TestMemoBounded: inputs that never repeat (consents read the time) fill
// the memo up to its bound, and no further.
func TestMemoBounded(t *testing.T) {
	e := newEngine(t)
	e.memo.maxNodes = 200
	for i := range 100 {
		in := Input{Request: query(byConsent, "consult"), Principal: requester, Service: discapacitat(), Consent: consent(nil), Now: now.Add(time.Duration(i) * time.Second)}
		d, err := e.Decide(context.Background(), in)
		if err != nil || !d.Allow {
			t.Fatalf("Decide = %+v, %v", d, err)
		}
		if e.memo.nodes > 200 {
			t.Fatalf("%d nodes after %d decisions, bound 200", e.memo.nodes, i+1)
		}
	}
}
