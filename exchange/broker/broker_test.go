package broker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/broker"
	"github.com/pontexchange/pont/exchange/store/sqlite"
	"github.com/pontexchange/pont/plugins"
	"github.com/pontexchange/pont/plugins/pluginstest"
)

// modulesDir holds the reference adapters, built once for the package, and
// cacheDir their compiled code, so that only the first node compiles.
var modulesDir, cacheDir string

func TestMain(m *testing.M) { pluginstest.Main(m, &modulesDir, &cacheDir) }

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// node is a running dev-mode broker on a loopback port.
type node struct {
	t    *testing.T
	base string
	b    *broker.Broker
	dir  string // its data directory: log.vkey is the log's public key
}

// startDev starts a dev-mode node with its own data directory.
func startDev(t *testing.T) *node {
	t.Helper()
	return startDevWith(t, broker.Config{})
}

// withDevParts gives cfg what pont dev gives a node: a data directory of
// the test's (unless set), the embedded store there (unless cfg.Store is
// set), the simulated sources of the reference adapters (stopped when the
// test ends) reached through broker.NewSourceClient (unless cfg.HTTPClient
// is set), and a development
// issuer; and the test's modules and their compilation cache.
func withDevParts(t testing.TB, cfg broker.Config) broker.Config {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	cfg.ModulesDir = modulesDir
	cfg.CacheDir = cacheDir
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	var err error
	if cfg.HTTPClient == nil {
		devnet, err := plugins.StartDevNetwork()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = devnet.Close() })
		if cfg.HTTPClient, err = broker.NewSourceClient(map[string]string{"." + plugins.DevSourceDomain: devnet.Addr}); err != nil {
			t.Fatal(err)
		}
	}
	if cfg.DevIssuer, err = auth.NewDevIssuer(cfg.DataDir); err != nil {
		t.Fatal(err)
	}
	if cfg.Store == nil {
		if cfg.Store, err = sqlite.New(context.Background(), sqlite.Config{Path: filepath.Join(cfg.DataDir, "pont.db")}); err != nil {
			t.Fatal(err)
		}
	}
	return cfg
}

// startDevWith starts a dev-mode node from cfg with withDevParts and a
// quiet logger.
func startDevWith(t *testing.T, cfg broker.Config) *node {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return startDevOn(t, cfg, ln)
}

// startDevOn is startDevWith on a listener of the caller's, for a node
// whose configuration needs its address.
func startDevOn(t *testing.T, cfg broker.Config, ln net.Listener) *node {
	t.Helper()
	cfg = withDevParts(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	b, err := broker.New(ctx, cfg)
	if err != nil {
		cancel()
		_ = ln.Close()
		t.Fatalf("broker.New: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if err := b.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &node{t: t, base: "http://" + ln.Addr().String(), b: b, dir: cfg.DataDir}
}

// do sends a request and decodes a JSON answer into a map.
func (n *node) do(method, path, token string, body any) (int, map[string]any, http.Header) {
	n.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			n.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, n.base+path, rd)
	if err != nil {
		n.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		n.t.Fatal(err)
	}
	var out map[string]any
	if len(raw) > 0 && strings.Contains(resp.Header.Get("Content-Type"), "json") {
		if err := json.Unmarshal(raw, &out); err != nil {
			n.t.Fatalf("%s %s: answer is not JSON: %v\n%s", method, path, err, raw)
		}
	}
	return resp.StatusCode, out, resp.Header
}

// token mints a development token through POST /dev/token.
func (n *node) token(claims map[string]string) string {
	n.t.Helper()
	status, out, _ := n.do("POST", "/dev/token", "", claims)
	if status != http.StatusOK {
		n.t.Fatalf("POST /dev/token %v: %d %v", claims, status, out)
	}
	return out["token"].(string)
}

func (n *node) requester(org string) string {
	return n.token(map[string]string{"role": "requester", "org": org})
}

// envelope is a valid DEMO query for subject on the presumed basis.
func envelope(subject string, params map[string]any) map[string]any {
	return map[string]any{
		"procedure":   map[string]any{"code": "DEMO", "name": "Demostració"},
		"purpose":     "demo",
		"legal_basis": map[string]any{"type": "presumed"},
		"case_id":     "EXP-2026-00001",
		"official":    map[string]any{"id": "38000001E", "name": "Anna Puig"},
		"subject":     map[string]any{"id_type": "DNI", "id": subject},
		"params":      params,
	}
}

const barcelona = "P0801900B"

// allFive are the queries that answer for the fixture citizen 12345678Z.
var allFive = []struct {
	service string
	params  map[string]any
	basis   map[string]any
}{
	{"padro", map[string]any{"municipality": "08019"}, nil},
	{"titulacions", map[string]any{}, nil},
	{"discapacitat", map[string]any{"region": "09"}, map[string]any{"type": "law", "reference": "Reial Decret Legislatiu 1/2013"}},
	{"familia-nombrosa", map[string]any{"region": "09"}, nil},
	{"prestacions", map[string]any{}, nil},
}

func TestAllFiveServicesAnswer(t *testing.T) {
	n := startDev(t)
	tok := n.requester(barcelona)
	for _, q := range allFive {
		t.Run(q.service, func(t *testing.T) {
			env := envelope("12345678Z", q.params)
			if q.basis != nil {
				env["legal_basis"] = q.basis
			}
			status, out, _ := n.do("POST", "/v1/services/"+q.service+"/queries", tok, env)
			if status != http.StatusOK {
				t.Fatalf("status %d, want 200: %v", status, out)
			}
			if id, _ := out["transfer_id"].(string); id == "" {
				t.Errorf("no transfer_id in %v", out)
			}
			st, _ := out["status"].(map[string]any)
			if st["code"] != "0003" {
				t.Errorf("status.code = %v, want 0003", st["code"])
			}
			if out["service"] != q.service {
				t.Errorf("service = %v, want %s", out["service"], q.service)
			}
			if data, _ := out["data"].(map[string]any); len(data) == 0 {
				t.Errorf("no data in %v", out)
			}
			src, _ := out["source"].(map[string]any)
			if src["adapter"] == "" || src["version"] == "" || len(fmt.Sprint(src["module_sha256"])) != 64 {
				t.Errorf("source = %v, want adapter, version and a SHA-256", src)
			}
		})
	}
}

func TestProblems(t *testing.T) {
	n := startDev(t)
	tok := n.requester(barcelona)
	citizen := n.token(map[string]string{"role": "citizen", "sub": "12345678Z"})

	withBasis := func(env map[string]any, basis map[string]any) map[string]any { env["legal_basis"] = basis; return env }
	without := func(env map[string]any, field string) map[string]any { delete(env, field); return env }
	cases := []struct {
		name       string
		service    string
		token      string
		body       any
		wantStatus int
		wantCode   string
		wantSCSP   string
		wantField  string // a field the problem must name
	}{
		{"missing purpose", "padro", tok, without(envelope("12345678Z", map[string]any{"municipality": "08019"}), "purpose"), 400, "invalid_request", "0401", "purpose"},
		{"not JSON", "padro", tok, "{not json", 400, "invalid_request", "0401", ""},
		{"bad params", "padro", tok, envelope("12345678Z", map[string]any{"municipality": "Barcelona"}), 400, "invalid_request", "0401", "params.municipality"},
		{"bad check letter", "padro", tok, envelope("12345678A", map[string]any{"municipality": "08019"}), 400, "invalid_subject_id", "0231", "subject.id"},
		{"no token", "padro", "", envelope("12345678Z", map[string]any{"municipality": "08019"}), 401, "unauthenticated", "", ""},
		{"forged token", "padro", tok + "x", envelope("12345678Z", map[string]any{"municipality": "08019"}), 401, "unauthenticated", "", ""},
		{"unauthorised organisation", "padro", n.requester("S0800001E"), envelope("12345678Z", map[string]any{"municipality": "08019"}), 403, "not_authorized", "0301", ""},
		{"citizen may not query", "padro", citizen, envelope("12345678Z", map[string]any{"municipality": "08019"}), 403, "not_authorized", "0301", ""},
		{"purpose not allowed", "padro", tok, func() map[string]any {
			e := envelope("12345678Z", map[string]any{"municipality": "08019"})
			e["purpose"] = "tax-collection"
			return e
		}(), 403, "purpose_not_allowed", "0301", ""},
		{"unknown law", "padro", tok, withBasis(envelope("12345678Z", map[string]any{"municipality": "08019"}), map[string]any{"type": "law", "reference": "Llei inventada 1/2099"}), 403, "legal_basis_invalid", "0236", ""},
		{"special category on presumed basis", "discapacitat", tok, envelope("12345678Z", map[string]any{"region": "09"}), 403, "legal_basis_required", "0236", ""},
		{"unknown consent", "padro", tok, withBasis(envelope("12345678Z", map[string]any{"municipality": "08019"}), map[string]any{"type": "consent", "consent_id": "c-unknown"}), 403, "consent_not_found", "0236", ""},
		{"unknown subject", "padro", tok, envelope("00000000T", map[string]any{"municipality": "08019"}), 404, "subject_not_found", "0233", ""},
		{"unknown service", "cadastre", tok, envelope("12345678Z", map[string]any{}), 404, "unknown_service", "", ""},
		{"no source for municipality", "padro", tok, envelope("12345678Z", map[string]any{"municipality": "43148"}), 422, "no_source", "0238", ""},
		{"adapter answers a broken record", "padro", tok, envelope("11111111H", map[string]any{"municipality": "08019"}), 502, "adapter_failed", "0227", ""},
		{"adapter times out", "padro", tok, envelope("99999999R", map[string]any{"municipality": "08019"}), 504, "adapter_timeout", "0901", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, out, hdr := n.do("POST", "/v1/services/"+c.service+"/queries", c.token, c.body)
			if status != c.wantStatus || out["code"] != c.wantCode {
				t.Fatalf("got %d %v, want %d %s: %v", status, out["code"], c.wantStatus, c.wantCode, out)
			}
			if ct := hdr.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type = %q, want application/problem+json", ct)
			}
			if c.wantSCSP != "" && out["scsp_code"] != c.wantSCSP {
				t.Errorf("scsp_code = %v, want %s", out["scsp_code"], c.wantSCSP)
			}
			if c.wantField != "" && !namesField(out, c.wantField) {
				t.Errorf("the problem does not name %s: %v", c.wantField, out)
			}
			if out["detail"] == "" {
				t.Errorf("no detail in %v", out)
			}
		})
	}
	// The broker keeps serving after the adapter failures above.
	status, out, _ := n.do("POST", "/v1/services/padro/queries", tok, envelope("12345678Z", map[string]any{"municipality": "08019"}))
	if status != 200 {
		t.Fatalf("after failures: %d %v", status, out)
	}
}

func namesField(problem map[string]any, field string) bool {
	errs, _ := problem["errors"].([]any)
	for _, e := range errs {
		if m, _ := e.(map[string]any); m["field"] == field {
			return true
		}
	}
	return false
}

// TestQueryFailsClosedWhenStoreCloses closes the store under a running
// node, on both stores. The query names a law as its basis, so that no
// citizen's record is read first: what fails is the commit of the record
// itself, and the data must not leave.
func TestQueryFailsClosedWhenStoreCloses(t *testing.T) {
	for name, open := range bothStores {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			n := startDevWith(t, broker.Config{Store: st})
			tok := n.requester(barcelona)
			env := envelope("12345678Z", map[string]any{"municipality": "08019"})
			env["legal_basis"] = map[string]any{"type": "law", "reference": "Llei 7/1985, art. 16"}
			if status, out, _ := n.do("POST", "/v1/services/padro/queries", tok, env); status != 200 {
				t.Fatalf("before: %d %v", status, out)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			status, out, _ := n.do("POST", "/v1/services/padro/queries", tok, env)
			if status != 503 || out["code"] != "store_unavailable" || out["scsp_code"] != "0501" {
				t.Fatalf("got %d %v, want 503 store_unavailable", status, out)
			}
			if _, leaked := out["data"]; leaked {
				t.Errorf("data left without its record: %v", out)
			}
			if !strings.Contains(fmt.Sprint(out["detail"]), "could not record") {
				t.Errorf("the refusal %q is not the commit's: the path tested is not the record's", out["detail"])
			}
		})
	}
}

func TestAuditListsEveryRequest(t *testing.T) {
	n := startDev(t)
	tok := n.requester(barcelona)
	auditor := n.token(map[string]string{"role": "auditor", "sub": "dpo-1"})

	_, ok, _ := n.do("POST", "/v1/services/padro/queries", tok, envelope("12345678Z", map[string]any{"municipality": "08019"}))
	_, denied, _ := n.do("POST", "/v1/services/discapacitat/queries", tok, envelope("12345678Z", map[string]any{"region": "09"}))
	if ok["transfer_id"] == nil || denied["transfer_id"] == nil {
		t.Fatalf("both answers must carry a transfer id: %v / %v", ok, denied)
	}

	status, page, _ := n.do("GET", "/v1/audit/transfers?subject=12345678Z", auditor, nil)
	if status != 200 {
		t.Fatalf("audit: %d %v", status, page)
	}
	items, _ := page["items"].([]any)
	if len(items) != 2 {
		t.Fatalf("got %d records, want 2: %v", len(items), page)
	}
	newest := items[0].(map[string]any)
	if newest["id"] != denied["transfer_id"] || newest["decision"] != "deny" {
		t.Errorf("newest record = %v, want the denied one first", newest)
	}
	reasons, _ := newest["reasons"].([]any)
	if len(reasons) == 0 {
		t.Errorf("the denied record has no reasons: %v", newest)
	}
	oldest := items[1].(map[string]any)
	if oldest["decision"] != "allow" || oldest["outcome"] != "ok" || oldest["data_sha256"] == "" || oldest["module_sha256"] == "" {
		t.Errorf("allowed record = %v", oldest)
	}

	for _, c := range []struct{ query, want string }{
		{"decision=deny", "deny"},
		{"decision=allow&service=padro", "allow"},
		{"requester=" + barcelona + "&from=2020-01-01&to=2999-01-01&decision=deny", "deny"},
	} {
		_, page, _ := n.do("GET", "/v1/audit/transfers?"+c.query, auditor, nil)
		items, _ := page["items"].([]any)
		if len(items) != 1 || items[0].(map[string]any)["decision"] != c.want {
			t.Errorf("%s: got %v", c.query, items)
		}
	}

	// Paging: limit 1 then the cursor.
	_, first, _ := n.do("GET", "/v1/audit/transfers?limit=1", auditor, nil)
	cursor, _ := first["next_cursor"].(string)
	if cursor == "" {
		t.Fatalf("no next_cursor with limit=1: %v", first)
	}
	_, second, _ := n.do("GET", "/v1/audit/transfers?limit=1&cursor="+cursor, auditor, nil)
	a, b := first["items"].([]any), second["items"].([]any)
	if len(a) != 1 || len(b) != 1 || a[0].(map[string]any)["id"] == b[0].(map[string]any)["id"] {
		t.Errorf("pages overlap or are empty: %v / %v", a, b)
	}

	// Bad input names the parameter; other roles are refused.
	status, bad, _ := n.do("GET", "/v1/audit/transfers?colour=blue&from=yesterday&cursor=forged", auditor, nil)
	if status != 400 || !namesField(bad, "colour") || !namesField(bad, "from") || !namesField(bad, "cursor") {
		t.Errorf("bad filters: %d %v", status, bad)
	}
	if status, out, _ := n.do("GET", "/v1/audit/transfers", tok, nil); status != 403 || out["code"] != "forbidden" {
		t.Errorf("requester on audit: %d %v", status, out)
	}
	id := oldest["id"].(string)
	if status, one, _ := n.do("GET", "/v1/audit/transfers/"+id, auditor, nil); status != 200 || one["id"] != id {
		t.Errorf("GET one: %d %v", status, one)
	}
}

func TestOperationalEndpoints(t *testing.T) {
	n := startDev(t)
	for _, path := range []string{"/healthz", "/readyz", "/openapi.json"} {
		if status, _, _ := n.do("GET", path, "", nil); status != 200 {
			t.Errorf("GET %s: %d", path, status)
		}
	}
	status, cat, _ := n.do("GET", "/v1/catalog/services", "", nil)
	services, _ := cat["services"].([]any)
	if status != 200 || len(services) != 5 {
		t.Fatalf("catalog: %d, %d services", status, len(services))
	}
	tok := n.requester(barcelona)
	n.do("POST", "/v1/services/padro/queries", tok, envelope("12345678Z", map[string]any{"municipality": "08019"}))

	resp, err := http.Get(n.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"pont_http_requests_total", "pont_http_request_duration_seconds",
		`pont_decisions_total{decision="allow",service="padro"} 1`,
		`pont_adapter_calls_total{adapter="padro-08019",outcome="ok"} 1`,
		"pont_policy_memo_shadow_evaluations_total", "pont_policy_memo_mismatches_total 0",
	} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
