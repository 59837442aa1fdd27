package router

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/envelope"
	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/manifest"
	"github.com/pontexchange/pont/sdk-wasm/abi"
)

// fake is an adapter that is only its manifest: the router never calls one.
type fake struct{ m manifest.Manifest }

func (f fake) Manifest() manifest.Manifest { return f.m }
func (f fake) SHA256() string              { return "" }
func (f fake) Call(context.Context, abi.Input) (json.RawMessage, error) {
	return nil, fault.New(fault.Internal, "not called")
}

// referenceAdapters are the reference adapters as they are deployed: one
// a source of the catalog.
func referenceAdapters() []Adapter {
	m := func(name, scope string, services ...string) Adapter {
		return fake{manifest.Manifest{Name: name, Version: "1.0.0", Scope: scope, Services: services}}
	}
	return []Adapter{
		m("padro-08019", "08019", "padro"), m("padro-17079", "17079", "padro"),
		m("discapacitat-09", "09", "discapacitat"), m("discapacitat-10", "10", "discapacitat"),
		m("familia-nombrosa-09", "09", "familia-nombrosa"), m("familia-nombrosa-10", "10", "familia-nombrosa"),
		m("titulacions", "*", "titulacions"), m("prestacions", "*", "prestacions"),
	}
}

func params(t *testing.T, raw string) envelope.Params {
	t.Helper()
	p, err := envelope.ParseParams([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRoute(t *testing.T) {
	cat, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	r := New()
	if err := r.Set(cat, referenceAdapters()); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		service, params string
		want            string     // adapter name
		code            fault.Code // or the error's code
		field           string     // the field the error names
	}{
		{"padro", `{"municipality":"08019"}`, "padro-08019", "", ""},
		{"padro", `{"municipality":"17079","mode":"verify"}`, "padro-17079", "", ""},
		{"padro", `{"municipality":"08001"}`, "", fault.NoSource, ""},
		{"padro", `{}`, "", fault.InvalidRequest, "params.municipality"},
		{"padro", `{"municipality":8019}`, "", fault.InvalidRequest, "params.municipality"},
		{"discapacitat", `{"region":"10"}`, "discapacitat-10", "", ""},
		{"titulacions", `{}`, "titulacions", "", ""},
		{"prestacions", ``, "prestacions", "", ""},
	}
	for _, c := range cases {
		t.Run(c.service+" "+c.params, func(t *testing.T) {
			svc, _ := cat.Service(c.service)
			a, err := r.Route(svc, params(t, c.params))
			if c.code != "" {
				fe, ok := fault.As(err)
				if !ok || fe.Code != c.code {
					t.Fatalf("Route: %v, want %s", err, c.code)
				}
				if c.field != "" && (len(fe.Fields) != 1 || fe.Fields[0].Field != c.field) {
					t.Errorf("fields %v, want %s", fe.Fields, c.field)
				}
				if c.code == fault.NoSource && !strings.Contains(fe.Message, "08019, 17079") {
					t.Errorf("message %q does not list the scopes served", fe.Message)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.Manifest().Name != c.want {
				t.Errorf("routed to %s, want %s", a.Manifest().Name, c.want)
			}
		})
	}
}

func TestSetRefusesAMismatch(t *testing.T) {
	cat, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	with := func(extra manifest.Manifest) []Adapter { return append(referenceAdapters(), fake{extra}) }
	cases := []struct {
		name     string
		adapters []Adapter
		want     string
	}{
		{"two adapters at one scope", with(manifest.Manifest{Name: "padro-bcn-2", Scope: "08019", Services: []string{"padro"}}),
			`adapters padro-08019 and padro-bcn-2 both serve service padro at scope "08019"`},
		{"unknown service", with(manifest.Manifest{Name: "cadastre", Scope: "*", Services: []string{"cadastre"}}),
			`serves service "cadastre", which the catalog does not have`},
		{"a scope without routing key", with(manifest.Manifest{Name: "prestacions-09", Scope: "09", Services: []string{"prestacions"}}),
			`its only scope is "*"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := New()
			if err := r.Set(cat, referenceAdapters()); err != nil {
				t.Fatal(err)
			}
			err := r.Set(cat, c.adapters)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Set: %v, want an error saying %q", err, c.want)
			}
			svc, _ := cat.Service("padro")
			if a, err := r.Route(svc, params(t, `{"municipality":"17079"}`)); err != nil || a.Manifest().Scope != "17079" {
				t.Errorf("the routes in place changed after a refused Set: %v, %v", a, err)
			}
		})
	}
}

func TestNewScopeByPublishing(t *testing.T) {
	cat, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	r := New()
	svc, _ := cat.Service("padro")
	if _, err := r.Route(svc, params(t, `{"municipality":"43148"}`)); fault.CodeOf(err) != fault.NoSource || !strings.Contains(err.Error(), "no adapter for it is active") {
		t.Fatalf("Route before any adapter = %v, want no_source saying none is active", err)
	}
	tarragona := fake{manifest.Manifest{Name: "padro-43148", Scope: "43148", Services: []string{"padro"}}}
	if err := r.Set(cat, append(referenceAdapters(), tarragona)); err != nil {
		t.Fatal(err)
	}
	a, err := r.Route(svc, params(t, `{"municipality":"43148"}`))
	if err != nil || a.Manifest().Name != "padro-43148" {
		t.Fatalf("Route(43148) = %v, %v; want the adapter published for the scope the catalog does not list", a, err)
	}
	if got := r.Served()["padro"]; len(got) != 3 {
		t.Errorf("Served()[padro] has %d scopes, want 3", len(got))
	}
}
