package scsp

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/envelope"
	"github.com/pontexchange/pont/exchange/fault"
)

// Request is a Peticion read as Pont's queries.
type Request struct {
	// Requester is the requesting organisation's NIF, the
	// IdentificadorSolicitante of every element: the caller checks it
	// against the organisation of the client's certificate.
	Requester string
	// Service is the catalog's service that answers the request's
	// CodigoCertificado (catalog.Catalog.ServiceOfCertificate).
	Service string
	// Queries are the elements' envelopes, in the request's order, each
	// as envelope.Parse returned it.
	Queries []envelope.Query
}

// ConsentFinder returns the id of the consent the subject recorded that
// covers q (its requester, procedure, service and purpose) for an element
// whose Consentimiento is Si, or "" when there is none. SCSP's Si only says
// that the requester holds the citizen's consent; Pont needs the consent
// itself, recorded in the citizen's carpeta.
type ConsentFinder func(requester, service string, q envelope.Query) (consentID string, err error)

// orgID is SCSP's IdentificadorSolicitante, a public body's NIF.
var orgID = regexp.MustCompile(`^[A-Za-z][0-9]{7}[0-9A-Za-z]$`)

// Queries maps the request to Pont's envelopes: one query per
// SolicitudTransmision, all for the service of the request's
// CodigoCertificado and from one requester. Each element's DatosGenericos
// become the envelope (docs/scsp.md gives the mapping field by field) and
// its DatosEspecificos the params of the service; the envelope is then
// checked by envelope.Parse, as a JSON request is, so that both doors obey
// the same rules. consents resolves Consentimiento Si (nil: Si is refused
// with 0236).
//
// The request is taken or refused as a whole: the first element that
// cannot be mapped refuses it with an *Error naming the element, whose SCSP
// code is its own (0401, 0402, 0404) or that of the Pont code of the
// refusal (0231 for a bad document number, 0236 for a legal basis).
func (p *Peticion) Queries(cat *catalog.Catalog, consents ConsentFinder) (*Request, error) {
	cert := p.Atributos.CodigoCertificado
	svc, ok := cat.ServiceOfCertificate(cert)
	if !ok {
		return nil, newError(CodeSchema, "Peticion/Atributos/CodigoCertificado", "%q is not the certificate of a service of Pont's catalog", cert)
	}
	sols := p.Solicitudes.SolicitudTransmision
	r := &Request{Service: svc.Name, Queries: make([]envelope.Query, 0, len(sols))}
	for i := range sols {
		at := fmt.Sprintf("Peticion/Solicitudes/SolicitudTransmision[%d]", i+1)
		q, org, err := mapElement(cat, svc, cert, &sols[i], at, consents)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			r.Requester = org
		} else if org != r.Requester {
			return nil, newError(CodeSchema, at+"/DatosGenericos/Solicitante/IdentificadorSolicitante", "is %s, but the request's first element is from %s: one request, one requester", org, r.Requester)
		}
		r.Queries = append(r.Queries, q)
	}
	return r, nil
}

// fieldElements names, for each field of Pont's envelope, the SCSP
// element it comes from, below DatosGenericos.
var fieldElements = map[string]string{
	"procedure.code":         "Solicitante/Procedimiento/CodProcedimiento",
	"procedure.name":         "Solicitante/Procedimiento/NombreProcedimiento",
	"purpose":                "Solicitante/Finalidad",
	"legal_basis.type":       "Solicitante/Consentimiento",
	"legal_basis.reference":  "Solicitante/Finalidad",
	"legal_basis.consent_id": "Solicitante/Consentimiento",
	"case_id":                "Solicitante/IdExpediente",
	"official.id":            "Solicitante/Funcionario/NifFuncionario",
	"official.name":          "Solicitante/Funcionario/NombreCompletoFuncionario",
	"subject.id_type":        "Titular/TipoDocumentacion",
	"subject.id":             "Titular/Documentacion",
	"subject.name":           "Titular/Nombre",
	"subject.surname1":       "Titular/Apellido1",
	"subject.surname2":       "Titular/Apellido2",
}

func mapElement(cat *catalog.Catalog, svc *catalog.Service, cert string, st *SolicitudTransmision, at string, consents ConsentFinder) (envelope.Query, string, error) {
	g := &st.DatosGenericos
	gen := at + "/DatosGenericos"
	sol := &g.Solicitante
	if !orgID.MatchString(sol.IdentificadorSolicitante) {
		return envelope.Query{}, "", newError(CodeSchema, gen+"/Solicitante/IdentificadorSolicitante", "%q is not a public body's NIF (a letter, 7 digits and a check character)", sol.IdentificadorSolicitante)
	}
	org := strings.ToUpper(sol.IdentificadorSolicitante)
	if g.Transmision.CodigoCertificado != cert {
		return envelope.Query{}, "", newError(CodeSchema, gen+"/Transmision/CodigoCertificado", "is %q, but the request's is %q", g.Transmision.CodigoCertificado, cert)
	}
	purpose, ok := cat.PurposeForFinalidad(sol.Finalidad)
	if !ok {
		return envelope.Query{}, "", newError(CodeSchema, gen+"/Solicitante/Finalidad", "%q is neither a purpose code of Pont's catalog nor a Finalidad the catalog maps to one (scsp_purposes.json)", sol.Finalidad)
	}
	q := envelope.Query{
		Procedure: envelope.Procedure{Code: sol.Procedimiento.CodProcedimiento, Name: sol.Procedimiento.NombreProcedimiento},
		Purpose:   purpose,
		CaseID:    sol.IdExpediente,
		Official:  envelope.Official{ID: sol.Funcionario.NifFuncionario, Name: sol.Funcionario.NombreCompletoFuncionario},
	}
	var err error
	if q.Subject, err = subject(&g.Titular, gen+"/Titular"); err != nil {
		return envelope.Query{}, "", err
	}
	if q.LegalBasis, err = legalBasis(svc, sol, gen+"/Solicitante"); err != nil {
		return envelope.Query{}, "", err
	}
	params, err := paramsOf(svc.Name, st.DatosEspecificos, at+"/DatosEspecificos")
	if err != nil {
		return envelope.Query{}, "", err
	}
	q.Params = envelope.StringParams(params)

	if q.LegalBasis.Type == envelope.BasisConsent {
		// The rest of the envelope is checked before its consent is
		// looked for, so that a bad document number is reported as such.
		probe := q
		probe.LegalBasis = envelope.LegalBasis{Type: envelope.BasisPresumed}
		if _, err := check(probe, gen); err != nil {
			return envelope.Query{}, "", err
		}
		if consents == nil {
			return envelope.Query{}, "", refusal(fault.New(fault.ConsentNotFound, "Consentimiento Si needs a consent the citizen recorded, and none can be looked up here"), gen+"/Solicitante/Consentimiento")
		}
		id, err := consents(org, svc.Name, probe)
		if err != nil {
			return envelope.Query{}, "", refusal(err, gen+"/Solicitante/Consentimiento")
		}
		if id == "" {
			return envelope.Query{}, "", refusal(fault.New(fault.ConsentNotFound, "the subject recorded no consent for this requester, procedure, service and purpose"), gen+"/Solicitante/Consentimiento")
		}
		q.LegalBasis.ConsentID = id
	}
	q, err = check(q, gen)
	return q, org, err
}

// check runs q through envelope.Parse, as the JSON API would, and returns
// what it read; a refusal names the SCSP element of the first bad field.
func check(q envelope.Query, gen string) (envelope.Query, error) {
	body, err := q.MarshalJSON()
	if err != nil {
		return envelope.Query{}, refusal(fault.Wrap(fault.Internal, err, "encode the envelope"), gen)
	}
	parsed, err := envelope.Parse(body)
	if err != nil {
		fe, _ := fault.As(err)
		at := gen
		if fe != nil && len(fe.Fields) > 0 {
			if el, ok := fieldElements[fe.Fields[0].Field]; ok {
				at = gen + "/" + el
			}
		}
		return envelope.Query{}, refusal(err, at)
	}
	return parsed, nil
}

// refusal wraps a Pont refusal as an *Error naming element, with the SCSP
// code of its Pont code.
func refusal(err error, element string) error {
	fe, ok := fault.As(err)
	if !ok {
		fe = fault.Wrap(fault.Internal, err, "internal error")
	}
	code := fault.SpecOf(fe.Code).SCSP
	if code == "" {
		code = CodeUndefined
	}
	return &Error{SCSP: code, Element: element, Message: fieldsText(fe), fault: fe}
}

// fieldsText is a refusal's message, naming each bad field when there are
// several (the message alone only counts them).
func fieldsText(fe *fault.Error) string {
	if len(fe.Fields) < 2 {
		return fe.Message
	}
	parts := make([]string, len(fe.Fields))
	for i, f := range fe.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return strings.Join(parts, "; ")
}

// subject maps Titular: DNI is a DNI, NIF a DNI too unless it is a
// foreigner's (X, Y or Z first), which is her NIE; NIE a NIE; Pasaporte is
// refused with 0404, since Pont names subjects by DNI or NIE only.
// NombreCompleto has no counterpart in Pont's envelope and is not read.
func subject(t *Titular, at string) (envelope.Subject, error) {
	var idType string
	switch t.TipoDocumentacion {
	case "":
		return envelope.Subject{}, newError(CodeRequired, at+"/TipoDocumentacion", "is required: Pont names a subject by her DNI or NIE")
	case "DNI":
		idType = envelope.IDTypeDNI
	case "NIF":
		idType = envelope.IDTypeDNI
		if d := strings.ToUpper(strings.TrimSpace(t.Documentacion)); d != "" && strings.ContainsRune("XYZ", rune(d[0])) {
			idType = envelope.IDTypeNIE
		}
	case "NIE":
		idType = envelope.IDTypeNIE
	default:
		return envelope.Subject{}, newError(CodeDocumentType, at+"/TipoDocumentacion", "%s is not taken: Pont names a subject by her DNI or NIE", t.TipoDocumentacion)
	}
	if t.Documentacion == "" {
		return envelope.Subject{}, newError(CodeRequired, at+"/Documentacion", "is required")
	}
	return envelope.Subject{IDType: idType, ID: t.Documentacion, Name: t.Nombre, Surname1: t.Apellido1, Surname2: t.Apellido2}, nil
}

// legalBasis maps Consentimiento: NoOpo is presumed, Ley a law the catalog
// lists for the service (the one Finalidad names, else the first), Si a
// consent (its id is looked up by the caller's ConsentFinder).
func legalBasis(svc *catalog.Service, sol *Solicitante, at string) (envelope.LegalBasis, error) {
	switch sol.Consentimiento {
	case "NoOpo":
		return envelope.LegalBasis{Type: envelope.BasisPresumed}, nil
	case "Si":
		return envelope.LegalBasis{Type: envelope.BasisConsent}, nil
	case "Ley":
		if len(svc.Laws) == 0 {
			return envelope.LegalBasis{}, refusal(fault.New(fault.LegalBasisInvalid, "the catalog lists no law that allows service %s without consent", svc.Name), at+"/Consentimiento")
		}
		ref := svc.Laws[0].Reference
		for _, l := range svc.Laws {
			if strings.Contains(strings.ToLower(sol.Finalidad), strings.ToLower(l.Reference)) {
				ref = l.Reference
				break
			}
		}
		return envelope.LegalBasis{Type: envelope.BasisLaw, Reference: ref}, nil
	}
	return envelope.LegalBasis{}, newError(CodeSchema, at+"/Consentimiento", "%q is not one of Si, NoOpo, Ley", sol.Consentimiento)
}
