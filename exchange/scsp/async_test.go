package scsp

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pontexchange/pont/exchange/scsp/schemas"
	"github.com/pontexchange/pont/exchange/scsp/schemas/schematest"
)

const solicitudRespuesta = `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header/><soapenv:Body>` +
	`<sr:SolicitudRespuesta xmlns:sr="http://intermediacion.redsara.es/scsp/esquemas/V3/solicitudRespuesta"><sr:Atributos>` +
	`<sr:IdPeticion> PONT-TEST-0000000001 </sr:IdPeticion><sr:NumElementos>2</sr:NumElementos><sr:TimeStamp>2026-12-07T10:15:00.000+01:00</sr:TimeStamp>` +
	`<sr:CodigoCertificado>SVDSECOPA01WS01</sr:CodigoCertificado></sr:Atributos></sr:SolicitudRespuesta></soapenv:Body></soapenv:Envelope>`

func TestOperation(t *testing.T) {
	peticion := []byte(readPadro(t))
	for _, tc := range []struct {
		action string
		body   []byte
		want   string
	}{
		{"", peticion, OpSync},
		{"", []byte(solicitudRespuesta), OpFetch},
		{`"peticionAsincrona"`, peticion, OpAsync},
		{"peticionSincrona", peticion, OpSync},
		{`"urn:scsp:solicitudRespuesta"`, []byte(solicitudRespuesta), OpFetch},
		{"http://intermediacion.redsara.es/scsp/wsdl/peticionAsincrona", peticion, OpAsync},
		{"", []byte("not xml"), OpSync},
		{"borrarPeticion", peticion, ""},
		{`"peticionAsincrona\x00"`, peticion, ""},
	} {
		got, err := Operation(tc.action, tc.body)
		if got != tc.want || (tc.want == "") != (err != nil) {
			t.Errorf("Operation(%q) = %q, %v; want %q", tc.action, got, err, tc.want)
		}
		var se *Error
		if err != nil && (!errors.As(err, &se) || se.SCSP != CodeSchema) {
			t.Errorf("Operation(%q) error %v is not an SCSP %s", tc.action, err, CodeSchema)
		}
	}
}

func TestParseSolicitudRespuesta(t *testing.T) {
	s, err := ParseSolicitudRespuesta([]byte(solicitudRespuesta))
	if err != nil {
		t.Fatal(err)
	}
	if s.Atributos.IdPeticion != "PONT-TEST-0000000001" || s.Atributos.CodigoCertificado != "SVDSECOPA01WS01" {
		t.Fatalf("%+v", s.Atributos)
	}
	for _, tc := range []struct {
		name, doc, code string
	}{
		{"a Peticion", readPadro(t), CodeSchema},
		{"no IdPeticion", strings.Replace(solicitudRespuesta, "<sr:IdPeticion> PONT-TEST-0000000001 </sr:IdPeticion>", "<sr:IdPeticion>  </sr:IdPeticion>", 1), CodeRequired},
		{"IdPeticion too long", strings.Replace(solicitudRespuesta, "PONT-TEST-0000000001", strings.Repeat("X", 27), 1), CodeSchema},
		{"no certificate", strings.Replace(solicitudRespuesta, "SVDSECOPA01WS01", "", 1), CodeRequired},
		{"a DOCTYPE", `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>` + solicitudRespuesta, CodeParse},
		{"a NUL byte", strings.Replace(solicitudRespuesta, "PONT", "PO\x00NT", 1), CodeParse},
		{"invalid UTF-8", strings.Replace(solicitudRespuesta, "PONT", "PO\xffNT", 1), CodeParse},
		{"too deep", strings.Replace(solicitudRespuesta, "<soapenv:Header/>", "<soapenv:Header>"+strings.Repeat("<a>", 40)+strings.Repeat("</a>", 40)+"</soapenv:Header>", 1), CodeParse},
		{"not XML", "<soapenv:Envelope", CodeParse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSolicitudRespuesta([]byte(tc.doc))
			var se *Error
			if !errors.As(err, &se) || se.SCSP != tc.code {
				t.Fatalf("got %v, want SCSP %s", err, tc.code)
			}
		})
	}
}

// TestAsyncDocumentsMatchThePublishedSchemas holds the ConfirmacionPeticion
// and the in-process Respuesta to the residence certificate's schemas.
func TestAsyncDocumentsMatchThePublishedSchemas(t *testing.T) {
	req := strings.Replace(readPadro(t), ">NoOpo<", ">Ley<", 1)
	p, err := ParsePeticion([]byte(req))
	if err != nil {
		t.Fatal(err)
	}
	conf := p.ConfirmacionPeticion(90*time.Second, testNow)
	schematest.Validate(t, "SVDSECOPA01WS01", schemas.Older, "confirmacion-peticion.xsd", bodyChild(t, conf))
	if !bytes.Contains(conf, []byte("<TiempoEstimadoRespuesta>2</TiempoEstimadoRespuesta>")) {
		t.Errorf("90 s is not 2 minutes:\n%s", conf)
	}
	s, err := ParseSolicitudRespuesta([]byte(solicitudRespuesta))
	if err != nil {
		t.Fatal(err)
	}
	pending := s.Pending(2, 1000*time.Hour, testNow)
	schematest.Validate(t, "SVDSECOPA01WS01", schemas.Older, "respuesta.xsd", bodyChild(t, pending))
	if !bytes.Contains(pending, []byte("<TiempoEstimadoRespuesta>9999</TiempoEstimadoRespuesta>")) || bytes.Contains(pending, []byte("Transmisiones")) {
		t.Errorf("the in-process answer:\n%s", pending)
	}
	schematest.Validate(t, "SVDSECOPA01WS01", schemas.Older, "solicitud-respuesta.xsd", bodyChild(t, []byte(strings.Replace(solicitudRespuesta, " PONT-TEST-0000000001 ", "PONT-TEST-0000000001", 1))))
}

// FuzzSolicitudRespuesta checks that no input makes Operation or
// ParseSolicitudRespuesta panic, that every refusal is an *Error, and that
// what is written of an accepted one is well-formed XML.
func FuzzSolicitudRespuesta(f *testing.F) {
	f.Add("", []byte(solicitudRespuesta))
	f.Add("peticionAsincrona", []byte(readPadro(f)))
	f.Add(`"solicitudRespuesta"`, []byte(billionLaughs))
	f.Fuzz(func(t *testing.T, action string, doc []byte) {
		if _, err := Operation(action, doc); err != nil {
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("Operation error %v is not an *scsp.Error", err)
			}
		}
		s, err := ParseSolicitudRespuesta(doc)
		if err != nil {
			var se *Error
			if !errors.As(err, &se) || len(se.SCSP) != 4 {
				t.Fatalf("error %v (%T) is not an *scsp.Error", err, err)
			}
			return
		}
		mustBeXML(t, s.Pending(3, time.Minute, testNow))
	})
}
