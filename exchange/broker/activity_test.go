package broker_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pontexchange/pont/exchange/broker"
)

// TestAdapterActivityAndConsole: real queries through the API reach
// Barcelona's padró adapter and Girona's; GET
// /v1/adapters/{name}/activity answers Barcelona's publisher her
// adapter's calls by outcome, the answered ones' latencies as the
// transfer log holds them, and this node's pool with the calls it ran;
// another owner's publisher finds no such adapter, as on GET
// /v1/adapters/{name}, and other roles are refused; a window out of
// bounds is refused naming it; and her console shows the same figures.
func TestAdapterActivityAndConsole(t *testing.T) {
	n := startDevWith(t, broker.Config{})
	_, doc := fetchOpenAPI(t, n)
	validate := schemaValidator(t, doc)
	const path = "/v1/adapters/padro-08019/activity"
	bcn := n.token(map[string]string{"role": "publisher", "sub": "it-bcn", "owner": barcelona})
	gir := n.token(map[string]string{"role": "publisher", "sub": "it-gir", "owner": "P1708500B"})

	activity := func(tok, path string) map[string]any {
		t.Helper()
		status, out, _ := n.do("GET", path, tok, nil)
		if status != http.StatusOK {
			t.Fatalf("GET %s: %d %v", path, status, out)
		}
		validate(t, "AdapterActivity", out)
		return out
	}
	if before := activity(bcn, path); before["calls"] != float64(0) || len(before["by_outcome"].(map[string]any)) != 0 {
		t.Fatalf("before any query: %v", before)
	}

	// Real queries: three answered, two subjects the padró does not know,
	// one source in maintenance; one of Girona's padró; one refused
	// before any adapter (no municipality).
	req := n.requester(barcelona)
	for _, q := range []struct {
		subject, municipality string
		status                int
	}{
		{"12345678Z", "08019", 200}, {"78901234X", "08019", 200}, {"45678901G", "08019", 200},
		{"00000000T", "08019", 404}, {"56789012B", "08019", 404},
		{"22222222J", "08019", 503},
		{"23456789D", "17079", 200},
	} {
		status, out, _ := n.do("POST", "/v1/services/padro/queries", req, envelope(q.subject, map[string]any{"municipality": q.municipality}))
		if status != q.status {
			t.Fatalf("padró of %s in %s: %d %v, want %d", q.subject, q.municipality, status, out, q.status)
		}
	}
	if status, out, _ := n.do("POST", "/v1/services/padro/queries", req, envelope("12345678Z", map[string]any{})); status != http.StatusBadRequest {
		t.Fatalf("a padró query without a municipality: %d %v", status, out)
	}

	got := activity(bcn, path)
	wantOutcomes := map[string]any{"ok": float64(3), "subject_not_found": float64(2), "source_unavailable": float64(1)}
	if got["adapter"] != "padro-08019" || got["window"] != "1h0m0s" || got["calls"] != float64(6) || !mapsEqual(got["by_outcome"], wantOutcomes) {
		t.Errorf("Barcelona's padró over the last hour: %v; want 6 calls, by outcome %v", got, wantOutcomes)
	}
	// The latencies are the answered records' latency_us, as an auditor
	// reads them in the log over the same window.
	auditor := n.token(map[string]string{"role": "auditor", "sub": "dpo-1"})
	q := url.Values{"service": {"padro"}, "from": {got["from"].(string)}, "to": {got["to"].(string)}}
	status, page, _ := n.do("GET", "/v1/audit/transfers?"+q.Encode(), auditor, nil)
	if status != http.StatusOK {
		t.Fatalf("audit: %d %v", status, page)
	}
	var answered []int64
	records := 0
	for _, it := range page["items"].([]any) {
		rec := it.(map[string]any)
		if rec["adapter"] != "padro-08019" {
			continue
		}
		records++
		if rec["outcome"] == "ok" {
			answered = append(answered, int64(rec["latency_us"].(float64)))
		}
	}
	slices.Sort(answered)
	if records != 6 || len(answered) != 3 {
		t.Fatalf("the log holds %d records of padro-08019, %d answered; want 6 and 3", records, len(answered))
	}
	// Of three: the 2nd (ceil 1.5) and the 3rd (ceil 2.85).
	wantLatency := map[string]any{"p50": float64(answered[1]), "p95": float64(answered[2]), "max": float64(answered[2])}
	if !mapsEqual(got["latency_us"], wantLatency) || answered[0] <= 0 {
		t.Errorf("latency_us = %v; the log's answered latencies are %v", got["latency_us"], answered)
	}
	// This node's pool: the version it serves, and the calls it ran on it
	// since it loaded it, which are these.
	_, info, _ := n.do("GET", "/v1/adapters/padro-08019", bcn, nil)
	pool, _ := got["pool"].(map[string]any)
	if pool == nil || pool["version"] != info["loaded"] || pool["node"] == "" || pool["loaded_at"] == "" {
		t.Fatalf("pool = %v; want the pool of version %v, this node's", got["pool"], info["loaded"])
	}
	calls := map[string]any{}
	for k, v := range pool["calls"].(map[string]any) {
		if v != float64(0) {
			calls[k] = v
		}
	}
	if !mapsEqual(calls, wantOutcomes) || pool["created"].(float64) < 1 || pool["idle"].(float64)+pool["in_use"].(float64) < 1 {
		t.Errorf("pool = %v; want the calls %v and a live pool", pool, wantOutcomes)
	}

	// Girona's adapter: its own call only; Barcelona's is not Girona's.
	if g := activity(gir, "/v1/adapters/padro-17079/activity"); g["calls"] != float64(1) || !mapsEqual(g["by_outcome"], map[string]any{"ok": float64(1)}) {
		t.Errorf("Girona's padró: %v", g)
	}
	statusGet, asGet, _ := n.do("GET", "/v1/adapters/padro-08019", gir, nil)
	statusAct, asAct, _ := n.do("GET", path, gir, nil)
	if statusAct != http.StatusNotFound || statusGet != statusAct || asAct["code"] != asGet["code"] || asAct["detail"] != asGet["detail"] {
		t.Errorf("another owner's activity: %d %v; GET /v1/adapters/padro-08019 answers it %d %v", statusAct, asAct, statusGet, asGet)
	}
	if status, out, _ := n.do("GET", "/v1/adapters/padro-99999/activity", bcn, nil); status != http.StatusNotFound {
		t.Errorf("an adapter nobody published: %d %v", status, out)
	}
	for role, tok := range map[string]string{
		"citizen":   n.token(map[string]string{"role": "citizen", "sub": "12345678Z"}),
		"requester": req,
		"auditor":   auditor,
	} {
		if status, out, _ := n.do("GET", path, tok, nil); status != http.StatusForbidden || out["code"] != "forbidden" {
			t.Errorf("a %s's token: %d %v, want 403 forbidden", role, status, out)
		}
	}
	if status, _, _ := n.do("GET", path, "", nil); status != http.StatusUnauthorized {
		t.Errorf("no token: %d", status)
	}

	// The window: a minute still holds the calls just made; outside 1m to
	// 24h, malformed, repeated or beside another parameter, refused.
	if m := activity(bcn, path+"?window=1m"); m["window"] != "1m0s" || m["calls"] != float64(6) {
		t.Errorf("window=1m: %v", m)
	}
	if d := activity(bcn, path+"?window=24h"); d["window"] != "24h0m0s" || d["calls"] != float64(6) {
		t.Errorf("window=24h: %v", d)
	}
	for _, bad := range []struct{ query, field string }{
		{"window=168h", "window"}, {"window=30s", "window"}, {"window=59s", "window"}, {"window=-1h", "window"},
		{"window=1d", "window"}, {"window=", "window"}, {"window=1h&window=2h", "window"}, {"colour=red", "colour"},
	} {
		status, out, _ := n.do("GET", path+"?"+bad.query, bcn, nil)
		if status != http.StatusBadRequest || out["code"] != "invalid_request" || !namesField(out, bad.field) {
			t.Errorf("?%s: %d %v, want 400 naming %s", bad.query, status, out, bad.field)
			continue
		}
		validate(t, "Problem", out)
	}

	// Her console shows the same figures: by outcome, the latencies, the
	// pool; and the list, the calls and errors of each adapter.
	browser := newBrowser(t, n, "en")
	browser.signIn("Ajuntament de Barcelona")
	status, html, _ := browser.get("/console/adapters/padro-08019")
	if status != http.StatusOK {
		t.Fatalf("the adapter's page: %d\n%s", status, html)
	}
	for _, want := range []string{
		`<h2 id="activity">Last hour</h2>`,
		`<caption>Calls of the last hour, by outcome</caption>`,
		`<th scope="row"><span class="ok">Answered</span></th><td>3</td>`,
		`<th scope="row"><code>subject_not_found</code></th><td>2</td>`,
		`<th scope="row"><code>source_unavailable</code></th><td>1</td>`,
		`<th scope="row">All calls</th><td>6</td>`,
		`<th scope="row">Median (half the answers took as long or less)</th><td>` + millis(answered[1]) + `</td>`,
		`<th scope="row">95th percentile (95 answers in 100 took as long or less)</th><td>` + millis(answered[2]) + `</td>`,
		`<th scope="row">Slowest</th><td>` + millis(answered[2]) + `</td>`,
		`The instance pool of version ` + info["loaded"].(string) + ` on this node, since it loaded it`,
		`<th scope="row">Calls since then: Answered</th><td>3</td>`,
		`<th scope="row">Calls since then: subject_not_found</th><td>2</td>`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("the adapter's page lacks %s", want)
		}
	}
	if strings.Contains(html, "console.") || strings.Contains(html, "does not show each adapter") {
		t.Errorf("the adapter's page shows a message id or says the figures are missing:\n%s", html)
	}
	_, list, _ := browser.get("/console")
	row := regexp.MustCompile(`(?s)<tr id="adapter-padro-08019">.*?</tr>`).FindString(list)
	if !strings.Contains(row, "Calls: 6 · errors: 3") {
		t.Errorf("the console's row of padro-08019 does not say 6 calls and 3 errors:\n%s", row)
	}
	ca := newBrowser(t, n, "ca")
	ca.signIn("Ajuntament de Barcelona")
	if _, page, _ := ca.get("/console/adapters/padro-08019"); !strings.Contains(page, "Darrera hora") ||
		!strings.Contains(page, `<th scope="row"><code>subject_not_found</code></th><td>2</td>`) || strings.Contains(page, "console.") {
		t.Errorf("the adapter's page in Catalan:\n%s", page)
	}
}

// millis writes microseconds as the console's English page does.
func millis(us int64) string {
	if us >= 1e6 {
		return strconv.FormatFloat(float64(us)/1e6, 'f', 2, 64) + " s"
	}
	return strconv.FormatFloat(float64(us)/1e3, 'f', 1, 64) + " ms"
}

// mapsEqual compares two decoded JSON objects.
func mapsEqual(a any, b map[string]any) bool {
	m, ok := a.(map[string]any)
	if !ok || len(m) != len(b) {
		return false
	}
	for k, v := range b {
		if fmt.Sprint(m[k]) != fmt.Sprint(v) {
			return false
		}
	}
	return true
}
