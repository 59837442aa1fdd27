package broker_test

import (
	"bytes"
	"encoding/xml"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"testing"

	"github.com/pontexchange/pont/exchange/api"
	"github.com/pontexchange/pont/exchange/broker"
	"github.com/pontexchange/pont/exchange/scsp/schemas"
	"github.com/pontexchange/pont/exchange/scsp/wssec/devca"
)

// TestSCSPWSDLOnNode: a node with the SOAP door open publishes each
// endpoint's WSDL, naming the endpoint's URL, and serves every schema it
// imports as embedded.
func TestSCSPWSDLOnNode(t *testing.T) {
	ca, err := devca.NewCA(t.TempDir() + "/ca")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue("Pont node", "Q0801175A")
	if err != nil {
		t.Fatal(err)
	}
	n := startDevWith(t, broker.Config{SCSP: &api.SCSPDoor{Roots: ca.Pool(), Cert: leaf.Cert, Key: leaf.Key}})
	get := func(url string) (int, string, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), b
	}

	const code = "SVDSECOPA01WS01"
	endpoint := n.base + "/scsp/v3/" + code
	status, ct, doc := get(endpoint + "?wsdl")
	if status != http.StatusOK || ct != "text/xml; charset=utf-8" {
		t.Fatalf("%d %q\n%s", status, ct, doc)
	}
	var w struct {
		Imports []struct {
			Location string `xml:"schemaLocation,attr"`
		} `xml:"types>schema>import"`
		Operations []struct {
			Name string `xml:"name,attr"`
		} `xml:"portType>operation"`
		Ports []struct {
			Address struct {
				Location string `xml:"location,attr"`
			} `xml:"http://schemas.xmlsoap.org/wsdl/soap/ address"`
		} `xml:"service>port"`
	}
	if err := xml.Unmarshal(doc, &w); err != nil {
		t.Fatalf("the WSDL is not well-formed: %v\n%s", err, doc)
	}
	if len(w.Ports) != 1 || w.Ports[0].Address.Location != endpoint {
		t.Errorf("soap:address %+v, want %s", w.Ports, endpoint)
	}
	// A node runs jobs: the residence certificate's asynchronous mode is
	// served, and its two schemas imported.
	if len(w.Operations) != 3 || w.Operations[0].Name != "peticionSincrona" || w.Operations[1].Name != "peticionAsincrona" || w.Operations[2].Name != "solicitudRespuesta" {
		t.Errorf("operations %+v", w.Operations)
	}
	if len(w.Imports) != 6 {
		t.Errorf("imports %+v", w.Imports)
	}
	// The benefits certificate is published without one.
	if _, _, benefits := get(n.base + "/scsp/v3/Q2827002CINSS001?wsdl"); !bytes.Contains(benefits, []byte(`operation name="peticionSincrona"`)) || bytes.Contains(benefits, []byte("peticionAsincrona")) {
		t.Errorf("the benefits WSDL:\n%s", benefits)
	}
	dir, err := schemas.Files(code, schemas.Older)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range w.Imports {
		file, ok := strings.CutPrefix(imp.Location, endpoint+"/schemas/")
		if !ok {
			t.Errorf("import %s is not the endpoint's", imp.Location)
			continue
		}
		embedded, err := fs.ReadFile(schemas.FS, path.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		if status, _, b := get(imp.Location); status != http.StatusOK || !bytes.Equal(b, embedded) {
			t.Errorf("%s: %d, not the embedded file", imp.Location, status)
		}
	}

	for _, p := range []string{
		"/scsp/v3/SVDXXXXX?wsdl",
		"/scsp/v3/SVDINESECOPACONVIVENCIAACTUALWS01?wsdl",
		"/scsp/v3/" + code + "/schemas/SOURCE.md",
		"/scsp/v3/" + code + "/schemas/../../../SOURCE.md",
		"/scsp/v3/" + code + "/schemas/..%2F..%2F..%2FSOURCE.md",
		"/scsp/v3/" + code + "/schemas/%2e%2e%2f%2e%2e%2fSVDTUWS03%2fpeticion.xsd",
		"/scsp/v3/..%2Flater%2FSVDINESECOPACONVIVENCIAACTUALWS01/schemas/peticion.xsd",
		"/scsp/v3/SVDTUWS03/schemas/soapfaultatributos.xsd",
	} {
		if status, _, b := get(n.base + p); status != http.StatusNotFound {
			t.Errorf("%s: %d\n%s", p, status, b)
		}
	}

}
