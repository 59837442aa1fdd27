package api

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/pontexchange/pont/exchange/api/types"
	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/quota"
	"github.com/pontexchange/pont/exchange/registry"
	"github.com/pontexchange/pont/exchange/store"
)

// adapterRoutes are the data owners' routes: a publisher publishes,
// activates and rolls back its owner's adapters, reads them and their
// activity; an auditor reads every owner's adapters.
func (s *server) adapterRoutes(r chi.Router) {
	r.Group(func(r chi.Router) {
		r.Use(requireRole(s.log, auth.RolePublisher))
		r.Use(s.withinQuota(quota.Publisher))
		r.Post("/adapters", s.publishAdapter)
		r.Post("/adapters/{name}/versions/{version}/activate", s.activateAdapter)
		r.Post("/adapters/{name}/rollback", s.rollbackAdapter)
		r.Get("/adapters/{name}/activity", s.adapterActivity)
	})
	r.Group(func(r chi.Router) {
		r.Use(requireRole(s.log, auth.RolePublisher, auth.RoleAuditor))
		r.Use(s.withinQuota(""))
		r.Get("/adapters", s.listAdapters)
		r.Get("/adapters/{name}", s.getAdapter)
	})
}

// WasmMediaType is the media type of a module published with POST
// /v1/adapters.
const WasmMediaType = "application/wasm"

func who(p auth.Principal) registry.Who { return registry.Who{Owner: p.Owner, Subject: p.Sub} }

// publishAdapter answers POST /v1/adapters: the body is the signed module.
func (s *server) publishAdapter(w http.ResponseWriter, r *http.Request) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != WasmMediaType {
		writeProblem(w, r, s.log, fault.New(fault.UnsupportedMediaType, "Content-Type must be %s: the body is the signed module", WasmMediaType))
		return
	}
	limit := int64(registry.DefaultMaxModuleBytes)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeProblem(w, r, s.log, fault.Invalid(fault.ModuleRefused, fault.FieldError{Field: "module", Message: "is over the limit of " + strconv.FormatInt(limit, 10) + " bytes"}))
		return
	case err != nil:
		writeProblem(w, r, s.log, fault.Wrap(fault.InvalidRequest, err, "the module could not be read"))
		return
	}
	p, _ := PrincipalFrom(r.Context())
	v, err := s.cfg.Adapters.Publish(r.Context(), body, who(p), time.Now())
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	w.Header().Set("Location", "/v1/adapters/"+url.PathEscape(v.Name))
	writeJSON(w, http.StatusCreated, versionView(v, ""))
}

func (s *server) activateAdapter(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	act, err := s.cfg.Adapters.Activate(r.Context(), chi.URLParam(r, "name"), chi.URLParam(r, "version"), who(p), time.Now())
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, activationView(act))
}

func (s *server) rollbackAdapter(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	act, err := s.cfg.Adapters.Rollback(r.Context(), chi.URLParam(r, "name"), who(p), time.Now())
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, activationView(act))
}

func (s *server) listAdapters(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	owner := ""
	if p.Role == auth.RolePublisher {
		owner = p.Owner
	}
	infos, err := s.cfg.Adapters.List(r.Context(), owner)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	out := make([]types.AdapterV1, 0, len(infos))
	for _, info := range infos {
		out = append(out, newAdapterView(info))
	}
	writeJSON(w, http.StatusOK, map[string]any{"adapters": out})
}

func (s *server) getAdapter(w http.ResponseWriter, r *http.Request) {
	info, err := s.cfg.Adapters.Get(r.Context(), chi.URLParam(r, "name"))
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	// Another owner's adapter is not the publisher's to see: the same
	// answer as for one that does not exist.
	if p, _ := PrincipalFrom(r.Context()); p.Role == auth.RolePublisher && p.Owner != info.Owner {
		writeProblem(w, r, s.log, fault.New(fault.NotFound, "no adapter %s is published", chi.URLParam(r, "name")))
		return
	}
	v := newAdapterView(info)
	v.Activations = make([]types.ActivationV1, 0, len(info.Activations))
	for _, a := range info.Activations {
		v.Activations = append(v.Activations, activationView(a))
	}
	v.RollbackTo = registry.PreviousOf(info.Activations)
	writeJSON(w, http.StatusOK, v)
}

func newAdapterView(info registry.AdapterInfo) types.AdapterV1 {
	v := types.AdapterV1{Name: info.Name, Owner: info.Owner, Active: info.Active, Loaded: info.Loaded, Versions: make([]types.AdapterVersionV1, 0, len(info.Versions))}
	for _, ver := range info.Versions {
		v.Versions = append(v.Versions, versionView(ver, info.Active))
	}
	return v
}

func versionView(v store.AdapterVersion, active string) types.AdapterVersionV1 {
	return types.AdapterVersionV1{Name: v.Name, Version: v.Version, Owner: v.Owner, Services: v.Services, Scope: v.Scope,
		ModuleSHA256: v.ModuleSHA256, KeyID: v.KeyID, Signed: v.Signature != "", PublishedAt: v.PublishedAt,
		PublishedBy: v.PublishedBy, Active: active != "" && v.Version == active}
}

func activationView(a store.Activation) types.ActivationV1 {
	return types.ActivationV1{Seq: a.Seq, Adapter: a.Name, Version: a.Version, Kind: a.Kind, At: a.At, Actor: a.Actor}
}
