package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/format"

	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/policies"
)

// TestRegoPolicies runs every Rego test of policies/: this is how `make
// test` runs them.
func TestRegoPolicies(t *testing.T) {
	passed, failed, report, err := RunTests(context.Background(), policies.FS, nil)
	if err != nil {
		t.Fatalf("RunTests: %v", err)
	}
	if failed > 0 || testing.Verbose() {
		t.Log("\n" + report)
	}
	if failed > 0 {
		t.Fatalf("%d Rego tests failed, %d passed", failed, passed)
	}
	if passed == 0 {
		t.Fatal("no Rego test ran")
	}
}

// TestPoliciesFormatted keeps policies/ as `opa fmt` writes it, as gofmt
// does for Go.
func TestPoliciesFormatted(t *testing.T) {
	files, err := readPolicies(policies.FS, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		out, err := format.SourceWithOpts(f.name, f.src, format.Opts{RegoVersion: ast.RegoV1})
		if err != nil {
			t.Errorf("%s: %v", f.name, err)
			continue
		}
		if string(out) != string(f.src) {
			t.Errorf("%s is not formatted as opa fmt would; formatted:\n%s", f.name, out)
		}
	}
}

// catalogData is a slice of a realistic catalog, keyed as the catalog
// package loads it.
func catalogData() map[string]any {
	return map[string]any{
		"authorisations": map[string]any{
			"P0801900B": map[string]any{"procedures": map[string]any{
				"AJUT-MENJADOR": map[string]any{
					"services": map[string]any{"padro": true, "discapacitat": true},
					"purposes": map[string]any{"social-benefits": true},
				},
				"DEMO": map[string]any{
					"services": map[string]any{"padro": true, "titulacions": true},
					"purposes": map[string]any{"demo": true},
				},
			}},
		},
		"purposes": map[string]any{
			"demo":            map[string]any{"title": "Demonstration"},
			"social-benefits": map[string]any{"title": "Granting social benefits"},
		},
		"laws": map[string]any{
			"padro":        map[string]any{"Llei 7/1985 art. 16": true},
			"discapacitat": map[string]any{"Reial Decret Legislatiu 1/2013": true},
		},
	}
}

func padro() map[string]any {
	return map[string]any{
		"name":             "padro",
		"special_category": false,
		"purposes": map[string]any{
			"demo":            map[string]any{"fields": "*"},
			"social-benefits": map[string]any{"fields": []any{"municipality", "registration_date"}},
		},
		"laws": map[string]any{"Llei 7/1985 art. 16": true},
	}
}

func discapacitat() map[string]any {
	return map[string]any{
		"name":             "discapacitat",
		"special_category": true,
		"purposes": map[string]any{
			"social-benefits": map[string]any{"fields": []any{"degree", "valid_until"}},
		},
		"laws": map[string]any{"Reial Decret Legislatiu 1/2013": true},
	}
}

var now = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// query returns a valid envelope (as the envelope package hands it over) with
// the given legal basis and mode.
func query(basis map[string]any, mode string) map[string]any {
	return map[string]any{
		"procedure":   map[string]any{"code": "AJUT-MENJADOR", "name": "Ajuts de menjador escolar"},
		"purpose":     "social-benefits",
		"legal_basis": basis,
		"case_id":     "EXP-2026-00123",
		"official":    map[string]any{"id": "38000001E", "name": "Marta Puig"},
		"subject":     map[string]any{"id_type": "DNI", "id": "12345678Z", "name": "Joan", "surname1": "Garcia"},
		"params":      map[string]any{"municipality": "08019", "mode": mode},
	}
}

func consent(change func(map[string]any)) map[string]any {
	c := map[string]any{
		"id":         "CONS-0001",
		"subject":    "12345678Z",
		"requester":  "P0801900B",
		"procedure":  "AJUT-MENJADOR",
		"services":   []any{"padro", "discapacitat"},
		"purpose":    "social-benefits",
		"expires_at": "2027-01-01T00:00:00Z",
		"revoked_at": nil,
	}
	if change != nil {
		change(c)
	}
	return c
}

var (
	presumed     = map[string]any{"type": "presumed"}
	byConsent    = map[string]any{"type": "consent", "consent_id": "CONS-0001"}
	requester    = Principal{Role: "requester", Org: "P0801900B", Sub: "tramitador-bcn"}
	socialFields = []string{"municipality", "registration_date"}
)

func newEngine(t testing.TB) *Engine {
	t.Helper()
	e, err := New(context.Background(), policies.FS, catalogData())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

func TestDecide(t *testing.T) {
	e := newEngine(t)
	tests := []struct {
		name string
		in   Input
		want Decision
	}{
		{
			name: "presumed basis, listed fields",
			in:   Input{Request: query(presumed, "consult"), Principal: requester, Service: padro()},
			want: Decision{Allow: true, Fields: socialFields},
		},
		{
			name: "verify mode",
			in:   Input{Request: query(presumed, "verify"), Principal: requester, Service: padro()},
			want: Decision{Allow: true, Fields: socialFields, VerifyOnly: true},
		},
		{
			name: "demo purpose, all fields",
			in: func() Input {
				q := query(presumed, "consult")
				q["procedure"] = map[string]any{"code": "DEMO"}
				q["purpose"] = "demo"
				return Input{Request: q, Principal: requester, Service: padro()}
			}(),
			want: Decision{Allow: true, AllFields: true},
		},
		{
			name: "law basis on special-category data",
			in: Input{
				Request:   query(map[string]any{"type": "law", "reference": "Reial Decret Legislatiu 1/2013"}, "consult"),
				Principal: requester, Service: discapacitat(),
			},
			want: Decision{Allow: true, Fields: []string{"degree", "valid_until"}},
		},
		{
			name: "consent basis on special-category data",
			in:   Input{Request: query(byConsent, "consult"), Principal: requester, Service: discapacitat(), Consent: consent(nil)},
			want: Decision{Allow: true, Fields: []string{"degree", "valid_until"}},
		},
		{
			name: "organisation not authorised",
			in:   Input{Request: query(presumed, "consult"), Principal: Principal{Role: "requester", Org: "P4300000A"}, Service: padro()},
			want: Decision{Fields: socialFields, Deny: []fault.Reason{{
				Code: fault.NotAuthorized, Message: "organisation P4300000A is not authorised for procedure AJUT-MENJADOR on service padro",
			}}},
		},
		{
			name: "citizen may not query",
			in:   Input{Request: query(presumed, "consult"), Principal: Principal{Role: "citizen", Sub: "12345678Z"}, Service: padro()},
			want: Decision{Fields: socialFields, Deny: []fault.Reason{{
				Code: fault.NotAuthorized, Message: "a principal with role citizen may not query services; only requester organisations may",
			}}},
		},
		{
			name: "purpose not allowed",
			in: func() Input {
				q := query(presumed, "consult")
				q["purpose"] = "demo"
				return Input{Request: q, Principal: requester, Service: padro()}
			}(),
			want: Decision{AllFields: true, Deny: []fault.Reason{{
				Code: fault.PurposeNotAllowed, Message: "purpose demo is not allowed for procedure AJUT-MENJADOR of organisation P0801900B",
			}}},
		},
		{
			name: "presumed basis on special-category data",
			in:   Input{Request: query(presumed, "consult"), Principal: requester, Service: discapacitat()},
			want: Decision{Fields: []string{"degree", "valid_until"}, Deny: []fault.Reason{{
				Code:    fault.LegalBasisRequired,
				Message: "service discapacitat holds special-category data (GDPR art. 9), which is never served on the presumed basis of Llei 39/2015 art. 28.2 alone; it needs the citizen's consent or a law listed for the service",
			}}},
		},
		{
			name: "no legal basis",
			in:   Input{Request: query(nil, "consult"), Principal: requester, Service: padro()},
			want: Decision{Fields: socialFields, Deny: []fault.Reason{{
				Code: fault.LegalBasisRequired, Message: "a legal basis is required: presumed, law or consent",
			}}},
		},
		{
			name: "objection to the presumed basis",
			in: Input{
				Request: query(presumed, "consult"), Principal: requester, Service: padro(),
				Objection: map[string]any{"subject": "12345678Z", "service": "padro", "recorded_at": "2025-11-02T09:00:00Z"},
			},
			want: Decision{Fields: socialFields, Deny: []fault.Reason{{
				Code:    fault.ObjectionRegistered,
				Message: "the citizen has objected to the consultation of service padro, so the presumed basis of Llei 39/2015 art. 28.2 does not apply; it needs the citizen's consent or a law listed for the service",
			}}},
		},
		{
			name: "law not listed",
			in: Input{
				Request:   query(map[string]any{"type": "law", "reference": "Llei 19/2014"}, "consult"),
				Principal: requester, Service: padro(),
			},
			want: Decision{Fields: socialFields, Deny: []fault.Reason{{
				Code: fault.LegalBasisInvalid, Message: `law "Llei 19/2014" is not one the catalog lists for service padro`,
			}}},
		},
		{
			name: "consent not found",
			in:   Input{Request: query(byConsent, "consult"), Principal: requester, Service: padro()},
			want: Decision{Fields: socialFields, Deny: []fault.Reason{{
				Code: fault.ConsentNotFound, Message: "consent CONS-0001 was not found",
			}}},
		},
		{
			name: "consent revoked",
			in: Input{
				Request: query(byConsent, "consult"), Principal: requester, Service: padro(),
				Consent: consent(func(c map[string]any) { c["revoked_at"] = "2026-02-15T08:30:00Z" }),
			},
			want: Decision{Fields: socialFields, Deny: []fault.Reason{{
				Code: fault.ConsentRevoked, Message: "consent CONS-0001 was revoked by the citizen",
			}}},
		},
		{
			name: "consent expired a second ago",
			in: Input{
				Request: query(byConsent, "consult"), Principal: requester, Service: padro(),
				Consent: consent(func(c map[string]any) { c["expires_at"] = now.Add(-time.Second).Format(time.RFC3339) }),
			},
			want: Decision{Fields: socialFields, Deny: []fault.Reason{{
				Code: fault.ConsentExpired, Message: "consent CONS-0001 has expired",
			}}},
		},
		{
			name: "consent of another subject",
			in: Input{
				Request: query(byConsent, "consult"), Principal: requester, Service: padro(),
				Consent: consent(func(c map[string]any) { c["subject"] = "87654321X" }),
			},
			want: Decision{Fields: socialFields, Deny: []fault.Reason{{
				Code: fault.ConsentMismatch, Message: "consent CONS-0001 does not cover this query: it belongs to another subject",
			}}},
		},
		{
			name: "several reasons, sorted by code",
			in: Input{
				Request:   query(map[string]any{"type": "law", "reference": "Llei 19/2014"}, "consult"),
				Principal: Principal{Role: "requester", Org: "P4300000A"}, Service: discapacitat(),
			},
			want: Decision{Fields: []string{"degree", "valid_until"}, Deny: []fault.Reason{
				{Code: fault.LegalBasisInvalid, Message: `law "Llei 19/2014" is not one the catalog lists for service discapacitat`},
				{Code: fault.NotAuthorized, Message: "organisation P4300000A is not authorised for procedure AJUT-MENJADOR on service discapacitat"},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Now = now
			got, err := e.Decide(context.Background(), tt.in)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Decide:\n got %+v\nwant %+v", got, tt.want)
			}
			// The same with the service's view converted once, as the
			// pipeline passes it; Service is then not read.
			in := tt.in
			if in.ServiceValue, err = NewValue(in.Service); err != nil {
				t.Fatalf("NewValue: %v", err)
			}
			in.Service = map[string]any{"name": "not-read"}
			got, err = e.Decide(context.Background(), in)
			if err != nil {
				t.Fatalf("Decide with ServiceValue: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Decide with ServiceValue:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// A struct request (not a map) goes through a JSON round trip and decides
// the same.
func TestDecideStructRequest(t *testing.T) {
	type subject struct {
		IDType string `json:"id_type"`
		ID     string `json:"id"`
	}
	type code struct {
		Code string `json:"code"`
	}
	type envelope struct {
		Procedure  code              `json:"procedure"`
		Purpose    string            `json:"purpose"`
		LegalBasis map[string]string `json:"legal_basis"`
		Subject    subject           `json:"subject"`
		Params     map[string]string `json:"params"`
	}
	e := newEngine(t)
	got, err := e.Decide(context.Background(), Input{
		Request: envelope{
			Procedure:  code{"AJUT-MENJADOR"},
			Purpose:    "social-benefits",
			LegalBasis: map[string]string{"type": "presumed"},
			Subject:    subject{"DNI", "12345678Z"},
			Params:     map[string]string{"mode": "verify"},
		},
		Principal: requester, Service: padro(), Now: now,
	})
	if err != nil {
		t.Fatalf("Decide: %v", err)
	}
	want := Decision{Allow: true, Fields: socialFields, VerifyOnly: true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Decide:\n got %+v\nwant %+v", got, want)
	}
}

func TestDecideRefusesInputWithoutTime(t *testing.T) {
	e := newEngine(t)
	_, err := e.Decide(context.Background(), Input{Request: query(presumed, "consult"), Principal: requester, Service: padro()})
	if err == nil {
		t.Fatal("Decide without Now: no error")
	}
}

// withFiles returns the real policies with files added or replaced.
func withFiles(t *testing.T, files map[string]string) fs.FS {
	t.Helper()
	m := fstest.MapFS{}
	err := fs.WalkDir(policies.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(policies.FS, p)
		m[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, src := range files {
		m[name] = &fstest.MapFile{Data: []byte(src)}
	}
	return m
}

func TestNewRefusesBrokenPolicies(t *testing.T) {
	tests := []struct {
		name  string
		fsys  fs.FS
		wants []string // substrings of the error
	}{
		{
			name:  "parse error",
			fsys:  withFiles(t, map[string]string{"broken.rego": "package pont\n\nreasons contains x if {\n\tx := \n}\n"}),
			wants: []string{"broken.rego:", "rego_parse_error"},
		},
		{
			name:  "unsafe variable",
			fsys:  withFiles(t, map[string]string{"unsafe.rego": "package pont\n\nreasons contains {\"code\": c, \"message\": \"m\"} if {\n\tc != \"x\"\n}\n"}),
			wants: []string{"unsafe.rego:4", "rego_unsafe_var_error"},
		},
		{
			name:  "unknown function",
			fsys:  withFiles(t, map[string]string{"authz.rego": "package pont\n\nreasons contains r if {\n\tr := no_such_function(input)\n}\n"}),
			wants: []string{"authz.rego:4", "rego_type_error"},
		},
		{
			name:  "pre-v1 syntax",
			fsys:  withFiles(t, map[string]string{"old.rego": "package pont\n\nold_rule[x] { x := 1 }\n"}),
			wants: []string{"old.rego:3"},
		},
		{
			name:  "no decision rule",
			fsys:  fstest.MapFS{"other.rego": {Data: []byte("package pont\n\nallow := true\n")}},
			wants: []string{"data.pont.decision"},
		},
		{
			name:  "no policies",
			fsys:  fstest.MapFS{"README.md": {Data: []byte("nothing")}},
			wants: []string{"no .rego files"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(context.Background(), tt.fsys, catalogData())
			if err == nil {
				t.Fatal("New: no error")
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("New error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// Test files are not part of the decision: a broken one does not stop New.
func TestNewSkipsTestFiles(t *testing.T) {
	fsys := withFiles(t, map[string]string{"broken_test.rego": "package pont_test\n\ntest_x if {\n"})
	if _, err := New(context.Background(), fsys, catalogData()); err != nil {
		t.Fatalf("New: %v", err)
	}
}

func TestDecideFailsClosed(t *testing.T) {
	tests := []struct {
		name     string
		decision string
	}{
		{"undefined", `decision := d if { d := {"allow": true}; input.never }`},
		{"not an object", `decision := true`},
		{"allow not a boolean", `decision := {"allow": "yes", "deny": [], "fields": "*", "verify_only": false}`},
		{"allow with reasons", `decision := {"allow": true, "deny": [{"code": "not_authorized", "message": "m"}], "fields": "*", "verify_only": false}`},
		{"deny without reasons", `decision := {"allow": false, "deny": [], "fields": "*", "verify_only": false}`},
		{"reason without code", `decision := {"allow": false, "deny": [{"message": "m"}], "fields": "*", "verify_only": false}`},
		{"fields missing", `decision := {"allow": true, "deny": [], "verify_only": false}`},
		{"fields a single name", `decision := {"allow": true, "deny": [], "fields": "municipality", "verify_only": false}`},
		{"field not a string", `decision := {"allow": true, "deny": [], "fields": [1], "verify_only": false}`},
		{"verify_only missing", `decision := {"allow": true, "deny": [], "fields": "*"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{"decision.rego": {Data: []byte("package pont\n\n" + tt.decision + "\n")}}
			e, err := New(context.Background(), fsys, nil)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			d, err := e.Decide(context.Background(), Input{Request: query(presumed, "consult"), Principal: requester, Service: padro(), Now: now})
			if err == nil {
				t.Fatalf("Decide: no error, decision %+v", d)
			}
			if d.Allow {
				t.Fatalf("Decide: allowed with error %v", err)
			}
		})
	}
}

func TestRevision(t *testing.T) {
	ctx := context.Background()
	base := newEngine(t).Revision()
	if len(base) != 64 {
		t.Fatalf("Revision %q is not a hex SHA-256", base)
	}

	// The same data built in another order, or through JSON, is the same
	// revision: the data is hashed canonically.
	var viaJSON map[string]any
	raw, _ := json.Marshal(catalogData())
	if err := json.Unmarshal(raw, &viaJSON); err != nil {
		t.Fatal(err)
	}
	same, err := New(ctx, policies.FS, viaJSON)
	if err != nil {
		t.Fatal(err)
	}
	if got := same.Revision(); got != base {
		t.Errorf("same policies and data: revision %s, want %s", got, base)
	}

	changedData := catalogData()
	changedData["purposes"].(map[string]any)["audit"] = map[string]any{"title": "Audit"}
	tests := []struct {
		name string
		fsys fs.FS
		data map[string]any
	}{
		{"other data", policies.FS, changedData},
		{"no data", policies.FS, nil},
		{"a policy changed", withFiles(t, map[string]string{"minimise.rego": "package pont\n\ndefault fields := []\n\ndefault verify_only := false\n"}), catalogData()},
		{"a policy added", withFiles(t, map[string]string{"extra.rego": "package pont\n\nextra := 1\n"}), catalogData()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := New(ctx, tt.fsys, tt.data)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if e.Revision() == base {
				t.Errorf("revision unchanged: %s", base)
			}
		})
	}

	// Test files do not decide, so they do not change the revision.
	t.Run("a test file added", func(t *testing.T) {
		e, err := New(ctx, withFiles(t, map[string]string{"extra_test.rego": "package pont_test\n\ntest_x if true\n"}), catalogData())
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		if e.Revision() != base {
			t.Errorf("revision changed by a test file")
		}
	})
}

// RunTests must report a failing Rego test as failed, with its name and
// the failing case, and not as an error.
func TestRunTestsReportsFailures(t *testing.T) {
	fsys := withFiles(t, map[string]string{"wrong_test.rego": `package pont_test

import rego.v1

test_wrong_expectation[note] if {
	some note, want in {
		"right": "organisation P4300000A is not authorised for procedure AJUT-MENJADOR on service padro",
		"wrong": "organisation P4300000A is authorised",
	}
	_reasons({"principal": {"org": "P4300000A"}}) == {{"code": "not_authorized", "message": want}}
}
`})
	passed, failed, report, err := RunTests(context.Background(), fsys, nil)
	if err != nil {
		t.Fatalf("RunTests: %v", err)
	}
	if failed != 1 || passed == 0 {
		t.Errorf("RunTests: %d passed, %d failed; want 1 failed and the rest passed", passed, failed)
	}
	for _, w := range []string{"FAIL wrong_test.rego:5: data.pont_test.test_wrong_expectation", "wrong: FAIL", "right: PASS", fmt.Sprintf("%d passed, 1 failed", passed)} {
		if !strings.Contains(report, w) {
			t.Errorf("report lacks %q:\n%s", w, report)
		}
	}
}

func TestRunTestsRefusesBrokenPolicies(t *testing.T) {
	fsys := withFiles(t, map[string]string{"broken_test.rego": "package pont_test\n\ntest_x if {\n"})
	if _, _, _, err := RunTests(context.Background(), fsys, nil); err == nil || !strings.Contains(err.Error(), "broken_test.rego:") {
		t.Fatalf("RunTests: error %v, want one naming broken_test.rego", err)
	}
}

// TestDecideConcurrent hammers one Engine from many goroutines with inputs
// whose decisions differ, checking each answer against its own input.
func TestDecideConcurrent(t *testing.T) {
	e := newEngine(t)
	inputs := []struct {
		in    Input
		allow bool
		code  fault.Code
	}{
		{Input{Request: query(presumed, "consult"), Principal: requester, Service: padro(), Now: now}, true, ""},
		{Input{Request: query(presumed, "consult"), Principal: requester, Service: discapacitat(), Now: now}, false, fault.LegalBasisRequired},
		{Input{Request: query(byConsent, "consult"), Principal: requester, Service: discapacitat(), Consent: consent(nil), Now: now}, true, ""},
		{Input{Request: query(byConsent, "consult"), Principal: requester, Service: padro(), Now: now}, false, fault.ConsentNotFound},
		{Input{Request: query(presumed, "verify"), Principal: Principal{Role: "auditor"}, Service: padro(), Now: now}, false, fault.NotAuthorized},
	}
	const goroutines, rounds = 16, 200
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range rounds {
				c := inputs[(g+i)%len(inputs)]
				d, err := e.Decide(context.Background(), c.in)
				if err != nil {
					errs <- err
					return
				}
				if d.Allow != c.allow || (!c.allow && d.Deny[0].Code != c.code) {
					errs <- fmt.Errorf("input %d: got %+v, want allow %t code %q", (g+i)%len(inputs), d, c.allow, c.code)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// BenchmarkDecide measures an evaluation (the memo off: what a decision
// costs the first time it is asked), then a decision that the memo answers
// for a subject it has not seen, as most queries are.
func BenchmarkDecide(b *testing.B) {
	e := newEngine(b)
	e.memo = nil
	ctx := context.Background()
	cases := []struct {
		name string
		in   Input
	}{
		{"presumed allow", Input{Request: query(presumed, "consult"), Principal: requester, Service: padro(), Now: now}},
		{"consent allow", Input{Request: query(byConsent, "consult"), Principal: requester, Service: discapacitat(), Consent: consent(nil), Now: now}},
		{"deny", Input{Request: query(presumed, "consult"), Principal: Principal{Role: "requester", Org: "P4300000A"}, Service: discapacitat(), Now: now}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Decide(ctx, c.in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// As the pipeline decides: the service's view converted once.
	for _, c := range cases {
		in := c.in
		sv, err := NewValue(in.Service)
		if err != nil {
			b.Fatal(err)
		}
		in.ServiceValue, in.Service = sv, nil
		b.Run(c.name+" prepared service", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Decide(ctx, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	sv, err := NewValue(padro())
	if err != nil {
		b.Fatal(err)
	}
	// The memo as it runs (one hit in DefaultShadowEvery evaluated again),
	// without the check (what it costs), and with every hit checked.
	for _, v := range []struct {
		name  string
		every uint64
	}{
		{"", DefaultShadowEvery},
		{" unchecked", math.MaxUint64},
		{" every hit checked", 1},
	} {
		memoised := newEngine(b)
		memoised.shadowEvery = v.every
		b.Run("memo presumed allow new subject"+v.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				q := query(presumed, "consult")
				q["subject"] = map[string]any{"id_type": "DNI", "id": strconv.Itoa(10000000 + i)}
				i++
				d, err := memoised.Decide(ctx, Input{Request: q, Principal: requester, ServiceValue: sv, Now: now})
				if err != nil || !d.Allow {
					b.Fatal(d, err)
				}
			}
			// The first decision is the memo's only miss.
			if b.N > 1 && memoised.memo.hits.Load() == 0 || !memoised.memo.on() {
				b.Fatal("the memo answered nothing, or was turned off")
			}
		})
	}
}
