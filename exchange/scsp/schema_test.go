package scsp

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"strings"
	"testing"

	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/scsp/schemas"
	"github.com/pontexchange/pont/exchange/scsp/schemas/schematest"
)

// bodyChild answers the first element of a SOAP envelope's Body as a
// document of its own: its bytes, with the namespace declarations of the
// elements around it copied onto it, so that a schema can validate it.
func bodyChild(t *testing.T, doc []byte) []byte {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	var decls []string
	inBody := false
	for {
		start := d.InputOffset()
		tok, err := d.Token()
		if err == io.EOF {
			t.Fatalf("no element in the Body:\n%s", doc)
		}
		if err != nil {
			t.Fatal(err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if !inBody {
			for _, a := range se.Attr {
				if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
					name := "xmlns"
					if a.Name.Space == "xmlns" {
						name += ":" + a.Name.Local
					}
					decls = append(decls, name+`="`+a.Value+`"`)
				}
			}
			inBody = se.Name.Space == NSSOAP && se.Name.Local == "Body"
			continue
		}
		if err := d.Skip(); err != nil {
			t.Fatal(err)
		}
		frag := string(doc[start:d.InputOffset()])
		// After the element's name: its own declarations win over the copies,
		// which xmllint accepts as long as no name is declared twice.
		nameEnd := strings.IndexAny(frag, " \t\r\n>/")
		var own []string
		for _, dcl := range decls {
			if !strings.Contains(frag[:strings.IndexByte(frag, '>')], strings.SplitN(dcl, "=", 2)[0]+"=") {
				own = append(own, dcl)
			}
		}
		return []byte(frag[:nameEnd] + " " + strings.Join(own, " ") + frag[nameEnd:])
	}
}

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
	doc, err := p.Respuesta("padro", []Result{{TransferID: "01939a7e-1c2b-7d3e-8f40-123456789abc", Data: json.RawMessage(padroData)}}, testNow)
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
