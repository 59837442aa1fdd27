package broker_test

import (
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pontexchange/pont/exchange/broker"
	"github.com/pontexchange/pont/exchange/manifest"
	"github.com/pontexchange/pont/exchange/signing"
)

// auditLinks are the links of the audit page's results to their records.
var auditLinks = regexp.MustCompile(`href="/audit/transfers/([0-9a-f-]{36})"`)

// recordIDs answers the record ids an audit page links to, in order.
func recordIDs(page string) []string {
	var ids []string
	for _, m := range auditLinks.FindAllStringSubmatch(page, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

// logReads seals what committed and counts the auditors' reads of the log
// that its leaves record, by operation (search, record, export,
// export_done, proof, entries), reading every entry bundle as auditor.
func (n *node) logReads(auditor string) map[string]int {
	n.t.Helper()
	n.seal()
	size := n.size()
	counts := map[string]int{}
	for k := int64(0); k*256 < size; k++ {
		width := min(size-k*256, 256)
		path := fmt.Sprintf("/v1/audit/log/tile/entries/%03d", k)
		if width < 256 {
			path += fmt.Sprintf(".p/%d", width)
		}
		status, bundle := n.raw("GET", path, auditor, nil)
		if status != http.StatusOK {
			n.t.Fatalf("%s: %d %s", path, status, bundle)
		}
		for len(bundle) >= 2 {
			l := int(binary.BigEndian.Uint16(bundle))
			if len(bundle) < 2+l {
				n.t.Fatalf("%s: a truncated entry", path)
			}
			var e struct{ Kind, Operation string }
			if err := json.Unmarshal(bundle[2:2+l], &e); err != nil {
				n.t.Fatalf("%s: an entry is not JSON: %v", path, err)
			}
			if e.Kind == "log_read" {
				counts[e.Operation]++
			}
			bundle = bundle[2+l:]
		}
	}
	return counts
}

// download GETs path with b's cookies and answers the response's status,
// headers and body.
func (b *browser) download(path string) (int, http.Header, string) {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.n.base+path, nil)
	req.Header.Set("Accept-Language", b.lang)
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

// TestAuditPages: an auditor signs in on a development node, filters the
// transfer log (each filter narrows the selection), pages through it,
// opens a record with every field and its receipt, and exports the
// selection as CSV; the checkpoint box says its signature verified with
// the log's key. Every read of hers is a log_read leaf of the log, as
// through the API. Other roles' sessions are refused.
func TestAuditPages(t *testing.T) {
	n := startDevWith(t, broker.Config{})
	tok := n.requester(barcelona)
	padro := map[string]any{"municipality": "08019"}
	for range 3 {
		if st, out, _ := n.do("POST", "/v1/services/padro/queries", tok, envelope("12345678Z", padro)); st != http.StatusOK {
			t.Fatalf("padro query: %d %v", st, out)
		}
	}
	// Presumed is not a basis for disability data: refused, and recorded.
	if st, out, _ := n.do("POST", "/v1/services/discapacitat/queries", tok, envelope("12345678Z", map[string]any{"region": "09"})); st != http.StatusForbidden {
		t.Fatalf("discapacitat on a presumed basis: %d %v", st, out)
	}
	other := envelope("67890123B", padro)
	other["case_id"] = "EXP-ALTRE"
	for range 2 {
		if st, out, _ := n.do("POST", "/v1/services/padro/queries", tok, other); st != http.StatusOK && st != http.StatusNotFound {
			t.Fatalf("another citizen's query: %d %v", st, out)
		}
	}
	n.sealed("the six queries", func() bool { return n.size() >= 6 })
	auditorToken := n.token(map[string]string{"role": "auditor", "sub": "dpo-1"})
	// The days (in Madrid) of the oldest and the newest record, read
	// before counting the auditor's reads.
	_, out, _ := n.do("GET", "/v1/audit/transfers?limit=10", auditorToken, nil)
	items, _ := out["items"].([]any)
	if len(items) != 6 {
		t.Fatalf("%d records, want 6", len(items))
	}
	newest := madridDate(t, items[0].(map[string]any)["time"].(string))
	oldest := madridDate(t, items[5].(map[string]any)["time"].(string))
	before := n.logReads(auditorToken)

	// Other people's sessions do not open the log's pages.
	anna := newBrowser(t, n, "ca")
	if status, _, to := anna.get("/audit"); status != http.StatusSeeOther || to != "/signin" {
		t.Errorf("/audit before signing in: %d → %s", status, to)
	}
	anna.signIn("Anna Puig Soler")
	for _, path := range []string{"/audit", "/audit?subject=12345678Z", "/audit/export.csv", "/audit/transfers/x"} {
		if status, page, _ := anna.get(path); status != http.StatusForbidden || strings.Contains(page, "<table") || strings.Contains(page, "/audit/transfers/") {
			t.Errorf("a citizen's session on %s: %d", path, status)
		}
	}
	bcn := newBrowser(t, n, "es")
	bcn.signIn("Ajuntament de Barcelona")
	if status, _, _ := bcn.get("/audit"); status != http.StatusForbidden {
		t.Errorf("a data owner's session on /audit: %d", status)
	}

	dpo := newBrowser(t, n, "en")
	dpo.signIn("Delegada de protecció de dades")
	searches := 0
	search := func(query string, want int) (string, []string) {
		t.Helper()
		status, page, _ := dpo.get("/audit?" + query)
		if status != http.StatusOK {
			t.Fatalf("/audit?%s: %d\n%s", query, status, page)
		}
		searches++
		ids := recordIDs(page)
		if len(ids) != want {
			t.Errorf("/audit?%s: %d records, want %d", query, len(ids), want)
		}
		return page, ids
	}

	// The whole log, then each filter narrows it.
	page, all := search("", 6)
	for _, want := range []string{`<html lang="en">`, "Latest checkpoint of the log", "The signature has been checked with the log&#39;s public key (" + broker.DevLogOrigin + ")",
		`<label for="f-subject">`, `<label for="f-scsp">`, `<th scope="col">`, "<caption>", "Download the selection as CSV"} {
		if !strings.Contains(page, want) {
			t.Errorf("the audit page lacks %q", want)
		}
	}
	if strings.Contains(page, "audit.") {
		t.Errorf("the audit page shows a message id:\n%s", page)
	}
	page, annas := search("subject=12345678Z", 4)
	if strings.Contains(page, "67890123B") || !strings.Contains(page, `value="12345678Z"`) {
		t.Errorf("the subject filter is not kept or does not narrow")
	}
	for _, id := range annas {
		if !slices.Contains(all, id) {
			t.Errorf("%s is in the subject's selection and not in the whole log's", id)
		}
	}
	page, denied := search("subject=12345678Z&decision=deny", 1)
	if !strings.Contains(page, `<option value="deny" selected>`) || !strings.Contains(page, "Refused") {
		t.Errorf("the decision filter is not kept, or the refusal not shown as one")
	}
	search("subject=12345678Z&service=padro&decision=allow", 3)
	search("requester="+barcelona+"&procedure=DEMO&purpose=demo&official=38000001E", 6)
	search("subject=67890123B", 2)
	search("requester=Q0000000J", 0)
	// Both dates are included: the days of the records select them all.
	search("from="+oldest+"&to="+newest, 6)
	search("to=2020-01-01", 0)
	if status, page, _ := dpo.get("/audit?from=yesterday"); status != http.StatusBadRequest || !strings.Contains(page, "From (date)") {
		t.Errorf("a bad date: %d", status)
	}
	if status, page, _ := dpo.get("/audit?cursor=forged"); status != http.StatusBadRequest || !strings.Contains(page, "Check these filters: Page") {
		t.Errorf("a forged cursor: %d\n%s", status, page)
	}

	// Paging: three then one, the same four records, and no more pages.
	page, first := search("subject=12345678Z&limit=3", 3)
	next := regexp.MustCompile(`<a href="(/audit\?[^"]+)" rel="next">`).FindStringSubmatch(page)
	if next == nil {
		t.Fatalf("no next page link:\n%s", page)
	}
	status, page, _ := dpo.get(html.UnescapeString(next[1]))
	if status != http.StatusOK {
		t.Fatalf("the next page: %d", status)
	}
	searches++
	second := recordIDs(page)
	if len(second) != 1 || slices.Contains(first, second[0]) || !slices.Equal(append(first, second...), annas) {
		t.Errorf("pages %v then %v, want %v", first, second, annas)
	}
	if strings.Contains(page, `rel="next"`) || !strings.Contains(page, "First page") || !strings.Contains(page, `value="12345678Z"`) {
		t.Errorf("the last page offers another, or lost its filters")
	}

	// A record, every field of it, and its receipt.
	status, page, _ = dpo.get("/audit/transfers/" + denied[0])
	if status != http.StatusOK {
		t.Fatalf("a record: %d\n%s", status, page)
	}
	for _, want := range []string{denied[0], "12345678Z", "EXP-2026-00001", "38000001E", "Anna Puig", "Ajuntament de Barcelona", barcelona,
		`id="field-module_sha256"`, `id="field-scsp_solicitud_id"`, "Refused", "Presumed authorisation", `<th scope="row">`,
		"Its inclusion proof has been checked against a checkpoint signed with the log&#39;s public key"} {
		if !strings.Contains(page, want) {
			t.Errorf("the record's page lacks %q", want)
		}
	}
	if strings.Contains(page, "audit.") {
		t.Errorf("the record's page shows a message id")
	}
	if !regexp.MustCompile(`(?s)<tr id="field-reasons">\s*<th scope="row">[^<]*<span class="hint"><code>reasons</code></span></th>\s*<td><ul><li>\w+: `).MatchString(page) {
		t.Errorf("the refusal's reasons are not listed:\n%s", page)
	}
	if status, _, _ := dpo.get("/audit/transfers/00000000-0000-7000-8000-000000000000"); status != http.StatusNotFound {
		t.Errorf("a record that does not exist: %d", status)
	}

	// The export: the selection, every row, with its header, as a download.
	status, h, body := dpo.download("/audit/export.csv?subject=12345678Z")
	if status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") || !strings.HasPrefix(h.Get("Content-Disposition"), "attachment") {
		t.Fatalf("export: %d %v\n%s", status, h, body)
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 || rows[0][0] != "id" || !slices.Contains(rows[0], "subject") {
		t.Fatalf("export: %d rows, header %v", len(rows), rows[0])
	}
	subject := slices.Index(rows[0], "subject")
	var exported []string
	for _, row := range rows[1:] {
		exported = append(exported, row[0])
		if row[subject] != "12345678Z" {
			t.Errorf("an exported row of another subject: %v", row)
		}
	}
	if !slices.Equal(exported, annas) {
		t.Errorf("exported %v, the page lists %v", exported, annas)
	}
	// The export link of the page carries the filters, not the paging.
	_, page, _ = dpo.get("/audit?subject=12345678Z&decision=deny&limit=3")
	searches++
	link := regexp.MustCompile(`href="(/audit/export\.csv[^"]*)"`).FindStringSubmatch(page)
	if link == nil || strings.Contains(link[1], "limit") {
		t.Fatalf("the export link: %v", link)
	}
	_, _, body = dpo.download(html.UnescapeString(link[1]))
	if rows, _ := csv.NewReader(strings.NewReader(body)).ReadAll(); len(rows) != 2 || rows[1][0] != denied[0] {
		t.Errorf("the deny selection's export: %v", rows)
	}
	if status, h, _ := dpo.download("/audit/export.csv?to=someday"); status != http.StatusBadRequest || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Errorf("an export with a bad date: %d %s", status, h.Get("Content-Type"))
	}

	// Every read of hers is in the log, as the API's reads are.
	after := n.logReads(auditorToken)
	for op, want := range map[string]int{"search": searches, "record": 1, "proof": 1, "export": 2, "export_done": 2} {
		if got := after[op] - before[op]; got != want {
			t.Errorf("%d %s reads recorded, want %d (before %v, after %v)", got, op, want, before, after)
		}
	}
}

// madridDate is the day (YYYY-MM-DD) of an RFC 3339 time in Madrid, as
// the audit page's date filters read it.
func madridDate(t *testing.T, v string) string {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		t.Fatal(err)
	}
	madrid, err := time.LoadLocation("Europe/Madrid")
	if err != nil {
		t.Fatal(err)
	}
	return at.In(madrid).Format(time.DateOnly)
}

// TestConsolePages: a data owner signs in on a development node and sees
// her own adapters only; a rollback with no earlier version is refused
// and said so; once she publishes a second version (through the API),
// the page activates it and rolls it back, each recorded by the API and
// served at once; forms without her token, from another site, or about
// another owner's adapter change nothing.
func TestConsolePages(t *testing.T) {
	n := startDevWith(t, broker.Config{})
	auditor := n.token(map[string]string{"role": "auditor", "sub": "dpo-1"})
	owners := map[string]string{}
	_, list, _ := n.do("GET", "/v1/adapters", auditor, nil)
	for _, a := range list["adapters"].([]any) {
		a := a.(map[string]any)
		owners[a["name"].(string)] = a["owner"].(string)
	}
	if owners["padro-08019"] != barcelona || len(owners) < 3 {
		t.Fatalf("the development node's adapters: %v", owners)
	}
	adapter := func() map[string]any {
		t.Helper()
		st, out, _ := n.do("GET", "/v1/adapters/padro-08019", auditor, nil)
		if st != http.StatusOK {
			t.Fatalf("GET padro-08019: %d %v", st, out)
		}
		return out
	}
	first := adapter()["active"].(string)

	anna := newBrowser(t, n, "ca")
	anna.signIn("Anna Puig Soler")
	dpo := newBrowser(t, n, "ca")
	dpo.signIn("Delegada de protecció de dades")
	for _, b := range []*browser{anna, dpo} {
		if status, _, _ := b.get("/console"); status != http.StatusForbidden {
			t.Errorf("another role's session on the console: %d", status)
		}
	}

	bcn := newBrowser(t, n, "en")
	bcn.signIn("Ajuntament de Barcelona")
	status, page, _ := bcn.get("/console")
	if status != http.StatusOK {
		t.Fatalf("the console: %d\n%s", status, page)
	}
	shown := regexp.MustCompile(`<tr id="adapter-([^"]+)">`).FindAllStringSubmatch(page, -1)
	var mine []string
	for name, owner := range owners {
		if owner == barcelona {
			mine = append(mine, name)
		}
	}
	if len(shown) != len(mine) {
		t.Errorf("the console lists %v, Barcelona's adapters are %v", shown, mine)
	}
	for _, m := range shown {
		if owners[m[1]] != barcelona {
			t.Errorf("Barcelona's console shows %s of %s", m[1], owners[m[1]])
		}
	}
	for _, want := range []string{"Ajuntament de Barcelona", "Municipal register (padró)", "<code>08019</code>", "Serving: this node answers with version " + first, "<caption>"} {
		if !strings.Contains(page, want) {
			t.Errorf("the console lacks %q", want)
		}
	}
	if strings.Contains(page, "console.") {
		t.Errorf("the console shows a message id:\n%s", page)
	}
	for name, owner := range owners {
		if owner != barcelona {
			if status, _, _ := bcn.get("/console/adapters/" + name); status != http.StatusNotFound {
				t.Errorf("another owner's adapter %s: %d", name, status)
			}
			break
		}
	}

	// One version, activated once: no rollback is offered, and one asked
	// for anyway is refused by the API and said so.
	_, page, _ = bcn.get("/console/adapters/padro-08019")
	tok := bcn.token(page)
	if strings.Contains(page, "/rollback") || !strings.Contains(page, "There is no earlier version to go back to.") {
		t.Errorf("a rollback is offered with no earlier version:\n%s", page)
	}
	status, page, _ = bcn.post("/console/adapters/padro-08019/rollback", url.Values{"csrf": {tok}})
	if status != http.StatusConflict || !strings.Contains(page, "There is no version active before the current one to go back to.") {
		t.Errorf("a rollback with no earlier version: %d\n%s", status, page)
	}

	// A second version, published through the API with Barcelona's key.
	second := publishAgain(t, n, "padro-08019", barcelona)
	_, page, _ = bcn.get("/console/adapters/padro-08019")
	activate := "/console/adapters/padro-08019/versions/" + second + "/activate"
	if !strings.Contains(page, `action="`+activate+`"`) || strings.Contains(page, "/versions/"+first+"/activate") {
		t.Fatalf("the versions' activate forms:\n%s", page)
	}
	// Without her token, or from another site, or as another owner: nothing.
	if status, _, _ := bcn.post(activate, url.Values{"csrf": {"forged"}}); status != http.StatusForbidden {
		t.Errorf("an activation without her token: %d", status)
	}
	if status, _, _ := bcn.post(activate, nil); status != http.StatusForbidden {
		t.Errorf("an activation without a token: %d", status)
	}
	req, _ := http.NewRequest("POST", n.base+activate, strings.NewReader(url.Values{"csrf": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if status, _, _ := bcn.send(req); status != http.StatusForbidden {
		t.Errorf("a cross-site activation: %d", status)
	}
	girona := newBrowser(t, n, "en")
	girona.signIn("Ajuntament de Girona")
	_, gpage, _ := girona.get("/console")
	if status, _, _ := girona.post(activate, url.Values{"csrf": {girona.token(gpage)}}); status == http.StatusSeeOther || status < 400 {
		t.Errorf("another owner activates Barcelona's version: %d", status)
	}
	if got := adapter()["active"]; got != first {
		t.Fatalf("refused forms changed the active version to %v", got)
	}

	// Activate the new version, and roll back.
	status, _, to := bcn.post(activate, url.Values{"csrf": {tok}})
	if status != http.StatusSeeOther || to != "/console/adapters/padro-08019?done=adapter_activated" {
		t.Fatalf("activating: %d → %s", status, to)
	}
	if got := adapter()["active"]; got != second {
		t.Fatalf("after activating, %v is active, want %s", got, second)
	}
	st, out, _ := n.do("POST", "/v1/services/padro/queries", n.requester(barcelona), envelope("12345678Z", map[string]any{"municipality": "08019"}))
	if src, _ := out["source"].(map[string]any); st != http.StatusOK || src["version"] != second {
		t.Errorf("the padró answers from %v (%d), want %s", out["source"], st, second)
	}
	_, page, _ = bcn.get(to)
	if !strings.Contains(page, "Version activated.") || !strings.Contains(page, "Roll back to version "+first) {
		t.Errorf("after activating:\n%s", page)
	}
	status, _, to = bcn.post("/console/adapters/padro-08019/rollback", url.Values{"csrf": {tok}})
	if status != http.StatusSeeOther || to != "/console/adapters/padro-08019?done=adapter_rolled_back" {
		t.Fatalf("rolling back: %d → %s", status, to)
	}
	a := adapter()
	if a["active"] != first {
		t.Fatalf("after rolling back, %v is active, want %s", a["active"], first)
	}
	acts, _ := a["activations"].([]any)
	if last := acts[len(acts)-1].(map[string]any); last["kind"] != "rollback" || last["actor"] != "owner-"+barcelona {
		t.Errorf("the rollback is recorded as %v", last)
	}
	_, page, _ = bcn.get(to)
	if !strings.Contains(page, "Previous version restored.") || !strings.Contains(page, "Rollback") {
		t.Errorf("after rolling back:\n%s", page)
	}
}

// publishAgain publishes name's module again as the next patch version,
// signed with owner's development key, through POST /v1/adapters, and
// answers the version.
func publishAgain(t *testing.T, n *node, name, owner string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(n.dir, "owner-keys", owner+".jwk"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := signing.ParsePrivateKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	wasm, err := os.ReadFile(filepath.Join(modulesDir, name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Read(wasm)
	if err != nil {
		t.Fatal(err)
	}
	m.Version += "-console"
	if wasm, err = manifest.Embed(wasm, m); err != nil {
		t.Fatal(err)
	}
	signed, err := signing.Sign(wasm, key)
	if err != nil {
		t.Fatal(err)
	}
	publisher := n.token(map[string]string{"role": "publisher", "sub": "it-" + owner, "owner": owner})
	if status, out := n.postModule(publisher, "application/wasm", signed); status != http.StatusCreated || out["version"] != m.Version {
		t.Fatalf("publishing %s %s: %d %v", name, m.Version, status, out)
	}
	return m.Version
}
