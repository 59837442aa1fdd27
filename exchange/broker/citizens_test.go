package broker_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"testing/fstest"
	"time"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/broker"
	"github.com/pontexchange/pont/exchange/store"
)

func consentBody(services ...string) map[string]any {
	return map[string]any{"requester": barcelona, "procedure": "DEMO", "services": services, "purpose": "demo", "expires_at": time.Now().Add(365 * 24 * time.Hour).UTC().Format(time.RFC3339)}
}

func withConsent(env map[string]any, id string) map[string]any {
	env["legal_basis"] = map[string]any{"type": "consent", "consent_id": id}
	return env
}

func TestConsentLifecycle(t *testing.T) {
	for name, open := range bothStores {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			consentLifecycle(t, startDevWith(t, broker.Config{Store: st}), st)
		})
	}
}

// consentLifecycle runs TestConsentLifecycle on n, whose store is st.
func consentLifecycle(t *testing.T, n *node, st store.Store) {
	ctx := context.Background()
	tok := n.requester(barcelona)
	citizen := n.token(map[string]string{"role": "citizen", "sub": "12345678Z"})
	other := n.token(map[string]string{"role": "citizen", "sub": "00000000T"})

	status, c, _ := n.do("POST", "/v1/me/consents", citizen, consentBody("discapacitat"))
	if status != http.StatusCreated || c["subject"] != "12345678Z" {
		t.Fatalf("create consent: %d %v", status, c)
	}
	id := c["id"].(string)
	disability := envelope("12345678Z", map[string]any{"region": "09"})

	// Special-category data on her recorded consent: allowed.
	if status, out, _ := n.do("POST", "/v1/services/discapacitat/queries", tok, withConsent(disability, id)); status != 200 {
		t.Fatalf("query with consent: %d %v", status, out)
	}
	// Her consent does not cover another service, nor another subject.
	if status, out, _ := n.do("POST", "/v1/services/padro/queries", tok, withConsent(envelope("12345678Z", map[string]any{"municipality": "08019"}), id)); status != 403 || out["code"] != "consent_mismatch" {
		t.Errorf("other service: %d %v", status, out)
	}
	if status, out, _ := n.do("POST", "/v1/services/discapacitat/queries", tok, withConsent(envelope("00000000T", map[string]any{"region": "09"}), id)); status != 403 || out["code"] != "consent_mismatch" {
		t.Errorf("other subject: %d %v", status, out)
	}
	// Lists are her own only.
	if _, list, _ := n.do("GET", "/v1/me/consents", citizen, nil); len(list["items"].([]any)) != 1 {
		t.Errorf("her consents: %v", list)
	}
	if _, list, _ := n.do("GET", "/v1/me/consents", other, nil); len(list["items"].([]any)) != 0 {
		t.Errorf("another citizen sees: %v", list)
	}
	// Nobody else can revoke it; she can.
	if status, out, _ := n.do("DELETE", "/v1/me/consents/"+id, other, nil); status != 404 {
		t.Errorf("another citizen revoked it: %d %v", status, out)
	}
	if status, out, _ := n.do("DELETE", "/v1/me/consents/"+id, citizen, nil); status != 200 || out["revoked_at"] == nil {
		t.Fatalf("revoke: %d %v", status, out)
	}
	if status, out, _ := n.do("POST", "/v1/services/discapacitat/queries", tok, withConsent(disability, id)); status != 403 || out["code"] != "consent_revoked" {
		t.Errorf("after revocation: %d %v", status, out)
	}

	// An expired consent (recorded long ago; the API refuses a past expiry).
	past := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
	if err := st.CreateConsent(ctx, store.Consent{ID: "0190aaaa-0000-7000-8000-000000000001", Subject: "12345678Z", Requester: barcelona, Procedure: "DEMO", Services: []string{"discapacitat"}, Purpose: "demo", CreatedAt: past.Add(-time.Hour), ExpiresAt: past}); err != nil {
		t.Fatal(err)
	}
	if status, out, _ := n.do("POST", "/v1/services/discapacitat/queries", tok, withConsent(disability, "0190aaaa-0000-7000-8000-000000000001")); status != 403 || out["code"] != "consent_expired" {
		t.Errorf("expired: %d %v", status, out)
	}
}

func TestConsentBadInput(t *testing.T) {
	for name, open := range bothStores {
		t.Run(name, func(t *testing.T) { consentBadInput(t, startDevWith(t, broker.Config{Store: open(t)})) })
	}
}

func consentBadInput(t *testing.T, n *node) {
	citizen := n.token(map[string]string{"role": "citizen", "sub": "12345678Z"})
	tok := n.requester(barcelona)
	cases := []struct {
		name       string
		body       any
		wantStatus int
		wantFields []string
	}{
		{"empty", map[string]any{}, 400, []string{"expires_at", "procedure", "purpose", "requester", "services"}},
		{"past expiry", func() map[string]any { b := consentBody("padro"); b["expires_at"] = "2020-01-01T00:00:00Z"; return b }(), 400, []string{"expires_at"}},
		{"bad expiry", func() map[string]any { b := consentBody("padro"); b["expires_at"] = "tomorrow"; return b }(), 400, []string{"expires_at"}},
		{"unknown service", consentBody("cadastre"), 400, []string{"services[0]"}},
		{"unknown organisation", func() map[string]any { b := consentBody("padro"); b["requester"] = "P9999999Z"; return b }(), 400, []string{"requester"}},
		{"unknown field", func() map[string]any { b := consentBody("padro"); b["colour"] = "blue"; return b }(), 400, []string{"colour"}},
		{"services not a list", func() map[string]any { b := consentBody("padro"); b["services"] = "padro"; return b }(), 400, []string{"body"}},
		{"in another's name", func() map[string]any { b := consentBody("padro"); b["subject"] = "00000000T"; return b }(), 403, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, out, _ := n.do("POST", "/v1/me/consents", citizen, c.body)
			if status != c.wantStatus {
				t.Fatalf("got %d %v, want %d", status, out, c.wantStatus)
			}
			for _, f := range c.wantFields {
				if !namesField(out, f) {
					t.Errorf("the problem does not name %s: %v", f, out)
				}
			}
		})
	}
	// Only citizens manage consents.
	if status, out, _ := n.do("POST", "/v1/me/consents", tok, consentBody("padro")); status != 403 || out["code"] != "forbidden" {
		t.Errorf("requester creating consent: %d %v", status, out)
	}
	for _, body := range []any{map[string]any{}, map[string]any{"service": "cadastre"}, map[string]any{"service": "padro", "subject": "00000000T"}} {
		if status, out, _ := n.do("POST", "/v1/me/objections", citizen, body); status/100 != 4 {
			t.Errorf("objection %v: %d %v", body, status, out)
		}
	}
}

func TestObjection(t *testing.T) {
	for name, open := range bothStores {
		t.Run(name, func(t *testing.T) { objection(t, startDevWith(t, broker.Config{Store: open(t)})) })
	}
}

func objection(t *testing.T, n *node) {
	tok := n.requester(barcelona)
	citizen := n.token(map[string]string{"role": "citizen", "sub": "12345678Z"})
	padro := func() map[string]any { return envelope("12345678Z", map[string]any{"municipality": "08019"}) }

	status, o, _ := n.do("POST", "/v1/me/objections", citizen, map[string]any{"service": "padro"})
	if status != 201 {
		t.Fatalf("object: %d %v", status, o)
	}
	if status, out, _ := n.do("POST", "/v1/services/padro/queries", tok, padro()); status != 403 || out["code"] != "objection_registered" {
		t.Errorf("presumed basis after objection: %d %v", status, out)
	}
	// A law listed for the service is decided by its own rule.
	law := padro()
	law["legal_basis"] = map[string]any{"type": "law", "reference": "Llei 7/1985, art. 16"}
	if status, out, _ := n.do("POST", "/v1/services/padro/queries", tok, law); status != 200 {
		t.Errorf("law basis after objection: %d %v", status, out)
	}
	// Recorded consent too.
	_, c, _ := n.do("POST", "/v1/me/consents", citizen, consentBody("padro"))
	if status, out, _ := n.do("POST", "/v1/services/padro/queries", tok, withConsent(padro(), c["id"].(string))); status != 200 {
		t.Errorf("consent after objection: %d %v", status, out)
	}
	// Other services are not affected; withdrawing the objection restores the presumed basis.
	if status, out, _ := n.do("POST", "/v1/services/prestacions/queries", tok, envelope("12345678Z", map[string]any{})); status != 200 {
		t.Errorf("another service: %d %v", status, out)
	}
	if _, list, _ := n.do("GET", "/v1/me/objections", citizen, nil); len(list["items"].([]any)) != 1 {
		t.Errorf("objections: %v", list)
	}
	if status, _, _ := n.do("DELETE", "/v1/me/objections/"+o["id"].(string), citizen, nil); status != 204 {
		t.Fatalf("withdraw: %d", status)
	}
	if status, out, _ := n.do("POST", "/v1/services/padro/queries", tok, padro()); status != 200 {
		t.Errorf("after withdrawal: %d %v", status, out)
	}
}

func TestCitizenReadsOnlyHerOwnData(t *testing.T) {
	for name, open := range bothStores {
		t.Run(name, func(t *testing.T) { citizenReadsOnlyHerOwnData(t, startDevWith(t, broker.Config{Store: open(t)})) })
	}
}

func citizenReadsOnlyHerOwnData(t *testing.T, n *node) {
	her := n.token(map[string]string{"role": "citizen", "sub": "12345678Z"})
	status, out, _ := n.do("GET", "/v1/me/data/discapacitat?region=09", her, nil)
	if status != 200 {
		t.Fatalf("own data: %d %v", status, out)
	}
	if data, _ := out["data"].(map[string]any); data["degree"] == nil {
		t.Errorf("special-category data of her own, in full: %v", out)
	}
	// Nothing in the request can name another subject.
	if status, out, _ := n.do("GET", "/v1/me/data/padro?municipality=08019&subject=00000000T", her, nil); status != 400 || !namesField(out, "params.subject") {
		t.Errorf("naming another subject: %d %v", status, out)
	}
	// She sees the transfers of her data — the self-access and a requester's query — and nobody else's.
	tok := n.requester(barcelona)
	n.do("POST", "/v1/services/padro/queries", tok, envelope("12345678Z", map[string]any{"municipality": "08019"}))
	n.do("POST", "/v1/services/padro/queries", tok, envelope("23456789D", map[string]any{"municipality": "08019"}))
	status, mine, _ := n.do("GET", "/v1/me/transfers", her, nil)
	items, _ := mine["items"].([]any)
	if status != 200 || len(items) != 3 {
		t.Fatalf("her transfers: %d %v", status, mine)
	}
	first := items[0].(map[string]any)
	if first["requester"] != barcelona || first["requester_name"] != "Ajuntament de Barcelona" || first["purpose"] != "demo" || first["legal_basis"] != "presumed" || first["decision"] != "allow" {
		t.Errorf("newest transfer as she sees it: %v", first)
	}
	if items[2].(map[string]any)["kind"] != "self_access" {
		t.Errorf("oldest should be her own access: %v", items[2])
	}
	if status, out, _ := n.do("GET", "/v1/me/transfers?subject=23456789D", her, nil); status != 400 || !namesField(out, "subject") {
		t.Errorf("filtering by another subject: %d %v", status, out)
	}
	if status, out, _ := n.do("GET", "/v1/me/data/padro?municipality=08019", tok, nil); status != 403 {
		t.Errorf("a requester on /v1/me: %d %v", status, out)
	}
}

// propertyCatalog is the real catalog with one organisation authorised for
// every service and every purpose the catalog has, so that minimisation can
// be checked for each pair.
func propertyCatalog(t *testing.T) *catalog.Catalog {
	t.Helper()
	fsys := fstest.MapFS{}
	for _, p := range []string{"purposes.json", "authorisations.json", "owners.json", "services/padro.json", "services/titulacions.json", "services/discapacitat.json", "services/familia-nombrosa.json", "services/prestacions.json"} {
		raw, err := os.ReadFile(filepath.Join("../../catalog", p))
		if err != nil {
			t.Fatal(err)
		}
		fsys[p] = &fstest.MapFile{Data: raw}
	}
	cat, err := catalog.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	var purposes []string
	for name := range cat.Purposes {
		purposes = append(purposes, name)
	}
	auth := map[string]any{barcelona: map[string]any{"name": "Ajuntament de Barcelona", "procedures": map[string]any{
		"PROP": map[string]any{"name": "Every purpose", "services": cat.ServiceNames(), "purposes": purposes},
	}}}
	raw, _ := json.Marshal(auth)
	fsys["authorisations.json"] = &fstest.MapFile{Data: raw}
	if cat, err = catalog.Load(fsys); err != nil {
		t.Fatal(err)
	}
	return cat
}

// TestMinimisedAnswersStayWithinThePurpose: for every service and every
// purpose it allows, the answer carries no field outside the purpose's list,
// and verify mode answers only whether it holds.
func TestMinimisedAnswersStayWithinThePurpose(t *testing.T) {
	cat := propertyCatalog(t)
	n := startDevWith(t, broker.Config{Catalog: cat})
	tok := n.requester(barcelona)
	params := map[string]map[string]any{"padro": {"municipality": "08019"}, "discapacitat": {"region": "09"}, "familia-nombrosa": {"region": "09"}}
	for _, name := range cat.ServiceNames() {
		svc, _ := cat.Service(name)
		for purpose, rule := range svc.Purposes {
			t.Run(name+"/"+purpose, func(t *testing.T) {
				env := envelope("12345678Z", params[name])
				env["procedure"] = map[string]any{"code": "PROP", "name": "Every purpose"}
				env["purpose"] = purpose
				if svc.SpecialCategory {
					env["legal_basis"] = map[string]any{"type": "law", "reference": svc.Laws[0].Reference}
				}
				status, out, _ := n.do("POST", "/v1/services/"+name+"/queries", tok, env)
				if status != 200 {
					t.Fatalf("%d %v", status, out)
				}
				data, _ := out["data"].(map[string]any)
				if len(data) == 0 {
					t.Fatalf("no data: %v", out)
				}
				if !rule.All() {
					for field := range data {
						if !slices.Contains(rule.Fields, field) {
							t.Errorf("field %s is outside purpose %s's list %v", field, purpose, rule.Fields)
						}
					}
				}

				verify := map[string]any{"mode": "verify"}
				for k, v := range params[name] {
					verify[k] = v
				}
				env["params"] = verify
				_, out, _ = n.do("POST", "/v1/services/"+name+"/queries", tok, env)
				if got, _ := json.Marshal(out["data"]); string(got) != `{"verified":true}` {
					t.Errorf("verify mode answered %s", got)
				}
			})
		}
	}
}

func TestVerifyMode(t *testing.T) {
	for name, open := range bothStores {
		t.Run(name, func(t *testing.T) { verifyMode(t, startDevWith(t, broker.Config{Store: open(t)})) })
	}
}

func verifyMode(t *testing.T, n *node) {
	tok := n.requester(barcelona)
	cases := []struct {
		name    string
		subject string
		params  map[string]any
		want    string
		status  int
	}{
		{"registered here", "12345678Z", map[string]any{"municipality": "08019", "mode": "verify"}, `{"verified":true}`, 200},
		{"unknown subject", "00000000T", map[string]any{"municipality": "08019", "mode": "verify"}, `{"verified":false}`, 200},
		{"expected value holds", "12345678Z", map[string]any{"municipality": "08019", "mode": "verify", "expected": map[string]any{"municipality": map[string]any{"code": "08019"}}}, `{"verified":true}`, 200},
		{"expected value differs", "12345678Z", map[string]any{"municipality": "08019", "mode": "verify", "expected": map[string]any{"registration_date": "1999-01-01"}}, `{"verified":false}`, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, out, _ := n.do("POST", "/v1/services/padro/queries", tok, envelope(c.subject, c.params))
			got, _ := json.Marshal(out["data"])
			if status != c.status || string(got) != c.want {
				t.Errorf("got %d %s, want %d %s (%v)", status, got, c.status, c.want, out)
			}
		})
	}
	// A purpose that may not see a field may not verify a guess of it
	// either (pipeline's TestVerifyCannotProbeHiddenFields has every
	// service's): the refusal is answered over HTTP, and recorded.
	probe := envelope("12345678Z", map[string]any{"municipality": "08019", "mode": "verify", "expected": map[string]any{"entity": "a guess"}})
	probe["procedure"] = map[string]any{"code": "PREINSCRIPCIO", "name": "Preinscripció escolar"}
	probe["purpose"] = "school-admission"
	status, out, _ := n.do("POST", "/v1/services/padro/queries", n.requester("P1708500B"), probe)
	if _, leaked := out["data"]; status != http.StatusBadRequest || out["code"] != "invalid_request" || !namesField(out, "params.expected.entity") || leaked {
		t.Fatalf("verifying a field school-admission may not see: %d %v, want 400 invalid_request naming params.expected.entity", status, out)
	}
	id, _ := out["transfer_id"].(string)
	if id == "" {
		t.Fatalf("the refusal was not recorded: %v", out)
	}
	if rec := n.transfer(n.token(map[string]string{"role": "auditor", "sub": "dpo"}), id); rec["outcome"] != "invalid_request" || rec["http_status"] != float64(400) {
		t.Errorf("the refusal's record: %v", rec)
	}
}
