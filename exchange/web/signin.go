package web

import (
	"net/http"
	"strconv"

	"github.com/pontexchange/pont/exchange/auth"
)

// home answers GET /: a signed-in person goes to her pages; anyone else
// sees what Pont is and where to sign in.
func (p *Pages) home(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		p.notFound(w, r)
		return
	}
	v := p.newView(w, r)
	if v.Session != nil {
		redirect(w, r, homeOf(v.Session.Principal.Role))
		return
	}
	v.Title = v.T("home.title")
	p.render(w, r, http.StatusOK, "home", v)
}

// homeOf is the first page of a role.
func homeOf(role auth.Role) string {
	switch role {
	case auth.RoleAuditor:
		return "/audit"
	case auth.RolePublisher:
		return "/console"
	}
	return "/carpeta"
}

// signInPage answers GET /signin: the identity provider's button, and on
// a development node the fixture people to sign in as.
func (p *Pages) signInPage(w http.ResponseWriter, r *http.Request) {
	v := p.newView(w, r)
	v.Title = v.T("signin.title")
	v.CSRF = p.sessions.preToken(w, r)
	v.Data = signInData{Dev: p.cfg.DevUsers, OIDC: p.cfg.OIDC != nil}
	p.render(w, r, http.StatusOK, "signin", v)
}

type signInData struct {
	Dev []DevUser
	// OIDC reports whether an identity provider is configured.
	OIDC bool
}

// devSignIn answers POST /signin/dev: the development node signs her in as
// the fixture person she picked.
func (p *Pages) devSignIn(w http.ResponseWriter, r *http.Request) {
	if !checkPre(r) {
		p.forbidden(w, r)
		return
	}
	pick := r.PostFormValue("user")
	for i, u := range p.cfg.DevUsers {
		if pick == devUserKey(i) {
			if _, err := p.sessions.issue(w, u.Principal, u.Name); err != nil {
				p.log.Error("web: session not issued", "error", err.Error())
				http.Error(w, "internal error", http.StatusInternalServerError)
				return
			}
			redirect(w, r, homeOf(u.Principal.Role))
			return
		}
	}
	v := p.newView(w, r)
	v.Title = v.T("signin.title")
	v.CSRF = p.sessions.preToken(w, r)
	v.Data = signInData{Dev: p.cfg.DevUsers, OIDC: p.cfg.OIDC != nil}
	v.Problem = problem{Detail: v.T("signin.pick")}
	p.render(w, r, http.StatusBadRequest, "signin", v)
}

func devUserKey(i int) string { return "u" + strconv.Itoa(i) }

// signOut answers POST /signout.
func (p *Pages) signOut(w http.ResponseWriter, r *http.Request) {
	if s, ok := p.sessions.read(r); !ok || !sameToken(s.CSRF, r.PostFormValue("csrf")) {
		p.sessions.clear(w)
		redirect(w, r, "/")
		return
	}
	p.sessions.clear(w)
	redirect(w, r, "/?done=signed_out")
}

// signedIn answers r's session when it is one of roles'; otherwise it
// sends her to sign in (or says the page is not hers) and answers false.
func (p *Pages) signedIn(w http.ResponseWriter, r *http.Request, roles ...auth.Role) (*view, bool) {
	v := p.newView(w, r)
	if v.Session == nil {
		redirect(w, r, "/signin")
		return nil, false
	}
	for _, role := range roles {
		if v.Session.Principal.Role == role {
			return v, true
		}
	}
	p.forbidden(w, r)
	return nil, false
}

// changing checks a form that changes something: signed in as one of
// roles, and carrying her session's token.
func (p *Pages) changing(w http.ResponseWriter, r *http.Request, roles ...auth.Role) (*view, bool) {
	v, ok := p.signedIn(w, r, roles...)
	if !ok {
		return nil, false
	}
	if !sameToken(v.Session.CSRF, r.PostFormValue("csrf")) {
		p.forbidden(w, r)
		return nil, false
	}
	return v, true
}

func (p *Pages) forbidden(w http.ResponseWriter, r *http.Request) {
	v := p.newView(w, r)
	v.Title = v.T("error.title")
	v.Problem = problem{Detail: v.T("error.forbidden")}
	p.render(w, r, http.StatusForbidden, "error", v)
}

// NotFound answers a page that does not exist, for the paths outside the
// pages' and the API's routes.
func (p *Pages) NotFound(w http.ResponseWriter, r *http.Request) {
	p.headers(http.HandlerFunc(p.notFound)).ServeHTTP(w, r)
}

func (p *Pages) notFound(w http.ResponseWriter, r *http.Request) {
	v := p.newView(w, r)
	v.Title = v.T("error.title")
	v.Problem = problem{Detail: v.T("error.not_found")}
	p.render(w, r, http.StatusNotFound, "error", v)
}
