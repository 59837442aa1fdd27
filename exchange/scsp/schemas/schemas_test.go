package schemas_test

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pontexchange/pont/exchange/scsp/schemas"
	"github.com/pontexchange/pont/exchange/scsp/schemas/schematest"
)

// The certificates of docs/scsp.md: the catalog's five services, and the
// non-university degrees beside the university ones.
var certificates = []string{
	"SVDSECOPA01WS01", "SVDTUWS03", "SVDTNUWS03", "SVDSCDDWS01", "SVDSCTFNWS01", "Q2827002CINSS001",
}

const (
	residence   = "SVDSECOPA01WS01"
	convivencia = "SVDINESECOPACONVIVENCIAACTUALWS01" // the later revision's only public copy
)

func TestEveryCertificateHasSchemas(t *testing.T) {
	for _, code := range certificates {
		if _, err := schemas.Files(code, schemas.Older); err != nil {
			t.Error(err)
		}
	}
	if _, err := schemas.Files(convivencia, schemas.Later); err != nil {
		t.Error(err)
	}
	// Every certificate the catalog names has its schemas.
	files, err := filepath.Glob("../../../catalog/services/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no catalog services found: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var svc struct {
			Certificate string `json:"scsp_certificate"`
		}
		if err := json.Unmarshal(b, &svc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if _, err := schemas.Files(svc.Certificate, schemas.Older); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestFilesRefuses(t *testing.T) {
	for _, c := range []struct{ code, revision string }{
		{residence, "v2"},
		{residence, ""},
		{residence, schemas.Later}, // not public in the later revision
		{"SVDNOSUCHWS01", schemas.Older},
		{"", schemas.Older},
		{"../older/" + residence, schemas.Later},
		{residence + "/..", schemas.Older},
	} {
		if dir, err := schemas.Files(c.code, c.revision); err == nil {
			t.Errorf("Files(%q, %q) = %q, want an error", c.code, c.revision, dir)
		}
	}
}

// Each shipped file is the one SOURCE.md names: its git blob id is in the
// file's row.
func TestSourceNamesEveryFile(t *testing.T) {
	source, err := fs.ReadFile(schemas.FS, "SOURCE.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(string(source), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) == 5 && strings.HasSuffix(strings.TrimSpace(cells[1]), ".xsd`") {
			rows[strings.Trim(strings.TrimSpace(cells[1]), "`")] = strings.Trim(strings.TrimSpace(cells[3]), "`")
		}
	}
	n := 0
	for _, name := range xsds(t) {
		n++
		b, err := fs.ReadFile(schemas.FS, name)
		if err != nil {
			t.Fatal(err)
		}
		blob, ok := rows[name]
		if !ok {
			t.Errorf("SOURCE.md has no row for %s", name)
			continue
		}
		if id := gitBlobID(b); !strings.HasPrefix(id, blob) || len(blob) < 12 {
			t.Errorf("%s: git blob %s, SOURCE.md says %q: the file differs from its source", name, id, blob)
		}
	}
	if n != len(rows) {
		t.Errorf("SOURCE.md lists %d files, %d are shipped", len(rows), n)
	}
}

func TestEverySchemaCompiles(t *testing.T) {
	for _, name := range xsds(t) {
		revision, rest, _ := strings.Cut(name, "/")
		code, file, _ := strings.Cut(rest, "/")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// A root no schema declares: xmllint compiles the schema, then
			// refuses the document (a schema that does not compile fails
			// the test in schematest.Check).
			err := schematest.Check(t, code, revision, file, []byte(`<NoSuchRoot/>`))
			if err == nil || !strings.Contains(err.Error(), "No matching global declaration") {
				t.Errorf("want the unknown root refused, got %v", err)
			}
		})
	}
}

func TestResidencePeticionOlder(t *testing.T) {
	schematest.Validate(t, residence, schemas.Older, "peticion.xsd", testdata(t, "residence-older-valid.xml"))
	for file, why := range defects {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			refusedFor(t, residence, schemas.Older, "residence-older-"+file, why)
		})
	}
}

func TestPeticionLater(t *testing.T) {
	schematest.Validate(t, convivencia, schemas.Later, "peticion.xsd", testdata(t, "convivencia-later-valid.xml"))
	for file, why := range defects {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			refusedFor(t, convivencia, schemas.Later, "convivencia-later-"+file, why)
		})
	}
}

// NoOpo, the presumed authorisation of Llei 39/2015 art. 28.2, is what the
// later revision adds: the older one refuses it.
func TestNoOpoOnlyInTheLaterRevision(t *testing.T) {
	refusedFor(t, residence, schemas.Older, "residence-older-noopo.xml", "'NoOpo' is not an element of the set {'Si', 'Ley'}")
	later := testdata(t, "convivencia-later-valid.xml")
	if !strings.Contains(string(later), "<Consentimiento>NoOpo</Consentimiento>") {
		t.Fatal("convivencia-later-valid.xml should use Consentimiento NoOpo")
	}
	schematest.Validate(t, convivencia, schemas.Later, "peticion.xsd", later)
}

// The typical defects, by file suffix, with what xmllint must say of each.
var defects = map[string]string{
	"no-idpeticion.xml":          "Atributos': Missing child element(s). Expected is one of ( {http://intermediacion.redsara.es/scsp/esquemas/V3/peticion}IdPeticion",
	"numelementos-1001.xml":      "NumElementos': [facet 'maxInclusive'] The value '1001' is greater than the maximum value allowed ('1000')",
	"consentimiento-tal-vez.xml": "Consentimiento': [facet 'enumeration'] The value 'Tal vez'",
	"idexpediente-66.xml":        "IdExpediente': [facet 'maxLength'] The value has a length of '66'",
}

func refusedFor(t *testing.T, code, revision, file, why string) {
	t.Helper()
	msg := schematest.Refuse(t, code, revision, "peticion.xsd", testdata(t, file))
	if msg != "" && !strings.Contains(msg, why) {
		t.Errorf("%s refused, but not for %q:\n%s", file, why, msg)
	}
}

func testdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// xsds lists every schema file of FS.
func xsds(t *testing.T) []string {
	t.Helper()
	var names []string
	err := fs.WalkDir(schemas.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && path.Ext(p) == ".xsd" {
			names = append(names, p)
		}
		return err
	})
	if err != nil || len(names) == 0 {
		t.Fatalf("no schemas embedded: %v", err)
	}
	return names
}

func gitBlobID(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}
