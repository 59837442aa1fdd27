package scsp

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

const billionLaughs = `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>&lol3;</soapenv:Body></soapenv:Envelope>`

const externalEntity = `<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>&xxe;</soapenv:Body></soapenv:Envelope>`

func TestParseRefusals(t *testing.T) {
	padro := readPadro(t)
	solicitud := padro[strings.Index(padro, "<pet:SolicitudTransmision>"):strings.Index(padro, "</pet:Solicitudes>")]
	deep := strings.Repeat("<des:x>", MaxDepth) + strings.Repeat("</des:x>", MaxDepth)
	tests := []struct {
		name    string
		doc     string
		code    string
		element string
	}{
		{"billion laughs", billionLaughs, "0226", ""},
		{"external entity", externalEntity, "0226", ""},
		{"DOCTYPE after the declaration", strings.Replace(padro, "?>\n", "?>\n<!DOCTYPE x>\n", 1), "0226", ""},
		{"undeclared entity", edit(t, padro, ">INE<", ">&ine;<"), "0226", "Emisor/NombreEmisor"},
		{"NUL byte", edit(t, padro, ">INE<", ">I\x00NE<"), "0226", ""},
		{"invalid UTF-8", edit(t, padro, ">INE<", ">I\xffNE<"), "0226", ""},
		{"other encoding declared", edit(t, padro, `encoding="UTF-8"`, `encoding="ISO-8859-1"`), "0226", ""},
		{"processing instruction", edit(t, padro, "<pet:Peticion>", "<?php echo 1; ?><pet:Peticion>"), "0226", "Body"},
		{"not well-formed", edit(t, padro, "</pet:Emisor>", "</pet:Emisr>"), "0226", ""},
		{"empty", "", "0226", ""},
		{"too deep", edit(t, padro, "<des:Espanol>s</des:Espanol>", deep), "0226", "DatosEspecificos"},
		{"not a SOAP envelope", edit(t, padro, "soapenv:Envelope xmlns:soapenv", "soapenv:Envelope xmlns:other=\"x\" xmlns:soapenv2"), "0401", "Envelope"},
		{"SOAP 1.2 envelope", strings.ReplaceAll(padro, "http://schemas.xmlsoap.org/soap/envelope/", "http://www.w3.org/2003/05/soap-envelope"), "0401", "Envelope"},
		{"Peticion in another namespace", strings.ReplaceAll(padro, "scsp/esquemas/V3/peticion", "scsp/esquemas/V2/peticion"), "0401", "Peticion"},
		{"unknown element", edit(t, padro, "<pet:IdExpediente>", "<pet:Comentari>x</pet:Comentari><pet:IdExpediente>"), "0401", "Solicitante"},
		{"element under the wrong parent", edit(t, padro, "<pet:IdExpediente>", "<pet:Nombre>x</pet:Nombre><pet:IdExpediente>"), "0401", "Solicitante"},
		{"repeated Finalidad", edit(t, padro, "<pet:Consentimiento>", "<pet:Finalidad>demo</pet:Finalidad><pet:Consentimiento>"), "0401", "Solicitante/Finalidad"},
		{"repeated Titular", edit(t, padro, "<pet:Transmision>", "<pet:Titular/><pet:Transmision>"), "0401", "DatosGenericos/Titular"},
		{"repeated Atributos", edit(t, padro, "<pet:Solicitudes>", "<pet:Atributos/><pet:Solicitudes>"), "0401", "Peticion/Atributos"},
		{"sequence out of order", edit(t, padro, "<pet:Nombre>Laia</pet:Nombre>\n              <pet:Apellido1>Garcia</pet:Apellido1>", "<pet:Apellido1>Garcia</pet:Apellido1>\n              <pet:Nombre>Laia</pet:Nombre>"), "0401", "Titular/Nombre"},
		{"text where elements go", edit(t, padro, "<pet:Emisor>", "<pet:Emisor>hola"), "0401", "Emisor"},
		{"element in a leaf", edit(t, padro, ">INE<", "><b>INE</b><"), "0401", "Emisor/NombreEmisor"},
		{"leaf too long", edit(t, padro, ">PONT-TEST-0000000001<", ">PONT-TEST-0000000001-0123456789<"), "0401", "Atributos/IdPeticion"},
		{"bad Consentimiento", edit(t, padro, ">NoOpo<", ">Potser<"), "0401", "Solicitante/Consentimiento"},
		{"bad TipoDocumentacion", edit(t, padro, ">DNI<", ">Carnet<"), "0404", "Titular/TipoDocumentacion"},
		{"missing Finalidad", edit(t, padro, "<pet:Finalidad>Ajuts de menjador escolar, curs 2026-2027</pet:Finalidad>", ""), "0402", "Solicitante/Finalidad"},
		{"missing Funcionario", edit(t, padro, "<pet:Funcionario>", "<!--", "</pet:Funcionario>", "-->"), "0402", "Solicitante/Funcionario"},
		{"empty IdExpediente", edit(t, padro, ">EXP-2026/000123<", ">   <"), "0402", "Solicitante/IdExpediente"},
		{"NumElementos too high", edit(t, padro, "<pet:NumElementos>1<", "<pet:NumElementos>2<"), "0237", "Atributos/NumElementos"},
		{"NumElementos too low", edit(t, padro, "</pet:Solicitudes>", solicitud+"</pet:Solicitudes>"), "0237", "Atributos/NumElementos"},
		{"NumElementos not a number", edit(t, padro, "<pet:NumElementos>1<", "<pet:NumElementos>u<"), "0401", "Atributos/NumElementos"},
		{"NumElementos zero", edit(t, padro, "<pet:NumElementos>1<", "<pet:NumElementos>0<"), "0401", "Atributos/NumElementos"},
		{"more than 1000 elements", edit(t, padro, "</pet:Solicitudes>", strings.Repeat(solicitud, MaxElements)+"</pet:Solicitudes>"), "0237", "Peticion/Solicitudes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePeticion([]byte(tt.doc))
			assertRefusal(t, err, tt.code, tt.element)
			if p == nil {
				t.Fatal("no Peticion on error")
			}
		})
	}
}

func TestParseKeepsAtributosOnError(t *testing.T) {
	doc := edit(t, readPadro(t), ">NoOpo<", ">Potser<")
	p, err := ParsePeticion([]byte(doc))
	if err == nil {
		t.Fatal("parsed")
	}
	if p.Atributos.IdPeticion != "PONT-TEST-0000000001" || p.Atributos.CodigoCertificado != "SVDSECOPA01WS01" || p.Atributos.NumElementos != "1" {
		t.Fatalf("Atributos = %+v", p.Atributos)
	}
}

func TestParseAccepts(t *testing.T) {
	padro := readPadro(t)
	tests := []struct {
		name string
		doc  string
	}{
		{"default namespaces", `<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body>` +
			`<Peticion xmlns="http://intermediacion.redsara.es/scsp/esquemas/V3/peticion">` +
			padroPeticionInner(t, padro) + `</Peticion></Body></Envelope>`},
		{"Atributos after Solicitudes", moveAtributos(t, padro)},
		{"a WS-Security header", edit(t, padro, "<soapenv:Header/>", `<soapenv:Header><wsse:Security xmlns:wsse="urn:wsse"><wsse:Token>x</wsse:Token><wsse:Token>y</wsse:Token></wsse:Security></soapenv:Header>`)},
		{"comments and CDATA", edit(t, padro, ">INE<", "><!-- emisor --><![CDATA[INE]]><")},
		{"no Header", edit(t, padro, "<soapenv:Header/>", "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePeticion([]byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Queries(testCatalog(t), nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// padroPeticionInner returns the padró request's Peticion content with
// the pet: prefix removed and DatosEspecificos declaring its own
// namespace.
func padroPeticionInner(t *testing.T, padro string) string {
	t.Helper()
	inner := padro[strings.Index(padro, "<pet:Atributos>"):strings.Index(padro, "</pet:Peticion>")]
	inner = strings.ReplaceAll(inner, "pet:", "")
	return strings.ReplaceAll(inner, "<des:DatosEspecificos>", `<des:DatosEspecificos xmlns:des="`+NSDatosEspecificos+`">`)
}

func moveAtributos(t *testing.T, padro string) string {
	t.Helper()
	i, j := strings.Index(padro, "<pet:Atributos>"), strings.Index(padro, "</pet:Atributos>")+len("</pet:Atributos>")
	atr := padro[i:j]
	doc := padro[:i] + padro[j:]
	return edit(t, doc, "</pet:Solicitudes>", "</pet:Solicitudes>"+atr)
}

// manyElements returns the padró request with n SolicitudTransmision.
func manyElements(t testing.TB, n int) []byte {
	padro := readPadro(t)
	solicitud := padro[strings.Index(padro, "<pet:SolicitudTransmision>"):strings.Index(padro, "</pet:Solicitudes>")]
	doc := edit(t, padro, "<pet:NumElementos>1<", fmt.Sprintf("<pet:NumElementos>%d<", n),
		solicitud, strings.Repeat(solicitud, n))
	return []byte(doc)
}

func TestParseThousandElements(t *testing.T) {
	doc := manyElements(t, MaxElements)
	start := time.Now()
	p, err := ParsePeticion(doc)
	if err != nil {
		t.Fatal(err)
	}
	r, err := p.Queries(testCatalog(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("parsing and mapping %d elements (%d bytes) took %v", MaxElements, len(doc), took)
	}
	if len(r.Queries) != MaxElements {
		t.Fatalf("%d queries", len(r.Queries))
	}
}

func BenchmarkParsePeticion1000(b *testing.B) {
	doc := manyElements(b, MaxElements)
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if _, err := ParsePeticion(doc); err != nil {
			b.Fatal(err)
		}
	}
}
