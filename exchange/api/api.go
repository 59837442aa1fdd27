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
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/citizens"
	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/jobs"
	"github.com/pontexchange/pont/exchange/pipeline"
	"github.com/pontexchange/pont/exchange/quota"
	"github.com/pontexchange/pont/exchange/registry"
	"github.com/pontexchange/pont/exchange/store"
)

// Transfers is the read side of the transfer log. store.Store implements it.
type Transfers interface {
	SearchTransfers(ctx context.Context, f store.Filter) (store.Page, error)
	GetTransfer(ctx context.Context, id string) (store.Transfer, error)
	AdapterActivity(ctx context.Context, adapter string, from, to time.Time) (store.AdapterActivity, error)
}

// EventAppender writes one event of the log and returns once it is
// durable. *audit.Log implements it.
type EventAppender interface {
	AppendEvent(ctx context.Context, e store.Event) error
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
	// Pages, when set, mounts the web pages (package web) on the same
	// router, beside the API; PagesNotFound answers a browser's request
	// for a path that is neither a page nor the API's.
	Pages         func(chi.Router)
	PagesNotFound http.Handler
	Registry      *prometheus.Registry
	Metrics       *Metrics // from NewMetrics(Registry); created when nil
	Logger        *slog.Logger
	// Ready reports whether the node can serve: for a store that is a
	// store.ReadinessChecker, its schema in place and its log able to
	// commit. GET /readyz answers 503 {"status":"unavailable"} when it
	// fails; its error goes to the node's log only (at most once every
	// ReadyLogInterval while it keeps failing), since it may name the
	// database, its user or its tables. Nil: always ready.
	Ready func(ctx context.Context) error
	// PrivateMetrics leaves GET /metrics off this handler, for a node that
	// serves MetricsHandler on a listener of its own (pont serve's
	// metrics_listen), out of reach of whatever is in front of the API.
	PrivateMetrics bool
	// MaxBodyBytes caps a request body. Defaults to 64 KiB.
	MaxBodyBytes int64
	// Quota limits each citizen's and auditor's calls (a requester's
	// queries and a citizen's reads of her data are limited in the
	// pipeline, which records the refusal). nil: no limit.
	Quota *quota.Limiter
	// Log, when set, is served as the tamper-evident log under
	// /v1/audit/log/ with its proofs, and every auditor's read of the log
	// is written to it as a leaf before the answer leaves.
	Log store.Log
	// Events, when set, commits the events Log's routes write (auditors'
	// reads) in the transfers' group commit (*audit.Log does): each is
	// still durable before its answer leaves, and many concurrent reads
	// share a transaction. Nil: each is its own Log.AppendEvents.
	Events EventAppender
	// Node names this node in the leaves it writes.
	Node string
	// Adapters, when set, serves the data owners' routes under
	// /v1/adapters and shows which adapter serves each scope in the
	// catalog.
	Adapters *registry.Registry
	// CursorSecret (MinCursorSecret bytes or more) signs the audit search
	// cursors; nodes sharing it accept each other's cursors, across restarts.
	// Empty: a random key, so a cursor is valid on this server only.
	CursorSecret []byte
	// Jobs runs asynchronous queries; nil: no /v1/.../jobs routes.
	Jobs *jobs.Runner
	// MaxJobBodyBytes bounds a job's request body (up to
	// jobs.MaxSubjects subjects). Defaults to 4 MiB.
	MaxJobBodyBytes int64
	// CallbackKeys signs jobs' callbacks; its public keys are served at
	// /v1/jobs/callback-keys. nil: none.
	CallbackKeys *jobs.Notifier
	// SCSP turns on the SCSP v3 SOAP door (/scsp/v3/{CODE}); nil: off.
	SCSP *SCSPDoor
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
	if cfg.MaxJobBodyBytes <= 0 {
		cfg.MaxJobBodyBytes = 4 << 20
	}
	if cfg.Ready == nil {
		cfg.Ready = func(context.Context) error { return nil }
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(cfg.Registry)
	}
	if d := cfg.SCSP; d != nil && (d.Roots == nil || d.Cert == nil || d.Key == nil) {
		return nil, errNoDoor
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
		// A browser that asks for a page that does not exist gets the
		// pages' own answer; the API's paths always answer JSON.
		if cfg.PagesNotFound != nil && !strings.HasPrefix(r.URL.Path, "/v1/") && strings.Contains(r.Header.Get("Accept"), "text/html") {
			cfg.PagesNotFound.ServeHTTP(w, r)
			return
		}
		writeProblem(w, r, s.log, notFound("no route for %s on this path", fault.SafeText(r.Method)))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, s.log, fault.New(fault.MethodNotAllowed, "%s is not allowed on this path", fault.SafeText(r.Method)))
	})

	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz())
	if !cfg.PrivateMetrics {
		r.Method(http.MethodGet, "/metrics", MetricsHandler(cfg.Registry))
	}
	r.Get("/openapi.json", s.openapi)
	if cfg.DevIssuer != nil {
		r.Post("/dev/token", s.devToken)
	}

	if cfg.SCSP != nil {
		s.scspRoutes(r)
	}
	if cfg.Pages != nil {
		cfg.Pages(r)
	}
	r.Route("/v1", func(r chi.Router) {
		r.Get("/catalog/services", s.listServices)
		if cfg.CallbackKeys != nil {
			r.Get("/jobs/callback-keys", s.callbackKeys)
		}
		if cfg.Log != nil {
			s.logRoutes(r)
		}
		r.Group(func(r chi.Router) {
			r.Use(s.authenticate)
			r.Post("/services/{service}/queries", s.query)
			if cfg.Jobs != nil {
				s.jobRoutes(r)
			}
			r.Route("/me", s.citizenRoutes)
			if cfg.Adapters != nil {
				s.adapterRoutes(r)
			}
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
	// sealed is the largest size of the log's tree this server has read: the
	// tree only grows, so an entry bundle within it needs no look at the
	// tree's state (see entryBundle).
	sealed atomic.Int64
}

func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// ReadyLogInterval is how often, at most, a readiness check that keeps
// failing is logged: a load balancer polls every second or so, and one line
// a minute (and one when the node is ready again) says as much.
const ReadyLogInterval = time.Minute

// readyz answers whether the node is ready. A stranger learns only
// "unavailable": the reason (a connection error names the database and its
// user) goes to the node's log, at once when the node stops being ready and
// then at most once every ReadyLogInterval, with the count of failures in
// between; recovery is logged once.
func (s *server) readyz() http.HandlerFunc {
	var mu sync.Mutex
	var failing bool
	var lastLog time.Time
	var failures int
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		err := s.cfg.Ready(ctx)
		mu.Lock()
		switch now := time.Now(); {
		case err != nil:
			failures++
			if !failing || now.Sub(lastLog) >= ReadyLogInterval {
				s.log.Warn("not ready", slog.String("error", err.Error()), slog.Int("failed_checks", failures))
				lastLog, failures = now, 0
			}
			failing = true
		case failing:
			s.log.Info("ready again", slog.Int("failed_checks_unlogged", failures))
			failing, failures = false, 0
		}
		mu.Unlock()
		if err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	}
}

// MetricsHandler serves reg in the Prometheus exposition format.
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}
