// Package web serves Pont's pages: the citizen's carpeta, the auditor's
// explorer, the data owner's console and the public catalog, as
// server-rendered HTML on the node's own listener. Every page is a client
// of the API, in-process: it calls the API's handler for the signed-in
// principal (api.AsPrincipal), so that a page reads and changes exactly
// what the API would let that principal read and change, and is recorded
// the same way. Pages work without JavaScript; nothing is fetched from
// outside at run time (templates, styles and messages are embedded).
package web

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"golang.org/x/mod/sumdb/note"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/api"
	"github.com/pontexchange/pont/exchange/auth"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// Config configures the pages.
type Config struct {
	// API is the API's handler, which the pages call in-process.
	API http.Handler
	// Catalog is the node's catalog, for the public pages and the labels
	// of services, purposes and organisations.
	Catalog *catalog.Catalog
	// SessionKey signs the session cookies: at least 32 random bytes,
	// the same on every node behind one address.
	SessionKey []byte
	// DevUsers, when set, offers a development sign-in page that picks
	// one of them. Development only.
	DevUsers []DevUser
	// LogKey verifies the transfer log's checkpoints, so that a page can
	// say whether a record's receipt verifies; nil: receipts are shown
	// without that check.
	LogKey note.Verifier
	// OIDC, when set, offers sign-in with an OpenID Connect provider
	// (GET /signin/oidc and its callback); see OIDC.
	OIDC *OIDC
	// Insecure lets cookies travel over plain HTTP (a development node on
	// http://127.0.0.1); otherwise they are Secure.
	Insecure bool
	// SessionTTL is how long a sign-in lasts. Defaults to 8 hours.
	SessionTTL time.Duration
	Logger     *slog.Logger
	Now        func() time.Time
}

// DevUser is a person the development sign-in page offers.
type DevUser struct {
	Principal auth.Principal
	// Name is how the page names her.
	Name string
}

// Pages serves the web pages.
type Pages struct {
	cfg      Config
	log      *slog.Logger
	pages    map[string]*template.Template
	i18n     *messages
	sessions sessions
	protect  *http.CrossOriginProtection
}

// New checks cfg and parses the templates.
func New(cfg Config) (*Pages, error) {
	switch {
	case cfg.API == nil:
		return nil, errors.New("web: API is required")
	case cfg.Catalog == nil:
		return nil, errors.New("web: Catalog is required")
	case len(cfg.SessionKey) < 32:
		return nil, errors.New("web: SessionKey must be at least 32 bytes")
	}
	if cfg.OIDC != nil {
		if err := cfg.OIDC.Check(); err != nil {
			return nil, err
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 8 * time.Hour
	}
	msgs, err := loadMessages()
	if err != nil {
		return nil, err
	}
	pages, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	p := &Pages{
		cfg: cfg, log: cfg.Logger, pages: pages, i18n: msgs,
		sessions: sessions{key: cfg.SessionKey, ttl: cfg.SessionTTL, secure: !cfg.Insecure, now: cfg.Now},
		protect:  http.NewCrossOriginProtection(),
	}
	return p, nil
}

// Routes mounts the pages on r, beside the API's routes.
func (p *Pages) Routes(r chi.Router) {
	r.Group(func(r chi.Router) {
		r.Use(p.protect.Handler, p.headers)
		r.Get("/", p.home)
		r.Get("/lang", p.setLanguage)
		r.Get("/signin", p.signInPage)
		if p.cfg.DevUsers != nil {
			r.Post("/signin/dev", p.devSignIn)
		}
		if p.cfg.OIDC != nil {
			r.Get("/signin/oidc", p.oidcStart)
			r.Get("/signin/oidc/callback", p.oidcCallback)
		}
		r.Post("/signout", p.signOut)
		r.Get("/catalog", p.catalogPage)
		r.Get("/catalog/{service}", p.servicePage)
		r.Route("/carpeta", p.carpetaRoutes)
		r.Route("/audit", p.auditRoutes)
		r.Route("/console", p.consoleRoutes)
	})
	sub, _ := fs.Sub(assetFS, "assets")
	r.Handle("/assets/*", http.StripPrefix("/assets/", assetHandler(sub)))
}

// headers sets what every page answers with: no caching of personal
// pages, no framing, a content security policy that lets only the node's
// own styles and scripts run.
func (p *Pages) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

func assetHandler(fsys fs.FS) http.Handler {
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}

// apiResult is an in-process API call's answer.
type apiResult struct {
	Status int
	Header http.Header
	Body   []byte
}

// OK reports a 2xx answer.
func (a apiResult) OK() bool { return a.Status >= 200 && a.Status < 300 }

// decode reads the answer's JSON body into v.
func (a apiResult) decode(v any) error { return json.Unmarshal(a.Body, v) }

// problem is the API's problem document, as far as the pages show it.
type problem struct {
	Title    string `json:"title"`
	Detail   string `json:"detail"`
	Code     string `json:"code"`
	SCSPCode string `json:"scsp_code"`
	Errors   []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

// Problem reads the answer as a problem document.
func (a apiResult) Problem() problem {
	var pr problem
	_ = json.Unmarshal(a.Body, &pr)
	if pr.Detail == "" {
		pr.Detail = http.StatusText(a.Status)
	}
	return pr
}

// call serves method path (with query) by the API's handler for
// principal, in-process; body, when not nil, is sent as JSON.
func (p *Pages) call(ctx context.Context, principal auth.Principal, method, path string, body any, accept string) apiResult {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return apiResult{Status: http.StatusInternalServerError, Body: []byte(`{"detail":"the request could not be written"}`)}
		}
		rd = bytes.NewReader(b)
	}
	// The page's own routing context is dropped: chi would otherwise take
	// the API's router for a sub-router of the page's and route by the
	// page's path.
	ctx = context.WithValue(api.AsPrincipal(ctx, principal), chi.RouteCtxKey, nil)
	req, err := http.NewRequestWithContext(ctx, method, path, rd)
	if err != nil {
		return apiResult{Status: http.StatusInternalServerError, Body: []byte(`{"detail":"the request could not be made"}`)}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if accept == "" {
		accept = "application/json"
	}
	req.Header.Set("Accept", accept)
	rec := &recorder{header: http.Header{}}
	p.cfg.API.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return apiResult{Status: rec.status, Header: rec.header, Body: rec.body.Bytes()}
}

// recorder is the ResponseWriter of an in-process call.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

// render writes page with v.
func (p *Pages) render(w http.ResponseWriter, r *http.Request, status int, page string, v *view) {
	t, ok := p.pages[page]
	if !ok {
		p.log.Error("web: no such page template", "page", page)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", v); err != nil {
		p.log.Error("web: page not rendered", "page", page, "error", err.Error())
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// fail renders the error page for a refusal the API answered.
func (p *Pages) fail(w http.ResponseWriter, r *http.Request, v *view, res apiResult) {
	v.Title = v.T("error.title")
	v.Problem = res.Problem()
	status := res.Status
	if status < 400 {
		status = http.StatusBadGateway
	}
	p.render(w, r, status, "error", v)
}

// redirect answers a See Other to path, a local path only.
func redirect(w http.ResponseWriter, r *http.Request, path string) {
	if !localPath(path) {
		path = "/"
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// localPath reports whether path is a path of this site ("/x", not
// "//host" or "/\host" or a URL).
func localPath(path string) bool {
	if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") || strings.HasPrefix(path, "/\\") {
		return false
	}
	u, err := url.Parse(path)
	return err == nil && u.Scheme == "" && u.Host == ""
}

// parseTemplates parses every page with the layout: one template set a
// page, so that pages may define the same blocks.
func parseTemplates() (map[string]*template.Template, error) {
	entries, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, e := range entries {
		name := strings.TrimSuffix(strings.TrimPrefix(e, "templates/"), ".html")
		if name == "layout" || strings.HasPrefix(name, "_") {
			continue
		}
		t := template.New(name).Funcs(funcs)
		t, err := t.ParseFS(templateFS, "templates/layout.html", "templates/_*.html", e)
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}
