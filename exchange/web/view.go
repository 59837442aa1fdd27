package web

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nicksnyder/go-i18n/v2/i18n"
)

// view is what a page's template reads: the page's own Data, and what the
// layout needs (language, session, the form token).
type view struct {
	loc     *i18n.Localizer
	Lang    string
	Path    string
	Title   string
	Session *session
	// CSRF is the token the page's forms carry: the session's, or the
	// pre-sign-in one.
	CSRF    string
	Flash   string
	Problem problem
	Data    any
}

// newView starts the view of r's page.
func (p *Pages) newView(w http.ResponseWriter, r *http.Request) *view {
	lang := pageLanguage(r)
	v := &view{loc: p.i18n.localizer(lang), Lang: lang, Path: r.URL.RequestURI()}
	if s, ok := p.sessions.read(r); ok {
		v.Session = &s
		v.CSRF = s.CSRF
	}
	if msg := r.URL.Query().Get("done"); msg != "" && flashes[msg] {
		v.Flash = v.T("flash." + msg)
	}
	return v
}

// flashes are the messages a redirect after a change may ask the next page
// to show (?done=…): a fixed set, so that a link cannot make a page say
// anything else.
var flashes = map[string]bool{
	"consent_created": true, "consent_revoked": true,
	"objection_recorded": true, "objection_withdrawn": true,
	"signed_out": true, "adapter_activated": true, "adapter_rolled_back": true,
}

// T answers message id in the page's language; args are pairs of
// placeholder name and value.
func (v *view) T(id string, args ...any) string { return translate(v.loc, id, args...) }

// Name names a code of a kind (service, purpose, basis, role) in the
// page's language: the code itself when it has no message (a catalog
// changed after the messages were written), never the message's id.
func (v *view) Name(kind, code string) string {
	id := kind + "." + code
	if s := v.T(id); s != id {
		return s
	}
	return code
}

// Languages are the switcher's links.
func (v *view) Languages() []langLink {
	out := make([]langLink, 0, len(languages))
	for _, t := range languages {
		l := t.String()
		out = append(out, langLink{Code: l, Name: languageNames[l], Current: l == v.Lang,
			URL: "/lang?l=" + l + "&back=" + url.QueryEscape(v.Path)})
	}
	return out
}

type langLink struct {
	Code, Name, URL string
	Current         bool
}

// Date writes an ISO 8601 date or time in the page's language.
func (v *view) Date(s any) string {
	var t time.Time
	switch x := s.(type) {
	case time.Time:
		t = x
	case *time.Time:
		if x == nil {
			return ""
		}
		t = *x
	case string:
		var err error
		if t, err = time.Parse(time.DateOnly, x); err != nil {
			if t, err = time.Parse(time.RFC3339Nano, x); err != nil {
				return x
			}
			return v.DateTime(t)
		}
	default:
		return fmt.Sprint(s)
	}
	month := v.T(fmt.Sprintf("month.%d", int(t.Month())))
	if v.Lang == "en" {
		return fmt.Sprintf("%d %s %d", t.Day(), month, t.Year())
	}
	return fmt.Sprintf("%d %s de %d", t.Day(), month, t.Year())
}

// DateTime writes a time, in Europe/Madrid (the administrations' time),
// in the page's language.
func (v *view) DateTime(t time.Time) string {
	t = t.In(madrid)
	return fmt.Sprintf("%s, %02d:%02d", v.Date(t), t.Hour(), t.Minute())
}

var madrid = func() *time.Location {
	l, err := time.LoadLocation("Europe/Madrid")
	if err != nil {
		return time.FixedZone("CET", 3600)
	}
	return l
}()

// Amount writes euros as the page's language does: 1.234,50 € in Catalan
// and Spanish, €1,234.50 in English.
func (v *view) Amount(f float64) string {
	s := fmt.Sprintf("%.2f", f)
	whole, cents, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			if v.Lang == "en" {
				b.WriteByte(',')
			} else {
				b.WriteByte('.')
			}
		}
		b.WriteRune(c)
	}
	if v.Lang == "en" {
		return "€" + b.String() + "." + cents
	}
	return b.String() + "," + cents + " €"
}

// funcs are the templates' helpers that need no language.
var funcs = template.FuncMap{
	"query": func(pairs ...string) template.URL {
		q := url.Values{}
		for i := 0; i+1 < len(pairs); i += 2 {
			if pairs[i+1] != "" {
				q.Set(pairs[i], pairs[i+1])
			}
		}
		return template.URL(q.Encode())
	},
	"pathEscape": url.PathEscape,
}
