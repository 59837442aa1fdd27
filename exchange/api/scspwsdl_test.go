package api

import (
	"bytes"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/pontexchange/pont/catalog"
	"github.com/pontexchange/pont/exchange/scsp"
	"github.com/pontexchange/pont/exchange/scsp/schemas"
	"github.com/pontexchange/pont/exchange/scsp/schemas/schematest"
	"github.com/pontexchange/pont/internal/testenv"
)

// parsedWSDL is what the tests read of a WSDL.
type parsedWSDL struct {
	XMLName         xml.Name `xml:"http://schemas.xmlsoap.org/wsdl/ definitions"`
	TargetNamespace string   `xml:"targetNamespace,attr"`
	Imports         []struct {
		Namespace string `xml:"namespace,attr"`
		Location  string `xml:"schemaLocation,attr"`
	} `xml:"types>schema>import"`
	Messages []struct {
		Name  string `xml:"name,attr"`
		Parts []struct {
			Name    string `xml:"name,attr"`
			Element string `xml:"element,attr"`
		} `xml:"part"`
	} `xml:"http://schemas.xmlsoap.org/wsdl/ message"`
	PortTypes []struct {
		Operations []struct {
			Name   string `xml:"name,attr"`
			Faults []struct {
				Message string `xml:"message,attr"`
			} `xml:"fault"`
		} `xml:"operation"`
	} `xml:"http://schemas.xmlsoap.org/wsdl/ portType"`
	Bindings []struct {
		SOAP struct {
			Style     string `xml:"style,attr"`
			Transport string `xml:"transport,attr"`
		} `xml:"http://schemas.xmlsoap.org/wsdl/soap/ binding"`
		Operations []struct {
			Name   string `xml:"name,attr"`
			Action struct {
				SOAPAction string `xml:"soapAction,attr"`
			} `xml:"http://schemas.xmlsoap.org/wsdl/soap/ operation"`
			Input struct {
				Use string `xml:"use,attr"`
			} `xml:"input>body"`
			Output struct {
				Use string `xml:"use,attr"`
			} `xml:"output>body"`
		} `xml:"operation"`
	} `xml:"http://schemas.xmlsoap.org/wsdl/ binding"`
	Services []struct {
		Ports []struct {
			Address struct {
				Location string `xml:"location,attr"`
			} `xml:"http://schemas.xmlsoap.org/wsdl/soap/ address"`
		} `xml:"port"`
	} `xml:"http://schemas.xmlsoap.org/wsdl/ service"`
	Addresses []string `xml:"-"`
}

func (w *parsedWSDL) read(doc []byte) error {
	if err := xml.Unmarshal(doc, w); err != nil {
		return err
	}
	for _, s := range w.Services {
		for _, p := range s.Ports {
			w.Addresses = append(w.Addresses, p.Address.Location)
		}
	}
	return nil
}

// wsdlServer serves the SOAP door's routes with the embedded catalog.
func wsdlServer(t *testing.T) (*server, http.Handler) {
	t.Helper()
	cat, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{cfg: Config{Catalog: cat}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	r := chi.NewRouter()
	s.scspRoutes(r)
	return s, r
}

// servedCodes are the certificate codes of the embedded catalog.
func servedCodes(t *testing.T, s *server) []string {
	t.Helper()
	var codes []string
	for _, name := range s.cfg.Catalog.ServiceNames() {
		if svc, _ := s.cfg.Catalog.Service(name); svc.SCSPCertificate != "" && !slices.Contains(codes, svc.SCSPCertificate) {
			codes = append(codes, svc.SCSPCertificate)
		}
	}
	if len(codes) == 0 {
		t.Fatal("the catalog names no SCSP certificate")
	}
	return codes
}

func get(t *testing.T, url string) (int, http.Header, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// wellFormed fails t unless doc is well-formed XML.
func wellFormed(t *testing.T, doc []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, doc)
		}
	}
}

// TestSCSPWSDL fetches each endpoint's WSDL and every schema it imports.
func TestSCSPWSDL(t *testing.T) {
	s, h := wsdlServer(t)
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, code := range servedCodes(t, s) {
		t.Run(code, func(t *testing.T) {
			endpoint := srv.URL + "/scsp/v3/" + code
			status, hdr, doc := get(t, endpoint+"?wsdl")
			if status != http.StatusOK || hdr.Get("Content-Type") != "text/xml; charset=utf-8" {
				t.Fatalf("%d %q\n%s", status, hdr.Get("Content-Type"), doc)
			}
			wellFormed(t, doc)
			var w parsedWSDL
			if err := w.read(doc); err != nil {
				t.Fatal(err)
			}
			if w.TargetNamespace != nsWSDL {
				t.Errorf("targetNamespace %q", w.TargetNamespace)
			}
			if len(w.Addresses) != 1 || w.Addresses[0] != endpoint {
				t.Errorf("soap:address %q, want %q", w.Addresses, endpoint)
			}
			dir, err := schemas.Files(code, schemas.Older)
			if err != nil {
				t.Fatal(err)
			}
			_, hasFault := fs.Stat(schemas.FS, path.Join(dir, "soapfaultatributos.xsd"))
			want := []string{"datos-especificos.xsd", "peticion.xsd", "respuesta.xsd"}
			if hasFault == nil {
				want = append(want, "soapfaultatributos.xsd")
			}
			var got []string
			for _, imp := range w.Imports {
				file, ok := strings.CutPrefix(imp.Location, endpoint+"/schemas/")
				if !ok {
					t.Errorf("import %q is not under the endpoint's schemas/", imp.Location)
					continue
				}
				got = append(got, file)
				status, hdr, b := get(t, imp.Location)
				embedded, err := fs.ReadFile(schemas.FS, path.Join(dir, file))
				if err != nil {
					t.Fatal(err)
				}
				if status != http.StatusOK || hdr.Get("Content-Type") != "text/xml; charset=utf-8" || !bytes.Equal(b, embedded) {
					t.Errorf("%s: %d %q, %d bytes, not the embedded %d", imp.Location, status, hdr.Get("Content-Type"), len(b), len(embedded))
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("imports %q, want %q", got, want)
			}
			// One operation, synchronous, document/literal over SOAP 1.1 HTTP.
			if len(w.PortTypes) != 1 || len(w.PortTypes[0].Operations) != 1 || w.PortTypes[0].Operations[0].Name != "peticionSincrona" {
				t.Errorf("portType operations: %+v", w.PortTypes)
			} else if faults := w.PortTypes[0].Operations[0].Faults; (len(faults) == 1) != (hasFault == nil) {
				t.Errorf("faults %+v, and the certificate has soapfaultatributos.xsd: %v", faults, hasFault == nil)
			}
			if len(w.Bindings) != 1 || w.Bindings[0].SOAP.Style != "document" || w.Bindings[0].SOAP.Transport != "http://schemas.xmlsoap.org/soap/http" ||
				len(w.Bindings[0].Operations) != 1 || w.Bindings[0].Operations[0].Name != "peticionSincrona" ||
				w.Bindings[0].Operations[0].Action.SOAPAction != "peticionSincrona" ||
				w.Bindings[0].Operations[0].Input.Use != "literal" || w.Bindings[0].Operations[0].Output.Use != "literal" {
				t.Errorf("binding: %+v", w.Bindings)
			}
			parts := map[string]string{}
			for _, m := range w.Messages {
				for _, p := range m.Parts {
					parts[m.Name] = p.Element
				}
			}
			if parts["peticionMessage"] != "pet:Peticion" || parts["respuestaMessage"] != "resp:Respuesta" ||
				(parts["faultSCSPMessage"] == "sf:Atributos") != (hasFault == nil) {
				t.Errorf("messages: %v", parts)
			}
			for _, async := range []string{"peticionAsincrona", "solicitudRespuesta", "SolicitudRespuesta", "ConfirmacionPeticion"} {
				if bytes.Contains(doc, []byte(async)) {
					t.Errorf("the WSDL describes %s, which the door does not serve", async)
				}
			}

			// Every file of the certificate is served as it is embedded.
			entries, err := fs.ReadDir(schemas.FS, dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				embedded, _ := fs.ReadFile(schemas.FS, path.Join(dir, e.Name()))
				if status, _, b := get(t, endpoint+"/schemas/"+e.Name()); status != http.StatusOK || !bytes.Equal(b, embedded) {
					t.Errorf("%s: %d, not the embedded file", e.Name(), status)
				}
			}
		})
	}
}

// TestSCSPWSDLRefuses: unknown certificates, files that are not the
// certificate's, and paths that climb out of its folder are not found.
func TestSCSPWSDLRefuses(t *testing.T) {
	_, h := wsdlServer(t)
	srv := httptest.NewServer(h)
	defer srv.Close()

	for _, code := range []string{
		"SVDXXXXX",
		"SVDINESECOPACONVIVENCIAACTUALWS01", // the later revision's reference, no service
		"..%2Folder%2FSVDSECOPA01WS01",
	} {
		status, _, b := get(t, srv.URL+"/scsp/v3/"+code+"?wsdl")
		if status != http.StatusNotFound || !bytes.Contains(b, []byte("Fault")) || !bytes.Contains(b, []byte("<CodigoEstado>0401</CodigoEstado>")) {
			t.Errorf("%s?wsdl: %d\n%s", code, status, b)
		}
	}
	if status, _, b := get(t, srv.URL+"/scsp/v3/SVDSECOPA01WS01"); status != http.StatusMethodNotAllowed {
		t.Errorf("GET without ?wsdl: %d\n%s", status, b)
	}
	for _, p := range []string{
		"SVDSECOPA01WS01/schemas/SOURCE.md",
		"SVDSECOPA01WS01/schemas/schemas.go",
		"SVDSECOPA01WS01/schemas/",
		"SVDSECOPA01WS01/schemas/.",
		"SVDSECOPA01WS01/schemas/..",
		"SVDSECOPA01WS01/schemas/%2e%2e",
		"SVDSECOPA01WS01/schemas/../../SVDTUWS03/schemas/peticion.xsd",
		"SVDSECOPA01WS01/schemas/../../../SOURCE.md",
		"SVDSECOPA01WS01/schemas/..%2F..%2FSOURCE.md",
		"SVDSECOPA01WS01/schemas/%2e%2e%2f%2e%2e%2fSOURCE.md",
		"SVDSECOPA01WS01/schemas/%2E%2E%2F%2E%2E%2FSVDTUWS03%2Fpeticion.xsd",
		"SVDSECOPA01WS01/schemas/..%5c..%5cSOURCE.md",
		"SVDSECOPA01WS01/schemas/%252e%252e%252fSOURCE.md",
		"SVDSECOPA01WS01/schemas/peticion.xsd%00",
		"SVDSECOPA01WS01/schemas/peticion.xsd%2F",
		"SVDSECOPA01WS01/schemas/%2Fpeticion.xsd",
		"SVDSECOPA01WS01/schemas/PETICION.XSD",
		"SVDTUWS03/schemas/soapfaultatributos.xsd", // another certificate has it, SVDTUWS03 does not
		"SVDINESECOPACONVIVENCIAACTUALWS01/schemas/peticion.xsd",
		"..%2Flater%2FSVDINESECOPACONVIVENCIAACTUALWS01/schemas/peticion.xsd",
		"%2e%2e/SVDSECOPA01WS01/schemas/peticion.xsd",
		"SVDXXXXX/schemas/peticion.xsd",
	} {
		// http.NewRequest keeps the path as written: dots are not cleaned
		// away by the client.
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/scsp/v3/"+p, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || bytes.Contains(b, []byte("schema")) && bytes.Contains(b, []byte("<xs:")) {
			t.Errorf("%s: %d\n%s", p, resp.StatusCode, b)
		}
	}
}

// TestSCSPWSDLAddress: the address is built from the request's Host,
// escaped, and its scheme from TLS or X-Forwarded-Proto.
func TestSCSPWSDLAddress(t *testing.T) {
	_, h := wsdlServer(t)
	for _, c := range []struct {
		host, proto string
		tls         bool
		want        string
	}{
		{"pont.example", "", false, "http://pont.example/scsp/v3/SVDSECOPA01WS01"},
		{"pont.example:8443", "", true, "https://pont.example:8443/scsp/v3/SVDSECOPA01WS01"},
		{"pont.example", "https", false, "https://pont.example/scsp/v3/SVDSECOPA01WS01"},
		{"pont.example", "HTTPS, http", false, "https://pont.example/scsp/v3/SVDSECOPA01WS01"},
		{"pont.example", "javascript", false, "http://pont.example/scsp/v3/SVDSECOPA01WS01"},
		{"[::1]:8080", "", false, "http://[::1]:8080/scsp/v3/SVDSECOPA01WS01"},
		// A Host no real server lets through: still well-formed XML, the
		// quote and angle brackets escaped, not markup.
		{`x"/><evil a="&b`, "", false, ""},
	} {
		req := httptest.NewRequest(http.MethodGet, "/scsp/v3/SVDSECOPA01WS01?wsdl", nil)
		req.Host = c.host
		if c.proto != "" {
			req.Header.Set("X-Forwarded-Proto", c.proto)
		}
		if c.tls {
			req.TLS = &tls.ConnectionState{}
		} else {
			req.TLS = nil
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("%q: %d\n%s", c.host, rec.Code, rec.Body)
		}
		doc := rec.Body.Bytes()
		wellFormed(t, doc)
		var w parsedWSDL
		if err := w.read(doc); err != nil {
			t.Fatal(err)
		}
		if len(w.Addresses) != 1 {
			t.Fatalf("%q: addresses %q", c.host, w.Addresses)
		}
		if c.want != "" && w.Addresses[0] != c.want {
			t.Errorf("%q %q: address %q, want %q", c.host, c.proto, w.Addresses[0], c.want)
		}
		if c.want == "" && (bytes.Contains(doc, []byte("<evil")) || !strings.HasSuffix(w.Addresses[0], "/scsp/v3/SVDSECOPA01WS01")) {
			t.Errorf("%q: address %q\n%s", c.host, w.Addresses[0], doc)
		}
		for _, imp := range w.Imports {
			if !strings.HasPrefix(imp.Location, w.Addresses[0]+"/schemas/") {
				t.Errorf("%q: import %q not under %q", c.host, imp.Location, w.Addresses[0])
			}
		}
	}
	req := httptest.NewRequest(http.MethodGet, "/scsp/v3/SVDSECOPA01WS01?wsdl", nil)
	req.Host = ""
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest {
		t.Errorf("no Host: %d\n%s", rec.Code, rec.Body)
	}
}

// TestSCSPWSDLSchemasCompile: each imported schema compiles, and the
// WSDL's types section, with its imports pointed at the files the node
// served, compiles and validates a residence Peticion.
func TestSCSPWSDLSchemasCompile(t *testing.T) {
	testenv.NeedTools(t, schematest.Install, "xmllint")
	s, h := wsdlServer(t)
	srv := httptest.NewServer(h)
	defer srv.Close()
	notAnSCSPDocument := []byte(`<compile-only xmlns="urn:pont:test"/>`)
	for _, code := range servedCodes(t, s) {
		t.Run(code, func(t *testing.T) {
			endpoint := srv.URL + "/scsp/v3/" + code
			_, _, doc := get(t, endpoint+"?wsdl")
			var w parsedWSDL
			if err := w.read(doc); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			for _, imp := range w.Imports {
				file := path.Base(imp.Location)
				// schematest.Check fails t if the schema does not compile,
				// and answers an error (a refusal) for a document it does
				// not declare.
				if err := schematest.Check(t, code, schemas.Older, file, notAnSCSPDocument); err == nil {
					t.Errorf("%s accepts a document it does not declare", file)
				}
				_, _, b := get(t, imp.Location)
				if err := os.WriteFile(filepath.Join(dir, file), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// The types section as written in the WSDL, its schemaLocations
			// made relative to the files just fetched.
			start := bytes.Index(doc, []byte("<xsd:schema"))
			end := bytes.Index(doc, []byte("</xsd:schema>"))
			if start < 0 || end < start {
				t.Fatalf("no xsd:schema in the WSDL:\n%s", doc)
			}
			types := string(doc[start : end+len("</xsd:schema>")])
			types = strings.Replace(types, "<xsd:schema", `<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema"`, 1)
			types = strings.ReplaceAll(types, endpoint+"/schemas/", "")
			typesFile := filepath.Join(dir, "wsdl-types.xsd")
			if err := os.WriteFile(typesFile, []byte(types), 0o644); err != nil {
				t.Fatal(err)
			}
			// Every message's element is declared by the imports: a
			// document of it alone fails on its content, never for want
			// of a declaration.
			roots := []string{`<Peticion xmlns="` + scsp.NSPeticion + `"/>`, `<Respuesta xmlns="` + scsp.NSRespuesta + `"/>`}
			if len(w.Imports) == 4 {
				roots = append(roots, `<Atributos xmlns="`+scsp.NSFaultAtributos+`"/>`)
			}
			for _, root := range roots {
				out := xmllint(t, typesFile, []byte(root), 3)
				for _, bad := range []string{"No matching global declaration", "Skipping the import", "failed to load"} {
					if strings.Contains(out, bad) {
						t.Errorf("%s against the WSDL's types: %s", root, out)
					}
				}
			}
			if code == "SVDSECOPA01WS01" {
				peticion, err := os.ReadFile("../scsp/schemas/testdata/residence-older-valid.xml")
				if err != nil {
					t.Fatal(err)
				}
				xmllint(t, typesFile, peticion, 0)
			}
		})
	}
}

// xmllint validates doc against schema and fails t unless xmllint exits
// with want (0: valid; 3: invalid, the schema compiled; 5: the schema did
// not compile), and answers what xmllint said.
func xmllint(t *testing.T, schema string, doc []byte, want int) string {
	t.Helper()
	cmd := exec.Command("xmllint", "--noout", "--nonet", "--schema", schema, "-")
	cmd.Stdin = bytes.NewReader(doc)
	out, err := cmd.CombinedOutput()
	got := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		got = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("xmllint --schema %s: exit %d, want %d\n%s", filepath.Base(schema), got, want, out)
	}
	return string(out)
}
