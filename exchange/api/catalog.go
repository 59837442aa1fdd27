package api

import (
	"encoding/json"
	"net/http"

	"github.com/pontexchange/pont/catalog"
)

// serviceView is a catalog service as the API shows it: its schemas,
// purposes, laws and sources, without the sources' configuration.
type serviceView struct {
	Name            string                         `json:"name"`
	Title           string                         `json:"title"`
	Description     string                         `json:"description"`
	SCSPCertificate string                         `json:"scsp_certificate"`
	SpecialCategory bool                           `json:"special_category"`
	RoutingKey      string                         `json:"routing_key,omitempty"`
	Params          json.RawMessage                `json:"params"`
	Answer          json.RawMessage                `json:"answer"`
	Purposes        map[string]catalog.PurposeRule `json:"purposes"`
	Laws            []catalog.Law                  `json:"laws"`
	Sources         []sourceView                   `json:"sources"`
}

type sourceView struct {
	Adapter string `json:"adapter"`
	Scope   string `json:"scope"`
}

// listServices answers GET /v1/catalog/services.
func (s *server) listServices(w http.ResponseWriter, r *http.Request) {
	names := s.cfg.Catalog.ServiceNames()
	out := make([]serviceView, 0, len(names))
	for _, name := range names {
		svc, _ := s.cfg.Catalog.Service(name)
		v := serviceView{
			Name: svc.Name, Title: svc.Title, Description: svc.Description,
			SCSPCertificate: svc.SCSPCertificate, SpecialCategory: svc.SpecialCategory,
			RoutingKey: svc.RoutingKey, Params: svc.Params, Answer: svc.Answer,
			Purposes: svc.Purposes, Laws: svc.Laws,
		}
		for _, src := range svc.Sources {
			v.Sources = append(v.Sources, sourceView{Adapter: src.Adapter, Scope: src.Scope})
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"services": out})
}
