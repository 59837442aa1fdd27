package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/pontexchange/pont/exchange/api/types"
	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/citizens"
	"github.com/pontexchange/pont/exchange/envelope"
	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/pipeline"
	"github.com/pontexchange/pont/exchange/quota"
	"github.com/pontexchange/pont/exchange/store"
)

// citizenRoutes are the carpeta's: a citizen's own data, who consulted it,
// her consents and objections. Every handler takes the subject from the
// token, never from the request.
func (s *server) citizenRoutes(r chi.Router) {
	r.Use(requireRole(s.log, auth.RoleCitizen))
	// Her reads of her data count against her quota in the pipeline,
	// which records a refusal like any other; the rest count here.
	r.Get("/data/{service}", s.myData)
	r.Group(func(r chi.Router) {
		r.Use(s.withinQuota(quota.Citizen))
		r.Get("/transfers", s.myTransfers)
		r.Get("/transfers/{id}", s.myTransfer)
		if s.cfg.Log != nil {
			r.Get("/transfers/{id}/proof", s.myProof)
		}
		r.Post("/consents", s.createConsent)
		r.Get("/consents", s.listConsents)
		r.Delete("/consents/{id}", s.revokeConsent)
		r.Post("/objections", s.createObjection)
		r.Get("/objections", s.listObjections)
		r.Delete("/objections/{id}", s.deleteObjection)
	})
}

// myTransferFilters are the query parameters of GET /v1/me/transfers.
var myTransferFilters = map[string]bool{"service": true, "from": true, "to": true, "limit": true, "cursor": true}

// myTransfers answers GET /v1/me/transfers: every transfer of her own data.
func (s *server) myTransfers(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	q, err := strictQuery(r.URL.RawQuery)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	for name := range q {
		if !myTransferFilters[name] {
			writeProblem(w, r, s.log, invalid(name, "is not a filter of this list (service, from, to, limit, cursor)"))
			return
		}
	}
	f, _, err := parseSearch(q, maxPageLimit, s.cursors)
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
	out := types.CitizenTransferPageV1{Items: make([]types.CitizenTransferV1, 0, len(page.Items))}
	for _, t := range page.Items {
		out.Items = append(out.Items, s.citizenTransferV1(t))
	}
	if page.Next != nil {
		c := s.cursors.encode(*page.Next)
		out.NextCursor = &c
	}
	writeJSON(w, http.StatusOK, out)
}

// citizenTransferV1 is t as her carpeta shows it.
func (s *server) citizenTransferV1(t store.Transfer) types.CitizenTransferV1 {
	return types.CitizenTransferV1{
		ID: t.ID, Time: t.Time.UTC(), Kind: t.Kind,
		Requester: t.RequesterOrg, RequesterName: s.cfg.Catalog.Authorisations[t.RequesterOrg].Name,
		OfficialName: t.OfficialName, Procedure: t.ProcedureCode, ProcedureName: t.ProcedureName,
		Purpose: t.Purpose, LegalBasis: t.LegalBasis, LawReference: t.LawReference, ConsentID: t.ConsentID,
		Service: t.Service, Decision: t.Decision, Outcome: t.Outcome, Reasons: reasonsV1(t.Reasons),
	}
}

// myTransfer answers GET /v1/me/transfers/{id}: one transfer of her own
// data; another citizen's is not found.
func (s *server) myTransfer(w http.ResponseWriter, r *http.Request) {
	t, err := s.ownTransfer(r)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, s.citizenTransferV1(t))
}

// ownTransfer reads the transfer {id} of the request's path, hers only:
// another citizen's, or an id that could name none, is not found.
func (s *server) ownTransfer(r *http.Request) (store.Transfer, error) {
	p, _ := PrincipalFrom(r.Context())
	id := chi.URLParam(r, "id")
	if len(id) > maxTransferID || fault.SafeText(id) != id {
		return store.Transfer{}, notFound("no such transfer")
	}
	t, err := s.cfg.Transfers.GetTransfer(r.Context(), id)
	if err == nil && t.SubjectID != p.Sub {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Transfer{}, storeError(err)
	}
	return t, nil
}

// myData answers GET /v1/me/data/{service}: the citizen's own data, with
// the service's params as the query string. It is recorded as a self-access
// transfer.
func (s *server) myData(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	service := chi.URLParam(r, "service")
	params, err := selfAccessParams(r.URL.RawQuery)
	if err != nil {
		// Refused before it is a read, but an attempt all the same.
		writeProblem(w, r, s.log, s.cfg.Pipeline.Refuse(r.Context(), p, pipeline.KindSelfAccess, service, err))
		return
	}
	ans, err := s.cfg.Pipeline.SelfAccess(r.Context(), p, service, params)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	writeAnswer(w, ans)
}

// selfAccessParams reads a self-access's params from its query string,
// each given once.
func selfAccessParams(raw string) (envelope.Params, error) {
	q, err := strictQuery(raw)
	if err != nil {
		return envelope.Params{}, err
	}
	params := make(map[string]string, len(q))
	for name, values := range q {
		if len(values) != 1 {
			return envelope.Params{}, invalid("params."+name, "must be given once")
		}
		params[name] = values[0]
	}
	return envelope.StringParams(params), nil
}

func (s *server) createConsent(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	var req citizens.ConsentRequest
	if err := decodeStrict(w, r, &req); err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	c, err := s.cfg.Citizens.CreateConsent(r.Context(), p.Sub, req)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	w.Header().Set("Location", "/v1/me/consents/"+c.ID)
	writeJSON(w, http.StatusCreated, consentV1(c))
}

func (s *server) listConsents(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	cs, err := s.cfg.Citizens.Consents(r.Context(), p.Sub)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	out := types.ConsentListV1{Items: make([]types.ConsentV1, len(cs))}
	for i, c := range cs {
		out.Items[i] = consentV1(c)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) revokeConsent(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	c, err := s.cfg.Citizens.RevokeConsent(r.Context(), p.Sub, chi.URLParam(r, "id"))
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, consentV1(c))
}

func (s *server) createObjection(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	var req citizens.ObjectionRequest
	if err := decodeStrict(w, r, &req); err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	o, err := s.cfg.Citizens.CreateObjection(r.Context(), p.Sub, req)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	w.Header().Set("Location", "/v1/me/objections/"+o.ID)
	writeJSON(w, http.StatusCreated, objectionV1(o))
}

func (s *server) listObjections(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	objs, err := s.cfg.Citizens.Objections(r.Context(), p.Sub)
	if err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	out := types.ObjectionListV1{Items: make([]types.ObjectionV1, len(objs))}
	for i, o := range objs {
		out.Items[i] = objectionV1(o)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) deleteObjection(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	if err := s.cfg.Citizens.DeleteObjection(r.Context(), p.Sub, chi.URLParam(r, "id")); err != nil {
		writeProblem(w, r, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// maxCitizenBody caps the body of a consent or objection.
const maxCitizenBody = 16 << 10

// decodeStrict reads a JSON object body into v, whose members are the
// JSON names of v's fields: one object and nothing after it, each member
// spelt exactly and given once (see envelope.CheckObject), every field of
// the right JSON type.
func decodeStrict(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := readBody(w, r, maxCitizenBody)
	if err != nil {
		return err
	}
	if bad := envelope.CheckObject(body, jsonNames(v)); len(bad) > 0 {
		return fault.Invalid(fault.InvalidRequest, bad...)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fault.Invalid(fault.InvalidRequest, fault.FieldError{Field: "body", Message: jsonProblem(err)})
	}
	return nil
}

// jsonNames lists the JSON member names of the struct v points to.
func jsonNames(v any) []string {
	t := reflect.TypeOf(v).Elem()
	names := make([]string, 0, t.NumField())
	for f := range t.Fields() {
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
			names = append(names, name)
		}
	}
	return names
}

// jsonProblem says what is wrong with a body in words that name the field.
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return typeErr.Field + " must be a JSON " + typeErr.Type.Kind().String()
	}
	return "is not the expected JSON object: " + err.Error()
}

// consentV1 is a stored consent on the wire.
func consentV1(c store.Consent) types.ConsentV1 {
	var revoked *time.Time
	if c.RevokedAt != nil {
		t := c.RevokedAt.UTC()
		revoked = &t
	}
	return types.ConsentV1{
		ID: c.ID, Subject: c.Subject, Requester: c.Requester, Procedure: c.Procedure,
		Services: c.Services, Purpose: c.Purpose,
		CreatedAt: c.CreatedAt.UTC(), ExpiresAt: c.ExpiresAt.UTC(), RevokedAt: revoked,
	}
}

// objectionV1 is a stored objection on the wire.
func objectionV1(o store.Objection) types.ObjectionV1 {
	return types.ObjectionV1{ID: o.ID, Subject: o.Subject, Service: o.Service, Procedure: o.Procedure, CreatedAt: o.CreatedAt.UTC()}
}
