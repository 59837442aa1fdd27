package scsp

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pontexchange/pont/exchange/fault"
)

// The namespaces of the asynchronous mode's documents.
const (
	NSConfirmacionPeticion = "http://intermediacion.redsara.es/scsp/esquemas/V3/confirmacionPeticion"
	NSSolicitudRespuesta   = "http://intermediacion.redsara.es/scsp/esquemas/V3/solicitudRespuesta"
)

// The operations of an SCSP v3 endpoint, as its WSDL names them and as a
// client gives them in the SOAPAction header.
const (
	// OpSync is a Peticion answered with its Respuesta.
	OpSync = "peticionSincrona"
	// OpAsync is a Peticion of up to MaxElements elements, acknowledged
	// with a ConfirmacionPeticion and answered later.
	OpAsync = "peticionAsincrona"
	// OpFetch is a SolicitudRespuesta: the Respuesta of an asynchronous
	// Peticion, or its state while it is in process.
	OpFetch = "solicitudRespuesta"
)

// The states of an asynchronous request.
const (
	StateInProcess     = "0002"
	StateInProcessText = "En proceso"
)

// MaxTiempoEstimado is the largest TiempoEstimadoRespuesta, in minutes:
// the schemas give it 4 digits.
const MaxTiempoEstimado = 9999

// Operation answers the operation a SOAP request asks for: its SOAPAction
// header (quoted or not, and possibly a URI that ends with the
// operation's name), or, when the header is empty, the element the Body
// holds (a SolicitudRespuesta is OpFetch, anything else OpSync). An
// action that names no operation of the endpoint is refused (0401).
func Operation(soapAction string, body []byte) (string, error) {
	a := strings.Trim(strings.TrimSpace(soapAction), `"`)
	if i := strings.LastIndexAny(a, "/#:"); i >= 0 {
		a = a[i+1:]
	}
	switch a {
	case OpSync, OpAsync, OpFetch:
		return a, nil
	case "":
		if root, err := bodyRoot(body); err == nil && root == (xml.Name{Space: NSSolicitudRespuesta, Local: "SolicitudRespuesta"}) {
			return OpFetch, nil
		}
		return OpSync, nil
	}
	return "", newError(CodeSchema, "SOAPAction", "%q is not an operation of this endpoint (%s, %s, %s)", fault.SafeText(soapAction), OpSync, OpAsync, OpFetch)
}

// bodyRoot answers the name of the first element in a SOAP envelope's
// Body.
func bodyRoot(doc []byte) (xml.Name, error) {
	d := xml.NewDecoder(bytes.NewReader(doc))
	inBody := false
	for depth := 0; ; {
		tok, err := d.Token()
		if err != nil {
			return xml.Name{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if inBody {
				return t.Name, nil
			}
			depth++
			if depth > 2 {
				if err := d.Skip(); err != nil {
					return xml.Name{}, err
				}
				depth--
				continue
			}
			inBody = depth == 2 && t.Name == xml.Name{Space: NSSOAP, Local: "Body"}
		case xml.EndElement:
			depth--
		}
	}
}

// SolicitudRespuesta asks for the answer to an asynchronous Peticion.
type SolicitudRespuesta struct {
	XMLName   xml.Name           `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/solicitudRespuesta SolicitudRespuesta"`
	Atributos AtributosSolicitud `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/solicitudRespuesta Atributos"`
}

// AtributosSolicitud are a SolicitudRespuesta's attributes: the Peticion's
// IdPeticion and CodigoCertificado name it.
type AtributosSolicitud struct {
	IdPeticion        string `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/solicitudRespuesta IdPeticion"`
	NumElementos      string `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/solicitudRespuesta NumElementos"`
	TimeStamp         string `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/solicitudRespuesta TimeStamp"`
	CodigoCertificado string `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/solicitudRespuesta CodigoCertificado"`
}

// ParseSolicitudRespuesta reads a SOAP 1.1 envelope whose Body holds a
// SolicitudRespuesta. The document is held to the rules ParsePeticion
// applies to its own (UTF-8 without NUL, no DOCTYPE, nested at most
// MaxDepth deep); IdPeticion (1 to 26 characters) and CodigoCertificado
// are required. Refusals are *Error values, as ParsePeticion's.
func ParseSolicitudRespuesta(body []byte) (*SolicitudRespuesta, error) {
	if err := plainXML(body); err != nil {
		return nil, err
	}
	var env struct {
		Body struct {
			SolicitudRespuesta *SolicitudRespuesta `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/solicitudRespuesta SolicitudRespuesta"`
		} `xml:"http://schemas.xmlsoap.org/soap/envelope/ Body"`
	}
	if err := xml.Unmarshal(body, &env); err != nil {
		return nil, newError(CodeParse, "", "the request is not a SOAP envelope that can be read: %v", err)
	}
	s := env.Body.SolicitudRespuesta
	if s == nil {
		return nil, newError(CodeSchema, "Envelope/Body", "holds no SolicitudRespuesta of namespace %s", NSSolicitudRespuesta)
	}
	a := &s.Atributos
	a.IdPeticion, a.NumElementos, a.TimeStamp, a.CodigoCertificado = collapse(a.IdPeticion), collapse(a.NumElementos), collapse(a.TimeStamp), collapse(a.CodigoCertificado)
	switch n := utf8.RuneCountInString(a.IdPeticion); {
	case n == 0:
		return s, newError(CodeRequired, "SolicitudRespuesta/Atributos/IdPeticion", "is required")
	case n > 26:
		return s, newError(CodeSchema, "SolicitudRespuesta/Atributos/IdPeticion", "must be at most 26 characters")
	case a.CodigoCertificado == "":
		return s, newError(CodeRequired, "SolicitudRespuesta/Atributos/CodigoCertificado", "is required")
	}
	return s, nil
}

// plainXML refuses what ParsePeticion refuses before it reads a document
// as XML: NUL bytes, invalid UTF-8, a DOCTYPE or processing instructions
// after the declaration, and elements nested deeper than MaxDepth.
func plainXML(body []byte) error {
	if bytes.IndexByte(body, 0) >= 0 || !utf8.Valid(body) {
		return newError(CodeParse, "", "the request must be UTF-8 text without NUL bytes")
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	for depth := 0; ; {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return newError(CodeParse, "", "the request is not well-formed XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth++; depth > MaxDepth {
				return newError(CodeParse, "", "elements are nested deeper than %d", MaxDepth)
			}
		case xml.EndElement:
			depth--
		case xml.Directive:
			return newError(CodeParse, "", "a DOCTYPE or other directive is not accepted")
		case xml.ProcInst:
			if t.Target != "xml" {
				return newError(CodeParse, "", "processing instructions are not accepted")
			}
		}
	}
}

// estadoAsync is an Estado with the estimated time of the answer.
type estadoAsync struct {
	CodigoEstado            string `xml:"CodigoEstado"`
	LiteralError            string `xml:"LiteralError"`
	TiempoEstimadoRespuesta int    `xml:"TiempoEstimadoRespuesta"`
}

type atributosAsync struct {
	IdPeticion        string      `xml:"IdPeticion"`
	NumElementos      int         `xml:"NumElementos"`
	TimeStamp         string      `xml:"TimeStamp"`
	Estado            estadoAsync `xml:"Estado"`
	CodigoCertificado string      `xml:"CodigoCertificado"`
}

// minutes is TiempoEstimadoRespuesta for a wait of d: whole minutes,
// rounded up, from 1 to MaxTiempoEstimado.
func minutes(d time.Duration) int {
	m := int((d + time.Minute - 1) / time.Minute)
	return max(1, min(m, MaxTiempoEstimado))
}

// ConfirmacionPeticion renders the SOAP 1.1 envelope that acknowledges an
// asynchronous Peticion: its IdPeticion, NumElementos and
// CodigoCertificado, state 0002 (in process) and TiempoEstimadoRespuesta,
// the minutes until its answer is expected (wait, rounded up, at least 1).
func (p *Peticion) ConfirmacionPeticion(wait time.Duration, now time.Time) []byte {
	doc := struct {
		XMLName   xml.Name       `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/confirmacionPeticion ConfirmacionPeticion"`
		Atributos atributosAsync `xml:"Atributos"`
	}{Atributos: inProcess(p.Atributos.IdPeticion, len(p.Solicitudes.SolicitudTransmision), p.Atributos.CodigoCertificado, wait, now)}
	return envelopeOf(doc)
}

// Pending renders the Respuesta to a SolicitudRespuesta whose request is
// still in process: Atributos with state 0002 and TiempoEstimadoRespuesta,
// and no Transmisiones (the schema's "new TER" answer). elements is the
// request's number of elements.
func (s *SolicitudRespuesta) Pending(elements int, wait time.Duration, now time.Time) []byte {
	doc := struct {
		XMLName   xml.Name       `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/respuesta Respuesta"`
		Atributos atributosAsync `xml:"Atributos"`
	}{Atributos: inProcess(s.Atributos.IdPeticion, elements, s.Atributos.CodigoCertificado, wait, now)}
	return envelopeOf(doc)
}

func inProcess(id string, n int, code string, wait time.Duration, now time.Time) atributosAsync {
	return atributosAsync{
		IdPeticion: id, NumElementos: n, TimeStamp: now.Format(TimeLayout),
		Estado:            estadoAsync{CodigoEstado: StateInProcess, LiteralError: StateInProcessText, TiempoEstimadoRespuesta: minutes(wait)},
		CodigoCertificado: code,
	}
}

// envelopeOf writes doc in a SOAP 1.1 envelope's Body.
func envelopeOf(doc any) []byte {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString(`<soapenv:Envelope xmlns:soapenv="` + NSSOAP + `"><soapenv:Body>`)
	if err := xml.NewEncoder(&b).Encode(doc); err != nil {
		// Strings and ints always encode.
		panic("scsp: encode " + err.Error())
	}
	b.WriteString(`</soapenv:Body></soapenv:Envelope>`)
	return b.Bytes()
}

// NotServed is the refusal of an operation of the asynchronous mode on an
// endpoint that does not serve it (SCSP 0903): a certificate published
// without that mode, or a node that runs no jobs.
func NotServed(op string) *Error {
	msg := "this endpoint does not serve " + op + ": its certificate, or this node, has no asynchronous mode"
	return &Error{SCSP: CodeNoAsync, Element: "SOAPAction", Message: msg, fault: fault.New(fault.InvalidRequest, "SOAPAction: %s", msg)}
}
