package broker_test

import (
	"context"
	"path/filepath"

	"encoding/json"
	"github.com/pontexchange/pont/exchange/broker"
	"github.com/pontexchange/pont/exchange/quota"
	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/store/postgres"
	"github.com/pontexchange/pont/exchange/store/postgres/pgtest"
	"github.com/pontexchange/pont/exchange/store/sqlite"
	"net/http"
	"strings"
	"testing"
)

// TestEdgeRefusesWhatItCannotRecord sends, over HTTP, what an attacker
// sends to make records unwritable or huge: NUL bytes, invalid UTF-8, long
// names, query strings that lose their filters. Each is refused with a
// short 4xx that names the field, and an attempt that reached the pipeline
// is in the log, without the bytes as they came.
func TestEdgeRefusesWhatItCannotRecord(t *testing.T) {
	for name, open := range bothStores {
		t.Run(name, func(t *testing.T) { edgeRefuses(t, startDevWith(t, broker.Config{Store: open(t)})) })
	}
}

func edgeRefuses(t *testing.T, n *node) {
	requester := n.requester(barcelona)
	citizen := n.token(map[string]string{"role": "citizen", "sub": "67890123B"})
	auditor := n.token(map[string]string{"role": "auditor", "sub": "dpo"})
	query, _ := json.Marshal(envelope("12345678Z", map[string]any{"municipality": "08019"}))
	long := strings.Repeat("B", 100<<10)

	cases := []struct {
		name, method, path, token, body string
		status                          int
		code, field                     string // the problem's code and a field it names
		recorded                        bool   // the attempt is in the log
	}{
		{"NUL in the service name", "POST", "/v1/services/x%00/queries", requester, string(query), 404, "unknown_service", "", true},
		{"invalid UTF-8 in the service name", "POST", "/v1/services/x%ff/queries", requester, string(query), 404, "unknown_service", "", true},
		{"a 100 KiB service name", "GET", "/v1/me/data/" + long + "?municipality=17079", citizen, "", 404, "unknown_service", "", true},
		{"NUL as a member name", "POST", "/v1/services/padro/queries", requester, `{"\u0000":1}`, 400, "invalid_request", `"\x00"`, true},
		{"NUL as a param name", "GET", "/v1/me/data/padro?municipality=17079&%00=1", citizen, "", 400, "invalid_request", `"\x00"`, true},
		{"a body that is not JSON", "POST", "/v1/services/padro/queries", requester, "<xml/>", 400, "invalid_request", "$", true},
		{"a repeated param", "POST", "/v1/services/padro/queries", requester, strings.Replace(string(query), `"params":{`, `"params":{"municipality":"17079",`, 1), 400, "invalid_request", "params.municipality", true},
		{"';' in an audit query string", "GET", "/v1/audit/transfers?subject=00000000T;limit=3", auditor, "", 400, "invalid_request", "subject=00000000T;limit=3", false},
		{"NUL in an audit filter", "GET", "/v1/audit/transfers?subject=%00", auditor, "", 400, "invalid_request", "subject", false},
		{"NUL in a transfer id", "GET", "/v1/audit/transfers/%00", auditor, "", 404, "not_found", "", false},
		{"NUL in a consent id", "DELETE", "/v1/me/consents/%00", citizen, "", 404, "not_found", "", false},
		{"a repeated member in a consent", "POST", "/v1/me/consents", citizen, `{"requester":"P0801900B","procedure":"DEMO","services":["padro"],"purpose":"demo","purpose":"demo","expires_at":"2030-01-01T00:00:00Z"}`, 400, "invalid_request", "purpose", false},
		{"a miscased member in an objection", "POST", "/v1/me/objections", citizen, `{"Service":"padro"}`, 400, "invalid_request", "Service", false},
		{"data after an objection", "POST", "/v1/me/objections", citizen, `{"service":"padro"}]`, 400, "invalid_request", "$", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body []byte
			if c.body != "" {
				body = []byte(c.body)
			}
			status, raw := n.raw(c.method, c.path, c.token, body)
			if len(raw) > 2048 {
				t.Errorf("a %d-byte answer to a refusal", len(raw))
			}
			var p struct {
				Code       string `json:"code"`
				TransferID string `json:"transfer_id"`
				Errors     []struct {
					Field string `json:"field"`
				} `json:"errors"`
			}
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatalf("%d %s: %v", status, raw, err)
			}
			if status != c.status || p.Code != c.code {
				t.Fatalf("answered %d %s, want %d %s: %s", status, p.Code, c.status, c.code, raw)
			}
			if c.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != c.field) {
				t.Errorf("the problem names %+v, want %q", p.Errors, c.field)
			}
			if !c.recorded {
				return
			}
			if p.TransferID == "" {
				t.Fatal("the attempt was not recorded")
			}
			rec := n.transfer(auditor, p.TransferID)
			if s, _ := rec["service"].(string); s != "" && s != "padro" {
				t.Errorf("the record keeps the service name %.40q", s)
			}
			recJSON, _ := json.Marshal(rec)
			if strings.Contains(string(recJSON), `\u0000`) || strings.Contains(string(recJSON), long[:1000]) {
				t.Errorf("the record keeps the caller's bytes as they came: %.200s", recJSON)
			}
		})
	}
}

// TestObjectionInTheCatalogsSpelling: an objection to procedure "demo"
// stops the queries that name DEMO, as the citizen meant.
func TestObjectionInTheCatalogsSpelling(t *testing.T) {
	for name, open := range bothStores {
		t.Run(name, func(t *testing.T) { objectionInTheCatalogsSpelling(t, startDevWith(t, broker.Config{Store: open(t)})) })
	}
}

func objectionInTheCatalogsSpelling(t *testing.T, n *node) {
	citizen := n.token(map[string]string{"role": "citizen", "sub": "12345678Z"})
	status, out, _ := n.do("POST", "/v1/me/objections", citizen, map[string]any{"service": "padro", "procedure": "demo"})
	if status != http.StatusCreated || out["procedure"] != "DEMO" {
		t.Fatalf("objection: %d %v, want 201 with procedure DEMO", status, out)
	}
	status, out, _ = n.do("POST", "/v1/services/padro/queries", n.requester(barcelona), envelope("12345678Z", map[string]any{"municipality": "08019"}))
	if status != http.StatusForbidden || out["code"] != "objection_registered" {
		t.Errorf("query after the objection: %d %v, want 403 objection_registered", status, out)
	}
	for _, procedure := range []string{"NOPE", "DE\nMO", "=1+1"} {
		status, out, _ = n.do("POST", "/v1/me/objections", citizen, map[string]any{"service": "padro", "procedure": procedure})
		if status != http.StatusBadRequest || !namesField(out, "procedure") {
			t.Errorf("objection to procedure %q: %d %v, want 400 naming procedure", procedure, status, out)
		}
	}
}

// TestQuota: an organisation over its quota gets 429 with Retry-After, and
// the refusal is in the log; another organisation is not affected; a
// citizen's carpeta calls have a quota of their own.
func TestQuota(t *testing.T) {
	for name, open := range bothStores {
		t.Run(name, func(t *testing.T) {
			quotas(t, startDevWith(t, broker.Config{Store: open(t), Quota: quota.Config{
				Organisations: map[string]quota.Limit{barcelona: {Rate: 0.01, Burst: 2}},
				Citizen:       quota.Limit{Rate: 0.01, Burst: 1},
			}}))
		})
	}
}

// quotas checks the limits TestQuota gives n: a burst of two queries for
// barcelona, of one call for a citizen.
func quotas(t *testing.T, n *node) {
	barcelonaToken, other := n.requester(barcelona), n.requester("S0811001G")
	auditor := n.token(map[string]string{"role": "auditor", "sub": "dpo"})
	env := envelope("12345678Z", map[string]any{"municipality": "08019"})
	for i := range 2 {
		if status, out, _ := n.do("POST", "/v1/services/padro/queries", barcelonaToken, env); status != 200 {
			t.Fatalf("query %d within the burst: %d %v", i+1, status, out)
		}
	}
	status, out, hdr := n.do("POST", "/v1/services/padro/queries", barcelonaToken, env)
	if status != http.StatusTooManyRequests || out["code"] != "rate_limited" || hdr.Get("Retry-After") == "" {
		t.Fatalf("over the quota: %d %v Retry-After %q, want 429 rate_limited with Retry-After", status, out, hdr.Get("Retry-After"))
	}
	if rec := n.transfer(auditor, out["transfer_id"].(string)); rec["outcome"] != "rate_limited" || rec["http_status"] != float64(429) {
		t.Errorf("the refusal's record: %v", rec)
	}
	rgc := envelope("12345678Z", map[string]any{"municipality": "08019"})
	rgc["procedure"] = map[string]any{"code": "RGC"}
	rgc["purpose"] = "social-benefits"
	if status, out, _ := n.do("POST", "/v1/services/padro/queries", other, rgc); status == http.StatusTooManyRequests {
		t.Errorf("another organisation was limited: %v", out)
	}
	citizen := n.token(map[string]string{"role": "citizen", "sub": "12345678Z"})
	if status, _, _ := n.do("GET", "/v1/me/consents", citizen, nil); status != 200 {
		t.Fatalf("a citizen's first call: %d", status)
	}
	if status, out, _ := n.do("GET", "/v1/me/objections", citizen, nil); status != http.StatusTooManyRequests {
		t.Errorf("a citizen over her quota: %d %v, want 429", status, out)
	}
}

// TestHerTransfersAreHersAlone: a citizen's list of who consulted her data
// holds her transfers and no one else's, whatever she asks for.
func TestHerTransfersAreHersAlone(t *testing.T) {
	for name, open := range bothStores {
		t.Run(name, func(t *testing.T) { herTransfersAreHersAlone(t, startDevWith(t, broker.Config{Store: open(t)})) })
	}
}

func herTransfersAreHersAlone(t *testing.T, n *node) {
	requester := n.requester(barcelona)
	_, mine, _ := n.do("POST", "/v1/services/padro/queries", requester, envelope("12345678Z", map[string]any{"municipality": "08019"}))
	_, theirs, _ := n.do("POST", "/v1/services/padro/queries", requester, envelope("67890123B", map[string]any{"municipality": "17079"}))
	her := n.token(map[string]string{"role": "citizen", "sub": "12345678Z"})
	status, out, _ := n.do("GET", "/v1/me/transfers", her, nil)
	if status != http.StatusOK {
		t.Fatalf("her transfers: %d %v", status, out)
	}
	items, _ := out["items"].([]any)
	var ids []string
	for _, it := range items {
		ids = append(ids, it.(map[string]any)["id"].(string))
	}
	if len(ids) != 1 || ids[0] != mine["transfer_id"] {
		t.Errorf("she sees %v; want only her own %v (not %v)", ids, mine["transfer_id"], theirs["transfer_id"])
	}
	if status, out, _ := n.do("GET", "/v1/me/transfers?subject=67890123B", her, nil); status != http.StatusBadRequest {
		t.Errorf("naming another subject: %d %v, want 400", status, out)
	}
}

// TestRevokedConsentStopsQueries: once she revokes her consent, a query
// that names it is refused, over HTTP, and her revocation is kept.
func TestRevokedConsentStopsQueries(t *testing.T) {
	for name, open := range bothStores {
		t.Run(name, func(t *testing.T) { revokedConsentStopsQueries(t, startDevWith(t, broker.Config{Store: open(t)})) })
	}
}

func revokedConsentStopsQueries(t *testing.T, n *node) {
	her := n.token(map[string]string{"role": "citizen", "sub": "12345678Z"})
	requester := n.requester(barcelona)
	status, c, _ := n.do("POST", "/v1/me/consents", her, consentBody("padro"))
	if status != http.StatusCreated {
		t.Fatalf("consent: %d %v", status, c)
	}
	id := c["id"].(string)
	query := withConsent(envelope("12345678Z", map[string]any{"municipality": "08019"}), id)
	if status, out, _ := n.do("POST", "/v1/services/padro/queries", requester, query); status != http.StatusOK {
		t.Fatalf("query under her consent: %d %v", status, out)
	}
	if status, out, _ := n.do("DELETE", "/v1/me/consents/"+id, her, nil); status != http.StatusOK || out["revoked_at"] == nil {
		t.Fatalf("revoke: %d %v", status, out)
	}
	status, out, _ := n.do("POST", "/v1/services/padro/queries", requester, query)
	if status != http.StatusForbidden || out["code"] != "consent_revoked" {
		t.Errorf("query under a revoked consent: %d %v, want 403 consent_revoked", status, out)
	}
}

// bothStores opens a fresh store of each kind, for tests that must hold
// on both.
var bothStores = map[string]func(t *testing.T) store.Store{
	"sqlite": func(t *testing.T) store.Store {
		st, err := sqlite.New(context.Background(), sqlite.Config{Path: filepath.Join(t.TempDir(), "pont.db")})
		if err != nil {
			t.Fatal(err)
		}
		return st
	},
	"postgres": func(t *testing.T) store.Store {
		st, err := postgres.New(context.Background(), postgres.Config{URL: pgtest.NewDatabase(t)})
		if err != nil {
			t.Fatal(err)
		}
		return st
	},
}
