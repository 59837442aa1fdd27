package api

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/envelope"
	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/jobs"
	"github.com/pontexchange/pont/exchange/pipeline"
	"github.com/pontexchange/pont/exchange/quota"
	"github.com/pontexchange/pont/exchange/scsp"
	"github.com/pontexchange/pont/exchange/scsp/schemas"
	"github.com/pontexchange/pont/exchange/scsp/wssec"
	"github.com/pontexchange/pont/exchange/store"
)

// SCSPDoor turns on the SCSP v3 SOAP door: POST /scsp/v3/{CODE}, one
// endpoint per certificate code of the catalog's services.
type SCSPDoor struct {
	// Roots are the certificate authorities whose certificates identify
	// requesting organisations (a sello de órgano names its organisation's
	// NIF: wssec.OrganisationOf).
	Roots *x509.CertPool
	// Cert and Key sign the node's answers.
	Cert *x509.Certificate
	Key  crypto.Signer
	// AnswerTTL is how long an answer's signed Timestamp is valid.
	// Defaults to 5 minutes.
	AnswerTTL time.Duration
}

// scspRoutes mounts the SOAP door on r. It takes no token: the request's
// WS-Security signature is its credential.
func (s *server) scspRoutes(r chi.Router) {
	r.Post("/scsp/v3/{code}", s.scspRequest)
	r.Get("/scsp/v3/{code}", s.scspWSDL)
	r.Get("/scsp/v3/{code}/schemas/{file}", s.scspSchema)
}

// scspRequest answers a request to an SCSP v3 endpoint: its signature is
// checked first, then the operation it asks for is served (scsp.Operation:
// the SOAPAction header, else the Body's element). A synchronous Peticion's
// one SolicitudTransmision is mapped onto Pont's envelope and answered
// through the pipeline exactly as a JSON query (recorded before it is
// answered); an asynchronous one of up to 1000 becomes a job
// (scspSubmit); a SolicitudRespuesta fetches a job's answer (scspFetch).
// Every answer is signed; every refusal is a SOAP fault with SCSP
// Atributos/Estado.
func (s *server) scspRequest(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	var atr scsp.Atributos
	refuse := func(err error) {
		writeSOAP(w, scsp.HTTPStatus(err), scsp.Fault(err, atr, now))
	}
	code := chi.URLParam(r, "code")
	service := s.serviceOfCertificate(code)
	if service == "" {
		refuse(fault.New(fault.UnknownService, "no service of this node answers certificate %q (GET /v1/catalog/services lists them)", fault.SafeText(code)))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, wssec.MaxEnvelopeBytes))
	if err != nil {
		refuse(fault.Invalid(fault.InvalidRequest, fault.FieldError{Field: "body", Message: "could not be read, or is larger than the limit of " + itoa(wssec.MaxEnvelopeBytes) + " bytes"}))
		return
	}
	verified, err := wssec.Verify(body, s.cfg.SCSP.Roots, now)
	if err != nil {
		refuse(fault.Wrap(fault.Unauthenticated, err, "the request's WS-Security signature is not valid: %s", fault.SafeText(err.Error())))
		return
	}
	org, ok := wssec.OrganisationOf(verified.Certificate)
	if !ok {
		refuse(fault.New(fault.Unauthenticated, "the signing certificate names no organisation's NIF (organizationIdentifier VATES-<NIF> or serialNumber)"))
		return
	}
	// From here the requester is known: every refusal is recorded, as a
	// refused JSON query is, naming the SCSP request as far as it was read.
	principal := auth.Principal{Role: auth.RoleRequester, Org: org, Sub: "scsp:" + fault.SafeText(verified.Certificate.Subject.CommonName)}
	var origin pipeline.Origin
	refuseRecorded := func(err error) {
		refuse(s.cfg.Pipeline.RefuseFrom(r.Context(), principal, pipeline.KindQuery, service, origin, err))
	}
	// Only the Body that was signed is read: never the envelope around
	// it, where a forged Body could wait.
	envelope := soapEnvelope(verified.Body)
	op, err := scsp.Operation(r.Header.Get("SOAPAction"), envelope)
	if err != nil {
		refuseRecorded(err)
		return
	}
	if op == scsp.OpFetch {
		s.scspFetch(w, r, principal, code, envelope, now)
		return
	}
	p, err := scsp.ParsePeticion(envelope)
	if p != nil {
		atr = p.Atributos
		origin.SCSPRequestID = p.Atributos.IdPeticion
		if len(p.Solicitudes.SolicitudTransmision) > 0 {
			origin.SCSPSolicitudID = p.Solicitudes.SolicitudTransmision[0].DatosGenericos.Transmision.IdSolicitud
		}
	}
	if err != nil {
		refuseRecorded(err)
		return
	}
	if p.Atributos.CodigoCertificado != code {
		refuseRecorded(fault.Invalid(fault.InvalidRequest, fault.FieldError{Field: "Atributos/CodigoCertificado", Message: "is " + fault.SafeText(p.Atributos.CodigoCertificado) + ", not this endpoint's " + code}))
		return
	}
	n := len(p.Solicitudes.SolicitudTransmision)
	switch {
	case op == scsp.OpSync && n != 1:
		refuseRecorded(fault.New(fault.TooManySubjects, "a synchronous request holds one SolicitudTransmision, not %d: send more as %s", n, scsp.OpAsync))
		return
	case op == scsp.OpAsync && (s.cfg.Jobs == nil || !scspAsyncCertificate(code)):
		refuseRecorded(scsp.NotServed(scsp.OpAsync))
		return
	}
	req, err := p.Queries(s.cfg.Catalog, s.consentFor(r.Context()))
	if err != nil {
		refuseRecorded(err)
		return
	}
	if req.Requester != org {
		// A valid signature of another organisation: it is known who
		// asks, and that it may not ask in another's name (SCSP 0301).
		refuseRecorded(fault.New(fault.Forbidden, "the request names requester %s but is signed with the certificate of %s: an organisation asks in its own name only", fault.SafeText(req.Requester), org))
		return
	}
	if err := s.scspUnused(r.Context(), org, origin.SCSPRequestID); err != nil {
		if fault.CodeOf(err) == fault.StoreUnavailable {
			refuse(err)
		} else {
			refuseRecorded(err)
		}
		return
	}
	if op == scsp.OpAsync {
		s.scspSubmit(w, r, principal, p, verified.Body, req, now, refuseRecorded)
		return
	}
	ans, err := s.cfg.Pipeline.QueryParsedWith(r.Context(), principal, req.Service, req.Queries[0], origin)
	if err != nil {
		refuse(err)
		return
	}
	doc, err := p.Respuesta([]scsp.Result{{TransferID: ans.TransferID, Data: ans.Data}}, now)
	if err != nil {
		refuse(err)
		return
	}
	s.writeSigned(w, doc, now, refuse)
}

// scspUnused refuses an IdPeticion its requester used before (SCSP 0229):
// an IdPeticion names one request for good, so a replay within the
// Timestamp's minutes is not answered twice. It is looked for among the
// records (a synchronous request) and the jobs (an asynchronous one); two
// asynchronous requests with one IdPeticion are told apart by the store
// itself, as one job's key. Two synchronous copies arriving in the same
// instant may both pass this look-up; each is recorded all the same.
func (s *server) scspUnused(ctx context.Context, org, id string) error {
	used := func() error {
		return fault.New(fault.IdempotencyKeyReused, "IdPeticion %s was already used by %s: a new request needs a new IdPeticion", fault.SafeText(id), org)
	}
	seen, err := s.cfg.Transfers.SearchTransfers(ctx, store.Filter{Requester: org, SCSPRequestID: id, Limit: 1})
	if err != nil {
		return fault.Wrap(fault.StoreUnavailable, err, "the transfer log could not be read")
	}
	if len(seen.Items) > 0 {
		return used()
	}
	if s.cfg.Jobs != nil {
		_, err := s.cfg.Jobs.ByKey(ctx, auth.Principal{Org: org}, jobs.SCSPKey(id))
		switch fault.CodeOf(err) {
		case "":
			return used()
		case fault.NotFound:
		default:
			return err
		}
	}
	return nil
}

// scspSubmit makes an asynchronous Peticion a job, one element per
// SolicitudTransmision, keyed by its IdPeticion, and acknowledges it with
// a signed ConfirmacionPeticion whose TiempoEstimadoRespuesta is the job's
// estimate. The submission is one request of the organisation's quota, as
// a JSON job's; its elements are paced by the jobs' own limits.
func (s *server) scspSubmit(w http.ResponseWriter, r *http.Request, principal auth.Principal, p *scsp.Peticion, body []byte, req *scsp.Request, now time.Time, refuseRecorded func(error)) {
	if s.cfg.Quota != nil {
		if err := s.cfg.Quota.Check(quota.Requester, principal.Org); err != nil {
			refuseRecorded(err)
			return
		}
	}
	sols := p.Solicitudes.SolicitudTransmision
	ids := make([]string, len(sols))
	for i := range sols {
		ids[i] = sols[i].DatosGenericos.Transmision.IdSolicitud
	}
	acc, err := s.cfg.Jobs.Submit(r.Context(), jobs.Request{
		Principal: principal, Service: req.Service, Elements: req.Queries, Body: body,
		IdempotencyKey: jobs.SCSPKey(p.Atributos.IdPeticion),
		SCSP:           &jobs.SCSPOrigin{RequestID: p.Atributos.IdPeticion, SolicitudIDs: ids, Peticion: body},
	})
	if err == nil && acc.Repeated {
		// The same request again, sent while the first was accepted:
		// SCSP answers a used IdPeticion with 0229 whatever it holds.
		err = fault.New(fault.IdempotencyKeyReused, "IdPeticion %s was already used by %s: a new request needs a new IdPeticion", fault.SafeText(p.Atributos.IdPeticion), principal.Org)
	}
	if err != nil {
		if c := fault.CodeOf(err); c == fault.StoreUnavailable || c == fault.Internal {
			writeSOAP(w, scsp.HTTPStatus(err), scsp.Fault(err, p.Atributos, now))
		} else {
			refuseRecorded(err)
		}
		return
	}
	s.writeSigned(w, p.ConfirmacionPeticion(acc.EstimatedAt.Sub(now), now), now, func(err error) {
		writeSOAP(w, scsp.HTTPStatus(err), scsp.Fault(err, p.Atributos, now))
	})
}

// scspFetch answers a SolicitudRespuesta: the Respuesta of principal's
// asynchronous Peticion once every element is done, each element's
// DatosEspecificos from its result (or its refusal's code and text), or,
// while it is in process, a Respuesta with state 0002 and a new
// TiempoEstimadoRespuesta. The answers were recorded as each element ran:
// fetching them records nothing new.
func (s *server) scspFetch(w http.ResponseWriter, r *http.Request, principal auth.Principal, code string, envelope []byte, now time.Time) {
	var atr scsp.Atributos
	refuse := func(err error) {
		writeSOAP(w, scsp.HTTPStatus(err), scsp.Fault(err, atr, now))
	}
	sr, err := scsp.ParseSolicitudRespuesta(envelope)
	if sr != nil {
		atr = scsp.Atributos{IdPeticion: sr.Atributos.IdPeticion, CodigoCertificado: sr.Atributos.CodigoCertificado}
	}
	switch {
	case err != nil:
		refuse(err)
		return
	case sr.Atributos.CodigoCertificado != code:
		refuse(fault.Invalid(fault.InvalidRequest, fault.FieldError{Field: "SolicitudRespuesta/Atributos/CodigoCertificado", Message: "is " + fault.SafeText(sr.Atributos.CodigoCertificado) + ", not this endpoint's " + code}))
		return
	case s.cfg.Jobs == nil || !scspAsyncCertificate(code):
		refuse(scsp.NotServed(scsp.OpFetch))
		return
	}
	job, err := s.cfg.Jobs.ByKey(r.Context(), principal, jobs.SCSPKey(sr.Atributos.IdPeticion))
	if fault.CodeOf(err) == fault.NotFound {
		err = fault.New(fault.NotFound, "%s sent no asynchronous request with IdPeticion %s to this node", principal.Org, fault.SafeText(sr.Atributos.IdPeticion))
	}
	if err != nil {
		refuse(err)
		return
	}
	if job.Service != s.serviceOfCertificate(code) {
		refuse(fault.Invalid(fault.InvalidRequest, fault.FieldError{Field: "SolicitudRespuesta/Atributos/CodigoCertificado", Message: "names another certificate than the request's"}))
		return
	}
	if !job.Finished() {
		s.writeSigned(w, sr.Pending(job.Total, s.cfg.Jobs.Estimate(job).Sub(now), now), now, refuse)
		return
	}
	raw, err := s.cfg.Jobs.Peticion(r.Context(), job)
	if err == nil && raw == nil {
		err = fault.New(fault.NotFound, "the answer to IdPeticion %s was deleted at the end of its retention", fault.SafeText(sr.Atributos.IdPeticion))
	}
	if err != nil {
		refuse(err)
		return
	}
	p, err := scsp.ParsePeticion(soapEnvelope(raw))
	if err != nil {
		refuse(fault.Wrap(fault.Internal, err, "the stored request could not be read"))
		return
	}
	elements, err := s.cfg.Jobs.Results(r.Context(), job, 0, 0)
	if err != nil {
		refuse(err)
		return
	}
	results, err := scspResults(elements, len(p.Solicitudes.SolicitudTransmision))
	if err != nil {
		refuse(err)
		return
	}
	doc, err := p.Respuesta(results, now)
	if err != nil {
		refuse(err)
		return
	}
	s.writeSigned(w, doc, now, refuse)
}

// scspResults turns a finished job's elements into the Respuesta's
// results: an answered element's data, or a refused or failed one's SCSP
// code and problem text.
func scspResults(elements []store.JobElement, n int) ([]scsp.Result, error) {
	if len(elements) != n || elements == nil {
		return nil, fault.New(fault.Internal, "the job has %d results for %d elements", len(elements), n)
	}
	results := make([]scsp.Result, n)
	for i, e := range elements {
		if e.Result == nil {
			return nil, fault.New(fault.NotFound, "the results were deleted at the end of their retention")
		}
		results[i].TransferID = e.TransferID
		if e.Outcome == pipeline.OutcomeOK {
			var a struct {
				Data json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(e.Result, &a); err != nil {
				return nil, fault.Wrap(fault.Internal, err, "the result of element %d could not be read", i)
			}
			results[i].Data = a.Data
			continue
		}
		var prob fault.Problem
		_ = json.Unmarshal(e.Result, &prob) // a problem the runner wrote; its text is all that is read
		results[i].Code, results[i].Literal = e.SCSPCode, prob.Detail
		if results[i].Code == "" {
			results[i].Code = scsp.CodeUndefined
		}
		if results[i].Literal == "" {
			results[i].Literal = prob.Title
		}
	}
	return results, nil
}

// scspAsyncCertificate reports whether certificate code has an
// asynchronous mode: its published schemas include the
// ConfirmacionPeticion's and the SolicitudRespuesta's (the benefits
// certificate Q2827002CINSS001 is synchronous only).
func scspAsyncCertificate(code string) bool {
	dir, err := schemas.Files(code, schemas.Older)
	if err != nil {
		return false
	}
	files := scspSchemaFiles(dir)
	return files[xsdConfirmacion] && files[xsdSolicitud]
}

// writeSigned signs doc with the node's certificate and writes it; refuse
// answers when it cannot be signed.
func (s *server) writeSigned(w http.ResponseWriter, doc []byte, now time.Time, refuse func(error)) {
	door := s.cfg.SCSP
	ttl := door.AnswerTTL
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	signed, err := wssec.Sign(doc, door.Cert, door.Key, now, ttl)
	if err != nil {
		s.log.Warn("scsp: the answer could not be signed", "error", err.Error())
		refuse(fault.Wrap(fault.Internal, err, "the answer could not be signed"))
		return
	}
	writeSOAP(w, http.StatusOK, signed)
}

// serviceOfCertificate names the catalog service that answers the SCSP
// certificate code, or "" when none does.
func (s *server) serviceOfCertificate(code string) string {
	if svc, ok := s.cfg.Catalog.ServiceOfCertificate(code); ok {
		return svc.Name
	}
	return ""
}

// consentFor finds, for an element whose Consentimiento is Si, the consent
// the citizen recorded for its requester, procedure, service and purpose,
// unexpired and unrevoked; the policy checks it again, as for any query.
func (s *server) consentFor(ctx context.Context) scsp.ConsentFinder {
	return func(requester, service string, q envelope.Query) (string, error) {
		consents, err := s.cfg.Citizens.Consents(ctx, q.Subject.ID)
		if err != nil {
			return "", err
		}
		now := time.Now()
		for _, c := range consents {
			if c.Requester == requester && c.Procedure == q.Procedure.Code && c.Purpose == q.Purpose &&
				slices.Contains(c.Services, service) && c.RevokedAt == nil && c.ExpiresAt.After(now) {
				return c.ID, nil
			}
		}
		return "", nil
	}
}

// soapEnvelope wraps a verified Body (its canonical form, which declares
// the namespaces it uses) in an envelope of its own for the parser.
func soapEnvelope(body []byte) []byte {
	out := make([]byte, 0, len(body)+128)
	out = append(out, `<soapenv:Envelope xmlns:soapenv="`+scsp.NSSOAP+`">`...)
	out = append(out, body...)
	return append(out, `</soapenv:Envelope>`...)
}

func writeSOAP(w http.ResponseWriter, status int, doc []byte) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(doc)
}

var errNoDoor = errors.New("api: the SCSP door needs Roots, Cert and Key")
