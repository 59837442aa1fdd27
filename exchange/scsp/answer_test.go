package scsp

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/pontexchange/pont/exchange/fault"
)

var testNow = time.Date(2026, 12, 7, 10, 15, 2, 345e6, time.FixedZone("CET", 3600))

const padroData = `{"province":{"code":"08","name":"Barcelona"},"municipality":{"code":"08019","name":"Barcelona"},` +
	`"entity":{"singular":{"code":"01","name":"Barcelona"},"nucleus":{"code":"01","name":"Barcelona"}},` +
	`"address":{"street_code":"12345","street_type":"CL","street_name":"de la Indústria & Comerç","number":"12","floor":"3","door":"2","postcode":"08025"},` +
	`"registration_date":"2019-04-01","last_variation":{"code":"M","description":"Modificació","date":"2024-02-29"}}`

// wellFormed reads doc to its end with encoding/xml and returns every
// element's expanded name, in order.
func wellFormed(t *testing.T, doc []byte) []xml.Name {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	var names []xml.Name
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, doc)
		}
		if s, ok := tok.(xml.StartElement); ok {
			names = append(names, s.Name)
		}
	}
}

func nsOf(names []xml.Name, local string) []string {
	var out []string
	for _, n := range names {
		if n.Local == local {
			out = append(out, n.Space)
		}
	}
	return out
}

func TestRespuestaResidence(t *testing.T) {
	p, err := ParsePeticion([]byte(readPadro(t)))
	if err != nil {
		t.Fatal(err)
	}
	transfer := "01939a7e-1c2b-7d3e-8f40-123456789abc"
	doc, err := p.Respuesta([]Result{{TransferID: transfer, Data: json.RawMessage(padroData)}}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	names := wellFormed(t, doc)
	for local, want := range map[string]string{
		"Envelope": NSSOAP, "Body": NSSOAP, "Respuesta": NSRespuesta, "Atributos": NSRespuesta, "TransmisionDatos": NSRespuesta,
		"Solicitante": NSRespuesta, "IdTransmision": NSRespuesta,
		"DatosEspecificos": NSDatosEspecificos, "Retorno": NSDatosEspecificos, "Domicilio": NSDatosEspecificos, "CodPostal": NSDatosEspecificos,
	} {
		got := nsOf(names, local)
		if len(got) == 0 {
			t.Errorf("no %s element", local)
		}
		for _, ns := range got {
			if ns != want {
				t.Errorf("%s in namespace %q, want %q", local, ns, want)
			}
		}
	}

	var env struct {
		Respuesta struct {
			Atributos struct {
				IdPeticion, NumElementos, TimeStamp, CodigoCertificado string
				Estado                                                 struct{ CodigoEstado, LiteralError string }
			}
			Transmisiones []struct {
				DatosGenericos struct {
					Solicitante struct{ IdExpediente, Consentimiento string }
					Titular     struct{ Documentacion string }
					Transmision struct{ IdSolicitud, IdTransmision, FechaGeneracion string }
				}
				DatosEspecificos struct {
					Retorno struct {
						Estado    struct{ CodigoEstado string }
						Domicilio struct {
							MunicipioRespuesta struct{ Codigo, Nombre string }
							Direccion          struct {
								Via       struct{ Codigo, Tipo, Nombre string }
								Numero    struct{ Valor string }
								CodPostal string
							}
							UltimaVariacion struct{ Codigo, Fecha string }
						}
					}
				} `xml:"http://intermediacion.redsara.es/scsp/esquemas/datosespecificos DatosEspecificos"`
			} `xml:"Transmisiones>TransmisionDatos"`
		} `xml:"Body>Respuesta"`
	}
	if err := xml.Unmarshal(doc, &env); err != nil {
		t.Fatal(err)
	}
	r := env.Respuesta
	a := r.Atributos
	if a.IdPeticion != "PONT-TEST-0000000001" || a.NumElementos != "1" || a.CodigoCertificado != "SVDSECOPA01WS01" ||
		a.Estado.CodigoEstado != "0003" || a.Estado.LiteralError != "Tramitada" || a.TimeStamp != "2026-12-07T10:15:02.345+01:00" {
		t.Errorf("Atributos = %+v", a)
	}
	if len(r.Transmisiones) != 1 {
		t.Fatalf("%d TransmisionDatos", len(r.Transmisiones))
	}
	td := r.Transmisiones[0]
	g := td.DatosGenericos
	if g.Solicitante.IdExpediente != "EXP-2026/000123" || g.Solicitante.Consentimiento != "NoOpo" || g.Titular.Documentacion != "12345678Z" {
		t.Errorf("DatosGenericos not echoed: %+v", g)
	}
	if len(g.Transmision.IdTransmision) > 29 || TransferID(g.Transmision.IdTransmision) != transfer {
		t.Errorf("IdTransmision %q does not read back as %s", g.Transmision.IdTransmision, transfer)
	}
	if g.Transmision.IdSolicitud != "PONT-TEST-0000000001-1" || len(g.Transmision.FechaGeneracion) != 29 {
		t.Errorf("Transmision = %+v", g.Transmision)
	}
	dom := td.DatosEspecificos.Retorno.Domicilio
	if td.DatosEspecificos.Retorno.Estado.CodigoEstado != "0003" || dom.MunicipioRespuesta.Codigo != "019" ||
		dom.Direccion.Via.Nombre != "de la Indústria & Comerç" || dom.Direccion.Numero.Valor != "12" ||
		dom.Direccion.CodPostal != "08025" || dom.UltimaVariacion.Fecha != "20240229" {
		t.Errorf("Domicilio = %+v", dom)
	}
}

func TestRespuestaCertificateWithoutRendering(t *testing.T) {
	p, err := ParsePeticion([]byte(readPadro(t)))
	if err != nil {
		t.Fatal(err)
	}
	p.Atributos.CodigoCertificado = "SVDXXXXWS01"
	doc, err := p.Respuesta([]Result{{TransferID: "t-1", Data: json.RawMessage(`{"benefits":[]}`)}}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	wellFormed(t, doc)
	if !bytes.Contains(doc, []byte("<Retorno><Estado><CodigoEstado>0003</CodigoEstado><LiteralError>Tramitada: Pont does not write")) {
		t.Errorf("no Estado-only Retorno:\n%s", doc)
	}
}

func TestRespuestaRefusals(t *testing.T) {
	p, err := ParsePeticion([]byte(readPadro(t)))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		results []Result
	}{
		{"too few results", nil},
		{"transfer id too long", []Result{{TransferID: strings.Repeat("x", 30), Data: json.RawMessage(padroData)}}},
		{"code too long", []Result{{TransferID: "t", Data: json.RawMessage(`{"province":{"code":"081","name":"B"}}`)}}},
		{"data not JSON", []Result{{TransferID: "t", Data: json.RawMessage(`{`)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p.Respuesta(tt.results, testNow)
			if SCSPCode(err) != CodeAnswer {
				t.Fatalf("error %v, want SCSP %s", err, CodeAnswer)
			}
		})
	}
}

func TestTransmissionID(t *testing.T) {
	for _, id := range []string{"01939a7e-1c2b-7d3e-8f40-123456789abc", "00000000-0000-0000-0000-000000000000", "short-id", strings.Repeat("a", 29)} {
		got, err := TransmissionID(id)
		if err != nil || len(got) > 29 || got == "" {
			t.Fatalf("TransmissionID(%q) = %q, %v", id, got, err)
		}
		if back := TransferID(got); back != id {
			t.Errorf("TransferID(%q) = %q, want %q", got, back, id)
		}
	}
	for _, id := range []string{"", strings.Repeat("a", 30)} {
		if _, err := TransmissionID(id); err == nil {
			t.Errorf("TransmissionID(%q) succeeded", id)
		}
	}
}

func TestFault(t *testing.T) {
	atr := Atributos{IdPeticion: "PONT-TEST-1", NumElementos: "1", CodigoCertificado: "SVDSECOPA01WS01"}
	tests := []struct {
		name      string
		err       error
		code      string
		faultcode string
		literal   string
	}{
		{"scsp error", newError(CodeRequired, "Peticion/Atributos/IdPeticion", "is required"), "0402", "soapenv:Client", "Peticion/Atributos/IdPeticion: is required"},
		{"pont refusal", fault.New(fault.ObjectionRegistered, "the citizen objected"), "0236", "soapenv:Client", "the citizen objected"},
		{"source down", fault.New(fault.SourceUnavailable, "the source did not answer"), "0901", "soapenv:Server", "the source did not answer"},
		{"code without SCSP", fault.New(fault.NotFound, "no such thing"), "0904", "soapenv:Client", "no such thing"},
		{"policy's own code", fault.New("too_late_at_night", "closed"), "0904", "soapenv:Client", "closed"},
		{"cause is not shown", fault.Wrap(fault.Internal, io.ErrUnexpectedEOF, "internal error"), "0502", "soapenv:Server", "internal error"},
		{"plain error", io.ErrUnexpectedEOF, "0502", "soapenv:Server", "internal error"},
		{"hostile text", fault.New(fault.InvalidRequest, "a\x00b\n\n  <c>&"), "0401", "soapenv:Client", "a\uFFFDb <c>&"},
		{"long text", fault.New(fault.InvalidRequest, "%s", strings.Repeat("é", 2000)), "0401", "soapenv:Client", strings.Repeat("é", MaxLiteralError)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := Fault(tt.err, atr, testNow)
			names := wellFormed(t, doc)
			for local, want := range map[string]string{"Envelope": NSSOAP, "Fault": NSSOAP, "faultcode": "", "detail": "", "Atributos": NSFaultAtributos, "CodigoEstado": NSFaultAtributos} {
				if got := nsOf(names, local); len(got) != 1 || got[0] != want {
					t.Errorf("%s in namespaces %q, want %q", local, got, want)
				}
			}
			var env struct {
				Fault struct {
					Faultcode   string `xml:"faultcode"`
					Faultstring string `xml:"faultstring"`
					Atributos   struct {
						IdPeticion, NumElementos, TimeStamp, CodigoCertificado string
						Estado                                                 struct{ CodigoEstado, LiteralError string }
					} `xml:"detail>Atributos"`
				} `xml:"Body>Fault"`
			}
			if err := xml.Unmarshal(doc, &env); err != nil {
				t.Fatal(err)
			}
			f := env.Fault
			if f.Faultcode != tt.faultcode || f.Faultstring != tt.literal {
				t.Errorf("faultcode %q, faultstring %q; want %q, %q", f.Faultcode, f.Faultstring, tt.faultcode, tt.literal)
			}
			a := f.Atributos
			if a.Estado.CodigoEstado != tt.code || a.Estado.LiteralError != tt.literal || a.IdPeticion != "PONT-TEST-1" ||
				a.NumElementos != "1" || a.CodigoCertificado != "SVDSECOPA01WS01" || a.TimeStamp != "2026-12-07T10:15:02.345+01:00" {
				t.Errorf("Atributos = %+v", a)
			}
		})
	}
}

func TestFaultNamesEveryField(t *testing.T) {
	err := fault.Invalid(fault.InvalidRequest, fault.FieldError{Field: "subject.id", Message: "is required"}, fault.FieldError{Field: "purpose", Message: "is required"})
	doc := string(Fault(err, Atributos{}, testNow))
	if !strings.Contains(doc, "<LiteralError>subject.id: is required; purpose: is required</LiteralError>") {
		t.Fatalf("fault does not name each field:\n%s", doc)
	}
}

// TestPadroCodesOfTheRegisters checks that the six-digit codes municipal
// registers give (an entity's CCSSNN, a street's 0NNNNN) are written in
// SCSP's two- and five-digit elements without changing their value, and
// that a code that would change is refused.
func TestPadroCodesOfTheRegisters(t *testing.T) {
	data := `{"province":{"code":"08","name":"Barcelona"},"municipality":{"code":"08019","name":"Barcelona"},` +
		`"entity":{"singular":{"code":"000101","name":"Barcelona"},"nucleus":{"code":"01","name":"Barcelona"}},` +
		`"address":{"street_code":"048503","street_type":"C","street_name":"de Mallorca","number":"401","postcode":"08013"}}`
	got, err := padroRetorno(json.RawMessage(data), nil)
	if err != nil {
		t.Fatal(err)
	}
	d := got.(domicilio)
	if d.EntSingular == nil || d.EntSingular.Codigo != "01" || d.Nucleo.Codigo != "01" || d.Direccion.Via.Codigo != "48503" {
		t.Fatalf("%+v %+v %+v", d.EntSingular, d.Nucleo, d.Direccion.Via)
	}
	bad := strings.Replace(data, `"048503"`, `"148503"`, 1)
	if _, err := padroRetorno(json.RawMessage(bad), nil); err == nil {
		t.Fatal("a six-digit street code without a leading zero was written")
	}
}
