// Package router picks the adapter that serves a query: the catalog lists,
// for each service, its sources (an adapter and the routing-key value it
// serves), and the router maps a query's routing key to the loaded adapter.
// It changes when the rules for choosing a source change.
package router

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/wasmhost"
)

// AnyScope is the scope of a source that serves every routing-key value.
const AnyScope = "*"

// Router maps (service, routing-key value) to an adapter. The table is
// replaced atomically, so a new adapter version takes over between calls
// while calls in flight finish on the old one.
type Router struct {
	table atomic.Pointer[table]
}

type table struct {
	// routes[service][scope] is the adapter serving that scope.
	routes map[string]map[string]*wasmhost.Adapter
}

// New returns an empty router.
func New() *Router {
	r := &Router{}
	r.table.Store(&table{routes: map[string]map[string]*wasmhost.Adapter{}})
	return r
}

// Set installs the routes of cat, with adapters by name. Every source of
// every service must have its adapter, and the adapter's manifest must
// declare the service and the scope the catalog gives it: a catalog that
// routes padró of 08019 to a module built for 17079 is refused.
func (r *Router) Set(cat *catalog.Catalog, adapters map[string]*wasmhost.Adapter) error {
	t := &table{routes: map[string]map[string]*wasmhost.Adapter{}}
	for _, name := range cat.ServiceNames() {
		svc, _ := cat.Service(name)
		scopes := map[string]*wasmhost.Adapter{}
		for _, src := range svc.Sources {
			a, ok := adapters[src.Adapter]
			if !ok {
				return fmt.Errorf("router: service %s: source %q has no loaded adapter", name, src.Adapter)
			}
			m := a.Manifest()
			if !contains(m.Services, name) {
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
func (r *Router) Route(svc *catalog.Service, params json.RawMessage) (*wasmhost.Adapter, error) {
	scopes := r.table.Load().routes[svc.Name]
	key := ""
	if svc.RoutingKey != "" {
		var err error
		key, err = routingValue(params, svc.RoutingKey)
		if err != nil {
			return nil, err
		}
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
		svc.RoutingKey, key, svc.Name, strings.Join(sortedKeys(scopes), ", "))
}

func routingValue(params json.RawMessage, key string) (string, error) {
	var p map[string]json.RawMessage
	if len(params) > 0 {
		if err := json.Unmarshal(params, &p); err != nil {
			return "", fault.Invalid(fault.InvalidRequest, fault.FieldError{Field: "params", Message: "must be a JSON object"})
		}
	}
	raw, ok := p[key]
	if !ok {
		return "", fault.Invalid(fault.InvalidRequest, fault.FieldError{Field: "params." + key, Message: "is required to route the query"})
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", fault.Invalid(fault.InvalidRequest, fault.FieldError{Field: "params." + key, Message: "must be a string"})
	}
	return v, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]*wasmhost.Adapter) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
