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

// adaptersFor builds an adapter for every source of cat, as declared there.
func adaptersFor(cat *catalog.Catalog) map[string]Adapter {
	ms := map[string]*manifest.Manifest{}
	for _, name := range cat.ServiceNames() {
		svc, _ := cat.Service(name)
		for _, src := range svc.Sources {
			m := ms[src.Adapter]
			if m == nil {
				m = &manifest.Manifest{Name: src.Adapter, Version: "1.0.0", Scope: src.Scope}
				ms[src.Adapter] = m
			}
			m.Services = append(m.Services, name)
		}
	}
	out := map[string]Adapter{}
	for name, m := range ms {
		out[name] = fake{*m}
	}
	return out
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
	if err := r.Set(cat, adaptersFor(cat)); err != nil {
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
	cases := []struct {
		name   string
		change func(map[string]Adapter)
		want   string
	}{
		{"missing adapter", func(m map[string]Adapter) { delete(m, "padro-17079") }, `source "padro-17079" has no loaded adapter`},
		{"wrong scope", func(m map[string]Adapter) {
			f := m["padro-17079"].(fake)
			f.m.Scope = "08019"
			m["padro-17079"] = f
		}, `serves scope "08019", the catalog gives it "17079"`},
		{"service not declared", func(m map[string]Adapter) {
			f := m["prestacions"].(fake)
			f.m.Services = []string{"padro"}
			m["prestacions"] = f
		}, "does not declare the service"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := New()
			good := adaptersFor(cat)
			if err := r.Set(cat, good); err != nil {
				t.Fatal(err)
			}
			bad := adaptersFor(cat)
			c.change(bad)
			err := r.Set(cat, bad)
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
