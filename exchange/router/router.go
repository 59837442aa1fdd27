// Package router picks the adapter that serves a query: the catalog lists,
// for each service, its sources (an adapter and the routing-key value it
// serves), and the router maps a query's routing key to the loaded adapter.
// It changes when the rules for choosing a source change.
package router

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/envelope"
	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/manifest"
	"github.com/pontexchange/pont/sdk-wasm/abi"
)

// AnyScope is the scope of a source that serves every routing-key value.
const AnyScope = "*"

// Adapter is a loaded adapter as the router and its callers use it;
// *wasmhost.Adapter implements it.
type Adapter interface {
	// Manifest is what the adapter declares: name, version, services, scope.
	Manifest() manifest.Manifest
	// SHA256 is the hex SHA-256 of the adapter's module.
	SHA256() string
	// Call answers one query with the data object, or a *fault.Error.
	Call(ctx context.Context, in abi.Input) (json.RawMessage, error)
}

// Router maps (service, routing-key value) to an adapter. The table is
// replaced atomically, so a new adapter version takes over between calls
// while calls in flight finish on the old one.
type Router struct {
	table atomic.Pointer[table]
}

type table struct {
	// routes[service][scope] is the adapter serving that scope.
	routes map[string]map[string]Adapter
}

// New returns an empty router.
func New() *Router {
	r := &Router{}
	r.table.Store(&table{routes: map[string]map[string]Adapter{}})
	return r
}

// Set installs the routes of the adapters that serve now: each serves
// every service its manifest names, at its manifest's scope. Every
// service must be in cat, and a scope other than AnyScope needs the
// service's routing key; two adapters may not serve one service at one
// scope. On error the routes in place stay. A service no adapter serves
// answers fault.NoSource.
func (r *Router) Set(cat *catalog.Catalog, adapters []Adapter) error {
	t := &table{routes: map[string]map[string]Adapter{}}
	for _, a := range adapters {
		m := a.Manifest()
		for _, name := range m.Services {
			svc, ok := cat.Service(name)
			if !ok {
				return fmt.Errorf("router: adapter %s serves service %q, which the catalog does not have", m.Name, name)
			}
			if svc.RoutingKey == "" && m.Scope != AnyScope {
				return fmt.Errorf("router: adapter %s serves scope %q of service %s, which has no routing key: its only scope is %q", m.Name, m.Scope, name, AnyScope)
			}
			scopes := t.routes[name]
			if scopes == nil {
				scopes = map[string]Adapter{}
				t.routes[name] = scopes
			}
			if other, taken := scopes[m.Scope]; taken {
				return fmt.Errorf("router: adapters %s and %s both serve service %s at scope %q", other.Manifest().Name, m.Name, name, m.Scope)
			}
			scopes[m.Scope] = a
		}
	}
	r.table.Store(t)
	return nil
}

// Served answers, for every service, the adapters serving it by scope.
func (r *Router) Served() map[string]map[string]Adapter {
	out := map[string]map[string]Adapter{}
	for svc, scopes := range r.table.Load().routes {
		out[svc] = maps.Clone(scopes)
	}
	return out
}

// Route answers the adapter for a query on svc with params. The routing key
// is the catalog's param for the service; a service without one is served by
// its "*" source. An unmatched value is fault.NoSource.
func (r *Router) Route(svc *catalog.Service, params envelope.Params) (Adapter, error) {
	scopes := r.table.Load().routes[svc.Name]
	key := ""
	if svc.RoutingKey != "" {
		v, present := params.Get(svc.RoutingKey)
		if !present {
			return nil, fault.Invalid(fault.InvalidRequest, fault.FieldError{Field: "params." + svc.RoutingKey, Message: "is required to route the query"})
		}
		s, ok := v.(string)
		if !ok {
			return nil, fault.Invalid(fault.InvalidRequest, fault.FieldError{Field: "params." + svc.RoutingKey, Message: "must be a string"})
		}
		key = s
		if a, ok := scopes[key]; ok {
			return a, nil
		}
	}
	if a, ok := scopes[AnyScope]; ok {
		return a, nil
	}
	if len(scopes) == 0 {
		return nil, fault.New(fault.NoSource, "no source serves service %s yet: no adapter for it is active", svc.Name)
	}
	if svc.RoutingKey == "" {
		return nil, fault.New(fault.NoSource, "no source serves service %s", svc.Name)
	}
	return nil, fault.New(fault.NoSource, "no source serves %s %s for service %s (served: %s)",
		svc.RoutingKey, key, svc.Name, strings.Join(slices.Sorted(maps.Keys(scopes)), ", "))
}
