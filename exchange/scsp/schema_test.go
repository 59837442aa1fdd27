package scsp

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/scsp/schemas"
	"github.com/pontexchange/pont/exchange/scsp/schemas/schematest"
)

// bodyChild is schematest.BodyChild.
func bodyChild(t *testing.T, doc []byte) []byte { t.Helper(); return schematest.BodyChild(t, doc) }

// TestDocumentsMatchThePublishedSchemas holds the residence request and
// Pont's answer and fault to the certificate's published XSDs (the older
// revision, the one published for SVDSECOPA01WS01: Consentimiento Si or
// Ley), with xmllint.
func TestDocumentsMatchThePublishedSchemas(t *testing.T) {
	const code = "SVDSECOPA01WS01"
	req := strings.Replace(readPadro(t), "<pet:Consentimiento>NoOpo</pet:Consentimiento>", "<pet:Consentimiento>Ley</pet:Consentimiento>", 1)
	schematest.Validate(t, code, schemas.Older, "peticion.xsd", bodyChild(t, []byte(req)))

	p, err := ParsePeticion([]byte(req))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := p.Respuesta([]Result{{TransferID: "01939a7e-1c2b-7d3e-8f40-123456789abc", Data: json.RawMessage(padroData)}}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	answer := bodyChild(t, doc)
	schematest.Validate(t, code, schemas.Older, "respuesta.xsd", answer)
	// The check can fail: the same answer without its IdPeticion is refused.
	i, j := bytes.Index(answer, []byte("IdPeticion>")), bytes.LastIndex(answer, []byte("IdPeticion>"))
	if i < 0 || i == j {
		t.Fatalf("the answer has no IdPeticion:\n%s", answer)
	}
	start := bytes.LastIndexByte(answer[:i], '<')
	broken := append(append([]byte{}, answer[:start]...), answer[j+len("IdPeticion>"):]...)
	schematest.Refuse(t, code, schemas.Older, "respuesta.xsd", broken)

	f := Fault(fault.New(fault.SubjectNotFound, "no consta"), p.Atributos, testNow)
	if !bytes.Contains(f, []byte("0233")) {
		t.Fatalf("the fault lacks its code:\n%s", f)
	}
	detail := faultDetail(t, f)
	schematest.Validate(t, code, schemas.Older, "soapfaultatributos.xsd", detail)
}

// faultDetail answers the element inside a SOAP fault's detail, with the
// namespace declarations around it, as bodyChild does for a Body.
func faultDetail(t *testing.T, doc []byte) []byte {
	t.Helper()
	i := bytes.Index(doc, []byte("<detail>"))
	j := bytes.LastIndex(doc, []byte("</detail>"))
	if i < 0 || j < 0 {
		t.Fatalf("no detail in the fault:\n%s", doc)
	}
	wrapped := append([]byte(`<e:Envelope xmlns:e="`+NSSOAP+`"><e:Body>`), doc[i+len("<detail>"):j]...)
	wrapped = append(wrapped, "</e:Body></e:Envelope>"...)
	return bodyChild(t, wrapped)
}
