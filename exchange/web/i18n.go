package web

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

//go:embed locales/*.json
var localeFS embed.FS

// languages are the pages' languages, the first the default.
var languages = []language.Tag{language.Catalan, language.Spanish, language.English}

// languageNames name each language in itself, for the switcher.
var languageNames = map[string]string{"ca": "Català", "es": "Español", "en": "English"}

var matcher = language.NewMatcher(languages)

// messages are the pages' translated messages: locales/<area>.<lang>.json,
// a flat object of message id to text (go-i18n's format; {{.Name}}
// placeholders are go-i18n's template data).
type messages struct {
	bundle *i18n.Bundle
	// ids are the message ids of each language, for the completeness check.
	ids map[string]map[string]bool
}

func loadMessages() (*messages, error) {
	b := i18n.NewBundle(languages[0])
	b.RegisterUnmarshalFunc("json", json.Unmarshal)
	files, err := fs.Glob(localeFS, "locales/*.json")
	if err != nil {
		return nil, err
	}
	m := &messages{bundle: b, ids: map[string]map[string]bool{}}
	for _, f := range files {
		raw, err := fs.ReadFile(localeFS, f)
		if err != nil {
			return nil, err
		}
		mf, err := b.ParseMessageFileBytes(raw, path.Base(f))
		if err != nil {
			return nil, fmt.Errorf("web: %s: %w", f, err)
		}
		lang := mf.Tag.String()
		if m.ids[lang] == nil {
			m.ids[lang] = map[string]bool{}
		}
		for _, msg := range mf.Messages {
			if m.ids[lang][msg.ID] {
				return nil, fmt.Errorf("web: %s: message %q is defined twice for %s", f, msg.ID, lang)
			}
			m.ids[lang][msg.ID] = true
		}
	}
	return m, nil
}

// missing lists, for each language, the ids another language has and it
// lacks.
func (m *messages) missing() map[string][]string {
	all := map[string]bool{}
	for _, ids := range m.ids {
		for id := range ids {
			all[id] = true
		}
	}
	out := map[string][]string{}
	for _, tag := range languages {
		lang := tag.String()
		for id := range all {
			if !m.ids[lang][id] {
				out[lang] = append(out[lang], id)
			}
		}
		sort.Strings(out[lang])
	}
	return out
}

// language picks the page's language: the pont_lang cookie when it names
// one of the pages' languages, else the best match of Accept-Language.
func pageLanguage(r *http.Request) string {
	if c, err := r.Cookie(langCookie); err == nil {
		for _, t := range languages {
			if c.Value == t.String() {
				return c.Value
			}
		}
	}
	_, i := language.MatchStrings(matcher, r.Header.Get("Accept-Language"))
	return languages[i].String()
}

// localizer answers the localizer of lang.
func (m *messages) localizer(lang string) *i18n.Localizer {
	return i18n.NewLocalizer(m.bundle, lang)
}

// translate answers message id in the localizer's language, with data
// (pairs of name and value) for its placeholders; an id without a
// message answers the id itself, which the completeness test forbids.
func translate(l *i18n.Localizer, id string, data ...any) string {
	var td map[string]any
	if len(data) > 1 {
		td = make(map[string]any, len(data)/2)
		for i := 0; i+1 < len(data); i += 2 {
			td[fmt.Sprint(data[i])] = data[i+1]
		}
	}
	s, err := l.Localize(&i18n.LocalizeConfig{MessageID: id, TemplateData: td})
	if err != nil || s == "" {
		return id
	}
	return s
}

// setLanguage answers GET /lang?l=ca&back=/path: the language is kept in a
// cookie (a link, so that it works without JavaScript) and the page shown
// again.
func (p *Pages) setLanguage(w http.ResponseWriter, r *http.Request) {
	l := r.URL.Query().Get("l")
	for _, t := range languages {
		if l == t.String() {
			http.SetCookie(w, p.sessions.cookie(langCookie, l, p.cfg.Now().AddDate(1, 0, 0)))
		}
	}
	back := r.URL.Query().Get("back")
	if !localPath(back) || strings.HasPrefix(back, "/lang") {
		back = "/"
	}
	redirect(w, r, back)
}
