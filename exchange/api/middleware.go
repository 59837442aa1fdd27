package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/quota"
)

type principalKey struct{}

// PrincipalFrom returns the authenticated principal of ctx, and false when
// the request was not authenticated.
func PrincipalFrom(ctx context.Context) (auth.Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(auth.Principal)
	return p, ok
}

// signedIn carries a principal that signed in by other means than a
// bearer token (the web pages' session), for a request made in-process.
type signedIn struct{}

// AsPrincipal returns a context in which a request served by the API
// handler in-process (never one from the network: a context cannot be
// sent) is p's, without a token: the web pages call the API for the
// principal their session names, through the same handlers, checks and
// records as a token's holder.
func AsPrincipal(ctx context.Context, p auth.Principal) context.Context {
	return context.WithValue(ctx, signedIn{}, p)
}

// authenticate verifies the bearer token and puts its principal in the
// request's context; anything else is 401.
func (s *server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := r.Context().Value(signedIn{}).(auth.Principal); ok {
			// Held to a token's rules: a publisher of no owner would
			// otherwise list every owner's adapters.
			if problems := p.Problems(); len(problems) > 0 {
				writeProblem(w, r, s.log, fault.Invalid(fault.Unauthenticated, problems...))
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
			return
		}
		h := r.Header.Get("Authorization")
		scheme, token, ok := strings.Cut(h, " ")
		if h == "" {
			writeProblem(w, r, s.log, fault.New(fault.Unauthenticated, "the Authorization header is missing: send 'Authorization: Bearer <token>'"))
			return
		}
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			writeProblem(w, r, s.log, fault.New(fault.Unauthenticated, "the Authorization header must be 'Bearer <token>'"))
			return
		}
		p, err := s.cfg.Verifier.Verify(r.Context(), strings.TrimSpace(token))
		if err != nil {
			if _, ok := fault.As(err); !ok {
				err = fault.Wrap(fault.Unauthenticated, err, "the token could not be verified")
			}
			writeProblem(w, r, s.log, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// requireRole lets through only principals with one of roles.
func requireRole(log *slog.Logger, roles ...auth.Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, _ := PrincipalFrom(r.Context())
			for _, role := range roles {
				if p.Role == role {
					next.ServeHTTP(w, r)
					return
				}
			}
			writeProblem(w, r, log, fault.New(fault.Forbidden, "this endpoint is for the %s role; the token's role is %q", joinRoles(roles), p.Role))
		})
	}
}

func joinRoles(roles []auth.Role) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, " or ")
}

// recoverer turns a panic in a handler into a 500 problem, so that one bad
// request never takes the node down.
func (s *server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("handler panicked", slog.String("route", routeOf(r)), slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
				writeProblem(w, r, s.log, fault.Wrap(fault.Internal, fmt.Errorf("panic: %v", v), "internal error"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// observe logs each request and feeds the HTTP metrics. Only the route
// pattern is logged: paths and query strings may carry personal data.
func (s *server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		route := routeOf(r)
		elapsed := time.Since(start)
		s.cfg.Metrics.request(route, r.Method, ww.Status(), elapsed)
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "request",
			slog.String("method", r.Method), slog.String("route", route), slog.Int("status", ww.Status()),
			slog.Duration("elapsed", elapsed), slog.String("request_id", middleware.GetReqID(r.Context())))
	})
}

func routeOf(r *http.Request) string {
	if rc := chi.RouteContext(r.Context()); rc != nil {
		if p := rc.RoutePattern(); p != "" {
			return p
		}
	}
	return "unmatched"
}

func invalid(field, format string, args ...any) error {
	return fault.Invalid(fault.InvalidRequest, fault.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func notFound(format string, args ...any) error {
	return fault.New(fault.NotFound, format, args...)
}

// withinQuota refuses, with 429 and Retry-After, a caller of kind over its
// quota; the caller is the token's subject (a citizen's DNI, an auditor's
// id), or for a publisher its owner, whose publishers share one bucket.
// An empty kind takes the token's role: a publisher's or an auditor's.
func (s *server) withinQuota(kind string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, _ := PrincipalFrom(r.Context())
			k, id := kind, p.Sub
			if k == "" {
				k = quota.Auditor
				if p.Role == auth.RolePublisher {
					k = quota.Publisher
				}
			}
			if k == quota.Publisher {
				id = p.Owner
			}
			if err := s.cfg.Quota.Check(k, id); err != nil {
				writeProblem(w, r, s.log, err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
