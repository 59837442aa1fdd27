// Package api is Pont's HTTP interface: routes, authentication, the mapping
// of errors to problem+json, metrics and the OpenAPI description. It turns
// HTTP into calls on the pipeline and the transfer log, and changes when the
// public API changes.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/citizens"
	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/pipeline"
	"github.com/pontexchange/pont/exchange/quota"
	"github.com/pontexchange/pont/exchange/store"
)

// Transfers is the read side of the transfer log. store.Store implements it.
type Transfers interface {
	SearchTransfers(ctx context.Context, f store.Filter) (store.Page, error)
	GetTransfer(ctx context.Context, id string) (store.Transfer, error)
}

// Config holds what the API serves. Pipeline, Citizens, Catalog,
// Transfers, Verifier and Registry are required.
type Config struct {
	Pipeline  *pipeline.Pipeline
	Citizens  *citizens.Service // a citizen's consents and objections
	Catalog   *catalog.Catalog
	Transfers Transfers
	Verifier  *auth.Verifier
	// DevIssuer, when set, enables POST /dev/token. Development only.
	DevIssuer *auth.DevIssuer
	Registry  *prometheus.Registry
	Metrics   *Metrics // from NewMetrics(Registry); created when nil
	Logger    *slog.Logger
	// Ready reports whether the node can serve (store reachable, adapters loaded).
	Ready func(ctx context.Context) error
	// MaxBodyBytes caps a request body. Defaults to 64 KiB.
	MaxBodyBytes int64
	// Quota limits each citizen's and auditor's calls (a requester's
	// queries and a citizen's reads of her data are limited in the
	// pipeline, which records the refusal). nil: no limit.
	Quota *quota.Limiter
	// CursorSecret (MinCursorSecret bytes or more) signs the audit search
	// cursors; nodes sharing it accept each other's cursors, across restarts.
	// Empty: a random key, so a cursor is valid on this server only.
	CursorSecret []byte
}

// New returns the HTTP handler of the whole API.
func New(cfg Config) (http.Handler, error) {
	switch {
	case cfg.Pipeline == nil:
		return nil, errors.New("api: Pipeline is required")
	case cfg.Citizens == nil:
		return nil, errors.New("api: Citizens is required")
	case cfg.Catalog == nil:
		return nil, errors.New("api: Catalog is required")
	case cfg.Transfers == nil:
		return nil, errors.New("api: Transfers is required")
	case cfg.Verifier == nil:
		return nil, errors.New("api: Verifier is required")
	case cfg.Registry == nil:
		return nil, errors.New("api: Registry is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	if cfg.Ready == nil {
		cfg.Ready = func(context.Context) error { return nil }
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(cfg.Registry)
	}
	cursors, err := newCursorCodec(cfg.CursorSecret)
	if err != nil {
		return nil, err
	}
	s := &server{cfg: cfg, log: cfg.Logger, cursors: cursors}

	r := chi.NewRouter()
	r.Use(middleware.RequestID)
	r.Use(s.recoverer)
	r.Use(s.observe)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, s.log, notFound("no route for %s on this path", fault.SafeText(r.Method)))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, s.log, fault.New(fault.MethodNotAllowed, "%s is not allowed on this path", fault.SafeText(r.Method)))
	})

	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)
	r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{Registry: cfg.Registry}))
	r.Get("/openapi.json", s.openapi)
	if cfg.DevIssuer != nil {
		r.Post("/dev/token", s.devToken)
	}

	r.Route("/v1", func(r chi.Router) {
		r.Get("/catalog/services", s.listServices)
		r.Group(func(r chi.Router) {
			r.Use(s.authenticate)
			r.Post("/services/{service}/queries", s.query)
			r.Route("/me", s.citizenRoutes)
			r.Group(func(r chi.Router) {
				r.Use(requireRole(s.log, auth.RoleAuditor))
				r.Use(s.withinQuota(quota.Auditor))
				r.Get("/audit/transfers", s.searchTransfers)
				r.Get("/audit/transfers/{id}", s.getTransfer)
			})
		})
	})
	return r, nil
}

type server struct {
	cfg     Config
	log     *slog.Logger
	cursors cursorCodec
}

func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.cfg.Ready(ctx); err != nil {
		s.log.Warn("not ready", slog.String("error", err.Error()))
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "detail": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
