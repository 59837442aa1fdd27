package broker_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pontexchange/pont/exchange/broker"
)

// browser is a cookie-keeping client of a node's pages, as a person's
// browser is.
type browser struct {
	t    *testing.T
	n    *node
	c    *http.Client
	lang string
}

func newBrowser(t *testing.T, n *node, lang string) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &browser{t: t, n: n, c: c, lang: lang}
}

// get answers a page's status, body and where it redirects.
func (b *browser) get(path string) (int, string, string) {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.n.base+path, nil)
	req.Header.Set("Accept-Language", b.lang)
	return b.send(req)
}

// post sends a form from the node's own pages (same Origin).
func (b *browser) post(path string, form url.Values) (int, string, string) {
	b.t.Helper()
	req, _ := http.NewRequest("POST", b.n.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.n.base)
	req.Header.Set("Accept-Language", b.lang)
	return b.send(req)
}

func (b *browser) send(req *http.Request) (int, string, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header.Get("Location")
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// token answers the form token of a page.
func (b *browser) token(page string) string {
	b.t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("no form token on the page:\n%s", page)
	}
	return m[1]
}

// signIn signs in on a development node as the person named name.
func (b *browser) signIn(name string) {
	b.t.Helper()
	_, page, _ := b.get("/signin")
	m := regexp.MustCompile(`value="(u\d+)"[^>]*>\s*<label for="user-\d+">` + regexp.QuoteMeta(name) + ` `).FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("%s is not offered:\n%s", name, page)
	}
	status, _, to := b.post("/signin/dev", url.Values{"csrf": {b.token(page)}, "user": {m[1]}})
	if status != http.StatusSeeOther || to == "/signin" {
		b.t.Fatalf("sign-in as %s: %d → %s", name, status, to)
	}
}

// TestCarpetaPages: a citizen signs in on a development node, sees her
// five services' data, records an objection that then refuses a
// requester's presumed query, sees that refusal among who consulted her
// data, withdraws it, gives a consent and revokes it; her reads are
// recorded as self-access transfers; forms without her token or from
// another site, and other people's pages, are refused.
func TestCarpetaPages(t *testing.T) {
	n := startDevWith(t, broker.Config{})
	anna := newBrowser(t, n, "ca")
	if status, _, to := anna.get("/carpeta"); status != http.StatusSeeOther || to != "/signin" {
		t.Fatalf("the carpeta without signing in: %d → %s", status, to)
	}
	anna.signIn("Anna Puig Soler")

	status, page, _ := anna.get("/carpeta?municipality=08019&region=09")
	if status != http.StatusOK {
		t.Fatalf("carpeta: %d\n%s", status, page)
	}
	for _, want := range []string{`<html lang="ca">`, `id="service-padro"`, `id="service-titulacions"`, `id="service-discapacitat"`,
		`id="service-familia-nombrosa"`, `id="service-prestacions"`, "de Mallorca", "Graduado o Graduada en Derecho", "45 %", "Asignación económica por hijo"} {
		if !strings.Contains(page, want) {
			t.Errorf("the carpeta lacks %q", want)
		}
	}
	if strings.Contains(page, `class="bad"`) {
		t.Errorf("a card failed:\n%s", page)
	}
	// Each card's read is a self-access record of hers.
	auditor := n.token(map[string]string{"role": "auditor", "sub": "dpo-1"})
	st, out, _ := n.do("GET", "/v1/audit/transfers?subject=12345678Z&limit=100", auditor, nil)
	items, _ := out["items"].([]any)
	self := 0
	for _, it := range items {
		if it.(map[string]any)["kind"] == "self_access" {
			self++
		}
	}
	if st != http.StatusOK || self != 5 {
		t.Fatalf("self-access records after the carpeta: %d of %d (%d)", self, len(items), st)
	}

	// She objects to the padró being consulted without her consent.
	_, page, _ = anna.get("/carpeta/objections")
	tok := anna.token(page)
	if status, _, to := anna.post("/carpeta/objections", url.Values{"csrf": {tok}, "service": {"padro"}, "procedure": {""}}); status != http.StatusSeeOther || !strings.Contains(to, "done=objection_recorded") {
		t.Fatalf("recording an objection: %d → %s", status, to)
	}
	// Forms without her token, or posted from another site, change nothing.
	if status, _, _ := anna.post("/carpeta/objections", url.Values{"service": {"titulacions"}}); status != http.StatusForbidden {
		t.Errorf("a form without its token: %d", status)
	}
	req, _ := http.NewRequest("POST", n.base+"/carpeta/objections", strings.NewReader(url.Values{"csrf": {tok}, "service": {"titulacions"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if status, _, _ := anna.send(req); status != http.StatusForbidden {
		t.Errorf("a cross-site form: %d", status)
	}
	_, page, _ = anna.get("/carpeta/objections?done=objection_recorded")
	if !strings.Contains(page, "Oposició registrada") || strings.Count(page, "/withdraw") != 1 {
		t.Fatalf("the objection is not listed once:\n%s", page)
	}

	// A requester's presumed query for her padró is refused.
	env := envelope("12345678Z", map[string]any{"municipality": "08019"})
	st, out, _ = n.do("POST", "/v1/services/padro/queries", n.requester("P0801900B"), env)
	if st != http.StatusForbidden || out["code"] != "objection_registered" {
		t.Fatalf("a presumed query after her objection: %d %v", st, out)
	}
	_, page, _ = anna.get("/carpeta/transfers?service=padro")
	if !strings.Contains(page, "Ajuntament de Barcelona") || !strings.Contains(page, "objection_registered") || !strings.Contains(page, "Denegada") {
		t.Errorf("the refused query is not among her transfers:\n%s", page)
	}

	// The refusal's detail carries its receipt, checked against the log's
	// key once the record is sealed.
	detail := regexp.MustCompile(`href="(/carpeta/transfers/[0-9a-f-]{36})"`).FindStringSubmatch(page)
	if detail == nil {
		t.Fatalf("no detail link:\n%s", page)
	}
	for i := 0; ; i++ {
		_, d, _ := anna.get(detail[1])
		if strings.Contains(d, "La prova s&#39;ha comprovat amb la clau del registre") && strings.Contains(d, "objection_registered") {
			break
		}
		if i == 50 {
			t.Fatalf("the receipt is not verified:\n%s", d)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if status, _, _ := jordiGet(t, n, detail[1]); status != http.StatusNotFound {
		t.Errorf("another citizen opens Anna's transfer: %d", status)
	}
	// The API's own read of one transfer: hers, not another citizen's.
	apiPath := "/v1/me/transfers/" + strings.TrimPrefix(detail[1], "/carpeta/transfers/")
	if st, out, _ := n.do("GET", apiPath, n.token(map[string]string{"role": "citizen", "sub": "12345678Z"}), nil); st != http.StatusOK || out["outcome"] != "objection_registered" {
		t.Errorf("GET %s as Anna: %d %v", apiPath, st, out)
	}
	if st, _, _ := n.do("GET", apiPath, n.token(map[string]string{"role": "citizen", "sub": "45678901G"}), nil); st != http.StatusNotFound {
		t.Errorf("GET %s as Jordi: %d", apiPath, st)
	}

	// She withdraws it.
	withdraw := regexp.MustCompile(`action="(/carpeta/objections/[^"]+/withdraw)"`).FindStringSubmatch(page + mustGet(t, anna, "/carpeta/objections"))
	if withdraw == nil {
		t.Fatal("no withdraw form")
	}
	if status, _, to := anna.post(withdraw[1], url.Values{"csrf": {tok}}); status != http.StatusSeeOther || !strings.Contains(to, "objection_withdrawn") {
		t.Fatalf("withdrawing: %d → %s", status, to)
	}

	// A consent, given and revoked.
	_, page, _ = anna.get("/carpeta/consents")
	if !strings.Contains(page, `value="P0801900B/DEMO|demo"`) {
		t.Fatalf("no DEMO consent offered:\n%s", page)
	}
	form := url.Values{"csrf": {tok}, "offer": {"P0801900B/DEMO|demo"}, "services": {"padro", "prestacions"}, "expires": {"2099-01-01"}}
	if status, body, _ := anna.post("/carpeta/consents", form); status != http.StatusBadRequest || !strings.Contains(body, `class="problem"`) {
		t.Errorf("a consent for 2099: %d", status)
	}
	form.Set("expires", nextMonth())
	if status, _, to := anna.post("/carpeta/consents", form); status != http.StatusSeeOther || !strings.Contains(to, "consent_created") {
		t.Fatalf("giving a consent: %d → %s", status, to)
	}
	_, page, _ = anna.get("/carpeta/consents")
	revoke := regexp.MustCompile(`action="(/carpeta/consents/[^"]+/revoke)"`).FindStringSubmatch(page)
	if revoke == nil {
		t.Fatalf("no revoke form:\n%s", page)
	}
	if status, _, to := anna.post(revoke[1], url.Values{"csrf": {tok}}); status != http.StatusSeeOther || !strings.Contains(to, "consent_revoked") {
		t.Fatalf("revoking: %d → %s", status, to)
	}
	_, page, _ = anna.get("/carpeta/consents")
	if strings.Contains(page, "/revoke") || !strings.Contains(page, "Revocat el") {
		t.Errorf("the consent is not shown revoked:\n%s", page)
	}

	// Another citizen does not see Anna's objections or consents, and an
	// auditor's session does not open a citizen's pages.
	jordi := newBrowser(t, n, "es")
	jordi.signIn("Jordi Vidal Roca")
	if _, page, _ := jordi.get("/carpeta/consents"); strings.Contains(page, "/revoke") || strings.Contains(page, "Revocado el") {
		t.Errorf("Jordi sees Anna's consents")
	}
	dpo := newBrowser(t, n, "en")
	dpo.signIn("Delegada de protecció de dades")
	if status, _, _ := dpo.get("/carpeta"); status != http.StatusForbidden {
		t.Errorf("an auditor's session on the carpeta: %d", status)
	}
	// Signing out ends the session.
	if status, _, _ := anna.post("/signout", url.Values{"csrf": {tok}}); status != http.StatusSeeOther {
		t.Errorf("sign out: %d", status)
	}
	if status, _, to := anna.get("/carpeta"); status != http.StatusSeeOther || to != "/signin" {
		t.Errorf("after signing out: %d → %s", status, to)
	}
}

func mustGet(t *testing.T, b *browser, path string) string {
	t.Helper()
	status, page, _ := b.get(path)
	if status != http.StatusOK {
		t.Fatalf("%s: %d", path, status)
	}
	return page
}

// TestPublicPages: the home and the catalog need no sign-in, answer in
// the language asked for, and send the headers that keep them from being
// framed or cached.
func TestPublicPages(t *testing.T) {
	n := startDevWith(t, broker.Config{})
	for lang, heading := range map[string]string{"ca": "Catàleg de serveis", "es": "Catálogo de servicios", "en": "Catalog of services"} {
		b := newBrowser(t, n, lang)
		status, page, _ := b.get("/catalog")
		if status != http.StatusOK || !strings.Contains(page, `<html lang="`+lang+`">`) || !strings.Contains(page, heading) {
			t.Errorf("%s catalog: %d", lang, status)
		}
	}
	b := newBrowser(t, n, "en")
	status, page, _ := b.get("/catalog/titulacions")
	if status != http.StatusOK || !strings.Contains(page, "SVDTNUWS03") || !strings.Contains(page, "Reial Decret 1002/2010") {
		t.Errorf("a service page: %d\n%s", status, page)
	}
	if status, _, _ := b.get("/catalog/nope"); status != http.StatusNotFound {
		t.Errorf("an unknown service: %d", status)
	}
	// The language switch keeps the page and refuses to send her elsewhere.
	if status, _, to := b.get("/lang?l=es&back=/catalog"); status != http.StatusSeeOther || to != "/catalog" {
		t.Errorf("switching language: %d → %s", status, to)
	}
	if _, page, _ := b.get("/catalog"); !strings.Contains(page, `<html lang="es">`) {
		t.Error("the language switch did not hold")
	}
	if _, _, to := b.get("/lang?l=ca&back=//evil.example/"); to != "/" {
		t.Errorf("an open redirect: → %s", to)
	}
	resp, err := http.Get(n.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	// A browser's unknown path is a page (in Catalan, the language the
	// switch was left at); the API's own paths keep their
	// JSON answers.
	req, _ := http.NewRequest("GET", n.base+"/no-such-page", nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	if status, page, _ := b.send(req); status != http.StatusNotFound || !strings.Contains(page, "Aquesta pàgina no existeix") {
		t.Errorf("an unknown page: %d\n%s", status, page)
	}
	if st, out, _ := n.do("GET", "/v1/nope", "", nil); st != http.StatusNotFound || out["code"] == nil {
		t.Errorf("an unknown API path: %d %v", st, out)
	}
}

// nextMonth is a date a month from now, as a date input writes it.
func nextMonth() string { return time.Now().AddDate(0, 1, 0).Format(time.DateOnly) }

// jordiGet opens path as another citizen, Jordi.
func jordiGet(t *testing.T, n *node, path string) (int, string, string) {
	t.Helper()
	b := newBrowser(t, n, "ca")
	b.signIn("Jordi Vidal Roca")
	return b.get(path)
}
