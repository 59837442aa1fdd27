package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/store"
)

// citizenRoutes are the carpeta's: a citizen's own data, who consulted it,
// her consents and objections. Every handler takes the subject from the
// token, never from the request.
func (s *server) citizenRoutes(r chi.Router) {
	r.Use(requireRole(s.log, auth.RoleCitizen))
	r.Get("/transfers", s.myTransfers)
	r.Get("/data/{service}", s.myData)
	r.Post("/consents", s.createConsent)
	r.Get("/consents", s.listConsents)
	r.Delete("/consents/{id}", s.revokeConsent)
	r.Post("/objections", s.createObjection)
	r.Get("/objections", s.listObjections)
	r.Delete("/objections/{id}", s.deleteObjection)
}

// myTransfer is a transfer of the citizen's data as her carpeta shows it:
// who asked, when, what for and on which basis, and what was decided.
type myTransfer struct {
	ID            string         `json:"id"`
	Time          time.Time      `json:"time"`
	Kind          string         `json:"kind"`
	Requester     string         `json:"requester,omitempty"`
	RequesterName string         `json:"requester_name,omitempty"`
	OfficialName  string         `json:"official_name,omitempty"`
	Procedure     string         `json:"procedure,omitempty"`
	ProcedureName string         `json:"procedure_name,omitempty"`
	Purpose       string         `json:"purpose,omitempty"`
	LegalBasis    string         `json:"legal_basis,omitempty"`
	LawReference  string         `json:"law_reference,omitempty"`
	ConsentID     string         `json:"consent_id,omitempty"`
	Service       string         `json:"service"`
	Decision      string         `json:"decision"`
	Outcome       string         `json:"outcome"`
	Reasons       []store.Reason `json:"reasons,omitempty"`
}

// myTransferFilters are the query parameters of GET /v1/me/transfers.
var myTransferFilters = map[string]bool{"service": true, "from": true, "to": true, "limit": true, "cursor": true}

// myTransfers answers GET /v1/me/transfers: every transfer of her own data.
func (s *server) myTransfers(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	for name := range r.URL.Query() {
		if !myTransferFilters[name] {
			writeProblem(w, r, s.log, invalid(name, "is not a filter of this list (service, from, to, limit, cursor)"))
			return
		}
	}
	f, err := parseFilter(r, s.cursors)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	f.Subject = p.Sub // hers, whatever the request says
	page, err := s.cfg.Transfers.SearchTransfers(r.Context(), f)
	if err != nil {
		writeProblem(w, r, s.log, storeError(err))
		return
	}
	items := make([]myTransfer, 0, len(page.Items))
	for _, t := range page.Items {
		items = append(items, myTransfer{
			ID: t.ID, Time: t.Time, Kind: t.Kind,
			Requester: t.RequesterOrg, RequesterName: s.cfg.Catalog.Authorisations[t.RequesterOrg].Name,
			OfficialName: t.OfficialName, Procedure: t.ProcedureCode, ProcedureName: t.ProcedureName,
			Purpose: t.Purpose, LegalBasis: t.LegalBasis, LawReference: t.LawReference, ConsentID: t.ConsentID,
			Service: t.Service, Decision: t.Decision, Outcome: t.Outcome, Reasons: t.Reasons,
		})
	}
	out := map[string]any{"items": items, "next_cursor": nil}
	if page.Next != nil {
		out["next_cursor"] = s.cursors.encode(*page.Next)
	}
	writeJSON(w, http.StatusOK, out)
}

// myData answers GET /v1/me/data/{service}: the citizen's own data, with
// the service's params as the query string. It is recorded as a self-access
// transfer.
func (s *server) myData(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	params := map[string]string{}
	for name, values := range r.URL.Query() {
		if len(values) != 1 {
			writeProblem(w, r, s.log, invalid("params."+name, "must be given once"))
			return
		}
		params[name] = values[0]
	}
	raw, _ := json.Marshal(params)
	ans, err := s.cfg.Pipeline.SelfAccess(r.Context(), p, chi.URLParam(r, "service"), raw)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, ans)
}

// consentRequest is the body of POST /v1/me/consents.
type consentRequest struct {
	Subject   string   `json:"subject"` // optional; must be her own
	Requester string   `json:"requester"`
	Procedure string   `json:"procedure"`
	Services  []string `json:"services"`
	Purpose   string   `json:"purpose"`
	ExpiresAt string   `json:"expires_at"`
}

// maxConsentLife bounds a consent's expiry: consent for a procedure, not forever.
const maxConsentLife = 5 * 366 * 24 * time.Hour

func (s *server) createConsent(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	var req consentRequest
	if err := decodeStrict(w, r, &req); err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	now := time.Now().UTC()
	var bad []fault.FieldError
	add := func(field, msg string) { bad = append(bad, fault.FieldError{Field: field, Message: msg}) }
	if req.Subject != "" && req.Subject != p.Sub {
		writeProblem(w, r, s.log, fault.New(fault.Forbidden, "a citizen may record consent only in her own name"))
		return
	}
	switch org, ok := s.cfg.Catalog.Authorisations[req.Requester]; {
	case req.Requester == "":
		add("requester", "is required: the NIF of the organisation she allows to consult her data")
	case !ok:
		add("requester", "is not an organisation of the catalog")
	default:
		if req.Procedure != "" {
			if _, ok := org.Procedures[req.Procedure]; !ok {
				add("procedure", "is not a procedure of organisation "+req.Requester)
			}
		}
	}
	if req.Procedure == "" {
		add("procedure", "is required")
	}
	if len(req.Services) == 0 {
		add("services", "must list at least one service")
	}
	seen := map[string]bool{}
	for i, name := range req.Services {
		field := "services[" + strconv.Itoa(i) + "]"
		if _, ok := s.cfg.Catalog.Service(name); !ok {
			add(field, "is not a service of the catalog")
		} else if seen[name] {
			add(field, "is listed twice")
		}
		seen[name] = true
	}
	if _, ok := s.cfg.Catalog.Purposes[req.Purpose]; !ok {
		if req.Purpose == "" {
			add("purpose", "is required")
		} else {
			add("purpose", "is not a purpose of the catalog")
		}
	}
	expires, err := time.Parse(time.RFC3339, req.ExpiresAt)
	switch {
	case req.ExpiresAt == "":
		add("expires_at", "is required (RFC 3339, e.g. 2027-06-30T23:59:59Z)")
	case err != nil:
		add("expires_at", "must be an RFC 3339 time, e.g. 2027-06-30T23:59:59Z")
	case !expires.After(now):
		add("expires_at", "is in the past")
	case expires.Sub(now) > maxConsentLife:
		add("expires_at", "is more than five years ahead")
	}
	if len(bad) > 0 {
		sortFields(bad)
		writeProblem(w, r, s.log, fault.Invalid(fault.InvalidRequest, bad...))
		return
	}
	c := store.Consent{
		ID: newID(), Subject: p.Sub, Requester: req.Requester, Procedure: req.Procedure,
		Services: req.Services, Purpose: req.Purpose,
		CreatedAt: now.Truncate(time.Microsecond), ExpiresAt: expires.UTC().Truncate(time.Microsecond),
	}
	if err := s.cfg.Transfers.CreateConsent(r.Context(), c); err != nil {
		writeProblem(w, r, s.log, storeError(err))
		return
	}
	w.Header().Set("Location", "/v1/me/consents/"+c.ID)
	writeJSON(w, http.StatusCreated, c)
}

func (s *server) listConsents(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	cs, err := s.cfg.Transfers.ListConsents(r.Context(), p.Sub)
	if err != nil {
		writeProblem(w, r, s.log, storeError(err))
		return
	}
	if cs == nil {
		cs = []store.Consent{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": cs})
}

func (s *server) revokeConsent(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	c, err := s.cfg.Transfers.RevokeConsent(r.Context(), p.Sub, chi.URLParam(r, "id"), time.Now().UTC().Truncate(time.Microsecond))
	if err != nil {
		writeProblem(w, r, s.log, notFoundAs(err, "she has no consent with this id"))
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// objectionRequest is the body of POST /v1/me/objections.
type objectionRequest struct {
	Subject   string `json:"subject"` // optional; must be her own
	Service   string `json:"service"`
	Procedure string `json:"procedure"` // optional: every procedure when empty
}

func (s *server) createObjection(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	var req objectionRequest
	if err := decodeStrict(w, r, &req); err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	if req.Subject != "" && req.Subject != p.Sub {
		writeProblem(w, r, s.log, fault.New(fault.Forbidden, "a citizen may object only in her own name"))
		return
	}
	var bad []fault.FieldError
	if req.Service == "" {
		bad = append(bad, fault.FieldError{Field: "service", Message: "is required"})
	} else if _, ok := s.cfg.Catalog.Service(req.Service); !ok {
		bad = append(bad, fault.FieldError{Field: "service", Message: "is not a service of the catalog"})
	}
	if len(req.Procedure) > 20 {
		bad = append(bad, fault.FieldError{Field: "procedure", Message: "is longer than 20 characters"})
	}
	if len(bad) > 0 {
		writeProblem(w, r, s.log, fault.Invalid(fault.InvalidRequest, bad...))
		return
	}
	o, err := s.cfg.Transfers.CreateObjection(r.Context(), store.Objection{
		ID: newID(), Subject: p.Sub, Service: req.Service, Procedure: req.Procedure,
		CreatedAt: time.Now().UTC().Truncate(time.Microsecond),
	})
	if err != nil {
		writeProblem(w, r, s.log, storeError(err))
		return
	}
	w.Header().Set("Location", "/v1/me/objections/"+o.ID)
	writeJSON(w, http.StatusCreated, o)
}

func (s *server) listObjections(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	objs, err := s.cfg.Transfers.ListObjections(r.Context(), p.Sub)
	if err != nil {
		writeProblem(w, r, s.log, storeError(err))
		return
	}
	if objs == nil {
		objs = []store.Objection{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": objs})
}

func (s *server) deleteObjection(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	if err := s.cfg.Transfers.DeleteObjection(r.Context(), p.Sub, chi.URLParam(r, "id")); err != nil {
		writeProblem(w, r, s.log, notFoundAs(err, "she has no objection with this id"))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// decodeStrict reads a JSON object body into v, refusing unknown fields.
func decodeStrict(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := readBody(w, r, 16<<10)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytesReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fault.Invalid(fault.InvalidRequest, fault.FieldError{Field: "body", Message: jsonProblem(err)})
	}
	if dec.More() {
		return fault.Invalid(fault.InvalidRequest, fault.FieldError{Field: "body", Message: "has data after the JSON object"})
	}
	return nil
}

// jsonProblem says what is wrong with a body in words that name the field.
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return typeErr.Field + " must be a JSON " + typeErr.Type.Kind().String()
	}
	return "is not the expected JSON object: " + err.Error()
}

func notFoundAs(err error, msg string) error {
	if errors.Is(err, store.ErrNotFound) {
		return fault.New(fault.NotFound, "%s", msg)
	}
	return storeError(err)
}
