package api

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/pontexchange/pont/exchange/api/types"
	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/fault"
)

// The window of GET /v1/adapters/{name}/activity: an hour unless the
// owner asks for another, from a minute to a day (the store walks the
// whole log's time index over it).
const (
	DefaultActivityWindow = time.Hour
	MinActivityWindow     = time.Minute
	MaxActivityWindow     = 24 * time.Hour
)

// adapterActivity answers GET /v1/adapters/{name}/activity to a publisher
// whose owner owns the adapter; another owner's adapter is not found, as
// GET /v1/adapters/{name} answers it.
func (s *server) adapterActivity(w http.ResponseWriter, r *http.Request) {
	window, err := parseWindow(r)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	name := chi.URLParam(r, "name")
	info, err := s.cfg.Adapters.Get(r.Context(), name)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	if p, _ := PrincipalFrom(r.Context()); p.Role != auth.RolePublisher || p.Owner != info.Owner {
		writeProblem(w, r, s.log, fault.New(fault.NotFound, "no adapter %s is published", name))
		return
	}
	to := time.Now().UTC().Truncate(time.Microsecond)
	from := to.Add(-window)
	act, err := s.cfg.Transfers.AdapterActivity(r.Context(), info.Name, from, to)
	if err != nil {
		writeProblem(w, r, s.log, fault.Wrap(fault.StoreUnavailable, err, "the transfer log could not be read"))
		return
	}
	out := types.AdapterActivityV1{
		Adapter: info.Name, Window: window.String(), From: from, To: to,
		Calls: act.Calls, ByOutcome: act.ByOutcome,
		LatencyUS: types.LatencyV1{P50: act.Latency.P50, P95: act.Latency.P95, Max: act.Latency.Max},
	}
	if out.ByOutcome == nil {
		out.ByOutcome = map[string]int64{}
	}
	if pool, ok := s.cfg.Adapters.Pool(info.Name); ok {
		st := pool.Stats
		out.Pool = &types.AdapterPoolV1{Node: s.cfg.Node, Version: st.Version, LoadedAt: pool.LoadedAt, InUse: st.InUse, Idle: st.Idle,
			Created: st.Created, Discarded: st.Discarded, Calls: st.Calls}
	}
	writeJSON(w, http.StatusOK, out)
}

// parseWindow reads the activity's window from the query string: window,
// a Go duration, once; nothing else.
func parseWindow(r *http.Request) (time.Duration, error) {
	q, err := strictQuery(r.URL.RawQuery)
	if err != nil {
		return 0, err
	}
	var bad []fault.FieldError
	for name := range q {
		if name != "window" {
			bad = append(bad, fault.FieldError{Field: name, Message: "is not a parameter of this route"})
		}
	}
	window := DefaultActivityWindow
	switch vs := q["window"]; {
	case len(vs) > 1:
		bad = append(bad, fault.FieldError{Field: "window", Message: "must be given once"})
	case len(vs) == 1:
		d, err := time.ParseDuration(vs[0])
		if err != nil || d < MinActivityWindow || d > MaxActivityWindow {
			bad = append(bad, fault.FieldError{Field: "window", Message: "must be a duration from 1m to 24h, such as 1h or 15m"})
		}
		window = d
	}
	if len(bad) > 0 {
		sortFields(bad)
		return 0, fault.Invalid(fault.InvalidRequest, bad...)
	}
	return window, nil
}
