// Package schematest validates XML documents against the SCSP v3 schemas of
// package schemas, for tests. It runs xmllint (Debian package
// libxml2-utils); where xmllint is missing the test is skipped, or failed
// in CI, as internal/testenv does for every tool.
package schematest

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pontexchange/pont/exchange/scsp/schemas"
	"github.com/pontexchange/pont/internal/testenv"
)

// Install says how to get xmllint.
const Install = "Debian: apt-get install libxml2-utils"

// Validate fails t unless xml is valid against rootFile (e.g.
// "peticion.xsd") of certificate code's schemas in revision.
func Validate(t testing.TB, code, revision, rootFile string, xml []byte) {
	t.Helper()
	if err := Check(t, code, revision, rootFile, xml); err != nil {
		t.Errorf("%s %s/%s refuses the document:\n%v", code, revision, rootFile, err)
	}
}

// Refuse fails t if xml is valid against rootFile, and returns what
// xmllint said of it, for the test to check the reason.
func Refuse(t testing.TB, code, revision, rootFile string, xml []byte) string {
	t.Helper()
	err := Check(t, code, revision, rootFile, xml)
	if err == nil {
		t.Errorf("%s %s/%s accepts a document it should refuse", code, revision, rootFile)
		return ""
	}
	return err.Error()
}

// Check validates xml against rootFile and returns xmllint's messages as
// the error when the document is invalid or malformed, nil when it is
// valid. A schema that does not compile, or xmllint failing to run, fails t
// at once: it never counts as a refusal.
func Check(t testing.TB, code, revision, rootFile string, xml []byte) error {
	t.Helper()
	testenv.NeedTools(t, Install, "xmllint")
	schema := filepath.Join(Dir(t, code, revision), filepath.FromSlash(rootFile))
	if _, err := os.Stat(schema); err != nil {
		t.Fatalf("schematest: %s %s has no %s", code, revision, rootFile)
	}
	cmd := exec.Command("xmllint", "--noout", "--nonet", "--schema", schema, "-")
	cmd.Stdin = bytes.NewReader(xml)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &exit) && (exit.ExitCode() == 1 || exit.ExitCode() == 3):
		// 1: the document is not well-formed XML; 3: it does not validate.
		return errors.New(strings.TrimSpace(string(out)))
	default:
		// 5: the schema does not compile; anything else: xmllint failed.
		t.Fatalf("schematest: xmllint --schema %s: %v\n%s", schema, err, out)
		return nil
	}
}

// Dir writes certificate code's schemas in revision to a temporary folder
// and returns it: xmllint resolves a schema's imports relative to its file.
func Dir(t testing.TB, code, revision string) string {
	t.Helper()
	src, err := schemas.Files(code, revision)
	if err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	err = fs.WalkDir(schemas.FS, src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(schemas.FS, p)
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(p, src+"/")
		target := filepath.Join(dst, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatalf("schematest: writing %s: %v", src, err)
	}
	return dst
}

// nsSOAP is the SOAP 1.1 envelope namespace.
const nsSOAP = "http://schemas.xmlsoap.org/soap/envelope/"

// BodyChild answers the first element of a SOAP envelope's Body as a
// document of its own: its bytes, with the namespace declarations of the
// elements around it copied onto it, so that a schema can validate it.
func BodyChild(t testing.TB, doc []byte) []byte {
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
			// Only the Envelope's and the Body's declarations are in scope
			// in the Body: a Header's (WS-Security's) are skipped with it.
			if se.Name.Space != nsSOAP || (se.Name.Local != "Envelope" && se.Name.Local != "Body") {
				if err := d.Skip(); err != nil {
					t.Fatal(err)
				}
				continue
			}
			for _, a := range se.Attr {
				if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
					name := "xmlns"
					if a.Name.Space == "xmlns" {
						name += ":" + a.Name.Local
					}
					decls = append(decls, name+`="`+a.Value+`"`)
				}
			}
			inBody = se.Name.Space == nsSOAP && se.Name.Local == "Body"
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
