package api

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/envelope"
	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/pipeline"
	"github.com/pontexchange/pont/exchange/scsp"
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

// scspRequest answers one synchronous SCSP v3 Peticion: its signature is
// checked, its one SolicitudTransmision mapped onto Pont's envelope and
// answered through the pipeline exactly as a JSON query (recorded before
// it is answered), and the Respuesta signed. Every refusal is a SOAP fault
// with SCSP Atributos/Estado.
func (s *server) scspRequest(w http.ResponseWriter, r *http.Request) {
	door := s.cfg.SCSP
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
	verified, err := wssec.Verify(body, door.Roots, now)
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
	p, err := scsp.ParsePeticion(soapEnvelope(verified.Body))
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
	if n := len(p.Solicitudes.SolicitudTransmision); n != 1 {
		refuseRecorded(fault.New(fault.TooManySubjects, "a synchronous request holds one SolicitudTransmision, not %d", n))
		return
	}
	req, err := p.Queries(s.cfg.Catalog, s.consentFor(r.Context()))
	if err != nil {
		refuseRecorded(err)
		return
	}
	if req.Requester != org {
		refuseRecorded(fault.New(fault.Unauthenticated, "the request names requester %s but is signed with the certificate of %s", fault.SafeText(req.Requester), org))
		return
	}
	// An IdPeticion names one request of its requester for good (SCSP
	// 0229 when it comes again): a replay within the Timestamp's minutes
	// is not answered twice. Two copies arriving in the same instant may
	// both pass this look-up; each is recorded all the same.
	seen, err := s.cfg.Transfers.SearchTransfers(r.Context(), store.Filter{Requester: org, SCSPRequestID: origin.SCSPRequestID, Limit: 1})
	if err != nil {
		refuse(fault.Wrap(fault.StoreUnavailable, err, "the transfer log could not be read"))
		return
	}
	if len(seen.Items) > 0 {
		refuseRecorded(fault.New(fault.IdempotencyKeyReused, "IdPeticion %s was already used by %s: a new request needs a new IdPeticion", fault.SafeText(origin.SCSPRequestID), org))
		return
	}
	ans, err := s.cfg.Pipeline.QueryParsedWith(r.Context(), principal, req.Service, req.Queries[0], origin)
	if err != nil {
		refuse(err)
		return
	}
	doc, err := p.Respuesta(req.Service, []scsp.Result{{TransferID: ans.TransferID, Data: ans.Data}}, now)
	if err != nil {
		refuse(err)
		return
	}
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
	for _, name := range s.cfg.Catalog.ServiceNames() {
		if svc, _ := s.cfg.Catalog.Service(name); svc.SCSPCertificate == code {
			return name
		}
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
