package web

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/auth"
)

// TestEveryMessageInEveryLanguage: no message of one language is missing
// from another, and every message id a template or the Go code asks for
// exists (a missing one would show its id on the page).
func TestEveryMessageInEveryLanguage(t *testing.T) {
	m, err := loadMessages()
	if err != nil {
		t.Fatal(err)
	}
	for lang, ids := range m.missing() {
		if len(ids) > 0 {
			t.Errorf("%s lacks %d messages: %v", lang, len(ids), ids)
		}
	}
	used := map[string]bool{}
	literal := regexp.MustCompile(`\.T "([a-z0-9_.-]+)"`)
	goLiteral := regexp.MustCompile(`\.T\("([a-z0-9_.-]+)"`)
	walk := func(root string, re *regexp.Regexp, fsys fs.FS) {
		_ = fs.WalkDir(fsys, root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, _ := fs.ReadFile(fsys, path)
			for _, mm := range re.FindAllStringSubmatch(string(b), -1) {
				used[mm[1]] = true
			}
			return nil
		})
	}
	walk("templates", literal, templateFS)
	walk(".", goLiteral, osDir("."))
	// Ids made at run time: one per catalog service, purpose, answer
	// field, legal basis, role, routing key, flash and month.
	for id := range used {
		if strings.HasSuffix(id, ".") {
			delete(used, id)
		}
	}
	cat, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range cat.ServiceNames() {
		used["service."+name] = true
		svc, _ := cat.Service(name)
		if svc.RoutingKey != "" {
			used["carpeta.needs."+svc.RoutingKey] = true
			used["catalog.routing."+svc.RoutingKey] = true
		}
		for _, key := range answerKeys(t, svc.Answer) {
			used["field."+key] = true
		}
	}
	for code := range cat.Purposes {
		used["purpose."+code] = true
	}
	for _, id := range []string{"basis.presumed", "basis.law", "basis.consent", "basis.self", "role.citizen", "role.auditor", "role.publisher"} {
		used[id] = true
	}
	for f := range flashes {
		used["flash."+f] = true
	}
	for i := 1; i <= 12; i++ {
		used["month."+strconv.Itoa(i)] = true
	}
	for id := range used {
		for _, tag := range languages {
			if !m.ids[tag.String()][id] {
				t.Errorf("message %q is used but %s has none", id, tag)
			}
		}
	}
	if len(used) < 50 {
		t.Errorf("only %d message ids found in use: the scan is broken", len(used))
	}
}

type osDir string

func (d osDir) Open(name string) (fs.File, error) { return http.Dir(string(d)).Open("/" + name) }

func TestTemplatesParse(t *testing.T) {
	pages, err := parseTemplates()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"home", "signin", "error", "carpeta", "transfers", "consents", "objections", "catalog", "service"} {
		if pages[name] == nil {
			t.Errorf("no page %s", name)
		}
	}
}

func TestLocalPath(t *testing.T) {
	for path, want := range map[string]bool{
		"/carpeta": true, "/carpeta?x=1": true, "/": true,
		"": false, "//evil.example/": false, "/\\evil.example": false, "https://evil.example/": false,
		"carpeta": false, "javascript:alert(1)": false, "/%2F/evil": true,
	} {
		if got := localPath(path); got != want {
			t.Errorf("localPath(%q) = %v", path, got)
		}
	}
}

// TestSessions: a session cookie reads back as issued; a forged, expired
// or other key's one does not.
func TestSessions(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	s := sessions{key: []byte(strings.Repeat("k", 32)), ttl: time.Hour, secure: true, now: func() time.Time { return now }}
	rec := httptest.NewRecorder()
	want := auth.Principal{Role: auth.RoleCitizen, Sub: "12345678Z"}
	issued, err := s.issue(rec, want, "Anna")
	if err != nil {
		t.Fatal(err)
	}
	cookie := rec.Result().Cookies()[0]
	if !cookie.HttpOnly || !cookie.Secure || cookie.SameSite != http.SameSiteLaxMode || cookie.Path != "/" {
		t.Errorf("cookie %+v", cookie)
	}
	read := func(s sessions, value string) (session, bool) {
		r := httptest.NewRequest("GET", "/", nil)
		r.AddCookie(&http.Cookie{Name: sessionCookie, Value: value})
		return s.read(r)
	}
	got, ok := read(s, cookie.Value)
	if !ok || got.Principal != want || got.CSRF != issued.CSRF || got.Name != "Anna" {
		t.Fatalf("read %+v %v", got, ok)
	}
	other := s
	other.key = []byte(strings.Repeat("o", 32))
	if _, ok := read(other, cookie.Value); ok {
		t.Error("another key's cookie was read")
	}
	later := s
	later.now = func() time.Time { return now.Add(2 * time.Hour) }
	if _, ok := read(later, cookie.Value); ok {
		t.Error("an expired cookie was read")
	}
	parts := strings.Split(cookie.Value, ".")
	forged := parts[0] + "." + strings.Replace(parts[1], "a", "b", 1) + "." + parts[2]
	if _, ok := read(s, forged); ok {
		t.Error("a forged cookie was read")
	}
	if _, ok := read(s, "\x00garbage"); ok {
		t.Error("garbage was read")
	}
	// A role the pages do not serve (a requester system) is no session.
	rec = httptest.NewRecorder()
	if _, err := s.issue(rec, auth.Principal{Role: auth.RoleRequester, Org: "P0801900B"}, "x"); err != nil {
		t.Fatal(err)
	}
	if _, ok := read(s, rec.Result().Cookies()[0].Value); ok {
		t.Error("a requester's session was read")
	}
}

func TestFormats(t *testing.T) {
	m, err := loadMessages()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		lang, date, amount string
	}{
		{"ca", "29 de febrer de 2024", "1.234,50 €"},
		{"es", "29 de febrero de 2024", "1.234,50 €"},
		{"en", "29 February 2024", "€1,234.50"},
	} {
		v := &view{loc: m.localizer(c.lang), Lang: c.lang}
		if got := v.Date("2024-02-29"); got != c.date {
			t.Errorf("%s date %q, want %q", c.lang, got, c.date)
		}
		if got := v.Amount(1234.5); got != c.amount {
			t.Errorf("%s amount %q, want %q", c.lang, got, c.amount)
		}
	}
	v := &view{loc: m.localizer("ca"), Lang: "ca"}
	if got := v.Amount(341); got != "341,00 €" {
		t.Errorf("341 → %q", got)
	}
}

func TestLanguageChoice(t *testing.T) {
	for _, c := range []struct{ accept, cookie, want string }{
		{"es-ES,es;q=0.9", "", "es"},
		{"en-GB", "", "en"},
		{"fr-FR", "", "ca"},
		{"", "", "ca"},
		{"es", "en", "en"},
		{"es", "de", "es"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Accept-Language", c.accept)
		if c.cookie != "" {
			r.AddCookie(&http.Cookie{Name: langCookie, Value: c.cookie})
		}
		if got := pageLanguage(r); got != c.want {
			t.Errorf("Accept-Language %q, cookie %q: %s, want %s", c.accept, c.cookie, got, c.want)
		}
	}
}

// answerKeys lists every member name an answer schema defines.
func answerKeys(t *testing.T, schema json.RawMessage) []string {
	t.Helper()
	var keys []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if props, ok := x["properties"].(map[string]any); ok {
				for k := range props {
					keys = append(keys, k)
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	var v any
	if err := json.Unmarshal(schema, &v); err != nil {
		t.Fatal(err)
	}
	walk(v)
	return keys
}
