package scsp

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/pontexchange/pont/exchange/scsp/schemas"
	"github.com/pontexchange/pont/exchange/scsp/schemas/schematest"
)

// The answers of the reference adapters' fixtures (plugins/*/cases, the
// found case, purpose demo: every field).
const (
	discapacitatData = `{"region":{"code":"09","name":"Catalunya"},"degree":45,"types":["physical"],` +
		`"mobility_score":7,"mobility_factor":"A","dependency":false,"companion_required":false,` +
		`"effective_date":"2019-05-10","review_date":"2027-05-10","permanent_validity":false}`
	familiaNombrosaData = `{"region":{"code":"09","name":"Catalunya"},"title_number":"09/0012345/2021","category":"G",` +
		`"valid":true,"issue_date":"2021-03-01","expiry_date":"2027-03-01","children":3,"beneficiaries":[` +
		`{"id_type":"DNI","id":"12345678Z","name":"Anna","surname1":"Puig","surname2":"Soler","birth_date":"1980-02-14","relationship":"holder"},` +
		`{"id_type":"DNI","id":"56789012B","name":"Marc","surname1":"Casals","surname2":"Riera","birth_date":"1978-10-02","relationship":"spouse"},` +
		`{"name":"Júlia","surname1":"Casals","surname2":"Puig","birth_date":"2010-07-19","relationship":"child"},` +
		`{"name":"Pau","surname1":"Casals","surname2":"Puig","birth_date":"2013-01-05","relationship":"child"},` +
		`{"name":"Clara","surname1":"Casals","surname2":"Puig","birth_date":"2017-04-28","relationship":"child"}]}`
	// titulacions' fixture: two university titles and a non-university
	// one.
	titulacionsData = `{"titles":[{"kind":"university","university":{"code":"022","name":"Universitat de Barcelona"},` +
		`"centre":{"code":"08032321","name":"Facultat de Dret"},` +
		`"title":{"code":"2500210","name":"Graduado o Graduada en Derecho por la Universitat de Barcelona"},` +
		`"type":{"code":"0H","name":"Grado"},"completion_date":"2012-06-30","issue_date":"2012-11-20",` +
		`"country":"ES","title_number":"2012/081234","registry_number":"2012246813"},` +
		`{"kind":"university","university":{"code":"042","name":"Universitat Pompeu Fabra"},` +
		`"centre":{"code":"08070261","name":"Facultat de Ciències Polítiques i de Gestió Pública"},` +
		`"title":{"code":"4310521","name":"Máster Universitario en Gestión Pública Avanzada"},` +
		`"type":{"code":"0G","name":"Máster"},"completion_date":"2014-07-15","issue_date":"2014-12-03","country":"ES","registry_number":"2014135790"},` +
		`{"kind":"non_university","centre":{"code":"08013275","name":"Institut Escola del Treball de Barcelona, centre públic de formació professional"},` +
		`"title":{"code":"IFC03S","name":"Técnico Superior en Desarrollo de Aplicaciones Web"},` +
		`"type":{"code":"TS","name":"Técnico Superior"},"completion_date":"2009-06-19","country":"ES","registry_number":"2009/0812345"}]}`
	prestacionsData = `{"benefits":[{"code":"PF02","name":"Asignación económica por hijo o menor a cargo","type":"non_contributory",` +
		`"managing_body":{"code":"INSS","name":"Instituto Nacional de la Seguridad Social"},"gross_amount":341,"net_amount":341,"payments":12,"effective_date":"2021-04-01"},` +
		`{"code":"SD31","name":"Subsidio por desempleo","type":"assistance","managing_body":{"code":"SEPE","name":"Servicio Público de Empleo Estatal"},` +
		`"gross_amount":480,"net_amount":451.2,"payments":12,"effective_date":"2023-01-15","end_date":"2024-01-14"}]}`
)

// TestRetornoMatchesThePublishedSchemas renders each certificate's answer
// from Pont's answer data and holds it to the certificate's published
// respuesta.xsd; the request is the certificate's, in testdata.
func TestRetornoMatchesThePublishedSchemas(t *testing.T) {
	for _, tc := range []struct {
		service, code, request, data string
		want                         []string
	}{
		{"discapacitat", "SVDSCDDWS01", "discapacitat.xml", discapacitatData, []string{
			"<CertificadoDatosDiscapacidad><CodigoComunidadAutonoma>09</CodigoComunidadAutonoma><RespuestaMovilidad><Puntuacion>7</Puntuacion><Factor>A</Factor></RespuestaMovilidad>",
			"<GradoDiscapacidad>45</GradoDiscapacidad><TiposDiscapacidad><TipoDiscapacidad>FISICA</TipoDiscapacidad></TiposDiscapacidad><FechaEfectos>10/05/2019</FechaEfectos><FechaRevision>10/05/2027</FechaRevision><ValidezPermanente>N</ValidezPermanente>",
		}},
		{"familia-nombrosa", "SVDSCTFNWS01", "familia-nombrosa.xml", familiaNombrosaData, []string{
			"<NumeroTitulo>09/0012345/2021</NumeroTitulo><Categoria>G</Categoria><TituloVigente>S</TituloVigente><FechaExpedicion>01/03/2021</FechaExpedicion><FechaCaducidad>01/03/2027</FechaCaducidad><NumeroHijos>3</NumeroHijos>",
			"<BeneficiarioRetorno><TipoDocumentacion>DNI</TipoDocumentacion><Documentacion>12345678Z</Documentacion><FechaNacimiento>14/02/1980</FechaNacimiento><Nombre>Anna</Nombre><Apellido1>Puig</Apellido1><Apellido2>Soler</Apellido2><Titular>S</Titular></BeneficiarioRetorno>",
		}},
		{"titulacions", "SVDTUWS03", "titulacions.xml", titulacionsData, []string{
			"<DatosCentro><CodigoUniversidad>022</CodigoUniversidad><Universidad>Universitat de Barcelona</Universidad><CodigoCentro>08032321</CodigoCentro><Centro>Facultat de Dret</Centro></DatosCentro>",
			"<FechaFinalizacion>30/06/2012</FechaFinalizacion><FechaExpedicion>20/11/2012</FechaExpedicion><CodigoPaisExpedicion>ES</CodigoPaisExpedicion><NumeroTitulo>2012/081234</NumeroTitulo><RegistroUniversitario>2012246813</RegistroUniversitario>",
		}},
		{"titulacions", "SVDTNUWS03", "titulacions-no-universitarias.xml", titulacionsData, []string{
			"<ListaTitulos><DatosTitulacion><DatosCentro><CodigoCentro>08013275</CodigoCentro><Centro>Institut Escola del Treball de Barcelona</Centro></DatosCentro>",
			"<CodigoTitulacion>IFC03S</CodigoTitulacion><Titulacion>Técnico Superior en Desarrollo de Aplicaciones Web</Titulacion><CodigoTipoTitulo>TS</CodigoTipoTitulo><TipoTitulo>Técnico Superio</TipoTitulo><FechaFinalizacion>19/06/2009</FechaFinalizacion><CodigoPaisExpedicion>ES</CodigoPaisExpedicion><NumeroRegistroMec>2009/0812345</NumeroRegistroMec></DatosTitulo></DatosTitulacion></ListaTitulos>",
		}},
		{"prestacions", "Q2827002CINSS001", "prestacions.xml", prestacionsData, []string{
			"<Retorno><Codigo>0003</Codigo><Descripcion>Tramitada</Descripcion><Pensionista><Fec-proceso>20261207</Fec-proceso><Apellido1>Garcia</Apellido1><Apellido2>Vidal</Apellido2><Nombre>Laia</Nombre></Pensionista>",
			"<Pension><Cod-prest>SD31</Cod-prest><Lit-prest>Subsidio por desempleo</Lit-prest><Tip-prest>ASISTENCIAL</Tip-prest><Ent-gest>SEPE</Ent-gest><Ent-gest-lit>Servicio Público de Empleo Estatal</Ent-gest-lit><Imp-bruto>480.00</Imp-bruto><Imp-liquido>451.20</Imp-liquido><Num-pagas>12</Num-pagas><Fec-efectos>20230115</Fec-efectos><Fec-fin>20240114</Fec-fin></Pension>",
		}},
	} {
		t.Run(tc.code, func(t *testing.T) {
			req, err := os.ReadFile("testdata/" + tc.request)
			if err != nil {
				t.Fatal(err)
			}
			schematest.Validate(t, tc.code, schemas.Older, "peticion.xsd", bodyChild(t, req))
			p, err := ParsePeticion(req)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := p.Respuesta([]Result{{TransferID: "01939a7e-1c2b-7d3e-8f40-123456789abc", Data: json.RawMessage(tc.data)}}, testNow)
			if err != nil {
				t.Fatal(err)
			}
			answer := bodyChild(t, doc)
			schematest.Validate(t, tc.code, schemas.Older, "respuesta.xsd", answer)
			for _, w := range tc.want {
				if !strings.Contains(string(answer), w) {
					t.Errorf("the answer lacks %s:\n%s", w, answer)
				}
			}
			if strings.Contains(string(answer), notRenderedText) {
				t.Errorf("the answer says it is not rendered:\n%s", answer)
			}
		})
	}
}

// TestRetornoRefuses holds the renderings to their rules: a code that does
// not fit its element, a value outside the schema's, and an answer
// without what the certificate requires are refused with 0227.
func TestRetornoRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, service, request, data, want string
	}{
		{"disability region not a community", "discapacitat", "discapacitat.xml", strings.Replace(discapacitatData, `"code":"09"`, `"code":"009"`, 1), "region code"},
		{"disability degree over 100", "discapacitat", "discapacitat.xml", strings.Replace(discapacitatData, `"degree":45`, `"degree":145`, 1), "degree"},
		{"disability without degree (purpose)", "discapacitat", "discapacitat.xml", `{"effective_date":"2019-05-10","permanent_validity":false}`, "region, degree"},
		{"disability date not ISO", "discapacitat", "discapacitat.xml", strings.Replace(discapacitatData, `"2019-05-10"`, `"10/05/2019"`, 1), "effective date"},
		{"large family title number too long", "familia-nombrosa", "familia-nombrosa.xml", strings.Replace(familiaNombrosaData, `"09/0012345/2021"`, `"`+strings.Repeat("9", 31)+`"`, 1), "title number"},
		{"large family id too long", "familia-nombrosa", "familia-nombrosa.xml", strings.Replace(familiaNombrosaData, `"56789012B"`, `"567890123456789"`, 1), "beneficiary's id"},
		{"large family no children", "familia-nombrosa", "familia-nombrosa.xml", strings.Replace(familiaNombrosaData, `"children":3`, `"children":0`, 1), "NumeroHijos"},
		{"large family without region (purpose tax-reduction)", "familia-nombrosa", "familia-nombrosa.xml", `{"title_number":"09/0012345/2021","category":"G","valid":true,"expiry_date":"2027-03-01"}`, "region, children"},
		{"degree registry number too long", "titulacions", "titulacions.xml", strings.Replace(titulacionsData, `"2012246813"`, `"2012/246813"`, 1), "registry number"},
		{"non-university centre code too long", "titulacions", "titulacions-no-universitarias.xml", strings.Replace(titulacionsData, `"08013275"`, `"08013275123"`, 1), "centre code"},
		{"benefit amount not a number", "prestacions", "prestacions.xml", strings.Replace(prestacionsData, `"gross_amount":480`, `"gross_amount":-480`, 1), "gross amount"},
		{"degree university code too long", "titulacions", "titulacions.xml", strings.Replace(titulacionsData, `"code":"022"`, `"code":"02222"`, 1), "university code"},
		{"degree title code too long", "titulacions", "titulacions.xml", strings.Replace(titulacionsData, `"code":"2500210"`, `"code":"250021025002"`, 1), "title code"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := os.ReadFile("testdata/" + tc.request)
			if err != nil {
				t.Fatal(err)
			}
			p, err := ParsePeticion(req)
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.Respuesta([]Result{{TransferID: "t-1", Data: json.RawMessage(tc.data)}}, testNow)
			var e *Error
			if !errors.As(err, &e) || e.SCSP != CodeAnswer || !strings.Contains(e.Message, tc.want) {
				t.Fatalf("got %v, want an *Error %s naming %q", err, CodeAnswer, tc.want)
			}
		})
	}
}

// TestDisabilityTypesNeedConsent: the types are written only when the
// request's ConsentimientoTiposDiscapacidad is S.
func TestDisabilityTypesNeedConsent(t *testing.T) {
	req, err := os.ReadFile("testdata/discapacitat.xml")
	if err != nil {
		t.Fatal(err)
	}
	no := strings.Replace(string(req), "<des:ConsentimientoTiposDiscapacidad>S<", "<des:ConsentimientoTiposDiscapacidad>N<", 1)
	p, err := ParsePeticion([]byte(no))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := p.Respuesta([]Result{{TransferID: "t-1", Data: json.RawMessage(discapacitatData)}}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	answer := bodyChild(t, doc)
	if strings.Contains(string(answer), "TipoDiscapacidad") {
		t.Fatalf("types written without consent:\n%s", answer)
	}
	schematest.Validate(t, "SVDSCDDWS01", schemas.Older, "respuesta.xsd", answer)
}

// TestFailedElementsMatchThePublishedSchemas: an element refused or failed
// in an asynchronous request carries its code and text in its
// certificate's Retorno, and the answer still follows the certificate's
// respuesta.xsd.
func TestFailedElementsMatchThePublishedSchemas(t *testing.T) {
	for code, request := range map[string]string{
		"SVDSECOPA01WS01": "padro.xml", "SVDSCDDWS01": "discapacitat.xml", "SVDSCTFNWS01": "familia-nombrosa.xml",
		"SVDTUWS03": "titulacions.xml", "SVDTNUWS03": "titulacions-no-universitarias.xml", "Q2827002CINSS001": "prestacions.xml",
	} {
		t.Run(code, func(t *testing.T) {
			req, err := os.ReadFile("testdata/" + request)
			if err != nil {
				t.Fatal(err)
			}
			// The older revision's Consentimiento, which the answer echoes.
			req = bytes.Replace(req, []byte(">NoOpo<"), []byte(">Ley<"), 1)
			p, err := ParsePeticion(req)
			if err != nil {
				t.Fatal(err)
			}
			literal := "The holder is not in the source's register: " + strings.Repeat("ñ", 300)
			doc, err := p.Respuesta([]Result{{TransferID: "t-1", Code: "0233", Literal: literal}}, testNow)
			if err != nil {
				t.Fatal(err)
			}
			answer := bodyChild(t, doc)
			schematest.Validate(t, code, schemas.Older, "respuesta.xsd", answer)
			if !strings.Contains(string(answer), ">0233<") || !strings.Contains(string(answer), "The holder is not in") {
				t.Errorf("the failed element's code is not in the answer:\n%s", answer)
			}
		})
	}
}
