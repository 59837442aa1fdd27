package broker_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pontexchange/pont/exchange/api"
	"github.com/pontexchange/pont/exchange/broker"
	"github.com/pontexchange/pont/exchange/scsp/schemas"
	"github.com/pontexchange/pont/exchange/scsp/schemas/schematest"
	"github.com/pontexchange/pont/exchange/scsp/wssec"
	"github.com/pontexchange/pont/exchange/scsp/wssec/devca"
	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/internal/testenv"
)

// TestSCSPDoor sends signed SCSP v3 Peticiones for the residence
// certificate to a node: the one signed by the requesting organisation is
// answered with a signed Respuesta carrying the residence and recorded as
// any query; the rest are SOAP faults with their SCSP codes.
func TestSCSPDoor(t *testing.T) {
	dir := t.TempDir()
	ca, bcn, girona, node := scspCA(t, dir)
	other, err := devca.NewCA(dir + "/other")
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := other.Issue("Ajuntament de Barcelona - sello", "P0801900B")
	if err != nil {
		t.Fatal(err)
	}
	n := startDevWith(t, broker.Config{SCSP: &api.SCSPDoor{Roots: ca.Pool(), Cert: node.Cert, Key: node.Key}})

	raw, err := os.ReadFile("../scsp/testdata/padro.xml")
	if err != nil {
		t.Fatal(err)
	}
	peticion := string(raw)
	sign := func(doc string, leaf devca.Leaf) []byte {
		t.Helper()
		signed, err := wssec.Sign([]byte(doc), leaf.Cert, leaf.Key, time.Now(), 5*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return signed
	}
	post := func(code string, body []byte) (int, string) {
		t.Helper()
		resp, err := http.Post(n.base+"/scsp/v3/"+code, "text/xml; charset=utf-8", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}

	status, answer := post("SVDSECOPA01WS01", sign(peticion, bcn))
	if status != http.StatusOK {
		t.Fatalf("a signed residence request: %d\n%s", status, answer)
	}
	verified, err := wssec.Verify([]byte(answer), ca.Pool(), time.Now())
	if err != nil {
		t.Fatalf("the answer's signature: %v\n%s", err, answer)
	}
	if org, _ := wssec.OrganisationOf(verified.Certificate); org != "Q0801175A" {
		t.Errorf("the answer is signed by %q", org)
	}
	// The school-meal aid's purpose sees where she lives, not her address:
	// minimisation holds on this door as on the JSON API.
	body := string(verified.Body)
	if !strings.Contains(body, "<MunicipioRespuesta><Codigo>019</Codigo>") || strings.Contains(body, "Direccion") || strings.Contains(body, "Mallorca") {
		t.Errorf("the social-benefits answer:\n%s", body)
	}
	// The same signed request again: its IdPeticion was used (0229).
	if status, out := post("SVDSECOPA01WS01", sign(peticion, bcn)); status == http.StatusOK || !strings.Contains(out, "CodigoEstado>0229<") {
		t.Fatalf("a repeated IdPeticion: %d\n%s", status, out)
	}
	demo := strings.NewReplacer(
		"<pet:IdPeticion>PONT-TEST-0000000001</pet:IdPeticion>", "<pet:IdPeticion>PONT-TEST-0000000002</pet:IdPeticion>",
		"<pet:CodProcedimiento>AJUT-MENJADOR</pet:CodProcedimiento>", "<pet:CodProcedimiento>DEMO</pet:CodProcedimiento>",
		"<pet:Finalidad>Ajuts de menjador escolar, curs 2026-2027</pet:Finalidad>", "<pet:Finalidad>demo</pet:Finalidad>",
	).Replace(peticion)
	status, answer = post("SVDSECOPA01WS01", sign(demo, bcn))
	if status != http.StatusOK {
		t.Fatalf("a signed demonstration request: %d\n%s", status, answer)
	}
	for _, want := range []string{"Domicilio", "Direccion", "Mallorca", "PONT-TEST-0000000002", "0003"} {
		if !strings.Contains(answer, want) {
			t.Errorf("the demonstration answer lacks %q:\n%s", want, answer)
		}
	}
	recs := searchSubject(t, n, "12345678Z")
	// Both answered requests are transfers, newest first.
	if len(recs) != 2 || recs[0].ProcedureCode != "DEMO" || recs[1].ProcedureCode != "AJUT-MENJADOR" ||
		recs[0].RequesterOrg != "P0801900B" || recs[0].Outcome != "ok" || recs[1].Outcome != "ok" {
		t.Fatalf("the SOAP queries' records: %+v", recs)
	}

	// The records name the SCSP request and its SolicitudTransmision.
	tok := n.token(map[string]string{"role": "auditor", "sub": "dpo-1"})
	status, out, _ := n.do("GET", "/v1/audit/transfers?scsp_request_id=PONT-TEST-0000000001", tok, nil)
	items, _ := out["items"].([]any)
	if status != http.StatusOK || len(items) != 2 || items[0].(map[string]any)["outcome"] != "idempotency_key_reused" ||
		items[1].(map[string]any)["outcome"] != "ok" || items[1].(map[string]any)["scsp_solicitud_id"] != "PONT-TEST-0000000001-1" {
		t.Fatalf("the records of the SCSP request: %d %v", status, out)
	}

	for _, c := range []struct {
		name, code string
		body       []byte
		scsp       string
	}{
		{"unsigned", "SVDSECOPA01WS01", []byte(peticion), "0305"},
		{"signed by another CA's certificate", "SVDSECOPA01WS01", sign(peticion, stranger), "0305"},
		{"signed by another organisation than the Solicitante", "SVDSECOPA01WS01", sign(peticion, girona), "0301"},
		{"the body changed after signing", "SVDSECOPA01WS01", bytes.Replace(sign(peticion, bcn), []byte("12345678Z"), []byte("45678901G"), 1), "0305"},
		{"another certificate's endpoint", "SVDSCDDWS01", sign(peticion, bcn), "0401"},
		{"a certificate no service answers", "SVDXXXXX", sign(peticion, bcn), "0401"},
		{"not XML", "SVDSECOPA01WS01", []byte("hola"), "0305"},
		{"a source in maintenance", "SVDSECOPA01WS01", sign(strings.NewReplacer("12345678Z", "22222222J", "PONT-TEST-0000000001<", "PONT-TEST-0000000003<").Replace(peticion), bcn), "0901"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, out := post(c.code, c.body)
			if status == http.StatusOK || !strings.Contains(out, "Fault") || !strings.Contains(out, "<CodigoEstado>"+c.scsp+"</CodigoEstado>") && !strings.Contains(out, "CodigoEstado>"+c.scsp+"<") {
				t.Fatalf("%d\n%s", status, out)
			}
		})
	}
	// A request refused once its signature said who sent it is recorded
	// as that organisation's attempt; an unsigned one is nobody's.
	status, out, _ = n.do("GET", "/v1/audit/transfers?requester=P1708500B", tok, nil)
	items, _ = out["items"].([]any)
	if status != http.StatusOK || len(items) != 1 || items[0].(map[string]any)["outcome"] != "forbidden" ||
		items[0].(map[string]any)["scsp_request_id"] != "PONT-TEST-0000000001" {
		t.Fatalf("Girona's refused attempt: %d %v", status, out)
	}
}

// searchSubject answers the records of subject, newest first, through the
// auditor's API's store.
func searchSubject(t *testing.T, n *node, subject string) []store.Transfer {
	t.Helper()
	tok := n.token(map[string]string{"role": "auditor", "sub": "dpo-1"})
	status, out, _ := n.do("GET", "/v1/audit/transfers?subject="+subject, tok, nil)
	if status != http.StatusOK {
		t.Fatalf("audit search: %d %v", status, out)
	}
	var recs []store.Transfer
	for _, it := range out["items"].([]any) {
		m := it.(map[string]any)
		recs = append(recs, store.Transfer{
			ProcedureCode: str(m["procedure"]), RequesterOrg: str(m["requester"]), Outcome: str(m["outcome"]),
		})
	}
	return recs
}

func str(v any) string { s, _ := v.(string); return s }

// TestSCSPExamplesOfEveryCertificate signs the example request of each
// certificate that a development node writes, with xmlsec1 and the
// commands pont dev prints, sends it, and holds the answer to the
// certificate's published respuesta.xsd and its signature to xmlsec1.
func TestSCSPExamplesOfEveryCertificate(t *testing.T) {
	testenv.NeedTools(t, "Debian: apt-get install curl xmlsec1", "curl", "xmlsec1")
	dir := t.TempDir()
	n := startDevWith(t, broker.Config{DataDir: filepath.Join(dir, ".pont-dev")})
	nodeCert := filepath.Join(dir, ".pont-dev", "scsp", "pont-development-node.pem")
	for _, code := range broker.DevSCSPCertificates {
		t.Run(code, func(t *testing.T) {
			script := broker.DevSCSPCommandsFor(".pont-dev", n.base, code)
			cmd := exec.Command("bash", "-euo", "pipefail", "-c", strings.TrimSpace(script)+" > respuesta.xml")
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			answer, err := os.ReadFile(filepath.Join(dir, "respuesta.xml"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(answer, []byte("Respuesta")) || bytes.Contains(answer, []byte("Fault")) {
				t.Fatalf("not a Respuesta:\n%s", answer)
			}
			schematest.Validate(t, code, schemas.Older, "respuesta.xsd", schematest.BodyChild(t, answer))
			verify := append([]string{"--verify", "--pubkey-cert-pem", nodeCert}, append(devca.IDAttrFlags(), "respuesta.xml")...)
			cmd = exec.Command("xmlsec1", verify...)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("xmlsec1 does not verify the answer's signature: %v\n%s\n%s", err, out, answer)
			}
			// The DEMO procedure sees every field: the answer has data, not
			// an Estado alone.
			for _, want := range map[string][]string{
				"SVDSECOPA01WS01":  {"<Domicilio>", "de Mallorca"},
				"SVDTUWS03":        {"<ListaTitulos>", "<RegistroUniversitario>"},
				"SVDTNUWS03":       {"<ListaTitulos>", "<NumeroRegistroMec>"},
				"SVDSCDDWS01":      {"<GradoDiscapacidad>"},
				"SVDSCTFNWS01":     {"<TituloFamiliaNumerosaRetorno>"},
				"Q2827002CINSS001": {"<Pension>", "<Cod-prest>"},
			}[code] {
				if !bytes.Contains(answer, []byte(want)) {
					t.Errorf("the answer lacks %s:\n%s", want, answer)
				}
			}
		})
	}
}

// scspCA makes a development CA in dir/ca and its seal certificates of the
// Ajuntament de Barcelona, the Ajuntament de Girona and a node.
func scspCA(t *testing.T, dir string) (ca *devca.CA, bcn, girona, node devca.Leaf) {
	t.Helper()
	ca, err := devca.NewCA(dir + "/ca")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []struct {
		leaf    *devca.Leaf
		cn, nif string
	}{{&bcn, "Ajuntament de Barcelona - sello", "P0801900B"}, {&girona, "Ajuntament de Girona - sello", "P1708500B"}, {&node, "Pont node", "Q0801175A"}} {
		if *l.leaf, err = ca.Issue(l.cn, l.nif); err != nil {
			t.Fatal(err)
		}
	}
	return ca, bcn, girona, node
}
