package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/pipeline"
)

// Problem is an RFC 9457 problem document with Pont's extensions.
type Problem = fault.Problem

// problemOf builds the problem document for err.
func problemOf(r *http.Request, err error) Problem {
	p := fault.ProblemOf(err)
	p.Instance = instance(r)
	var failure *pipeline.Failure
	if errors.As(err, &failure) {
		p.TransferID = failure.TransferID
	}
	return p
}

// writeProblem answers err as application/problem+json; fault.SpecOf is
// the one table of statuses and SCSP codes, shared with the transfer log. Causes of internal
// errors go to the log, never to the caller.
func writeProblem(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	p := problemOf(r, err)
	if p.Status >= 500 {
		log.LogAttrs(r.Context(), slog.LevelWarn, "request failed",
			slog.String("code", string(p.Code)), slog.String("route", routeOf(r)), slog.String("error", err.Error()))
	}
	if fe, ok := fault.As(err); ok && fe.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(fe.RetryAfter.Seconds()))))
	} else if fault.RetryLater(p.Code) {
		w.Header().Set("Retry-After", "1")
	}
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="pont"`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// instance is the path a problem is about, when it is short and plain
// enough to echo; a caller's megabyte of path, or its control bytes, are
// not sent back.
func instance(r *http.Request) string {
	p := r.URL.Path
	if len(p) > fault.MaxTextBytes || fault.SafeText(p) != p {
		return ""
	}
	return p
}
