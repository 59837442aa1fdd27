package broker_test

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"golang.org/x/text/language"

	"github.com/pontexchange/pont/exchange/broker"
	"github.com/pontexchange/pont/exchange/web"
	"github.com/pontexchange/pont/internal/testenv"
)

// The OpenID provider of these tests is zitadel/oidc's example OP, a
// provider this project did not write, run in-process on a loopback port
// with its in-memory storage: its login form, its code flow with PKCE, its
// signed ID tokens and its userinfo endpoint.

// opUsers are the example OP's people: its storage.UserStore over a map.
// The ID token's sub is the user's ID.
type opUsers map[string]*storage.User

func (u opUsers) GetUserByID(id string) *storage.User { return u[id] }
func (u opUsers) GetUserByUsername(name string) *storage.User {
	for _, x := range u {
		if x.Username == name {
			return x
		}
	}
	return nil
}
func (u opUsers) ExampleClientID() string { return storage.ServiceUserID }

func opUser(id, username, first, last string) *storage.User {
	return &storage.User{ID: id, Username: username, Password: "pw-" + username, FirstName: first, LastName: last,
		Email: username + "@example.org", EmailVerified: true, PreferredLanguage: language.Catalan}
}

// The example OP's users: a citizen whose sub is her DNI as people write
// it (lower case, a dash), one whose sub is a NIE, and one whose sub is no
// DNI or NIE.
var testOPUsers = opUsers{
	"12345678-z": opUser("12345678-z", "anna", "Anna", "Puig Soler"),
	"X1234567L":  opUser("X1234567L", "nora", "Nora", "Ionescu"),
	"user-42":    opUser("user-42", "nodni", "Sense", "Document"),
}

const (
	oidcClientID     = "pont"
	oidcClientSecret = "pont-client-secret"
)

// listen reserves a loopback port.
func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// startOP serves the example OP on ln, with the node's client: a web client
// (client secret, PKCE) whose only redirect URI is redirectURI. It answers
// the issuer.
func startOP(t *testing.T, ln net.Listener, redirectURI string) string {
	t.Helper()
	issuer := "http://" + ln.Addr().String() + "/"
	clients := map[string]*storage.Client{oidcClientID: storage.WebClient(oidcClientID, oidcClientSecret, redirectURI)}
	router := exampleop.SetupServer(issuer, storage.NewStorageWithClients(testOPUsers, clients), nil, false)
	srv := httptest.NewUnstartedServer(router)
	_ = srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return issuer
}

// startOIDCNode starts a development node on ln, as startDevWith does,
// whose pages sign people in with the provider at issuer too; its log goes
// to logs.
func startOIDCNode(t *testing.T, ln net.Listener, issuer string, logs *testenv.SyncBuffer) *node {
	t.Helper()
	base := "http://" + ln.Addr().String()
	return startDevOn(t, broker.Config{Pages: broker.PagesConfig{OIDC: &web.OIDC{
		Issuer: issuer, ClientID: oidcClientID, ClientSecret: oidcClientSecret,
		RedirectURL: base + "/signin/oidc/callback",
	}}, Logger: slog.New(slog.NewTextHandler(logs, nil))}, ln)
}

// startOIDC starts the example OP and a node that signs in with it.
func startOIDC(t *testing.T, logs *testenv.SyncBuffer) (*node, string) {
	t.Helper()
	nodeLn, opLn := listen(t), listen(t)
	issuer := startOP(t, opLn, "http://"+nodeLn.Addr().String()+"/signin/oidc/callback")
	return startOIDCNode(t, nodeLn, issuer, logs), issuer
}

// fetch sends the browser to an absolute URL (the provider's pages).
func (b *browser) fetch(method, u string, form url.Values) (int, string, string) {
	b.t.Helper()
	var req *http.Request
	if form == nil {
		req, _ = http.NewRequest(method, u, nil)
	} else {
		req, _ = http.NewRequest(method, u, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept-Language", b.lang)
	return b.send(req)
}

// cookie answers the value of the browser's cookie name for the node's
// path, "" when it has none.
func (b *browser) cookie(path, name string) string {
	u, _ := url.Parse(b.n.base + path)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

var opLoginID = regexp.MustCompile(`name="id" value="([^"]+)"`)

// authorize starts a sign-in on the node (GET /signin/oidc?back=back),
// checks that the provider is asked for the code flow with PKCE S256, a
// state and a nonce, signs in at the provider's login form as username,
// and answers the provider's redirect back to the node (the callback's
// path and query), not yet followed.
func (b *browser) authorize(issuer, back, username string) string {
	b.t.Helper()
	start := "/signin/oidc"
	if back != "" {
		start += "?back=" + url.QueryEscape(back)
	}
	status, page, to := b.get(start)
	if status != http.StatusFound || !strings.HasPrefix(to, issuer) {
		b.t.Fatalf("GET %s: %d → %q, want a redirect to the provider\n%s", start, status, to, page)
	}
	if b.cookie("/signin/oidc/callback", "pont_oidc") == "" {
		b.t.Fatal("no pont_oidc cookie for the callback")
	}
	if b.cookie("/carpeta", "pont_oidc") != "" {
		b.t.Error("the pont_oidc cookie is sent beyond /signin/oidc")
	}
	authURL, err := url.Parse(to)
	if err != nil {
		b.t.Fatal(err)
	}
	q := authURL.Query()
	for k, want := range map[string]string{"response_type": "code", "client_id": oidcClientID,
		"redirect_uri": b.n.base + "/signin/oidc/callback", "code_challenge_method": "S256"} {
		if q.Get(k) != want {
			b.t.Errorf("the authorisation request's %s is %q, want %q", k, q.Get(k), want)
		}
	}
	for _, k := range []string{"state", "nonce", "code_challenge"} {
		if len(q.Get(k)) < 40 {
			b.t.Errorf("the authorisation request's %s is %q: not a random token", k, q.Get(k))
		}
	}
	if !strings.Contains(" "+q.Get("scope")+" ", " openid ") {
		b.t.Errorf("scope %q lacks openid", q.Get("scope"))
	}

	// The provider sends her to its login form, takes her password, and
	// sends her back to the node with a code.
	status, page, to = b.fetch("GET", to, nil)
	if status != http.StatusFound {
		b.t.Fatalf("the provider's authorisation endpoint: %d\n%s", status, page)
	}
	login := authURL.ResolveReference(mustParse(b.t, to))
	status, page, _ = b.fetch("GET", login.String(), nil)
	m := opLoginID.FindStringSubmatch(page)
	if status != http.StatusOK || m == nil {
		b.t.Fatalf("the provider's login form: %d\n%s", status, page)
	}
	status, page, to = b.fetch("POST", authURL.ResolveReference(mustParse(b.t, "/login/username")).String(),
		url.Values{"id": {m[1]}, "username": {username}, "password": {"pw-" + username}})
	if status != http.StatusFound {
		b.t.Fatalf("the provider's login as %s: %d\n%s", username, status, page)
	}
	status, page, to = b.fetch("GET", authURL.ResolveReference(mustParse(b.t, to)).String(), nil)
	if status != http.StatusFound || !strings.HasPrefix(to, b.n.base+"/signin/oidc/callback?") {
		b.t.Fatalf("the provider's answer: %d → %q\n%s", status, to, page)
	}
	back2, _ := url.Parse(to)
	if back2.Query().Get("code") == "" || back2.Query().Get("state") != q.Get("state") {
		b.t.Fatalf("the provider's redirect %q lacks the code or the state", to)
	}
	return strings.TrimPrefix(to, b.n.base)
}

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestOIDCSignIn: people sign in on a node with a real OpenID provider.
// A citizen whose sub is her DNI gets a session as that DNI (normalised)
// and sees her carpeta, greeted by the name of the provider's userinfo;
// one with a NIE too. An answer whose state is not the browser's, a
// callback replayed (with or without the first browser's cookie), the
// provider's refusal, and a subject that is no DNI or NIE are refused with
// a page in her language and no session. The node's log says why, and
// never carries a code, a state, a token or the subject's id.
func TestOIDCSignIn(t *testing.T) {
	logs := &testenv.SyncBuffer{}
	n, issuer := startOIDC(t, logs)
	// secrets are what the log must never carry.
	var secrets []string
	defer func() {
		log := logs.String()
		for _, want := range []string{"signed in with OIDC", "state does not match", "the provider refused the code",
			"the subject claim is not a DNI or NIE", "no valid sign-in cookie", "access_denied"} {
			if !strings.Contains(log, want) {
				t.Errorf("the node's log does not say %q", want)
			}
		}
		for _, s := range secrets {
			if strings.Contains(log, s) {
				t.Errorf("the node's log carries %q", s)
			}
		}
	}()

	t.Run("citizen", func(t *testing.T) {
		anna := newBrowser(t, n, "ca")
		if status, page, _ := anna.get("/signin"); status != http.StatusOK || !strings.Contains(page, `href="/signin/oidc"`) {
			t.Fatalf("the sign-in page offers no OpenID sign-in: %d\n%s", status, page)
		}
		callback := anna.authorize(issuer, "/carpeta/transfers", "anna")
		flowCookie := anna.cookie("/signin/oidc/callback", "pont_oidc")
		cq := mustParse(t, callback).Query()
		secrets = append(secrets, flowCookie, cq.Get("code"), cq.Get("state"), oidcClientSecret, "user-42")
		status, page, to := anna.get(callback)
		if status != http.StatusSeeOther || to != "/carpeta/transfers" {
			t.Fatalf("callback: %d → %q\n%s", status, to, page)
		}
		if anna.cookie("/", "pont_session") == "" {
			t.Fatal("no session cookie after signing in")
		}
		secrets = append(secrets, anna.cookie("/", "pont_session"))
		if anna.cookie("/signin/oidc/callback", "pont_oidc") != "" {
			t.Error("the pont_oidc cookie outlives the sign-in")
		}
		status, page, to = anna.get("/carpeta/transfers")
		if status != http.StatusOK {
			t.Fatalf("her transfers after signing in: %d → %q", status, to)
		}
		if !strings.Contains(page, "Sessió de Anna Puig Soler") {
			t.Errorf("the page does not greet her by the provider's name:\n%s", page)
		}
		// Her session is the API's citizen 12345678Z: her carpeta shows her
		// data at the sources.
		status, page, _ = anna.get("/carpeta?municipality=08019&region=09")
		if status != http.StatusOK || !strings.Contains(page, "Graduado o Graduada en Derecho") || strings.Contains(page, `class="bad"`) {
			t.Errorf("her carpeta: %d\n%s", status, page)
		}

		// The same answer again, from another browser: without the first
		// browser's cookie it belongs to no sign-in; with it, the provider
		// refuses the code, spent.
		for _, withCookie := range []bool{false, true} {
			eve := newBrowser(t, n, "en")
			want := "This sign-in has expired"
			if withCookie {
				u, _ := url.Parse(n.base + "/signin/oidc/callback")
				eve.c.Jar.SetCookies(u, []*http.Cookie{{Name: "pont_oidc", Value: flowCookie, Path: "/signin/oidc"}})
				want = "could not be verified"
			}
			status, page, to := eve.get(callback)
			if status != http.StatusBadRequest || !strings.Contains(page, want) || to != "" {
				t.Errorf("replayed callback (cookie %v): %d → %q, want 400 saying %q\n%s", withCookie, status, to, want, page)
			}
			if eve.cookie("/", "pont_session") != "" {
				t.Errorf("a replayed callback (cookie %v) signed someone in", withCookie)
			}
		}
		// And in her own browser, once more: the sign-in is spent.
		if status, page, _ := anna.get(callback); status != http.StatusBadRequest || !strings.Contains(page, "Aquesta identificació ha caducat") {
			t.Errorf("her callback again: %d\n%s", status, page)
		}
	})

	t.Run("nie and no open redirect", func(t *testing.T) {
		nora := newBrowser(t, n, "es")
		callback := nora.authorize(issuer, "//evil.example/carpeta", "nora")
		if status, page, to := nora.get(callback); status != http.StatusSeeOther || to != "/carpeta" {
			t.Fatalf("callback: %d → %q\n%s", status, to, page)
		}
		if status, page, _ := nora.get("/carpeta/transfers"); status != http.StatusOK || !strings.Contains(page, "Sesión de Nora Ionescu") {
			t.Errorf("her transfers: %d\n%s", status, page)
		}
	})

	t.Run("wrong state", func(t *testing.T) {
		anna := newBrowser(t, n, "es")
		callback := anna.authorize(issuer, "", "anna")
		u := mustParse(t, callback)
		q := u.Query()
		q.Set("state", strings.Repeat("A", len(q.Get("state"))))
		u.RawQuery = q.Encode()
		status, page, to := anna.get(u.String())
		if status != http.StatusBadRequest || to != "" || !strings.Contains(page, "no corresponde a la identificación iniciada en este navegador") {
			t.Errorf("a callback with another state: %d → %q\n%s", status, to, page)
		}
		if anna.cookie("/", "pont_session") != "" {
			t.Error("a callback with another state signed her in")
		}
		// The refusal spends the sign-in: the right answer now comes too late.
		if status, page, _ := anna.get(callback); status != http.StatusBadRequest || !strings.Contains(page, "ha caducado") {
			t.Errorf("the right callback after a wrong one: %d\n%s", status, page)
		}
		if anna.cookie("/", "pont_session") != "" {
			t.Error("signed in after a refused callback")
		}
	})

	// Her browser's sign-in cookie, re-signed with the node's session key
	// (a development node keeps it in its data directory) with one claim
	// changed: the ID token's nonce must be the cookie's, and the provider
	// must get the PKCE verifier of the challenge it was given.
	t.Run("nonce and verifier", func(t *testing.T) {
		key, err := os.ReadFile(filepath.Join(n.dir, "session.key"))
		if err != nil {
			t.Fatal(err)
		}
		for claim, why := range map[string]string{"nonce": "nonce does not match", "verifier": "the provider refused the code"} {
			b := newBrowser(t, n, "en")
			callback := b.authorize(issuer, "", "anna")
			tok, err := jwt.Parse([]byte(b.cookie("/signin/oidc/callback", "pont_oidc")), jwt.WithKey(jwa.HS256, key))
			if err != nil {
				t.Fatal(err)
			}
			_ = tok.Set(claim, strings.Repeat("x", 43))
			forged, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, key))
			if err != nil {
				t.Fatal(err)
			}
			b.c.Jar.SetCookies(mustParse(t, n.base+"/signin/oidc"), []*http.Cookie{{Name: "pont_oidc", Value: string(forged), Path: "/signin/oidc"}})
			status, page, to := b.get(callback)
			if status != http.StatusBadRequest || to != "" || !strings.Contains(page, "could not be verified") {
				t.Errorf("another %s: %d → %q\n%s", claim, status, to, page)
			}
			if b.cookie("/", "pont_session") != "" {
				t.Errorf("another %s signed her in", claim)
			}
			if !strings.Contains(logs.String(), why) {
				t.Errorf("another %s: the log does not say %q", claim, why)
			}
		}
	})

	t.Run("subject is no DNI or NIE", func(t *testing.T) {
		someone := newBrowser(t, n, "en")
		callback := someone.authorize(issuer, "", "nodni")
		status, page, to := someone.get(callback)
		if status != http.StatusForbidden || to != "" || !strings.Contains(page, "did not give a valid DNI or NIE") || !strings.Contains(page, `<html lang="en">`) {
			t.Errorf("a subject that is no DNI: %d → %q\n%s", status, to, page)
		}
		if strings.Contains(page, "user-42") {
			t.Error("the page shows the provider's subject")
		}
		if someone.cookie("/", "pont_session") != "" {
			t.Error("someone without a DNI got a session")
		}
		if status, _, to := someone.get("/carpeta"); status != http.StatusSeeOther || to != "/signin" {
			t.Errorf("the carpeta after the refusal: %d → %q", status, to)
		}
	})

	t.Run("provider refuses", func(t *testing.T) {
		b := newBrowser(t, n, "ca")
		status, _, to := b.get("/signin/oidc")
		if status != http.StatusFound {
			t.Fatalf("GET /signin/oidc: %d", status)
		}
		state := mustParse(t, to).Query().Get("state")
		status, page, _ := b.get("/signin/oidc/callback?error=access_denied&error_description=%3Cb%3Enope%3C%2Fb%3E&state=" + url.QueryEscape(state))
		if status != http.StatusForbidden || !strings.Contains(page, "us identifiqui davant de Pont") || strings.Contains(page, "&gt;nope") || strings.Contains(page, ">nope") {
			t.Errorf("the provider's refusal: %d\n%s", status, page)
		}
		if b.cookie("/", "pont_session") != "" {
			t.Error("a refusal signed her in")
		}
	})
}

// TestOIDCProviderDown: a node whose provider is down starts and serves;
// its sign-in page says that signing in is unavailable, and once the
// provider is up, signing in works without restarting the node.
func TestOIDCProviderDown(t *testing.T) {
	opLn := listen(t)
	opAddr := opLn.Addr().String()
	_ = opLn.Close() // nobody answers there
	nodeLn := listen(t)
	issuer := "http://" + opAddr + "/"
	logs := &testenv.SyncBuffer{}
	n := startOIDCNode(t, nodeLn, issuer, logs)

	b := newBrowser(t, n, "en")
	if status, page, _ := b.get("/signin"); status != http.StatusOK || !strings.Contains(page, `href="/signin/oidc"`) {
		t.Fatalf("the sign-in page: %d\n%s", status, page)
	}
	status, page, to := b.get("/signin/oidc")
	if status != http.StatusServiceUnavailable || to != "" || !strings.Contains(page, "Signing in with the identity provider is not available right now") {
		t.Fatalf("signing in with the provider down: %d → %q\n%s", status, to, page)
	}
	if b.cookie("/signin/oidc/callback", "pont_oidc") != "" {
		t.Error("a sign-in was started with the provider down")
	}
	if log := logs.String(); !strings.Contains(log, "OIDC provider unavailable") || !strings.Contains(log, opAddr) {
		t.Errorf("the node's log does not say the provider is unavailable:\n%s", log)
	}
	if status, _, _ := b.get("/catalog"); status != http.StatusOK {
		t.Errorf("the catalog with the provider down: %d", status)
	}
	if status, _, _ := n.do("GET", "/v1/catalog/services", "", nil); status != http.StatusOK {
		t.Errorf("the API with the provider down: %d", status)
	}

	// The provider comes up on its address.
	opLn, err := net.Listen("tcp", opAddr)
	if err != nil {
		t.Skipf("the provider's port was taken meanwhile: %v", err)
	}
	startOP(t, opLn, n.base+"/signin/oidc/callback")
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, _, to = b.get("/signin/oidc")
		if status == http.StatusFound || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if status != http.StatusFound || !strings.HasPrefix(to, issuer) {
		t.Fatalf("signing in once the provider is up: %d → %q", status, to)
	}
	callback := b.authorize(issuer, "", "anna")
	if status, page, to := b.get(callback); status != http.StatusSeeOther || to != "/carpeta" {
		t.Fatalf("callback: %d → %q\n%s", status, to, page)
	}
}
