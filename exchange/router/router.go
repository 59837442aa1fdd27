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

// Set installs the routes of cat, with adapters by name. Every source of
// every service must have its adapter, and the adapter's manifest must
// declare the service and the scope the catalog gives it: a catalog that
// routes padró of 08019 to a module built for 17079 is refused. On error
// the routes in place stay.
func (r *Router) Set(cat *catalog.Catalog, adapters map[string]Adapter) error {
	t := &table{routes: map[string]map[string]Adapter{}}
	for _, name := range cat.ServiceNames() {
		svc, _ := cat.Service(name)
		scopes := map[string]Adapter{}
		for _, src := range svc.Sources {
			a, ok := adapters[src.Adapter]
			if !ok {
				return fmt.Errorf("router: service %s: source %q has no loaded adapter", name, src.Adapter)
			}
			m := a.Manifest()
			if !slices.Contains(m.Services, name) {
				return fmt.Errorf("router: service %s: adapter %s does not declare the service (it serves %s)", name, src.Adapter, strings.Join(m.Services, ", "))
			}
			if m.Scope != src.Scope {
				return fmt.Errorf("router: service %s: adapter %s serves scope %q, the catalog gives it %q", name, src.Adapter, m.Scope, src.Scope)
			}
			scopes[src.Scope] = a
		}
		t.routes[name] = scopes
	}
	r.table.Store(t)
	return nil
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
	if svc.RoutingKey == "" {
		return nil, fault.New(fault.NoSource, "no source serves service %s", svc.Name)
	}
	return nil, fault.New(fault.NoSource, "no source serves %s %s for service %s (served: %s)",
		svc.RoutingKey, key, svc.Name, strings.Join(slices.Sorted(maps.Keys(scopes)), ", "))
}
