package scsp

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/envelope"
	"github.com/pontexchange/pont/exchange/fault"
)

func testCatalog(t testing.TB) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func readPadro(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("testdata/padro.xml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// edit returns doc with each old replaced by its new, failing the test
// when an old is not in doc.
func edit(t testing.TB, doc string, pairs ...string) string {
	t.Helper()
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(doc, pairs[i]) {
			t.Fatalf("edit: %q is not in the document", pairs[i])
		}
		doc = strings.Replace(doc, pairs[i], pairs[i+1], 1)
	}
	return doc
}

func TestQueriesResidence(t *testing.T) {
	p, err := ParsePeticion([]byte(readPadro(t)))
	if err != nil {
		t.Fatal(err)
	}
	r, err := p.Queries(testCatalog(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := envelope.Query{
		Procedure:  envelope.Procedure{Code: "AJUT-MENJADOR", Name: "Ajuts de menjador escolar"},
		Purpose:    "social-benefits",
		LegalBasis: envelope.LegalBasis{Type: envelope.BasisPresumed},
		CaseID:     "EXP-2026/000123",
		Official:   envelope.Official{ID: "00000000T", Name: "Marta Puig Soler"},
		Subject:    envelope.Subject{IDType: "DNI", ID: "12345678Z", Name: "Laia", Surname1: "Garcia", Surname2: "Vidal"},
		Params:     envelope.StringParams(map[string]string{"municipality": "08019"}),
	}
	if r.Requester != "P0801900B" || r.Service != "padro" || len(r.Queries) != 1 {
		t.Fatalf("request = %s, %s, %d queries", r.Requester, r.Service, len(r.Queries))
	}
	got := r.Queries[0]
	if string(got.Params.JSON()) != string(want.Params.JSON()) {
		t.Errorf("params = %s, want %s", got.Params.JSON(), want.Params.JSON())
	}
	got.Params, want.Params = envelope.Params{}, envelope.Params{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("query =\n%+v\nwant\n%+v", got, want)
	}
}

func TestQueriesConsentimiento(t *testing.T) {
	found := func(requester, service string, q envelope.Query) (string, error) {
		if requester != "P0801900B" || service != "padro" || q.Subject.ID != "12345678Z" || q.Purpose != "social-benefits" {
			return "", nil
		}
		return "cons-0001", nil
	}
	none := func(string, string, envelope.Query) (string, error) { return "", nil }
	broken := func(string, string, envelope.Query) (string, error) {
		return "", fault.New(fault.StoreUnavailable, "the consents store is down")
	}
	tests := []struct {
		name     string
		consent  string
		finalid  string
		consents ConsentFinder
		want     envelope.LegalBasis
		code     string
	}{
		{"NoOpo is presumed", "NoOpo", "", nil, envelope.LegalBasis{Type: "presumed"}, ""},
		{"Ley is the service's first law", "Ley", "", nil, envelope.LegalBasis{Type: "law", Reference: "Llei 7/1985, art. 16"}, ""},
		{"Ley with the law in Finalidad", "Ley", "Ajuts de menjador escolar (llei 7/1985, art. 16)", nil, envelope.LegalBasis{Type: "law", Reference: "Llei 7/1985, art. 16"}, ""},
		{"Si with the consent recorded", "Si", "", found, envelope.LegalBasis{Type: "consent", ConsentID: "cons-0001"}, ""},
		{"Si without a consent", "Si", "", none, envelope.LegalBasis{}, "0236"},
		{"Si without a finder", "Si", "", nil, envelope.LegalBasis{}, "0236"},
		{"Si when the store fails", "Si", "", broken, envelope.LegalBasis{}, "0501"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := edit(t, readPadro(t), "<pet:Consentimiento>NoOpo<", "<pet:Consentimiento>"+tt.consent+"<")
			if tt.finalid != "" {
				doc = edit(t, doc, "Ajuts de menjador escolar, curs 2026-2027", tt.finalid)
			}
			p, err := ParsePeticion([]byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			r, err := p.Queries(testCatalog(t), tt.consents)
			if tt.code != "" {
				if got := SCSPCode(err); got != tt.code {
					t.Fatalf("error %v: SCSP code %s, want %s", err, got, tt.code)
				}
				var se *Error
				if !errors.As(err, &se) || !strings.HasSuffix(se.Element, "Solicitante/Consentimiento") {
					t.Fatalf("error %v does not name Consentimiento", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Queries[0].LegalBasis; got != tt.want {
				t.Fatalf("legal basis = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestQueriesRefusals(t *testing.T) {
	tests := []struct {
		name    string
		pairs   []string
		code    string
		element string
	}{
		{"passport", []string{">DNI<", ">Pasaporte<"}, "0404", "Titular/TipoDocumentacion"},
		{"no document type", []string{"<pet:TipoDocumentacion>DNI</pet:TipoDocumentacion>", ""}, "0402", "Titular/TipoDocumentacion"},
		{"bad check letter", []string{">12345678Z<", ">12345678A<"}, "0231", "Titular/Documentacion"},
		{"NIE given as DNI", []string{">12345678Z<", ">X1234567L<"}, "0231", "Titular/Documentacion"},
		{"unknown Finalidad", []string{"Ajuts de menjador escolar, curs 2026-2027", "Curiositat"}, "0401", "Solicitante/Finalidad"},
		{"case id over the later revision's 65", []string{"EXP-2026/000123", "EXP-2026/000123-" + strings.Repeat("X", 50)}, "0401", "Solicitante/IdExpediente"},
		{"official's id", []string{">00000000T<", ">00000000A<"}, "0401", "Funcionario/NifFuncionario"},
		{"requester not a NIF", []string{">P0801900B<", ">AJ-BCN<"}, "0401", "Solicitante/IdentificadorSolicitante"},
		{"unknown certificate", []string{"<pet:CodigoCertificado>SVDSECOPA01WS01</pet:CodigoCertificado>\n      </pet:Atributos>", "<pet:CodigoCertificado>SVDXXX</pet:CodigoCertificado>\n      </pet:Atributos>"}, "0401", "Atributos/CodigoCertificado"},
		{"element of another certificate", []string{"<pet:CodigoCertificado>SVDSECOPA01WS01</pet:CodigoCertificado>\n              <pet:IdSolicitud>", "<pet:CodigoCertificado>SVDTUWS03</pet:CodigoCertificado>\n              <pet:IdSolicitud>"}, "0401", "Transmision/CodigoCertificado"},
		{"no Residencia", []string{"<des:Residencia>\n                <des:Provincia>08</des:Provincia>\n                <des:Municipio>019</des:Municipio>\n              </des:Residencia>", ""}, "0402", "DatosEspecificos/Solicitud/Residencia"},
		// The schemas of the degrees and benefits certificates have no
		// DatosEspecificos in a Peticion: it may be left out, but the
		// residence needs the one that names the municipality.
		{"no DatosEspecificos", []string{"<des:DatosEspecificos>", "<!--", "</des:DatosEspecificos>", "-->"}, "0402", "DatosEspecificos/Solicitud"},
		{"no Municipio", []string{"<des:Municipio>019</des:Municipio>", ""}, "0402", "Residencia/Municipio"},
		{"bad Provincia", []string{">08</des:Provincia>", ">8</des:Provincia>"}, "0401", "Residencia/Provincia"},
		{"Residencia twice", []string{"</des:Residencia>", "</des:Residencia><des:Residencia><des:Provincia>17</des:Provincia></des:Residencia>"}, "0401", "Solicitud/Residencia"},
		{"Residencia in another namespace", []string{"<des:Residencia>", `<des:Residencia xmlns:des="urn:other">`}, "0401", "Solicitud/Residencia"},
		{"subject name over Pont's 40", []string{">Laia<", ">" + strings.Repeat("n", 45) + "<"}, "0401", "Titular/Nombre"},
	}
	cat := testCatalog(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePeticion([]byte(edit(t, readPadro(t), tt.pairs...)))
			if err == nil {
				_, err = p.Queries(cat, nil)
			}
			assertRefusal(t, err, tt.code, tt.element)
		})
	}
}

func assertRefusal(t *testing.T, err error, code, element string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want SCSP %s at %s", code, element)
	}
	var se *Error
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not an *scsp.Error", err, err)
	}
	if se.SCSP != code || !strings.HasSuffix(se.Element, element) {
		t.Fatalf("error %v: SCSP %s at %q, want %s at …%s", err, se.SCSP, se.Element, code, element)
	}
	if SCSPCode(err) != code {
		t.Fatalf("SCSPCode = %s, want %s", SCSPCode(err), code)
	}
	if _, ok := fault.As(err); !ok {
		t.Fatalf("error %v does not wrap a *fault.Error", err)
	}
}
