package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/pontexchange/pont/exchange/auth"
)

// The cookies the pages set.
const (
	sessionCookie = "pont_session"
	// preCookie holds a token for the forms shown before sign-in (the
	// sign-in form itself), checked as a double submit.
	preCookie  = "pont_pre"
	langCookie = "pont_lang"
	// oidcCookie holds an OpenID sign-in in progress: its state, nonce and
	// PKCE verifier.
	oidcCookie = "pont_oidc"
)

// session is a signed-in person: who she is for the API, and the token
// her forms carry.
type session struct {
	Principal auth.Principal
	Name      string // how the pages greet her
	CSRF      string
	Expires   time.Time
}

// sessions writes and reads session cookies: a JWT signed with HS256 by
// the node's session key, so that any node behind the same address reads
// it, and nothing about the session is kept on the server.
type sessions struct {
	key    []byte
	ttl    time.Duration
	secure bool
	now    func() time.Time
}

const sessionIssuer = "pont-web"

// issue sets the session cookie for principal, and answers the session.
func (s sessions) issue(w http.ResponseWriter, principal auth.Principal, name string) (session, error) {
	sess := session{Principal: principal, Name: name, CSRF: randomToken(), Expires: s.now().Add(s.ttl)}
	signed, err := s.sign(sessionIssuer, sess.Expires, map[string]string{
		jwt.SubjectKey: principal.Sub, "role": string(principal.Role), "org": principal.Org,
		"owner": principal.Owner, "name": name, "csrf": sess.CSRF,
	})
	if err != nil {
		return session{}, err
	}
	http.SetCookie(w, s.cookie(sessionCookie, signed, sess.Expires))
	return sess, nil
}

// sign answers a JWT of issuer with claims, issued now and expiring at
// expires, signed with HS256 by the session key: the form of the pages'
// cookies.
func (s sessions) sign(issuer string, expires time.Time, claims map[string]string) (string, error) {
	b := jwt.NewBuilder().Issuer(issuer).IssuedAt(s.now()).Expiration(expires)
	for name, value := range claims {
		b = b.Claim(name, value)
	}
	tok, err := b.Build()
	if err != nil {
		return "", err
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.HS256, s.key))
	return string(signed), err
}

// verified answers r's cookie name, a JWT of issuer that sign wrote;
// false when there is none or it is not valid (forged, expired, of another
// key or issuer).
func (s sessions) verified(r *http.Request, name, issuer string) (jwt.Token, bool) {
	c, err := r.Cookie(name)
	if err != nil || c.Value == "" {
		return nil, false
	}
	tok, err := jwt.Parse([]byte(c.Value), jwt.WithKey(jwa.HS256, s.key), jwt.WithValidate(true),
		jwt.WithIssuer(issuer), jwt.WithClock(jwt.ClockFunc(s.now)))
	if err != nil {
		return nil, false
	}
	return tok, true
}

// claim answers tok's string claim name, "" when it has none.
func claim(tok jwt.Token, name string) string {
	v, _ := tok.Get(name)
	s, _ := v.(string)
	return s
}

// read answers the session of r's cookie, and false when there is none
// or it is not valid (forged, expired, of another key).
func (s sessions) read(r *http.Request) (session, bool) {
	tok, ok := s.verified(r, sessionCookie, sessionIssuer)
	if !ok {
		return session{}, false
	}
	str := func(name string) string { return claim(tok, name) }
	p := auth.Principal{Role: auth.Role(str("role")), Org: str("org"), Owner: str("owner"), Sub: tok.Subject()}
	switch p.Role {
	case auth.RoleCitizen, auth.RoleAuditor, auth.RolePublisher:
	default:
		return session{}, false
	}
	if len(p.Problems()) > 0 {
		return session{}, false
	}
	sess := session{Principal: p, Name: str("name"), CSRF: str("csrf"), Expires: tok.Expiration()}
	if sess.CSRF == "" {
		return session{}, false
	}
	return sess, true
}

// clear removes the session cookie.
func (s sessions) clear(w http.ResponseWriter) {
	http.SetCookie(w, s.cookie(sessionCookie, "", time.Unix(1, 0)))
}

// cookie is a cookie of the pages: HttpOnly, SameSite=Lax (sent on the
// top-level navigation back from the identity provider, never on another
// site's form or fetch), Secure unless the node serves plain HTTP in
// development.
func (s sessions) cookie(name, value string, expires time.Time) *http.Cookie {
	return &http.Cookie{
		Name: name, Value: value, Path: "/", Expires: expires,
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode,
	}
}

// preToken answers the token of the forms shown before sign-in, setting
// its cookie when r has none.
func (s sessions) preToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(preCookie); err == nil && len(c.Value) >= 32 {
		return c.Value
	}
	t := randomToken()
	http.SetCookie(w, s.cookie(preCookie, t, s.now().Add(time.Hour)))
	return t
}

// checkPre reports whether the form's csrf field is r's pre-sign-in token.
func checkPre(r *http.Request) bool {
	c, err := r.Cookie(preCookie)
	return err == nil && len(c.Value) >= 32 && sameToken(c.Value, r.PostFormValue("csrf"))
}

func sameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand does not fail
	return base64.RawURLEncoding.EncodeToString(b)
}
