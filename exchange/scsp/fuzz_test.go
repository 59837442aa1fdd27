package scsp

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/pontexchange/pont/exchange/envelope"
)

// FuzzParsePeticion checks that no input makes ParsePeticion, Queries,
// Respuesta or Fault panic, that every refusal is an *Error with an SCSP
// code, and that what is written is well-formed XML.
func FuzzParsePeticion(f *testing.F) {
	padro, err := os.ReadFile("testdata/padro.xml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(padro)
	f.Add([]byte(billionLaughs))
	f.Add([]byte(externalEntity))
	f.Add(manyElements(f, 3))
	f.Add(bytes.Replace(padro, []byte(">NoOpo<"), []byte(">Si<"), 1))
	f.Add(bytes.Replace(padro, []byte(">NoOpo<"), []byte(">Ley<"), 1))
	cat := testCatalog(f)
	consents := func(string, string, envelope.Query) (string, error) { return "cons-1", nil }
	f.Fuzz(func(t *testing.T, doc []byte) {
		p, err := ParsePeticion(doc)
		if err == nil {
			var r *Request
			r, err = p.Queries(cat, consents)
			if err == nil {
				results := make([]Result, len(r.Queries))
				for i := range results {
					results[i] = Result{TransferID: "01939a7e-1c2b-7d3e-8f40-123456789abc", Data: json.RawMessage(padroData)}
				}
				out, rerr := p.Respuesta(results, testNow)
				if rerr != nil {
					var se *Error
					if !errors.As(rerr, &se) || se.SCSP != CodeAnswer {
						t.Fatalf("Respuesta error %v is not an SCSP %s", rerr, CodeAnswer)
					}
				} else {
					mustBeXML(t, out)
				}
				return
			}
		}
		var se *Error
		if !errors.As(err, &se) || len(se.SCSP) != 4 {
			t.Fatalf("error %v (%T) is not an *scsp.Error", err, err)
		}
		if p == nil {
			t.Fatal("no Peticion with the error")
		}
		mustBeXML(t, Fault(err, p.Atributos, testNow))
	})
}

func mustBeXML(t *testing.T, doc []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("not well-formed: %v\n%q", err, doc)
		}
	}
}
