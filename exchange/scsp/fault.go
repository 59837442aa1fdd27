package scsp

import (
	"bytes"
	"encoding/xml"
	"errors"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/pontexchange/pont/exchange/fault"
)

// MaxLiteralError is the length of the fault's LiteralError, in
// characters (soapfaultatributos.xsd).
const MaxLiteralError = 1024

// Fault renders the SOAP 1.1 Fault that refuses a request: faultcode
// soapenv:Client for a refusal of the request (an HTTP 4xx), soapenv:Server
// otherwise; faultstring and the detail's LiteralError say why (an
// *Error's element and message, a *fault.Error's message, never its cause;
// "internal error" for any other error), whitespace-collapsed and cut to
// MaxLiteralError characters; CodigoEstado is SCSPCode(err). The detail's
// Atributos echo the request's (what ParsePeticion could read of them, for
// a request it refused; an element it could not read is written empty)
// with TimeStamp now. The caller sends it with the HTTP status
// HTTPStatus(err).
func Fault(err error, atr Atributos, now time.Time) []byte {
	code := SCSPCode(err)
	literal := literalOf(err)
	faultcode := "soapenv:Server"
	if s := HTTPStatus(err); s >= 400 && s < 500 {
		faultcode = "soapenv:Client"
	}
	num := ""
	if n, err := strconv.Atoi(atr.NumElementos); err == nil && n >= 1 && n <= MaxElements {
		num = strconv.Itoa(n)
	}
	detail := faultAtributos{
		IdPeticion:        atr.IdPeticion,
		NumElementos:      num,
		TimeStamp:         now.Format(TimeLayout),
		Estado:            estadoOut{CodigoEstado: code, LiteralError: literal},
		CodigoCertificado: atr.CodigoCertificado,
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString(`<soapenv:Envelope xmlns:soapenv="` + NSSOAP + `"><soapenv:Body><soapenv:Fault><faultcode>` + faultcode + `</faultcode><faultstring>`)
	_ = xml.EscapeText(&b, []byte(literal)) // a bytes.Buffer does not fail
	b.WriteString(`</faultstring><detail>`)
	if err := xml.NewEncoder(&b).Encode(detail); err != nil {
		// Strings and an int always encode.
		panic("scsp: encode fault detail: " + err.Error())
	}
	b.WriteString(`</detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>`)
	return b.Bytes()
}

// HTTPStatus is the HTTP status of a refusal: that of its Pont code
// (fault.SpecOf), 500 for an error without one.
func HTTPStatus(err error) int {
	if _, ok := fault.As(err); !ok {
		return http.StatusInternalServerError
	}
	return fault.SpecOf(fault.CodeOf(err)).Status
}

// literalOf is the text a fault gives for err.
func literalOf(err error) string {
	var text string
	var se *Error
	if errors.As(err, &se) {
		text = se.Message
		if se.Element != "" {
			text = se.Element + ": " + se.Message
		}
	} else if fe, ok := fault.As(err); ok {
		text = fieldsText(fe)
		if text == "" {
			text = fault.SpecOf(fe.Code).Title
		}
	} else {
		text = "internal error"
	}
	text = collapse(xmlText(text))
	if text == "" {
		text = "error"
	}
	return fit(text, MaxLiteralError)
}

// xmlText replaces what XML 1.0 cannot carry (control characters, invalid
// UTF-8) with U+FFFD.
func xmlText(s string) string {
	ok := func(r rune) bool {
		return r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r != utf8.RuneError && r != 0xFFFE && r != 0xFFFF && !(r >= 0xD800 && r <= 0xDFFF)
	}
	clean := true
	for _, r := range s {
		if !ok(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	out := []rune{}
	for _, r := range s {
		if !ok(r) {
			r = utf8.RuneError
		}
		out = append(out, r)
	}
	return string(out)
}

// faultAtributos is the fault detail's Atributos.
type faultAtributos struct {
	XMLName           xml.Name  `xml:"http://intermediacion.redsara.es/scsp/esquemas/V3/soapfaultatributos Atributos"`
	IdPeticion        string    `xml:"IdPeticion"`
	NumElementos      string    `xml:"NumElementos"`
	TimeStamp         string    `xml:"TimeStamp"`
	Estado            estadoOut `xml:"Estado"`
	CodigoCertificado string    `xml:"CodigoCertificado"`
}
