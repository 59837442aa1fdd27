package scsp

import (
	"bytes"
	"encoding/base32"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/pontexchange/pont/exchange/fault"
)

// TimeLayout is how TimeStamp and FechaGeneracion are written: 29
// characters, SCSP's limit for both.
const TimeLayout = "2006-01-02T15:04:05.000-07:00"

// CodeAnswer is SCSP's "error generating the answer".
const CodeAnswer = "0227"

// Result is Pont's answer to one element of a request.
type Result struct {
	// TransferID is the transfer's id in Pont's log.
	TransferID string
	// Data is the answer's data member (pipeline.AnswerV1.Data): what the
	// purpose may see of the service's answer.
	Data json.RawMessage
	// Code and Literal are, for an element that was refused or failed (in
	// an asynchronous request, where one element's failure does not fail
	// the others), its SCSP code and the text of its refusal; Data is then
	// not read.
	Code, Literal string
}

// Respuesta renders the SOAP 1.1 envelope of the answer to p, whose
// elements were answered by results, in order (one per
// SolicitudTransmision). Each TransmisionDatos echoes its element's
// DatosGenericos, with the Transmision's IdTransmision (TransmissionID of
// the transfer id) and FechaGeneracion (now) filled in, and carries the
// DatosEspecificos of the request's certificate built from the answer's
// data (docs/scsp.md gives each certificate's mapping); a failed element's
// carries its code and text instead, in the certificate's Retorno. The
// error is an *Error with SCSP code 0227 when the answer cannot be written.
func (p *Peticion) Respuesta(results []Result, now time.Time) ([]byte, error) {
	sols := p.Solicitudes.SolicitudTransmision
	if len(results) != len(sols) {
		return nil, answerError("", "%d results for %d SolicitudTransmision", len(results), len(sols))
	}
	ts := now.Format(TimeLayout)
	r := respuesta{
		Atributos: atributosOut{
			IdPeticion:        p.Atributos.IdPeticion,
			NumElementos:      len(sols),
			TimeStamp:         ts,
			Estado:            estadoOut{CodigoEstado: fault.SCSPProcessed, LiteralError: fault.SCSPProcessedText},
			CodigoCertificado: p.Atributos.CodigoCertificado,
		},
	}
	render := renderings[p.Atributos.CodigoCertificado]
	if render == nil {
		render = notRendered
	}
	for i := range sols {
		at := fmt.Sprintf("Respuesta/Transmisiones/TransmisionDatos[%d]", i+1)
		idt, err := TransmissionID(results[i].TransferID)
		if err != nil {
			return nil, answerError(at+"/DatosGenericos/Transmision/IdTransmision", "%v", err)
		}
		v, err := render(results[i], &sols[i], now)
		if err != nil {
			return nil, answerError(at+"/DatosEspecificos", "%v", err)
		}
		inner, err := xml.Marshal(v)
		if err != nil {
			return nil, answerError(at+"/DatosEspecificos", "%v", err)
		}
		g := &sols[i].DatosGenericos
		r.Transmisiones = append(r.Transmisiones, transmisionDatos{
			DatosGenericos:   echo(g, idt, ts),
			DatosEspecificos: datosEspecificosOut{Inner: inner},
		})
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString(`<soapenv:Envelope xmlns:soapenv="` + NSSOAP + `"><soapenv:Body>`)
	if err := xml.NewEncoder(&b).Encode(r); err != nil {
		return nil, answerError("Respuesta", "%v", err)
	}
	b.WriteString(`</soapenv:Body></soapenv:Envelope>`)
	return b.Bytes(), nil
}

func answerError(element, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	return &Error{SCSP: CodeAnswer, Element: element, Message: msg, fault: fault.New(fault.Internal, "the SCSP answer could not be written")}
}

// transmissionEncoding writes a UUID's 16 bytes in 26 characters.
var transmissionEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// TransmissionID returns the IdTransmision of a transfer, which SCSP limits
// to 29 characters: a transfer id that is a UUID (as Pont's are, 36
// characters) is written as its 16 bytes in base32, 26 characters, from
// which TransferID reads it back; any other id of at most 29 characters is
// written as it is. A longer one is an error: cutting it would name
// another transfer, or none.
func TransmissionID(transferID string) (string, error) {
	if u, err := uuid.Parse(transferID); err == nil && len(transferID) == 36 {
		return transmissionEncoding.EncodeToString(u[:]), nil
	}
	if transferID == "" || utf8.RuneCountInString(transferID) > 29 {
		return "", fmt.Errorf("the transfer id %q is neither a UUID nor 1 to 29 characters", fault.SafeText(transferID))
	}
	return transferID, nil
}

// TransferID reads back the transfer id an IdTransmision stands for.
func TransferID(idTransmision string) string {
	if len(idTransmision) == 26 {
		if b, err := transmissionEncoding.DecodeString(idTransmision); err == nil && len(b) == 16 {
			return uuid.UUID(b).String()
		}
	}
	return idTransmision
}

// The Respuesta, in the respuesta namespace; its elements follow the
// schema's order where it is a sequence.
type respuesta struct {
	XMLName       xml.Name           `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/respuesta Respuesta"`
	Atributos     atributosOut       `xml:"Atributos"`
	Transmisiones []transmisionDatos `xml:"Transmisiones>TransmisionDatos,omitempty"`
}

type atributosOut struct {
	IdPeticion        string    `xml:"IdPeticion"`
	NumElementos      int       `xml:"NumElementos"`
	TimeStamp         string    `xml:"TimeStamp"`
	Estado            estadoOut `xml:"Estado"`
	CodigoCertificado string    `xml:"CodigoCertificado"`
}

type estadoOut struct {
	CodigoEstado string `xml:"CodigoEstado"`
	LiteralError string `xml:"LiteralError"`
}

type transmisionDatos struct {
	DatosGenericos   datosGenericosOut   `xml:"DatosGenericos"`
	DatosEspecificos datosEspecificosOut `xml:"http://intermediacion.redsara.es/scsp/esquemas/datosespecificos DatosEspecificos"`
}

type datosEspecificosOut struct {
	Inner []byte `xml:",innerxml"`
}

type datosGenericosOut struct {
	Emisor      emisorOut      `xml:"Emisor"`
	Solicitante solicitanteOut `xml:"Solicitante"`
	Titular     titularOut     `xml:"Titular"`
	Transmision transmisionOut `xml:"Transmision"`
}

type emisorOut struct {
	NifEmisor    string `xml:"NifEmisor"`
	NombreEmisor string `xml:"NombreEmisor"`
}

type solicitanteOut struct {
	IdentificadorSolicitante string           `xml:"IdentificadorSolicitante"`
	NombreSolicitante        string           `xml:"NombreSolicitante"`
	UnidadTramitadora        string           `xml:"UnidadTramitadora"`
	CodigoUnidadTramitadora  string           `xml:"CodigoUnidadTramitadora,omitempty"`
	Procedimiento            procedimientoOut `xml:"Procedimiento"`
	Finalidad                string           `xml:"Finalidad"`
	Consentimiento           string           `xml:"Consentimiento"`
	Funcionario              funcionarioOut   `xml:"Funcionario"`
	IdExpediente             string           `xml:"IdExpediente"`
}

type procedimientoOut struct {
	CodProcedimiento    string `xml:"CodProcedimiento"`
	NombreProcedimiento string `xml:"NombreProcedimiento"`
	Automatizado        string `xml:"Automatizado,omitempty"`
	ClaseTramite        string `xml:"ClaseTramite,omitempty"`
}

type funcionarioOut struct {
	NombreCompletoFuncionario string `xml:"NombreCompletoFuncionario"`
	NifFuncionario            string `xml:"NifFuncionario"`
}

type titularOut struct {
	TipoDocumentacion string `xml:"TipoDocumentacion,omitempty"`
	Documentacion     string `xml:"Documentacion,omitempty"`
	NombreCompleto    string `xml:"NombreCompleto,omitempty"`
	Nombre            string `xml:"Nombre,omitempty"`
	Apellido1         string `xml:"Apellido1,omitempty"`
	Apellido2         string `xml:"Apellido2,omitempty"`
}

type transmisionOut struct {
	CodigoCertificado string `xml:"CodigoCertificado"`
	IdSolicitud       string `xml:"IdSolicitud"`
	IdTransmision     string `xml:"IdTransmision"`
	FechaGeneracion   string `xml:"FechaGeneracion"`
}

// echo returns the request's DatosGenericos as the answer carries them
// (Go converts between struct types that differ only in their tags).
func echo(g *DatosGenericos, idTransmision, fecha string) datosGenericosOut {
	s := &g.Solicitante
	return datosGenericosOut{
		Emisor: emisorOut(g.Emisor),
		Solicitante: solicitanteOut{
			IdentificadorSolicitante: s.IdentificadorSolicitante,
			NombreSolicitante:        s.NombreSolicitante,
			UnidadTramitadora:        s.UnidadTramitadora,
			CodigoUnidadTramitadora:  s.CodigoUnidadTramitadora,
			Procedimiento:            procedimientoOut(s.Procedimiento),
			Finalidad:                s.Finalidad,
			Consentimiento:           s.Consentimiento,
			Funcionario:              funcionarioOut(s.Funcionario),
			IdExpediente:             s.IdExpediente,
		},
		Titular: titularOut(g.Titular),
		Transmision: transmisionOut{
			CodigoCertificado: g.Transmision.CodigoCertificado,
			IdSolicitud:       g.Transmision.IdSolicitud,
			IdTransmision:     idTransmision,
			FechaGeneracion:   fecha,
		},
	}
}

// A rendering writes one element's Retorno, the content of its
// DatosEspecificos in the answer, for a certificate.
type rendering func(res Result, sol *SolicitudTransmision, now time.Time) (any, error)

// renderings are the certificates' renderings, by certificate code.
var renderings = map[string]rendering{
	"SVDSECOPA01WS01":  estadoFirst(padroRetorno),
	"SVDSCDDWS01":      estadoFirst(discapacitatRetorno),
	"SVDSCTFNWS01":     estadoFirst(familiaNombrosaRetorno),
	"SVDTUWS03":        estadoFirst(titulosRetorno(universityTitles)),
	"SVDTNUWS03":       estadoFirst(titulosRetorno(nonUniversityTitles)),
	"Q2827002CINSS001": pensionesRetorno,
}

// notRenderedText is the LiteralError of a processed element whose
// certificate's data Pont does not write in SCSP.
const notRenderedText = fault.SCSPProcessedText + ": Pont does not write this certificate's data in SCSP; ask for it through the JSON API"

// notRendered is the rendering of a certificate Pont has no mapping for:
// the Estado alone.
var notRendered = estadoFirst(func(json.RawMessage, []Node) (any, error) { return nil, errNotRendered })

var errNotRendered = errors.New("not rendered")

// A renderer writes a service's answer data as its Retorno's content
// after Estado; de is the request element's DatosEspecificos, for what it
// asks of the answer.
type renderer func(data json.RawMessage, de []Node) (any, error)

// estadoFirst is the rendering of the certificates whose Retorno is an
// Estado and the data after it: a failed element has its code and text as
// the Estado (LiteralError cut to the schemas' 255 characters) and no
// data.
func estadoFirst(render renderer) rendering {
	return func(res Result, sol *SolicitudTransmision, _ time.Time) (any, error) {
		out := retornoOut{Estado: estadoOut{CodigoEstado: fault.SCSPProcessed, LiteralError: fault.SCSPProcessedText}}
		if res.Code != "" {
			out.Estado = estadoOut{CodigoEstado: res.Code, LiteralError: fit(res.Literal, 255)}
			return out, nil
		}
		v, err := render(res.Data, sol.DatosEspecificos.Nodes)
		if errors.Is(err, errNotRendered) {
			out.Estado.LiteralError = notRenderedText
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out.Data = v
		return out, nil
	}
}

// retornoOut is written without a namespace of its own: it takes that of
// the DatosEspecificos around it.
type retornoOut struct {
	XMLName xml.Name  `xml:"Retorno"`
	Estado  estadoOut `xml:"Estado"`
	Data    any
}

// padroAnswer is the part of padro's answer schema SVDSECOPA01WS01 has
// room for; registration_date has no element in its Retorno.
type padroAnswer struct {
	Province     *coded `json:"province"`
	Municipality *coded `json:"municipality"`
	Entity       *struct {
		Collective *coded `json:"collective"`
		Singular   *coded `json:"singular"`
		Nucleus    *coded `json:"nucleus"`
	} `json:"entity"`
	Address *struct {
		StreetCode string `json:"street_code"`
		StreetType string `json:"street_type"`
		StreetName string `json:"street_name"`
		Number     string `json:"number"`
		Block      string `json:"block"`
		Portal     string `json:"portal"`
		Stair      string `json:"stair"`
		Floor      string `json:"floor"`
		Door       string `json:"door"`
		Postcode   string `json:"postcode"`
	} `json:"address"`
	LastVariation *struct {
		Code        string `json:"code"`
		Description string `json:"description"`
		Date        string `json:"date"`
	} `json:"last_variation"`
}

type coded struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

// domicilio is SVDSECOPA01WS01's Domicilio.
type domicilio struct {
	XMLName            xml.Name         `xml:"Domicilio"`
	ProvinciaRespuesta *codigoNombre    `xml:"ProvinciaRespuesta,omitempty"`
	MunicipioRespuesta *codigoNombre    `xml:"MunicipioRespuesta,omitempty"`
	EntColectiva       *codigoNombre    `xml:"EntColectiva,omitempty"`
	EntSingular        *codigoNombre    `xml:"EntSingular,omitempty"`
	Nucleo             *codigoNombre    `xml:"Nucleo,omitempty"`
	Direccion          *direccion       `xml:"Direccion,omitempty"`
	UltimaVariacion    *ultimaVariacion `xml:"UltimaVariacion,omitempty"`
}

type codigoNombre struct {
	Codigo string `xml:"Codigo,omitempty"`
	Nombre string `xml:"Nombre,omitempty"`
}

type direccion struct {
	Via       *via    `xml:"Via,omitempty"`
	Numero    *numero `xml:"Numero,omitempty"`
	Bloque    string  `xml:"Bloque,omitempty"`
	Portal    string  `xml:"Portal,omitempty"`
	Escalera  string  `xml:"Escalera,omitempty"`
	Planta    string  `xml:"Planta,omitempty"`
	Puerta    string  `xml:"Puerta,omitempty"`
	CodPostal string  `xml:"CodPostal,omitempty"`
}

type via struct {
	Codigo string `xml:"Codigo,omitempty"`
	Tipo   string `xml:"Tipo,omitempty"`
	Nombre string `xml:"Nombre,omitempty"`
}

type numero struct {
	Valor string `xml:"Valor,omitempty"`
}

type ultimaVariacion struct {
	Codigo      string `xml:"Codigo,omitempty"`
	Descripcion string `xml:"Descripcion,omitempty"`
	Fecha       string `xml:"Fecha,omitempty"`
}

// padroRetorno writes padró's answer data as SVDSECOPA01WS01's Domicilio.
// Codes must fit their elements (a code cut short would be another code);
// names longer than the schema allows are cut to its length. The INE's
// municipality code is 3 digits, the last 3 of Pont's 5; dates are written
// AAAAMMDD, as the schema's other dates.
func padroRetorno(data json.RawMessage, _ []Node) (any, error) {
	var a padroAnswer
	if err := json.Unmarshal(data, &a); err != nil {
		return nil, fmt.Errorf("the padró answer cannot be read: %v", err)
	}
	var d domicilio
	var err error
	codeName := func(c *coded, codeLen int, what string, cut func(string) string) *codigoNombre {
		if c == nil || err != nil {
			return nil
		}
		code := cut(c.Code)
		if err = fitCode(what+" code", code, codeLen); err != nil {
			return nil
		}
		return &codigoNombre{Codigo: code, Nombre: fit(c.Name, 70)}
	}
	same := func(s string) string { return s }
	d.ProvinciaRespuesta = codeName(a.Province, 2, "province", same)
	d.MunicipioRespuesta = codeName(a.Municipality, 3, "municipality", func(s string) string {
		if len(s) == 5 {
			return s[2:]
		}
		return s
	})
	if a.Entity != nil {
		// A source may give an entity by its six-digit code in the INE's
		// nomenclátor, CCSSNN: collective entity, singular entity, nucleus;
		// SCSP gives each level its own two digits.
		part := func(from int) func(string) string {
			return func(s string) string {
				if len(s) == 6 && digitsOnly(s) {
					return s[from : from+2]
				}
				return s
			}
		}
		d.EntColectiva = codeName(a.Entity.Collective, 2, "collective entity", part(0))
		d.EntSingular = codeName(a.Entity.Singular, 2, "singular entity", part(2))
		d.Nucleo = codeName(a.Entity.Nucleus, 2, "nucleus", part(4))
	}
	if err != nil {
		return nil, err
	}
	if ad := a.Address; ad != nil {
		// Municipal registers number streets with six digits where the
		// INE's street code has five: a numeric code whose extra leading
		// digits are zeros is the same number in five.
		ad.StreetCode = trimZeros(ad.StreetCode, 5)
		for _, c := range []codeLimit{{"street code", ad.StreetCode, 5}, {"street type", ad.StreetType, 5}, {"postcode", ad.Postcode, 5}} {
			if err := fitCode(c.what, c.v, c.n); err != nil {
				return nil, err
			}
		}
		dir := &direccion{
			Bloque: fit(ad.Block, 2), Portal: fit(ad.Portal, 2), Escalera: fit(ad.Stair, 2),
			Planta: fit(ad.Floor, 3), Puerta: fit(ad.Door, 4), CodPostal: ad.Postcode,
		}
		if ad.StreetCode != "" || ad.StreetType != "" || ad.StreetName != "" {
			dir.Via = &via{Codigo: ad.StreetCode, Tipo: ad.StreetType, Nombre: fit(ad.StreetName, 70)}
		}
		if ad.Number != "" {
			dir.Numero = &numero{Valor: fit(ad.Number, 4)}
		}
		d.Direccion = dir
	}
	if lv := a.LastVariation; lv != nil {
		d.UltimaVariacion = &ultimaVariacion{Codigo: lv.Code, Descripcion: lv.Description, Fecha: strings.ReplaceAll(lv.Date, "-", "")}
	}
	return d, nil
}

// trimZeros drops the leading zeros of a numeric code longer than n, as
// far as n; any other code is answered as it is.
func trimZeros(s string, n int) string {
	if !digitsOnly(s) {
		return s
	}
	for len(s) > n && s[0] == '0' {
		s = s[1:]
	}
	return s
}

func digitsOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// fit cuts s to n characters.
func fit(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
