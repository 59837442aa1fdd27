package api

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"

	"github.com/pontexchange/pont/catalog"
)

// serviceView is a catalog service as the API shows it: its schemas,
// purposes, laws and sources, without the sources' configuration.
type serviceView struct {
	Name            string                         `json:"name"`
	Title           string                         `json:"title"`
	Description     string                         `json:"description"`
	SCSPCertificate string                         `json:"scsp_certificate"`
	SCSPAlsoAnswers []string                       `json:"scsp_also_answers,omitempty"`
	SpecialCategory bool                           `json:"special_category"`
	RoutingKey      string                         `json:"routing_key,omitempty"`
	Params          json.RawMessage                `json:"params"`
	Answer          json.RawMessage                `json:"answer"`
	Purposes        map[string]catalog.PurposeRule `json:"purposes"`
	Laws            []catalog.Law                  `json:"laws"`
	Sources         []sourceView                   `json:"sources"`
}

// sourceView is a scope of a service and the adapter that serves it on
// this node.
type sourceView struct {
	Scope   string `json:"scope"`
	Adapter string `json:"adapter"`
	Version string `json:"version"`
	Owner   string `json:"owner"`
}

// listServices answers GET /v1/catalog/services.
func (s *server) listServices(w http.ResponseWriter, r *http.Request) {
	names := s.cfg.Catalog.ServiceNames()
	out := make([]serviceView, 0, len(names))
	sources := map[string][]sourceView{}
	if s.cfg.Adapters != nil {
		served := s.cfg.Adapters.Served()
		for _, name := range slices.Sorted(maps.Keys(served)) {
			v := served[name]
			for _, svc := range v.Services {
				sources[svc] = append(sources[svc], sourceView{Scope: v.Scope, Adapter: v.Name, Version: v.Version, Owner: v.Owner})
			}
		}
	}
	for _, name := range names {
		svc, _ := s.cfg.Catalog.Service(name)
		v := serviceView{
			Name: svc.Name, Title: svc.Title, Description: svc.Description,
			SCSPCertificate: svc.SCSPCertificate, SCSPAlsoAnswers: svc.SCSPAlsoAnswers, SpecialCategory: svc.SpecialCategory,
			RoutingKey: svc.RoutingKey, Params: svc.Params, Answer: svc.Answer,
			Purposes: svc.Purposes, Laws: svc.Laws,
		}
		v.Sources = sources[name]
		if v.Sources == nil {
			v.Sources = []sourceView{}
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"services": out})
}
