package web

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/pontexchange/pont/exchange/api/types"
	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/pipeline"
	"github.com/pontexchange/pont/exchange/translog"
)

// carpetaRoutes are the citizen's pages. Each reads and changes through
// /v1/me, as her: the same checks, and the same records.
func (p *Pages) carpetaRoutes(r chi.Router) {
	r.Get("/", p.myData)
	r.Get("/transfers", p.myTransfers)
	r.Get("/transfers/{id}", p.myTransfer)
	r.Get("/consents", p.myConsents)
	r.Post("/consents", p.createConsent)
	r.Post("/consents/{id}/revoke", p.revokeConsent)
	r.Get("/objections", p.myObjections)
	r.Post("/objections", p.createObjection)
	r.Post("/objections/{id}/withdraw", p.withdrawObjection)
}

// dataCard is one service's card on the data page.
type dataCard struct {
	Service, Title string
	// Needs names the routing param the service needs and the page's form
	// has not given ("municipality", "region"); the card then asks for it.
	Needs string
	// Fields are the answer's data, as rows; empty with Problem set when
	// the read was refused.
	Fields  []field
	Problem *problem
	// TransferID is the record of this read.
	TransferID string
}

// field is one row of a card: a label and a value, or a group of rows.
type field struct {
	Label, Value string
	Rows         []field
	// Items are the entries of a list, each a group of rows.
	Items [][]field
}

// place is a municipality or region the data page's form offers.
type place struct {
	Code, Name string
	Selected   bool
}

type dataPage struct {
	Cards          []dataCard
	Municipalities []place
	Regions        []place
}

// myData answers GET /carpeta: a card per service of the catalog, each her
// own data read through GET /v1/me/data/{service} (a self-access, recorded
// as such). Services routed by a municipality or a region are read once
// she has said which (the form at the top), since only she knows where
// she is registered.
func (p *Pages) myData(w http.ResponseWriter, r *http.Request) {
	v, ok := p.signedIn(w, r, auth.RoleCitizen)
	if !ok {
		return
	}
	v.Title = v.T("carpeta.title")
	q := r.URL.Query()
	chosen := map[string]string{"municipality": q.Get("municipality"), "region": q.Get("region")}
	page := dataPage{Municipalities: p.places("municipality", chosen["municipality"]), Regions: p.places("region", chosen["region"])}
	names := p.cfg.Catalog.ServiceNames()
	page.Cards = make([]dataCard, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		svc, _ := p.cfg.Catalog.Service(name)
		card := &page.Cards[i]
		card.Service, card.Title = name, v.T("service."+name)
		path := "/v1/me/data/" + url.PathEscape(name)
		if key := svc.RoutingKey; key != "" {
			if chosen[key] == "" {
				card.Needs = key
				continue
			}
			path += "?" + url.Values{key: {chosen[key]}}.Encode()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := p.call(r.Context(), v.Session.Principal, http.MethodGet, path, nil, "")
			if !res.OK() {
				pr := res.Problem()
				card.Problem = &pr
				return
			}
			var ans pipeline.AnswerV1
			if err := res.decode(&ans); err != nil {
				card.Problem = &problem{Detail: v.T("carpeta.unreadable")}
				return
			}
			card.TransferID = ans.TransferID
			card.Fields = v.fields(propertyOrder(svc.Answer), ans.Data)
		}()
	}
	wg.Wait()
	v.Data = page
	p.render(w, r, http.StatusOK, "carpeta", v)
}

// places are the scopes of the catalog's sources for a routing key, named
// by the organisation that serves them.
func (p *Pages) places(key, selected string) []place {
	seen := map[string]bool{}
	var out []place
	for _, name := range p.cfg.Catalog.ServiceNames() {
		svc, _ := p.cfg.Catalog.Service(name)
		if svc.RoutingKey != key {
			continue
		}
		for _, src := range svc.Sources {
			if src.Scope == "*" || seen[src.Scope] {
				continue
			}
			seen[src.Scope] = true
			out = append(out, place{Code: src.Scope, Name: p.placeName(key, src.Scope), Selected: src.Scope == selected})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}

// placeName names a scope: a region by the INE's name of its community, a
// municipality by the organisation that serves its padró.
func (p *Pages) placeName(key, scope string) string {
	if key == "region" {
		if n, ok := communities[scope]; ok {
			return n
		}
	}
	for _, o := range p.cfg.Catalog.Owners {
		for _, scopes := range o.Serves {
			for _, s := range scopes {
				if s == scope {
					return o.Name
				}
			}
		}
	}
	return scope
}

// communities are the INE's codes of the autonomous communities and
// cities, which the regional services route by.
var communities = map[string]string{
	"01": "Andalucía", "02": "Aragón", "03": "Asturias", "04": "Illes Balears", "05": "Canarias",
	"06": "Cantabria", "07": "Castilla y León", "08": "Castilla-La Mancha", "09": "Catalunya",
	"10": "Comunitat Valenciana", "11": "Extremadura", "12": "Galicia", "13": "Comunidad de Madrid",
	"14": "Región de Murcia", "15": "Navarra", "16": "Euskadi", "17": "La Rioja", "18": "Ceuta", "19": "Melilla",
}

// fields turns an answer's data into labelled rows, in the order of the
// catalog's answer schema (order): a {code, name} pair is its name and
// code, dates are written in the page's language, amounts in euros,
// booleans yes or no, known codes by their names.
func (v *view) fields(order map[string]int, data json.RawMessage) []field {
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		return []field{{Label: v.T("carpeta.data"), Value: string(data)}}
	}
	return v.rows(order, m)
}

func (v *view) rows(order map[string]int, m map[string]any) []field {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		ri, iok := order[keys[i]]
		rj, jok := order[keys[j]]
		if iok != jok {
			return iok
		}
		if ri != rj {
			return ri < rj
		}
		return keys[i] < keys[j]
	})
	out := make([]field, 0, len(keys))
	for _, k := range keys {
		out = append(out, v.field(order, k, m[k]))
	}
	return out
}

// propertyOrder ranks the property names of a JSON schema by where they
// first appear in it: the order its author wrote them in.
func propertyOrder(schema json.RawMessage) map[string]int {
	order := map[string]int{}
	d := json.NewDecoder(bytes.NewReader(schema))
	var value func(props bool) error
	value = func(props bool) error {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			for d.More() {
				k, err := d.Token()
				if err != nil {
					return err
				}
				key, _ := k.(string)
				if props {
					if _, seen := order[key]; !seen {
						order[key] = len(order)
					}
				}
				if err := value(!props && key == "properties"); err != nil {
					return err
				}
			}
			_, err = d.Token()
		case json.Delim('['):
			for d.More() {
				if err := value(false); err != nil {
					return err
				}
			}
			_, err = d.Token()
		}
		return err
	}
	_ = value(false) // a catalog's schemas are valid JSON; a broken one only loses the order
	return order
}

func (v *view) field(order map[string]int, key string, x any) field {
	f := field{Label: v.T("field." + key)}
	switch val := x.(type) {
	case map[string]any:
		if name, ok := val["name"].(string); ok && len(val) == 2 {
			if code, ok := val["code"].(string); ok {
				f.Value = name + " (" + code + ")"
				return f
			}
		}
		f.Rows = v.rows(order, val)
	case []any:
		var words []string
		for _, it := range val {
			if obj, ok := it.(map[string]any); ok {
				f.Items = append(f.Items, v.rows(order, obj))
			} else {
				words = append(words, v.scalar(key, it))
			}
		}
		// A list of values (the types of a disability) is one line.
		f.Value = strings.Join(words, ", ")
	default:
		f.Value = v.scalar(key, val)
	}
	return f
}

// scalar writes one value of field key.
func (v *view) scalar(key string, x any) string {
	switch val := x.(type) {
	case bool:
		if val {
			return v.T("yes")
		}
		return v.T("no")
	case json.Number:
		if strings.HasSuffix(key, "_amount") {
			if f, err := val.Float64(); err == nil {
				return v.Amount(f)
			}
		}
		if key == "degree" {
			return val.String() + " %"
		}
		return val.String()
	case string:
		if strings.HasSuffix(key, "_date") || key == "date" {
			return v.Date(val)
		}
		if id := "value." + key + "." + val; v.T(id) != id {
			return v.T(id)
		}
		return val
	case nil:
		return ""
	}
	return ""
}

type transfersPage struct {
	Items    []types.CitizenTransferV1
	Services []string
	Filter   struct{ Service, From, To string }
	Next     string
}

// myTransfers answers GET /carpeta/transfers: who consulted her data,
// from GET /v1/me/transfers with the same filters and keyset paging.
func (p *Pages) myTransfers(w http.ResponseWriter, r *http.Request) {
	v, ok := p.signedIn(w, r, auth.RoleCitizen)
	if !ok {
		return
	}
	v.Title = v.T("transfers.title")
	q := r.URL.Query()
	page := transfersPage{Services: p.cfg.Catalog.ServiceNames()}
	page.Filter.Service, page.Filter.From, page.Filter.To = q.Get("service"), q.Get("from"), q.Get("to")
	apiQ := url.Values{"limit": {"50"}}
	if page.Filter.Service != "" {
		apiQ.Set("service", page.Filter.Service)
	}
	for _, k := range []string{"from", "to"} {
		if d := q.Get(k); d != "" {
			t, err := time.ParseInLocation(time.DateOnly, d, madrid)
			if err != nil {
				v.Problem = problem{Detail: v.T("transfers.bad_date")}
				v.Data = page
				p.render(w, r, http.StatusBadRequest, "transfers", v)
				return
			}
			if k == "to" {
				t = t.AddDate(0, 0, 1)
			}
			apiQ.Set(k, t.UTC().Format(time.RFC3339))
		}
	}
	if c := q.Get("cursor"); c != "" {
		apiQ.Set("cursor", c)
	}
	res := p.call(r.Context(), v.Session.Principal, http.MethodGet, "/v1/me/transfers?"+apiQ.Encode(), nil, "")
	if !res.OK() {
		p.fail(w, r, v, res)
		return
	}
	var out types.CitizenTransferPageV1
	if err := res.decode(&out); err != nil {
		p.fail(w, r, v, apiResult{Status: http.StatusBadGateway})
		return
	}
	page.Items = out.Items
	if out.NextCursor != nil {
		next := url.Values{}
		for k, vals := range q {
			if k != "cursor" {
				next[k] = vals
			}
		}
		next.Set("cursor", *out.NextCursor)
		page.Next = "/carpeta/transfers?" + next.Encode()
	}
	v.Data = page
	p.render(w, r, http.StatusOK, "transfers", v)
}

type consentsPage struct {
	Items []types.ConsentV1
	// Offers are what she may consent to: each requester's procedures and
	// the purposes the catalog lets them use.
	Offers      []consentOffer
	AllServices []string
	// Names are the requesting organisations' names, by NIF.
	Names map[string]string
}

type consentOffer struct {
	Requester, RequesterName, Procedure, ProcedureName string
	Services, Purposes                                 []string
}

// myConsents answers GET /carpeta/consents.
func (p *Pages) myConsents(w http.ResponseWriter, r *http.Request) {
	v, ok := p.signedIn(w, r, auth.RoleCitizen)
	if !ok {
		return
	}
	p.consentsPage(w, r, v, http.StatusOK)
}

func (p *Pages) consentsPage(w http.ResponseWriter, r *http.Request, v *view, status int) {
	v.Title = v.T("consents.title")
	res := p.call(r.Context(), v.Session.Principal, http.MethodGet, "/v1/me/consents", nil, "")
	if !res.OK() {
		p.fail(w, r, v, res)
		return
	}
	var list types.ConsentListV1
	_ = res.decode(&list)
	page := consentsPage{Items: list.Items, AllServices: p.cfg.Catalog.ServiceNames(), Names: map[string]string{}}
	for org, a := range p.cfg.Catalog.Authorisations {
		page.Names[org] = a.Name
	}
	for _, pr := range p.procedures() {
		page.Offers = append(page.Offers, consentOffer{Requester: pr.Org, RequesterName: pr.OrgName, Procedure: pr.Code, ProcedureName: pr.Name, Services: pr.Services, Purposes: pr.Purposes})
	}
	v.Data = page
	p.render(w, r, status, "consents", v)
}

// createConsent answers POST /carpeta/consents: one consent for a
// requester's procedure, its services, purpose and end date, through POST
// /v1/me/consents.
func (p *Pages) createConsent(w http.ResponseWriter, r *http.Request) {
	p.carpetaChange(w, r, http.MethodPost, "/v1/me/consents", consentRequest, p.consentsPage, "/carpeta/consents?done=consent_created")
}

// consentRequest is the body of POST /v1/me/consents from the form: the
// offer names requester/procedure|purpose, the end date is a day in
// Madrid's time, to its last second.
func consentRequest(r *http.Request) any {
	offer, purpose, _ := strings.Cut(r.PostFormValue("offer"), "|")
	requester, procedure, _ := strings.Cut(offer, "/")
	expires := r.PostFormValue("expires")
	req := map[string]any{"requester": requester, "procedure": procedure, "services": r.PostForm["services"], "purpose": purpose}
	if t, err := time.ParseInLocation(time.DateOnly, expires, madrid); err == nil {
		req["expires_at"] = t.AddDate(0, 0, 1).Add(-time.Second).UTC().Format(time.RFC3339)
	} else {
		req["expires_at"] = expires
	}
	return req
}

// revokeConsent answers POST /carpeta/consents/{id}/revoke.
func (p *Pages) revokeConsent(w http.ResponseWriter, r *http.Request) {
	p.carpetaChange(w, r, http.MethodDelete, "/v1/me/consents/"+url.PathEscape(chi.URLParam(r, "id")), nil, p.consentsPage, "/carpeta/consents?done=consent_revoked")
}

// carpetaChange makes one change of hers through the API (a form with her
// token; body, when not nil, makes the request's body from the form):
// made, a redirect to done; refused, the page again (again) with the
// refusal.
func (p *Pages) carpetaChange(w http.ResponseWriter, r *http.Request, method, apiPath string, body func(*http.Request) any,
	again func(http.ResponseWriter, *http.Request, *view, int), done string) {
	v, ok := p.changing(w, r, auth.RoleCitizen)
	if !ok {
		return
	}
	var req any
	if body != nil {
		req = body(r)
	}
	res := p.call(r.Context(), v.Session.Principal, method, apiPath, req, "")
	if !res.OK() {
		v.Problem = res.Problem()
		again(w, r, v, res.Status)
		return
	}
	redirect(w, r, done)
}

type objectionsPage struct {
	Items      []types.ObjectionV1
	Services   []string
	Procedures []string
}

// myObjections answers GET /carpeta/objections.
func (p *Pages) myObjections(w http.ResponseWriter, r *http.Request) {
	v, ok := p.signedIn(w, r, auth.RoleCitizen)
	if !ok {
		return
	}
	p.objectionsPage(w, r, v, http.StatusOK)
}

func (p *Pages) objectionsPage(w http.ResponseWriter, r *http.Request, v *view, status int) {
	v.Title = v.T("objections.title")
	res := p.call(r.Context(), v.Session.Principal, http.MethodGet, "/v1/me/objections", nil, "")
	if !res.OK() {
		p.fail(w, r, v, res)
		return
	}
	var list types.ObjectionListV1
	_ = res.decode(&list)
	page := objectionsPage{Items: list.Items, Services: p.cfg.Catalog.ServiceNames()}
	for _, pr := range p.procedures() {
		page.Procedures = append(page.Procedures, pr.Code)
	}
	slices.Sort(page.Procedures)
	page.Procedures = slices.Compact(page.Procedures)
	v.Data = page
	p.render(w, r, status, "objections", v)
}

// createObjection answers POST /carpeta/objections.
func (p *Pages) createObjection(w http.ResponseWriter, r *http.Request) {
	p.carpetaChange(w, r, http.MethodPost, "/v1/me/objections", func(r *http.Request) any {
		return map[string]any{"service": r.PostFormValue("service"), "procedure": r.PostFormValue("procedure")}
	}, p.objectionsPage, "/carpeta/objections?done=objection_recorded")
}

// withdrawObjection answers POST /carpeta/objections/{id}/withdraw.
func (p *Pages) withdrawObjection(w http.ResponseWriter, r *http.Request) {
	p.carpetaChange(w, r, http.MethodDelete, "/v1/me/objections/"+url.PathEscape(chi.URLParam(r, "id")), nil, p.objectionsPage, "/carpeta/objections?done=objection_withdrawn")
}

type transferPage struct {
	Transfer types.CitizenTransferV1
	// Receipt is the record's place in the transfer log, when sealed.
	Receipt *translog.Receipt
	// Verified is the checkpoint the receipt verifies against with the
	// node's log key; VerifyError why it does not. Both empty when the node
	// has no key to check with.
	Verified    *translog.Checkpoint
	VerifyError string
	// Pending: the record is not sealed yet (a second or so).
	Pending bool
}

// myTransfer answers GET /carpeta/transfers/{id}: one consultation of her
// data (GET /v1/me/transfers/{id}), and its receipt from the transfer log (GET
// /v1/me/transfers/{id}/proof), checked here against the log's key: the
// proof that the record is in the log every auditor verifies, and cannot
// be taken out of it unnoticed.
func (p *Pages) myTransfer(w http.ResponseWriter, r *http.Request) {
	v, ok := p.signedIn(w, r, auth.RoleCitizen)
	if !ok {
		return
	}
	v.Title = v.T("transfer.title")
	id := chi.URLParam(r, "id")
	var page transferPage
	one := p.call(r.Context(), v.Session.Principal, http.MethodGet, "/v1/me/transfers/"+url.PathEscape(id), nil, "")
	if one.Status == http.StatusNotFound {
		p.notFound(w, r)
		return
	}
	if !one.OK() || one.decode(&page.Transfer) != nil {
		p.fail(w, r, v, one)
		return
	}
	res := p.call(r.Context(), v.Session.Principal, http.MethodGet, "/v1/me/transfers/"+url.PathEscape(id)+"/proof", nil, "")
	switch {
	case res.OK():
		var rc translog.Receipt
		if err := res.decode(&rc); err == nil {
			page.Receipt = &rc
			if p.cfg.LogKey != nil {
				if cp, err := rc.Verify(p.cfg.LogKey, nil, 0); err != nil {
					page.VerifyError = err.Error()
				} else {
					page.Verified = &cp
				}
			}
		}
	case res.Status == http.StatusNotFound:
		page.Pending = true
	}
	v.Data = page
	p.render(w, r, http.StatusOK, "transfer", v)
}
