// Package scsp reads and writes the documents of SCSP v3 (the protocol of
// Spain's PID and Catalonia's Via Oberta) and maps them to and from Pont's
// query envelope and answers, so that a case system can send its Peticion
// to Pont unchanged. It knows nothing of HTTP or of signatures: it turns a
// SOAP 1.1 envelope holding a Peticion into envelope.Query values
// (ParsePeticion, Peticion.Queries), and Pont's answers and refusals into a
// Respuesta (Peticion.Respuesta) or a SOAP Fault (Fault). It changes when
// the mapping between SCSP and Pont changes; docs/scsp.md describes it field
// by field.
package scsp

import (
	"encoding/xml"
	"errors"
	"fmt"
	"strings"

	"github.com/pontexchange/pont/exchange/fault"
)

// The namespaces of the documents this package reads and writes.
const (
	NSSOAP             = "http://schemas.xmlsoap.org/soap/envelope/"
	NSPeticion         = "http://intermediacion.redsara.es/scsp/esquemas/V3/peticion"
	NSRespuesta        = "http://intermediacion.redsara.es/scsp/esquemas/V3/respuesta"
	NSDatosEspecificos = "http://intermediacion.redsara.es/scsp/esquemas/datosespecificos"
	NSFaultAtributos   = "http://intermediacion.redsara.es/scsp/esquemas/V3/soapfaultatributos"
)

// The SCSP codes of the refusals this package decides itself; every other
// refusal takes its SCSP code from fault.SpecOf.
const (
	CodeParse        = "0226" // the request is not well-formed XML, or is refused as XML (a DOCTYPE, too deep)
	CodeCount        = "0237" // NumElementos does not match the elements, or there are more than MaxElements
	CodeSchema       = "0401" // the request does not follow the schema
	CodeRequired     = "0402" // a required element is missing or empty
	CodeDocumentType = "0404" // a TipoDocumentacion Pont does not take
	CodeNoAsync      = "0903" // the asynchronous mode is not served for this certificate
	CodeUndefined    = "0904" // a refusal without a more precise SCSP code
)

// Peticion is an SCSP v3 request: its attributes and one or more
// SolicitudTransmision, each a query about one subject. Strings are
// whitespace-collapsed, as the schema's xs:whiteSpace collapse reads them.
type Peticion struct {
	XMLName     xml.Name    `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion Peticion"`
	Atributos   Atributos   `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion Atributos"`
	Solicitudes Solicitudes `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion Solicitudes"`
}

// Atributos are the request's attributes.
type Atributos struct {
	IdPeticion        string `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion IdPeticion"`
	NumElementos      string `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion NumElementos"`
	TimeStamp         string `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion TimeStamp"`
	CodigoCertificado string `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion CodigoCertificado"`
}

// Solicitudes holds the request's elements.
type Solicitudes struct {
	SolicitudTransmision []SolicitudTransmision `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion SolicitudTransmision"`
}

// SolicitudTransmision is one query: the data common to every service and
// the service's own.
type SolicitudTransmision struct {
	DatosGenericos   DatosGenericos   `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion DatosGenericos"`
	DatosEspecificos DatosEspecificos `xml:"http://intermediacion.redsara.es/scsp/esquemas/datosespecificos DatosEspecificos"`
}

// DatosGenericos is who asks, why, about whom.
type DatosGenericos struct {
	Emisor      Emisor      `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion Emisor"`
	Solicitante Solicitante `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion Solicitante"`
	Titular     Titular     `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion Titular"`
	Transmision Transmision `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion Transmision"`
}

// Emisor is the body that holds the data, as the requester names it.
type Emisor struct {
	NifEmisor    string `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion NifEmisor"`
	NombreEmisor string `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion NombreEmisor"`
}

// Solicitante is the requesting organisation, its procedure, purpose and
// legal basis, official and case.
type Solicitante struct {
	IdentificadorSolicitante string        `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion IdentificadorSolicitante"`
	NombreSolicitante        string        `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion NombreSolicitante"`
	UnidadTramitadora        string        `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion UnidadTramitadora"`
	CodigoUnidadTramitadora  string        `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion CodigoUnidadTramitadora,omitempty"`
	Procedimiento            Procedimiento `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion Procedimiento"`
	Finalidad                string        `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion Finalidad"`
	Consentimiento           string        `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion Consentimiento"`
	Funcionario              Funcionario   `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion Funcionario"`
	IdExpediente             string        `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion IdExpediente"`
}

// Procedimiento is the administrative procedure the query serves.
type Procedimiento struct {
	CodProcedimiento    string `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion CodProcedimiento"`
	NombreProcedimiento string `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion NombreProcedimiento"`
	Automatizado        string `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion Automatizado,omitempty"`
	ClaseTramite        string `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion ClaseTramite,omitempty"`
}

// Funcionario is the official who handles the case.
type Funcionario struct {
	NombreCompletoFuncionario string `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion NombreCompletoFuncionario"`
	NifFuncionario            string `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion NifFuncionario"`
}

// Titular is the citizen the query is about.
type Titular struct {
	TipoDocumentacion string `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion TipoDocumentacion,omitempty"`
	Documentacion     string `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion Documentacion,omitempty"`
	NombreCompleto    string `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion NombreCompleto,omitempty"`
	Nombre            string `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion Nombre,omitempty"`
	Apellido1         string `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion Apellido1,omitempty"`
	Apellido2         string `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion Apellido2,omitempty"`
}

// Transmision names the query within the request.
type Transmision struct {
	CodigoCertificado string `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion CodigoCertificado"`
	IdSolicitud       string `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion IdSolicitud"`
	IdTransmision     string `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion IdTransmision,omitempty"`
	FechaGeneracion   string `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/peticion FechaGeneracion,omitempty"`
}

// DatosEspecificos is the service's own part of a query: Raw is its
// content as it was sent (the inner XML, whose prefixes may be declared
// outside it), Nodes the same content with namespaces resolved, which the
// service mappings read.
type DatosEspecificos struct {
	Raw   []byte `xml:",innerxml"`
	Nodes []Node `xml:",any"`
}

// Node is one element of DatosEspecificos.
type Node struct {
	XMLName xml.Name
	Text    string `xml:",chardata"`
	Nodes   []Node `xml:",any"`
}

// Error is a refusal this package decided, with its SCSP code and the
// element at fault, named by its path from Peticion (or Envelope)
// ("Solicitudes/SolicitudTransmision[2]/DatosGenericos/Titular/Documentacion").
// It wraps a *fault.Error with the Pont code of the same refusal, so that
// fault.CodeOf and fault.ProblemOf read it as any other refusal.
type Error struct {
	SCSP    string
	Element string
	Message string
	fault   *fault.Error
}

func (e *Error) Error() string {
	if e.Element == "" {
		return fmt.Sprintf("SCSP %s: %s", e.SCSP, e.Message)
	}
	return fmt.Sprintf("SCSP %s: %s: %s", e.SCSP, e.Element, e.Message)
}

// Unwrap returns the refusal as a Pont fault.
func (e *Error) Unwrap() error { return e.fault }

// newError returns an Error whose Pont code follows from its SCSP code.
func newError(scsp, element, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	code := fault.InvalidRequest
	if scsp == CodeCount {
		code = fault.TooManySubjects
	}
	text := msg
	if element != "" {
		text = element + ": " + msg
	}
	return &Error{SCSP: scsp, Element: element, Message: msg, fault: fault.New(code, "%s", fault.SafeText(text))}
}

// SCSPCode returns the SCSP code of err: its own for an *Error, else the
// one fault.SpecOf gives its Pont code, else CodeUndefined for the few Pont
// codes SCSP has no counterpart for.
func SCSPCode(err error) string {
	var se *Error
	if errors.As(err, &se) {
		return se.SCSP
	}
	if c := fault.SpecOf(fault.CodeOf(err)).SCSP; c != "" {
		return c
	}
	return CodeUndefined
}

// collapse applies xs:whiteSpace collapse: runs of white space become one
// space, and none is left at either end.
func collapse(s string) string {
	if !strings.ContainsAny(s, " \t\r\n") {
		return s
	}
	return strings.Join(strings.FieldsFunc(s, isXMLSpace), " ")
}

func isXMLSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\r' || r == '\n' }
