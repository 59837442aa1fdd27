package web

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pontexchange/pont/exchange/auth"
)

// The sign-in with a real OpenID provider, end to end, is tested on a
// node: exchange/broker's TestOIDCSignIn and TestOIDCProviderDown. These
// are the parts that need no provider.

// TestOIDCPrincipal: the provider's claims make the principal the pages
// call the API as: a citizen by her DNI or NIE (normalised), an auditor
// by her subject, a publisher by her subject and her data owner's NIF;
// anything else is refused with its reason.
func TestOIDCPrincipal(t *testing.T) {
	o := &OIDC{SubjectClaim: "nif", RoleClaim: "pont_role", OrgClaim: "owner_nif"}
	s := sessions{key: []byte(strings.Repeat("k", 32)), ttl: time.Hour, now: time.Now}
	for _, c := range []struct {
		name   string
		claims map[string]any
		want   auth.Principal
		greet  string
		refuse string
	}{
		{"citizen by default", map[string]any{"sub": "x", "nif": "12345678-z", "name": "Anna Puig"},
			auth.Principal{Role: auth.RoleCitizen, Sub: "12345678Z"}, "Anna Puig", ""},
		{"citizen with a NIE", map[string]any{"nif": "X1234567L", "pont_role": "citizen", "given_name": "Nora", "family_name": "Ionescu"},
			auth.Principal{Role: auth.RoleCitizen, Sub: "X1234567L"}, "Nora Ionescu", ""},
		{"no name: her id", map[string]any{"nif": "12345678Z"},
			auth.Principal{Role: auth.RoleCitizen, Sub: "12345678Z"}, "12345678Z", ""},
		{"a wrong check letter", map[string]any{"nif": "12345678A"}, auth.Principal{}, "", refuseNotDNI},
		{"no subject claim", map[string]any{"sub": "12345678Z"}, auth.Principal{}, "", refuseNotDNI},
		{"a number, not a string", map[string]any{"nif": 12345678}, auth.Principal{}, "", refuseNotDNI},
		{"auditor", map[string]any{"nif": "dpo-7", "pont_role": "Auditor", "name": "DPO"},
			auth.Principal{Role: auth.RoleAuditor, Sub: "dpo-7"}, "DPO", ""},
		{"auditor without a subject", map[string]any{"pont_role": "auditor"}, auth.Principal{}, "", refuseSub},
		{"auditor with a control character", map[string]any{"nif": "dpo\n7", "pont_role": "auditor"}, auth.Principal{}, "", refuseSub},
		{"auditor with a long subject", map[string]any{"nif": strings.Repeat("a", 129), "pont_role": "auditor"}, auth.Principal{}, "", refuseSub},
		{"publisher", map[string]any{"nif": "clerk-1", "pont_role": "publisher", "owner_nif": "p0801900b"},
			auth.Principal{Role: auth.RolePublisher, Owner: "P0801900B", Sub: "clerk-1"}, "clerk-1", ""},
		{"publisher with a wrong NIF", map[string]any{"nif": "clerk-1", "pont_role": "publisher", "owner_nif": "P0801900C"}, auth.Principal{}, "", refuseOrg},
		{"publisher without a NIF", map[string]any{"nif": "clerk-1", "pont_role": "publisher"}, auth.Principal{}, "", refuseOrg},
		{"publisher without a subject", map[string]any{"pont_role": "publisher", "owner_nif": "P0801900B"}, auth.Principal{}, "", refuseSub},
		{"a requester is no person of the pages", map[string]any{"nif": "12345678Z", "pont_role": "requester"}, auth.Principal{}, "", refuseRole},
		{"an unknown role", map[string]any{"nif": "12345678Z", "pont_role": "admin"}, auth.Principal{}, "", refuseRole},
	} {
		got, greet, why := o.principal(c.claims)
		if got != c.want || greet != c.greet || why != c.refuse {
			t.Errorf("%s: %+v %q %q, want %+v %q %q", c.name, got, greet, why, c.want, c.greet, c.refuse)
		}
		if why != "" {
			continue
		}
		// Her session reads back as that principal.
		rec := httptest.NewRecorder()
		if _, err := s.issue(rec, got, greet); err != nil {
			t.Fatal(err)
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.AddCookie(rec.Result().Cookies()[0])
		if sess, ok := s.read(r); !ok || sess.Principal != got || sess.Name != greet {
			t.Errorf("%s: her session reads back as %+v %v", c.name, sess, ok)
		}
	}
	// Without RoleClaim everyone is a citizen, whatever her claims say;
	// the subject is "sub" by default.
	plain := &OIDC{}
	if got, _, why := plain.principal(map[string]any{"sub": "12345678Z", "role": "auditor"}); why != "" || got.Role != auth.RoleCitizen || got.Sub != "12345678Z" {
		t.Errorf("defaults: %+v %q", got, why)
	}
}

// TestOIDCFlowCookie: the sign-in's cookie reads back as written, only
// under its path, HttpOnly and SameSite=Lax; one of another key, expired,
// or a session's, does not; nor is it taken for a session.
func TestOIDCFlowCookie(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	s := sessions{key: []byte(strings.Repeat("k", 32)), ttl: time.Hour, secure: true, now: func() time.Time { return now }}
	want := oidcFlow{State: "st", Nonce: "no", Verifier: "ve", Back: "/carpeta/transfers"}
	rec := httptest.NewRecorder()
	if err := s.setFlow(rec, want); err != nil {
		t.Fatal(err)
	}
	c := rec.Result().Cookies()[0]
	if c.Name != oidcCookie || c.Path != "/signin/oidc" || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || !c.Expires.Equal(now.Add(10*time.Minute)) {
		t.Errorf("cookie %+v", c)
	}
	read := func(s sessions, name, value string) (oidcFlow, bool) {
		r := httptest.NewRequest("GET", "/signin/oidc/callback", nil)
		r.AddCookie(&http.Cookie{Name: name, Value: value})
		return s.flow(r)
	}
	if got, ok := read(s, oidcCookie, c.Value); !ok || got != want {
		t.Fatalf("read %+v %v", got, ok)
	}
	other := s
	other.key = []byte(strings.Repeat("o", 32))
	if _, ok := read(other, oidcCookie, c.Value); ok {
		t.Error("another key's cookie was read")
	}
	later := s
	later.now = func() time.Time { return now.Add(11 * time.Minute) }
	if _, ok := read(later, oidcCookie, c.Value); ok {
		t.Error("an expired sign-in was read")
	}
	// A session is no sign-in in progress, and a sign-in no session.
	rec = httptest.NewRecorder()
	if _, err := s.issue(rec, auth.Principal{Role: auth.RoleCitizen, Sub: "12345678Z"}, "Anna"); err != nil {
		t.Fatal(err)
	}
	if _, ok := read(s, oidcCookie, rec.Result().Cookies()[0].Value); ok {
		t.Error("a session was read as a sign-in")
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.AddCookie(&http.Cookie{Name: sessionCookie, Value: c.Value})
	if _, ok := s.read(r); ok {
		t.Error("a sign-in was read as a session")
	}
	// Clearing it clears the cookie of its path.
	rec = httptest.NewRecorder()
	s.clearFlow(rec)
	if c := rec.Result().Cookies()[0]; c.Name != oidcCookie || c.Path != "/signin/oidc" || c.MaxAge >= 0 || c.Value != "" {
		t.Errorf("cleared cookie %+v", c)
	}
}

func TestOIDCCheck(t *testing.T) {
	good := OIDC{Issuer: "https://idp.example/realms/pont", ClientID: "pont", RedirectURL: "https://pont.example/signin/oidc/callback"}
	if err := good.Check(); err != nil {
		t.Errorf("a good configuration: %v", err)
	}
	dev := OIDC{Issuer: "http://127.0.0.1:8080/", ClientID: "pont", RedirectURL: "http://localhost:8443/signin/oidc/callback"}
	if err := dev.Check(); err != nil {
		t.Errorf("a development configuration on loopback: %v", err)
	}
	for _, c := range []struct {
		o    *OIDC
		want string
	}{
		{&OIDC{ClientID: "pont", RedirectURL: good.RedirectURL}, "Issuer is required"},
		{&OIDC{Issuer: "http://idp.example/", ClientID: "pont", RedirectURL: good.RedirectURL}, "Issuer must be an https URL"},
		{&OIDC{Issuer: "idp.example", ClientID: "pont", RedirectURL: good.RedirectURL}, "Issuer must be an absolute"},
		{&OIDC{Issuer: good.Issuer, RedirectURL: good.RedirectURL}, "ClientID is required"},
		{&OIDC{Issuer: good.Issuer, ClientID: "pont", RedirectURL: "/signin/oidc/callback"}, "RedirectURL must be an absolute"},
	} {
		if err := c.o.Check(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.o, err, c.want)
		}
	}
}

func TestOIDCScopes(t *testing.T) {
	for _, c := range []struct{ in, want []string }{
		{nil, []string{"openid", "profile"}},
		{[]string{"profile", "dni"}, []string{"openid", "profile", "dni"}},
		{[]string{"dni", "openid"}, []string{"dni", "openid"}},
	} {
		o := &OIDC{Scopes: c.in}
		if got := o.scopes(); !slices.Equal(got, c.want) {
			t.Errorf("scopes %v: %v, want %v", c.in, got, c.want)
		}
	}
}
