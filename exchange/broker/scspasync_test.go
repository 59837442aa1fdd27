package broker_test

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pontexchange/pont/exchange/api"
	"github.com/pontexchange/pont/exchange/broker"
	"github.com/pontexchange/pont/exchange/scsp/schemas"
	"github.com/pontexchange/pont/exchange/scsp/schemas/schematest"
	"github.com/pontexchange/pont/exchange/scsp/wssec"
	"github.com/pontexchange/pont/exchange/scsp/wssec/devca"
)

// TestSCSPAsynchronousRequest sends an asynchronous residence Peticion of
// 1,000 elements, signed by the Ajuntament de Barcelona: it is
// acknowledged with a ConfirmacionPeticion, its SolicitudRespuesta is
// answered in process until every element ran, then with the Respuesta
// of all 1,000 (the found residents' Domicilio, the others' 0233), each
// element a transfer record that names the request. A repeated IdPeticion
// is 0229; another organisation cannot fetch the answer; the benefits
// certificate has no asynchronous mode (0903).
func TestSCSPAsynchronousRequest(t *testing.T) {
	ca, bcn, girona, nodeLeaf := scspCA(t, t.TempDir())
	n := startDevWith(t, broker.Config{
		SCSP: &api.SCSPDoor{Roots: ca.Pool(), Cert: nodeLeaf.Cert, Key: nodeLeaf.Key},
		Jobs: broker.JobsConfig{PerSource: 8, ChunkSize: 50},
	})
	post := func(code, action string, doc []byte, leaf devca.Leaf) (int, []byte) {
		t.Helper()
		signed, err := wssec.Sign(doc, leaf.Cert, leaf.Key, time.Now(), 5*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("POST", n.base+"/scsp/v3/"+code, bytes.NewReader(signed))
		req.Header.Set("Content-Type", "text/xml; charset=utf-8")
		if action != "" {
			req.Header.Set("SOAPAction", `"`+action+`"`)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusOK {
			if _, err := wssec.Verify(out, ca.Pool(), time.Now()); err != nil {
				t.Fatalf("the answer's signature: %v\n%s", err, out)
			}
		}
		return resp.StatusCode, out
	}

	const id = "PONT-ASYNC-0000000001"
	peticion := asyncPeticion(t, "SVDSECOPA01WS01", id, 1000)
	status, out := post("SVDSECOPA01WS01", "peticionAsincrona", peticion, bcn)
	if status != http.StatusOK || !bytes.Contains(out, []byte("ConfirmacionPeticion")) || !bytes.Contains(out, []byte("<CodigoEstado>0002</CodigoEstado>")) {
		t.Fatalf("the asynchronous request: %d\n%.2000s", status, out)
	}
	schematest.Validate(t, "SVDSECOPA01WS01", schemas.Older, "confirmacion-peticion.xsd", schematest.BodyChild(t, out))
	if !bytes.Contains(out, []byte("<TiempoEstimadoRespuesta>")) || !bytes.Contains(out, []byte("<NumElementos>1000</NumElementos>")) {
		t.Errorf("the ConfirmacionPeticion:\n%s", out)
	}

	// The same IdPeticion again, asynchronous or not: 0229.
	for _, action := range []string{"peticionAsincrona", "peticionSincrona"} {
		doc := peticion
		if action == "peticionSincrona" {
			doc = asyncPeticion(t, "SVDSECOPA01WS01", id, 1)
		}
		if status, out := post("SVDSECOPA01WS01", action, doc, bcn); status == http.StatusOK || !bytes.Contains(out, []byte("<CodigoEstado>0229</CodigoEstado>")) {
			t.Fatalf("a repeated IdPeticion (%s): %d\n%.2000s", action, status, out)
		}
	}

	fetch := solicitudRespuesta("SVDSECOPA01WS01", id)
	// Another organisation does not see Barcelona's request.
	if status, out := post("SVDSECOPA01WS01", "", fetch, girona); status == http.StatusOK || !bytes.Contains(out, []byte("no asynchronous request")) {
		t.Fatalf("Girona fetching Barcelona's answer: %d\n%s", status, out)
	}
	var answer []byte
	deadline := time.Now().Add(2 * time.Minute)
	for pending := 0; ; pending++ {
		status, out := post("SVDSECOPA01WS01", "solicitudRespuesta", fetch, bcn)
		if status != http.StatusOK {
			t.Fatalf("SolicitudRespuesta: %d\n%.2000s", status, out)
		}
		if bytes.Contains(out, []byte("<Transmisiones>")) {
			answer = out
			break
		}
		if !bytes.Contains(out, []byte("<CodigoEstado>0002</CodigoEstado>")) || !bytes.Contains(out, []byte("<TiempoEstimadoRespuesta>")) {
			t.Fatalf("an answer in process:\n%s", out)
		}
		if pending == 0 {
			schematest.Validate(t, "SVDSECOPA01WS01", schemas.Older, "respuesta.xsd", schematest.BodyChild(t, out))
		}
		if time.Now().After(deadline) {
			t.Fatalf("the request was not done in time:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	schematest.Validate(t, "SVDSECOPA01WS01", schemas.Older, "respuesta.xsd", schematest.BodyChild(t, answer))
	var r struct {
		Transmisiones []struct {
			IdSolicitud string `xml:"DatosGenericos>Transmision>IdSolicitud"`
			Documento   string `xml:"DatosGenericos>Titular>Documentacion"`
			Codigo      string `xml:"DatosEspecificos>Retorno>Estado>CodigoEstado"`
			Municipio   string `xml:"DatosEspecificos>Retorno>Domicilio>MunicipioRespuesta>Codigo"`
		} `xml:"Body>Respuesta>Transmisiones>TransmisionDatos"`
	}
	if err := xml.Unmarshal(answer, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Transmisiones) != 1000 {
		t.Fatalf("%d TransmisionDatos, want 1000", len(r.Transmisiones))
	}
	counts := map[string]int{}
	for i, td := range r.Transmisiones {
		if td.IdSolicitud != fmt.Sprintf("%s-%d", id, i+1) || td.Documento != asyncSubject(i) {
			t.Fatalf("element %d is %s about %s", i, td.IdSolicitud, td.Documento)
		}
		counts[td.Codigo]++
		if found := i%10 == 0; found != (td.Codigo == "0003") || found && td.Municipio != "019" {
			t.Fatalf("element %d (%s): Estado %s, municipality %q", i, td.Documento, td.Codigo, td.Municipio)
		}
	}
	if counts["0003"] != 100 || counts["0233"] != 900 {
		t.Errorf("the elements' states: %v", counts)
	}

	// Every element is a transfer record naming the request.
	tok := n.token(map[string]string{"role": "auditor", "sub": "dpo-1"})
	records, cursor := 0, ""
	for {
		path := "/v1/audit/transfers?scsp_request_id=" + id + "&limit=500"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		status, out, _ := n.do("GET", path, tok, nil)
		if status != http.StatusOK {
			t.Fatalf("audit: %d %v", status, out)
		}
		for _, it := range out["items"].([]any) {
			if m := it.(map[string]any); m["job_id"] != nil && m["job_id"] != "" {
				records++
			}
		}
		next, _ := out["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	if records != 1000 {
		t.Errorf("%d records of the request's elements, want 1000", records)
	}

	// The benefits certificate is synchronous only; an unknown IdPeticion
	// has no answer.
	if status, out := post("Q2827002CINSS001", "peticionAsincrona", asyncPeticion(t, "Q2827002CINSS001", "PONT-ASYNC-0000000002", 2), bcn); status == http.StatusOK || !bytes.Contains(out, []byte("<CodigoEstado>0903</CodigoEstado>")) {
		t.Fatalf("an asynchronous benefits request: %d\n%s", status, out)
	}
	if status, out := post("SVDSECOPA01WS01", "solicitudRespuesta", solicitudRespuesta("SVDSECOPA01WS01", "PONT-NEVER-SENT"), bcn); status == http.StatusOK || !bytes.Contains(out, []byte("no asynchronous request")) {
		t.Fatalf("fetching an unknown request: %d\n%s", status, out)
	}
}

// asyncSubject is the subject of element i: every tenth the resident the
// padró fixtures hold, the others DNIs with valid check letters that no
// register holds.
func asyncSubject(i int) string {
	if i%10 == 0 {
		return "12345678Z"
	}
	num := 70000000 + i
	return fmt.Sprintf("%08d%c", num, "TRWAGMYFPDXBNJZSQVHLCKE"[num%23])
}

// asyncPeticion writes a Peticion of n elements for certificate code from
// the development example of that certificate.
func asyncPeticion(t *testing.T, code, id string, n int) []byte {
	t.Helper()
	raw, err := os.ReadFile("devscsp/" + code + ".xml")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.ReplaceAll(string(raw), "PONT-DEV-0000000001", id)
	start := strings.Index(doc, "<pet:SolicitudTransmision>")
	end := strings.Index(doc, "</pet:SolicitudTransmision>") + len("</pet:SolicitudTransmision>")
	one := doc[start:end]
	var b strings.Builder
	for i := range n {
		el := strings.Replace(one, "<pet:IdSolicitud>"+id+"-1<", fmt.Sprintf("<pet:IdSolicitud>%s-%d<", id, i+1), 1)
		el = strings.Replace(el, "<pet:Documentacion>12345678Z<", "<pet:Documentacion>"+asyncSubject(i)+"<", 1)
		b.WriteString(el)
	}
	doc = doc[:start] + b.String() + doc[end:]
	doc = strings.Replace(doc, "<pet:NumElementos>1<", fmt.Sprintf("<pet:NumElementos>%d<", n), 1)
	return []byte(`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:pet="http://intermediacion.redsara.es/scsp/esquemas/V3/peticion" xmlns:des="http://intermediacion.redsara.es/scsp/esquemas/datosespecificos"><soapenv:Header/><soapenv:Body>` + doc + `</soapenv:Body></soapenv:Envelope>`)
}

// solicitudRespuesta writes the SolicitudRespuesta of request id.
func solicitudRespuesta(code, id string) []byte {
	return []byte(`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header/><soapenv:Body>` +
		`<sr:SolicitudRespuesta xmlns:sr="http://intermediacion.redsara.es/scsp/esquemas/V3/solicitudRespuesta"><sr:Atributos>` +
		`<sr:IdPeticion>` + id + `</sr:IdPeticion><sr:NumElementos>0</sr:NumElementos><sr:TimeStamp>2026-12-07T10:15:00.000+01:00</sr:TimeStamp>` +
		`<sr:CodigoCertificado>` + code + `</sr:CodigoCertificado></sr:Atributos></sr:SolicitudRespuesta></soapenv:Body></soapenv:Envelope>`)
}
