package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pontexchange/pont/catalog"
)

// sourcePaths build, per service, the source URL path that the service's
// reference adapter asks (plugins/*/adapter/main.go), from the subject id
// and the params.
var sourcePaths = map[string]func(id string, params map[string]string) string{
	"padro": func(id string, p map[string]string) string {
		u := "/padro/v1/habitants/" + url.PathEscape(id)
		if m := p["municipality"]; m != "" {
			u += "?municipi=" + url.QueryEscape(m)
		}
		return u
	},
	"titulacions": func(id string, _ map[string]string) string {
		return "/rnt/v2/titulos?documento=" + url.QueryEscape(id)
	},
	"discapacitat": func(id string, _ map[string]string) string {
		return "/discapacidad/v1/reconocimientos/" + url.PathEscape(id)
	},
	"familia-nombrosa": func(id string, _ map[string]string) string {
		return "/familia-nombrosa/v1/titols?document=" + url.QueryEscape(id)
	},
	"prestacions": func(id string, _ map[string]string) string {
		return "/rpsp/v1/prestaciones?ipf=" + url.QueryEscape(id)
	},
}

// request is the part of Pont's query envelope that the baseline reads.
type request struct {
	Procedure struct {
		Code string `json:"code"`
		Name string `json:"name"`
	} `json:"procedure"`
	Purpose    string `json:"purpose"`
	LegalBasis struct {
		Type      string `json:"type"`
		Reference string `json:"reference"`
	} `json:"legal_basis"`
	CaseID   string `json:"case_id"`
	Official struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"official"`
	Subject struct {
		IDType string `json:"id_type"`
		ID     string `json:"id"`
	} `json:"subject"`
	Params map[string]string `json:"params"`
}

// answer is the baseline's 200 answer: the source's JSON as it came.
type answer struct {
	Service string          `json:"service"`
	Source  string          `json:"source"`
	Data    json.RawMessage `json:"data"`
}

// problem is the baseline's error answer, shaped as Pont's.
type problem struct {
	Status int    `json:"status"`
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

type handler struct {
	client *http.Client
	// routes maps service -> routing-key value ("*" for any) -> source base URL.
	routes map[string]map[string]string
	keys   map[string]string // service -> routing key
}

// newHandler builds the handler from the catalog's sources.
func newHandler(cat *catalog.Catalog, client *http.Client) (*handler, error) {
	h := &handler{client: client, routes: map[string]map[string]string{}, keys: map[string]string{}}
	for _, name := range cat.ServiceNames() {
		svc, _ := cat.Service(name)
		if sourcePaths[name] == nil {
			return nil, fmt.Errorf("service %s: the baseline does not know its source's paths", name)
		}
		h.keys[name] = svc.RoutingKey
		h.routes[name] = map[string]string{}
		for _, src := range svc.Sources {
			base := src.Config["source_url"]
			if base == "" {
				return nil, fmt.Errorf("service %s: the source of scope %s has no source_url", name, src.Scope)
			}
			h.routes[name][src.Scope] = strings.TrimRight(base, "/")
		}
	}
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// /v1/services/{service}/queries
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1/services/")
	service, ok2 := strings.CutSuffix(rest, "/queries")
	if !ok || !ok2 || r.Method != http.MethodPost {
		writeProblem(w, problem{Status: http.StatusNotFound, Code: "not_found", Detail: r.Method + " " + r.URL.Path})
		return
	}
	routes, ok := h.routes[service]
	if !ok {
		writeProblem(w, problem{Status: http.StatusNotFound, Code: "unknown_service", Detail: service})
		return
	}
	var req request
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		writeProblem(w, problem{Status: http.StatusBadRequest, Code: "invalid_request", Detail: err.Error()})
		return
	}
	if req.Subject.ID == "" {
		writeProblem(w, problem{Status: http.StatusUnprocessableEntity, Code: "invalid_subject_id", Detail: "subject.id is required"})
		return
	}
	base, ok := routes["*"]
	if key := h.keys[service]; key != "" {
		base, ok = routes[req.Params[key]]
	}
	if !ok {
		writeProblem(w, problem{Status: http.StatusUnprocessableEntity, Code: "no_source", Detail: "no source for these params"})
		return
	}
	data, status, err := h.fetch(r.Context(), base+sourcePaths[service](req.Subject.ID, req.Params))
	switch {
	case err != nil:
		writeProblem(w, problem{Status: http.StatusServiceUnavailable, Code: "source_unavailable", Detail: err.Error()})
	case status == http.StatusNotFound:
		writeProblem(w, problem{Status: http.StatusNotFound, Code: "subject_not_found", Detail: "the source does not know the subject"})
	case status != http.StatusOK:
		writeProblem(w, problem{Status: http.StatusServiceUnavailable, Code: "source_unavailable", Detail: fmt.Sprintf("the source answered HTTP %d", status)})
	default:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(answer{Service: service, Source: base, Data: data})
	}
}

// fetch GETs u and answers the body of a 200, or the status.
func (h *handler) fetch(ctx context.Context, u string) (json.RawMessage, int, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("source request: %w", err)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("source: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, 0, fmt.Errorf("source: read: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, resp.StatusCode, nil
	}
	if !json.Valid(body) {
		return nil, 0, fmt.Errorf("source answered something that is not JSON")
	}
	return body, http.StatusOK, nil
}

func writeProblem(w http.ResponseWriter, p problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}
