package web

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/envelope"
)

// OIDC configures sign-in with an OpenID Connect provider: the
// authorisation-code flow with PKCE (S256), the ID token verified against
// the provider's published keys. The provider is discovered at the first
// sign-in, not when the node starts, so that a node starts and serves while
// its provider is down; until discovery succeeds, signing in answers a page
// that says it is unavailable.
//
// An OIDC keeps the discovered provider; it must not be copied after first
// use.
type OIDC struct {
	// Issuer is the provider's issuer URL, exactly as its discovery
	// document (Issuer + "/.well-known/openid-configuration") names it.
	Issuer string
	// ClientID and ClientSecret are the node's client at the provider. An
	// empty ClientSecret makes it a public client (PKCE only, client_id sent
	// in the token request's form).
	ClientID     string
	ClientSecret string
	// RedirectURL is the node's /signin/oidc/callback as the provider knows
	// it (its public address), e.g. https://pont.example/signin/oidc/callback.
	RedirectURL string
	// Scopes are the scopes asked for; default openid and profile ("openid"
	// is always asked for).
	Scopes []string
	// SubjectClaim names the claim that holds the citizen's DNI or NIE (the
	// subject of her data); default "sub". Auditors and publishers are
	// known by this claim too.
	SubjectClaim string
	// RoleClaim, when set, names the claim that says whether the person is
	// a "citizen", an "auditor" or a "publisher" (a data owner's staff);
	// when unset or absent from the claims, she is a citizen.
	RoleClaim string
	// OrgClaim names the claim that holds a publisher's data owner: the
	// owner's id as the catalog lists it, its NIF (or DIR3 code). Required
	// for publishers.
	OrgClaim string
	// NameClaim names the claim the pages greet her by; default "name".
	NameClaim string
	// HTTPClient, when set, makes the requests to the provider (discovery,
	// keys, token, userinfo); default a client with a 10-second timeout.
	HTTPClient *http.Client

	// mu guards the discovered provider and the last failure.
	mu       sync.Mutex
	provider *oidc.Provider
	failed   time.Time
	failure  error
}

const (
	// oidcFlowTTL is how long a sign-in may take at the provider.
	oidcFlowTTL = 10 * time.Minute
	// oidcFlowIssuer is the iss of the pont_oidc cookie's token, so that
	// it is never taken for a session, nor a session for it.
	oidcFlowIssuer = "pont-web-oidc"
	// oidcCookiePath limits the pont_oidc cookie to the sign-in's routes.
	oidcCookiePath = "/signin/oidc"
	// oidcTimeout bounds discovery and each request to the provider.
	oidcTimeout = 10 * time.Second
	// oidcRetry is how long a failed discovery is answered from memory
	// before it is tried again, so that a provider that is down does not
	// make every sign-in wait for its timeout.
	oidcRetry = 5 * time.Second
	// oidcMaxClaim bounds the ids taken from claims, which end up in
	// sessions and the transfer log.
	oidcMaxClaim = 128
)

// Check reports what is missing or wrong in o: an issuer and a redirect
// URL that are absolute https URLs (http only on a loopback host, for
// development), and a client id.
func (o *OIDC) Check() error {
	var bad []string
	for _, u := range []struct{ name, url string }{{"Issuer", o.Issuer}, {"RedirectURL", o.RedirectURL}} {
		if err := checkOIDCURL(u.url); err != nil {
			bad = append(bad, u.name+" "+err.Error())
		}
	}
	if strings.TrimSpace(o.ClientID) == "" {
		bad = append(bad, "ClientID is required")
	}
	if len(bad) > 0 {
		return errors.New("web: OIDC: " + strings.Join(bad, "; "))
	}
	return nil
}

func checkOIDCURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case s == "":
		return errors.New("is required")
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return errors.New("must be an absolute http(s) URL")
	case u.Scheme == "http" && !loopback(u.Hostname()):
		return errors.New("must be an https URL (http only on a loopback host)")
	}
	return nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (o *OIDC) client() *http.Client {
	if o.HTTPClient != nil {
		return o.HTTPClient
	}
	return &http.Client{Timeout: oidcTimeout}
}

func (o *OIDC) subjectClaim() string { return orDefault(o.SubjectClaim, "sub") }
func (o *OIDC) nameClaim() string    { return orDefault(o.NameClaim, "name") }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (o *OIDC) scopes() []string {
	scopes := o.Scopes
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, "profile"}
	}
	for _, s := range scopes {
		if s == oidc.ScopeOpenID {
			return scopes
		}
	}
	return append([]string{oidc.ScopeOpenID}, scopes...)
}

// discover answers the provider, discovering it on first use. A failure is
// remembered for oidcRetry; meanwhile, concurrent sign-ins wait for the one
// discovery in flight rather than each starting one.
func (o *OIDC) discover(now time.Time) (*oidc.Provider, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider != nil {
		return o.provider, nil
	}
	if o.failure != nil && now.Sub(o.failed) < oidcRetry && now.Sub(o.failed) >= 0 {
		return nil, o.failure
	}
	if err := o.Check(); err != nil {
		o.failed, o.failure = now, err
		return nil, err
	}
	ctx, cancel := context.WithTimeout(oidc.ClientContext(context.Background(), o.client()), oidcTimeout)
	defer cancel()
	p, err := oidc.NewProvider(ctx, o.Issuer)
	if err != nil {
		o.failed, o.failure = now, err
		return nil, err
	}
	o.provider, o.failure = p, nil
	return p, nil
}

// oauth2Config is the code flow's configuration at provider p.
func (o *OIDC) oauth2Config(p *oidc.Provider) *oauth2.Config {
	ep := p.Endpoint()
	ep.AuthStyle = o.authStyle(p)
	return &oauth2.Config{
		ClientID: o.ClientID, ClientSecret: o.ClientSecret, RedirectURL: o.RedirectURL,
		Endpoint: ep, Scopes: o.scopes(),
	}
}

// authStyle is how the token request carries the client's credentials: a
// public client's id in the form; a secret as HTTP Basic unless the
// provider says it takes client_secret_post only (Basic is the default of
// OpenID Connect Discovery), so that a refused code is not sent twice.
func (o *OIDC) authStyle(p *oidc.Provider) oauth2.AuthStyle {
	if o.ClientSecret == "" {
		return oauth2.AuthStyleInParams
	}
	var meta struct {
		Methods []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := p.Claims(&meta); err != nil || len(meta.Methods) == 0 || slices.Contains(meta.Methods, "client_secret_basic") {
		return oauth2.AuthStyleInHeader
	}
	if slices.Contains(meta.Methods, "client_secret_post") {
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleInHeader
}

// oidcFlow is a sign-in in progress, kept in the pont_oidc cookie between
// the redirect to the provider and its answer.
type oidcFlow struct {
	State, Nonce, Verifier string
	// Back is the local path to go to once signed in ("" for her home).
	Back string
}

// setFlow writes f in the pont_oidc cookie: a JWT signed with HS256 by the
// session key, expiring in oidcFlowTTL.
func (s sessions) setFlow(w http.ResponseWriter, f oidcFlow) error {
	expires := s.now().Add(oidcFlowTTL)
	signed, err := s.sign(oidcFlowIssuer, expires, map[string]string{"state": f.State, "nonce": f.Nonce, "verifier": f.Verifier, "back": f.Back})
	if err != nil {
		return err
	}
	c := s.cookie(oidcCookie, signed, expires)
	c.Path = oidcCookiePath
	http.SetCookie(w, c)
	return nil
}

// flow reads r's pont_oidc cookie, and false when there is none or it is
// not valid (forged, expired, of another key).
func (s sessions) flow(r *http.Request) (oidcFlow, bool) {
	tok, ok := s.verified(r, oidcCookie, oidcFlowIssuer)
	if !ok {
		return oidcFlow{}, false
	}
	str := func(name string) string { return claim(tok, name) }
	f := oidcFlow{State: str("state"), Nonce: str("nonce"), Verifier: str("verifier"), Back: str("back")}
	if f.State == "" || f.Nonce == "" || f.Verifier == "" {
		return oidcFlow{}, false
	}
	return f, true
}

// clearFlow removes the pont_oidc cookie.
func (s sessions) clearFlow(w http.ResponseWriter) {
	c := s.cookie(oidcCookie, "", time.Unix(1, 0))
	c.Path = oidcCookiePath
	c.MaxAge = -1
	http.SetCookie(w, c)
}

// oidcStart answers GET /signin/oidc: a new sign-in's state, nonce and PKCE
// verifier go in the pont_oidc cookie, and she goes to the provider.
// ?back=/path is where she goes once signed in (a local path only).
func (p *Pages) oidcStart(w http.ResponseWriter, r *http.Request) {
	o := p.cfg.OIDC
	provider, err := o.discover(p.cfg.Now())
	if err != nil {
		p.oidcUnavailable(w, r, "discovery", err)
		return
	}
	f := oidcFlow{State: randomToken(), Nonce: randomToken(), Verifier: oauth2.GenerateVerifier()}
	if back := r.URL.Query().Get("back"); localPath(back) && !strings.HasPrefix(back, "/signin") {
		f.Back = back
	}
	if err := p.sessions.setFlow(w, f); err != nil {
		p.log.Error("web: OIDC sign-in not started", "error", err.Error())
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	to := o.oauth2Config(provider).AuthCodeURL(f.State,
		oidc.Nonce(f.Nonce),
		oauth2.S256ChallengeOption(f.Verifier),
		oauth2.SetAuthURLParam("ui_locales", pageLanguage(r)))
	http.Redirect(w, r, to, http.StatusFound)
}

// oidcCallback answers GET /signin/oidc/callback, where the provider sends
// her back: the answer must be for the sign-in of her pont_oidc cookie
// (state), the code is exchanged with the PKCE verifier, the ID token
// verified (signature, issuer, audience, expiry, nonce), and its claims
// make her principal. The cookie serves once.
func (p *Pages) oidcCallback(w http.ResponseWriter, r *http.Request) {
	v := p.newView(w, r)
	v.Title = v.T("error.title")
	o := p.cfg.OIDC
	q := r.URL.Query()
	f, ok := p.sessions.flow(r)
	if !ok {
		p.oidcRefuse(w, r, v, http.StatusBadRequest, v.T("oidc.expired"), "no valid sign-in cookie")
		return
	}
	p.sessions.clearFlow(w)
	if !sameToken(f.State, q.Get("state")) {
		p.oidcRefuse(w, r, v, http.StatusBadRequest, v.T("oidc.state"), "state does not match")
		return
	}
	if e := q.Get("error"); e != "" {
		code := logSafe(e)
		if e == "access_denied" {
			p.oidcRefuse(w, r, v, http.StatusForbidden, v.T("oidc.denied"), "the provider answered "+code)
			return
		}
		p.oidcRefuse(w, r, v, http.StatusBadRequest, v.T("oidc.provider_error"), "the provider answered "+code)
		return
	}
	code := q.Get("code")
	if code == "" {
		p.oidcRefuse(w, r, v, http.StatusBadRequest, v.T("oidc.failed"), "no code")
		return
	}
	provider, err := o.discover(p.cfg.Now())
	if err != nil {
		p.oidcUnavailable(w, r, "discovery", err)
		return
	}
	ctx, cancel := context.WithTimeout(oidc.ClientContext(r.Context(), o.client()), 2*oidcTimeout)
	defer cancel()
	tok, err := o.oauth2Config(provider).Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		// The error of a refused exchange carries the provider's answer;
		// only its status and error code are logged.
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
			p.oidcRefuse(w, r, v, http.StatusBadRequest, v.T("oidc.failed"),
				"the provider refused the code", "status", re.Response.StatusCode, "error_code", logSafe(re.ErrorCode))
			return
		}
		status := 0
		if re != nil && re.Response != nil {
			status = re.Response.StatusCode
		}
		p.oidcUnavailable(w, r, "token", errors.New("the token endpoint did not answer"), "status", status)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		p.oidcRefuse(w, r, v, http.StatusBadRequest, v.T("oidc.failed"), "no ID token in the token answer")
		return
	}
	idToken, err := provider.Verifier(&oidc.Config{ClientID: o.ClientID, Now: p.cfg.Now}).Verify(ctx, raw)
	if err != nil {
		p.oidcRefuse(w, r, v, http.StatusBadRequest, v.T("oidc.failed"), "the ID token does not verify", "error", logSafe(err.Error()))
		return
	}
	if !sameToken(f.Nonce, idToken.Nonce) {
		p.oidcRefuse(w, r, v, http.StatusBadRequest, v.T("oidc.failed"), "the ID token's nonce does not match")
		return
	}
	claims := map[string]any{}
	if err := idToken.Claims(&claims); err != nil {
		p.oidcRefuse(w, r, v, http.StatusBadRequest, v.T("oidc.failed"), "the ID token's claims do not read", "error", logSafe(err.Error()))
		return
	}
	if o.lacksClaims(claims) {
		p.addUserInfo(ctx, provider, tok, idToken, claims)
	}
	principal, name, why := o.principal(claims)
	switch why {
	case "":
	case refuseNotDNI:
		p.oidcRefuse(w, r, v, http.StatusForbidden, v.T("oidc.not_dni"), "the subject claim is not a DNI or NIE", "claim", o.subjectClaim())
		return
	case refuseRole:
		p.oidcRefuse(w, r, v, http.StatusForbidden, v.T("oidc.role"), "the role claim names no role of the pages", "claim", o.RoleClaim)
		return
	case refuseOrg:
		p.oidcRefuse(w, r, v, http.StatusForbidden, v.T("oidc.no_org"), "a publisher without a valid owner NIF", "claim", o.OrgClaim)
		return
	default:
		p.oidcRefuse(w, r, v, http.StatusForbidden, v.T("oidc.no_sub"), "no usable subject", "claim", o.subjectClaim())
		return
	}
	if _, err := p.sessions.issue(w, principal, name); err != nil {
		p.log.Error("web: session not issued", "error", err.Error())
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	p.log.Info("web: signed in with OIDC", "role", string(principal.Role))
	if f.Back != "" {
		redirect(w, r, f.Back)
		return
	}
	redirect(w, r, homeOf(principal.Role))
}

// lacksClaims reports whether claims lack one the mapping reads.
func (o *OIDC) lacksClaims(claims map[string]any) bool {
	for _, c := range []string{o.subjectClaim(), o.RoleClaim, o.OrgClaim, o.nameClaim()} {
		if _, ok := claims[c]; c != "" && !ok {
			return true
		}
	}
	return false
}

// addUserInfo adds to claims those the provider's userinfo answers and the
// ID token lacks (providers that keep profile claims out of the ID token);
// the ID token's own claims win. The userinfo answer counts only when it is
// about the ID token's subject (OpenID Connect Core, 5.3.2).
func (p *Pages) addUserInfo(ctx context.Context, provider *oidc.Provider, tok *oauth2.Token, idToken *oidc.IDToken, claims map[string]any) {
	if provider.UserInfoEndpoint() == "" {
		return
	}
	if idToken.AccessTokenHash != "" {
		if err := idToken.VerifyAccessToken(tok.AccessToken); err != nil {
			p.log.Warn("web: OIDC access token does not match the ID token's at_hash")
			return
		}
	}
	info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		p.log.Warn("web: OIDC userinfo not read", "error", logSafe(err.Error()))
		return
	}
	if info.Subject != idToken.Subject {
		p.log.Warn("web: OIDC userinfo is about another subject than the ID token")
		return
	}
	more := map[string]any{}
	if err := info.Claims(&more); err != nil {
		return
	}
	for k, val := range more {
		if _, ok := claims[k]; !ok {
			claims[k] = val
		}
	}
}

// Why claims make no principal.
const (
	refuseNotDNI = "not_dni"
	refuseRole   = "role"
	refuseOrg    = "org"
	refuseSub    = "sub"
)

// principal maps the provider's claims to the principal the pages call the
// API as, and the name they greet her by; or says why it cannot. A citizen
// is known by her DNI or NIE (normalised as the API compares them); an
// auditor by the subject claim as it is; a publisher by it too, and by her
// data owner (Owner), whose id must be a valid NIF or DIR3 code.
func (o *OIDC) principal(claims map[string]any) (auth.Principal, string, string) {
	str := func(name string) string {
		if name == "" {
			return ""
		}
		s, _ := claims[name].(string)
		return strings.TrimSpace(s)
	}
	role := auth.RoleCitizen
	if r := str(o.RoleClaim); r != "" {
		switch auth.Role(strings.ToLower(r)) {
		case auth.RoleCitizen:
		case auth.RoleAuditor:
			role = auth.RoleAuditor
		case auth.RolePublisher:
			role = auth.RolePublisher
		default:
			return auth.Principal{}, "", refuseRole
		}
	}
	sub := str(o.subjectClaim())
	p := auth.Principal{Role: role}
	switch role {
	case auth.RoleCitizen:
		p.Sub = envelope.NormalizeID(sub)
		if envelope.ValidDNIOrNIE(p.Sub) != nil {
			return auth.Principal{}, "", refuseNotDNI
		}
	case auth.RolePublisher:
		p.Owner = strings.ToUpper(str(o.OrgClaim))
		if p.Owner == "" || catalog.ValidOwnerID(p.Owner) != nil {
			return auth.Principal{}, "", refuseOrg
		}
		fallthrough
	default:
		if sub == "" || !plainID(sub) {
			return auth.Principal{}, "", refuseSub
		}
		p.Sub = sub
	}
	name := str(o.nameClaim())
	if name == "" {
		name = strings.TrimSpace(str("given_name") + " " + str("family_name"))
	}
	if name == "" || !plainID(name) {
		name = p.Sub
	}
	return p, name, ""
}

// plainID reports whether an id from a claim is short and free of control
// characters, fit for a session and a log.
func plainID(s string) bool {
	return utf8.ValidString(s) && utf8.RuneCountInString(s) <= oidcMaxClaim && !strings.ContainsFunc(s, unicode.IsControl)
}

// logSafe bounds a text from outside (an error code, an error message)
// for a log line.
func logSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// oidcRefuse answers a sign-in that failed with the error page saying
// detail, and logs why (never a token, a code or a claim's value).
func (p *Pages) oidcRefuse(w http.ResponseWriter, r *http.Request, v *view, status int, detail, why string, args ...any) {
	p.log.Warn("web: OIDC sign-in refused", append([]any{"reason", why}, args...)...)
	v.Problem = problem{Detail: detail}
	p.render(w, r, status, "error", v)
}

// oidcUnavailable answers the sign-in page saying that signing in with
// the provider is unavailable, when the provider cannot be reached.
func (p *Pages) oidcUnavailable(w http.ResponseWriter, r *http.Request, step string, err error, args ...any) {
	p.log.Error("web: OIDC provider unavailable", append([]any{"step", step, "issuer", p.cfg.OIDC.Issuer, "error", logSafe(err.Error())}, args...)...)
	v := p.newView(w, r)
	v.Title = v.T("signin.title")
	v.CSRF = p.sessions.preToken(w, r)
	v.Data = signInData{Dev: p.cfg.DevUsers, OIDC: true}
	v.Problem = problem{Detail: v.T("oidc.unavailable")}
	p.render(w, r, http.StatusServiceUnavailable, "signin", v)
}
