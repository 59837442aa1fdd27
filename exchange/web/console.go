package web

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/pontexchange/pont/exchange/api/types"
	"github.com/pontexchange/pont/exchange/auth"
)

// consoleRoutes are the data owner's pages: her adapters, their versions,
// their calls of the last hour, and the activations and rollbacks she
// makes, through /v1/adapters as her owner, with the same checks and the
// same records as the API.
func (p *Pages) consoleRoutes(r chi.Router) {
	r.Get("/", p.consoleList)
	r.Get("/adapters/{name}", p.consoleAdapter)
	r.Post("/adapters/{name}/versions/{version}/activate", p.consoleActivate)
	r.Post("/adapters/{name}/rollback", p.consoleRollback)
}

// ownerPrincipal is the principal the console calls the API as: a
// publisher acts for the owner her session names. A session without one
// is not read (sessions.read holds it to auth.Principal.Problems), and
// the API refuses such a principal too; the page refuses first all the
// same.
func ownerPrincipal(s *session) (auth.Principal, bool) {
	pr := s.Principal
	return pr, pr.Role == auth.RolePublisher && pr.Owner != ""
}

// adapterRow is one adapter of the console's list.
type adapterRow struct {
	Name, Scope, ScopeName string
	Services               []string
	Versions               []string
	Active, Loaded         string
	// State is adapterState's; StateText says it in the page's language.
	State, StateText string
	// LastHour says its calls and errors of the last hour, or that they
	// could not be read.
	LastHour string
}

// unanswered counts the calls that were not answered with data.
func unanswered(a types.AdapterActivityV1) int64 { return a.Calls - a.ByOutcome[okOutcome] }

// okOutcome is the outcome of an answered call.
const okOutcome = "ok"

// activity asks the API for the last hour of the adapter name; false when
// it did not answer it.
func (p *Pages) activity(r *http.Request, principal auth.Principal, name string) (types.AdapterActivityV1, bool) {
	res := p.call(r.Context(), principal, http.MethodGet, "/v1/adapters/"+url.PathEscape(name)+"/activity", nil, "")
	var a types.AdapterActivityV1
	if !res.OK() || res.decode(&a) != nil {
		return types.AdapterActivityV1{}, false
	}
	return a, true
}

// activityBox is the last hour of one adapter, as its page shows it.
type activityBox struct {
	// Unavailable: the API did not answer it.
	Unavailable   bool
	From, To      string
	Calls, Errors int64
	// Outcomes are the calls by outcome, the answered first, then the
	// most frequent.
	Outcomes []outcomeCount
	// Answered: some calls were, and P50, P95 and Max say their latency.
	Answered      bool
	P50, P95, Max string
	// Pool is nil when this node serves no version of the adapter.
	Pool *poolBox
}

// outcomeCount is a number of calls that ended with one outcome.
type outcomeCount struct {
	Code  string
	OK    bool
	Count int64
}

// poolBox is the pool of the version this node serves the adapter from.
type poolBox struct {
	Version, Since     string
	InUse, Idle        int
	Created, Discarded uint64
	// Calls are those it ran since it was loaded, by outcome, without
	// the outcomes that had none.
	Calls []outcomeCount
}

// outcomes sorts counts by outcome: the answered first, then the most
// frequent, then by code; zero counts are left out.
func outcomes[N int64 | uint64](counts map[string]N) []outcomeCount {
	out := make([]outcomeCount, 0, len(counts))
	for code, n := range counts {
		if n > 0 {
			out = append(out, outcomeCount{Code: code, OK: code == okOutcome, Count: int64(n)})
		}
	}
	slices.SortFunc(out, func(a, b outcomeCount) int {
		switch {
		case a.OK != b.OK:
			if a.OK {
				return -1
			}
			return 1
		case a.Count != b.Count:
			return cmp.Compare(b.Count, a.Count)
		}
		return strings.Compare(a.Code, b.Code)
	})
	return out
}

// activityBox is a in the page's language.
func (v *view) activityBox(a types.AdapterActivityV1) activityBox {
	box := activityBox{From: v.Moment(a.From), To: v.Moment(a.To), Calls: a.Calls, Errors: unanswered(a),
		Outcomes: outcomes(a.ByOutcome), Answered: a.ByOutcome[okOutcome] > 0}
	if box.Answered {
		box.P50, box.P95, box.Max = v.latency(a.LatencyUS.P50), v.latency(a.LatencyUS.P95), v.latency(a.LatencyUS.Max)
	}
	if pl := a.Pool; pl != nil {
		box.Pool = &poolBox{Version: pl.Version, Since: v.Moment(pl.LoadedAt), InUse: pl.InUse, Idle: pl.Idle,
			Created: pl.Created, Discarded: pl.Discarded, Calls: outcomes(pl.Calls)}
	}
	return box
}

// latency writes microseconds as milliseconds with one decimal, or, from
// a second on, as seconds with two, with the page language's decimal
// separator.
func (v *view) latency(us int64) string {
	id, s := "console.ms", strconv.FormatFloat(float64(us)/1e3, 'f', 1, 64)
	if us >= 1e6 {
		id, s = "console.s", strconv.FormatFloat(float64(us)/1e6, 'f', 2, 64)
	}
	if v.Lang != "en" {
		s = strings.Replace(s, ".", ",", 1)
	}
	return v.T(id, "N", s)
}

// OutcomeName names an outcome: answered, or its code.
func (v *view) OutcomeName(code string) string {
	if code == okOutcome {
		return v.T("console.outcome_ok")
	}
	return code
}

type consolePage struct {
	OwnerName string
	Items     []adapterRow
}

// consoleList answers GET /console: her owner's adapters, from GET
// /v1/adapters.
func (p *Pages) consoleList(w http.ResponseWriter, r *http.Request) {
	v, ok := p.signedIn(w, r, auth.RolePublisher)
	if !ok {
		return
	}
	principal, ok := ownerPrincipal(v.Session)
	if !ok {
		p.forbidden(w, r)
		return
	}
	v.Title = v.T("console.title")
	page := consolePage{OwnerName: p.ownerName(principal.Owner)}
	var list struct {
		Adapters []types.AdapterV1 `json:"adapters"`
	}
	if status, ok := p.read(r.Context(), v, principal, "/v1/adapters", "console", &list); !ok {
		v.Data = page
		p.render(w, r, status, "console", v)
		return
	}
	for _, a := range list.Adapters {
		row := adapterRow{Name: a.Name, Active: a.Active, Loaded: a.Loaded, State: adapterState(a)}
		row.StateText = v.stateText(a)
		if cur, ok := currentVersion(a); ok {
			row.Services, row.Scope = cur.Services, cur.Scope
			row.ScopeName = p.scopeName(cur)
		}
		for _, ver := range a.Versions {
			row.Versions = append(row.Versions, ver.Version)
		}
		// One look at the log's time index per adapter: an owner has few.
		row.LastHour = v.T("console.last_hour_unavailable")
		if act, ok := p.activity(r, principal, a.Name); ok {
			row.LastHour = v.T("console.last_hour", "Calls", act.Calls, "Errors", unanswered(act))
		}
		page.Items = append(page.Items, row)
	}
	v.Data = page
	p.render(w, r, http.StatusOK, "console", v)
}

// currentVersion is the version that describes the adapter: the active
// one, else the latest published.
func currentVersion(a types.AdapterV1) (types.AdapterVersionV1, bool) {
	for _, ver := range a.Versions {
		if ver.Version == a.Active {
			return ver, true
		}
	}
	if len(a.Versions) == 0 {
		return types.AdapterVersionV1{}, false
	}
	return a.Versions[len(a.Versions)-1], true
}

// adapterState says whether the adapter serves: "serving" (this node
// serves the active version), "inactive" (no version is active), or
// "pending" (a version is active, and this node does not serve it yet).
func adapterState(a types.AdapterV1) string {
	switch {
	case a.Active == "":
		return "inactive"
	case a.Loaded == a.Active:
		return "serving"
	}
	return "pending"
}

// stateText says adapterState in the page's language.
func (v *view) stateText(a types.AdapterV1) string {
	switch adapterState(a) {
	case "inactive":
		return v.T("console.state.inactive")
	case "serving":
		return v.T("console.state.serving", "Version", a.Active)
	}
	if a.Loaded == "" {
		return v.T("console.state.not_loaded", "Version", a.Active)
	}
	return v.T("console.state.pending", "Version", a.Active, "Loaded", a.Loaded)
}

// scopeName names a version's scope: everyone, or the place it serves.
func (p *Pages) scopeName(ver types.AdapterVersionV1) string {
	if ver.Scope == "*" || ver.Scope == "" {
		return ""
	}
	key := ""
	for _, s := range ver.Services {
		if svc, ok := p.cfg.Catalog.Service(s); ok && svc.RoutingKey != "" {
			key = svc.RoutingKey
			break
		}
	}
	if name := p.placeName(key, ver.Scope); name != ver.Scope {
		return name
	}
	return ""
}

func (p *Pages) ownerName(id string) string {
	if o, ok := p.cfg.Catalog.Owners[id]; ok && o.Name != "" {
		return o.Name
	}
	return id
}

type consoleAdapterPage struct {
	Name, Active, Loaded, State string
	StateText                   string
	Scope, ScopeName            string
	Services                    []string
	// Versions are newest first.
	Versions []types.AdapterVersionV1
	// Previous is the version a rollback goes back to; "" when none.
	Previous string
	// Activations are newest first.
	Activations []types.ActivationV1
	// Activity is the last hour's calls and this node's pool.
	Activity activityBox
}

// consoleAdapter answers GET /console/adapters/{name}.
func (p *Pages) consoleAdapter(w http.ResponseWriter, r *http.Request) {
	v, ok := p.signedIn(w, r, auth.RolePublisher)
	if !ok {
		return
	}
	p.adapterPage(w, r, v, http.StatusOK)
}

// adapterPage renders one adapter, from GET /v1/adapters/{name}, with
// status (a refused change shows the page again with its problem).
func (p *Pages) adapterPage(w http.ResponseWriter, r *http.Request, v *view, status int) {
	principal, ok := ownerPrincipal(v.Session)
	if !ok {
		p.forbidden(w, r)
		return
	}
	name := chi.URLParam(r, "name")
	v.Title = v.T("console.adapter.title", "Name", name)
	var a types.AdapterV1
	if status, ok := p.read(r.Context(), v, principal, "/v1/adapters/"+url.PathEscape(name), "console", &a); !ok {
		p.render(w, r, status, "error", v)
		return
	}
	page := consoleAdapterPage{Name: a.Name, Active: a.Active, Loaded: a.Loaded, State: adapterState(a),
		StateText: v.stateText(a), Previous: a.RollbackTo}
	if cur, ok := currentVersion(a); ok {
		page.Services, page.Scope, page.ScopeName = cur.Services, cur.Scope, p.scopeName(cur)
	}
	page.Versions = slices.Clone(a.Versions)
	for i := range page.Versions {
		page.Versions[i].Active = page.Versions[i].Version == a.Active
	}
	slices.Reverse(page.Versions)
	page.Activations = slices.Clone(a.Activations)
	slices.Reverse(page.Activations)
	if act, ok := p.activity(r, principal, a.Name); ok {
		page.Activity = v.activityBox(act)
	} else {
		page.Activity.Unavailable = true
	}
	v.Data = page
	p.render(w, r, status, "console_adapter", v)
}

// consoleActivate answers POST
// /console/adapters/{name}/versions/{version}/activate.
func (p *Pages) consoleActivate(w http.ResponseWriter, r *http.Request) {
	name, version := chi.URLParam(r, "name"), chi.URLParam(r, "version")
	p.consoleChange(w, r, "/v1/adapters/"+url.PathEscape(name)+"/versions/"+url.PathEscape(version)+"/activate", "adapter_activated")
}

// consoleRollback answers POST /console/adapters/{name}/rollback.
func (p *Pages) consoleRollback(w http.ResponseWriter, r *http.Request) {
	p.consoleChange(w, r, "/v1/adapters/"+url.PathEscape(chi.URLParam(r, "name"))+"/rollback", "adapter_rolled_back")
}

// consoleChange makes a change through the API (a form with her token),
// and shows the adapter again: after a redirect with done when made, with
// the refusal when not.
func (p *Pages) consoleChange(w http.ResponseWriter, r *http.Request, apiPath, done string) {
	v, ok := p.changing(w, r, auth.RolePublisher)
	if !ok {
		return
	}
	principal, ok := ownerPrincipal(v.Session)
	if !ok {
		p.forbidden(w, r)
		return
	}
	res := p.call(r.Context(), principal, http.MethodPost, apiPath, nil, "")
	if !res.OK() {
		v.Problem = v.refusal("console", res)
		p.adapterPage(w, r, v, res.Status)
		return
	}
	redirect(w, r, "/console/adapters/"+url.PathEscape(chi.URLParam(r, "name"))+"?done="+done)
}
