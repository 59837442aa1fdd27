package wssec_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/beevik/etree"

	"github.com/pontexchange/pont/exchange/scsp/wssec"
	"github.com/pontexchange/pont/exchange/scsp/wssec/devca"
	"github.com/pontexchange/pont/internal/testenv"
)

const installXMLSec = "apt-get install xmlsec1"

// now is the tests' clock: certificates are issued around the real time.
var now = time.Now().Truncate(time.Second)

type fixture struct {
	ca, other *devca.CA
	leaf      devca.Leaf // RSA, organisation P0801900B
	ecLeaf    devca.Leaf // ECDSA P-256
	expired   devca.Leaf
	foreign   devca.Leaf // issued by other
}

var (
	fixOnce sync.Once
	fix     fixture
	fixErr  error
)

// setup makes, once per test binary, a CA and the leaves the tests sign
// with, in a directory that outlives any one test.
func setup(t testing.TB) fixture {
	t.Helper()
	fixOnce.Do(func() {
		dir, err := os.MkdirTemp("", "wssec-ca-")
		if err != nil {
			fixErr = err
			return
		}
		if fix.ca, fixErr = devca.NewCA(filepath.Join(dir, "ca")); fixErr != nil {
			return
		}
		if fix.other, fixErr = devca.NewCA(filepath.Join(dir, "other")); fixErr != nil {
			return
		}
		if fix.leaf, fixErr = fix.ca.Issue("Ajuntament de Barcelona", "P0801900B"); fixErr != nil {
			return
		}
		if fix.ecLeaf, fixErr = fix.ca.IssueWith("Ajuntament de Girona", "P1708500B",
			devca.Options{NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0), ECDSA: true}); fixErr != nil {
			return
		}
		if fix.expired, fixErr = fix.ca.IssueWith("Ajuntament caducat", "P0801900B",
			devca.Options{NotBefore: now.AddDate(-2, 0, 0), NotAfter: now.AddDate(0, 0, -1)}); fixErr != nil {
			return
		}
		fix.foreign, fixErr = fix.other.Issue("Ajuntament estrany", "P0801900B")
	})
	if fixErr != nil {
		t.Fatal(fixErr)
	}
	return fix
}

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sign(t testing.TB, l devca.Leaf, at time.Time, ttl time.Duration) []byte {
	t.Helper()
	out, err := wssec.Sign(read(t, "peticion.xml"), l.Cert, l.Key, at, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// bodyOf answers the Peticion of a canonical Body, for comparisons.
func peticionOf(t testing.TB, body []byte) *etree.Element {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(body); err != nil {
		t.Fatalf("Verified.Body does not parse: %v\n%s", err, body)
	}
	if doc.Root().Tag != "Body" {
		t.Fatalf("Verified.Body is a %s", doc.Root().Tag)
	}
	return doc.Root().FindElement("Peticion")
}

func TestRoundTrip(t *testing.T) {
	f := setup(t)
	for _, tc := range []struct {
		name string
		leaf devca.Leaf
	}{{"RSA-SHA256", f.leaf}, {"ECDSA-SHA256", f.ecLeaf}} {
		t.Run(tc.name, func(t *testing.T) {
			signed := sign(t, tc.leaf, now, 5*time.Minute)
			v, err := wssec.Verify(signed, f.ca.Pool(), now.Add(time.Minute))
			if err != nil {
				t.Fatalf("Verify: %v\n%s", err, signed)
			}
			if !v.Certificate.Equal(tc.leaf.Cert) {
				t.Error("Verified.Certificate is not the signer's")
			}
			if !v.Created.Equal(now) || !v.Expires.Equal(now.Add(5*time.Minute)) {
				t.Errorf("Timestamp %s..%s, want %s..%s", v.Created, v.Expires, now, now.Add(5*time.Minute))
			}
			p := peticionOf(t, v.Body)
			if got := p.FindElement(".//IdentificadorSolicitante").Text(); got != "P0801900B" {
				t.Errorf("IdentificadorSolicitante %q", got)
			}
			if got := p.FindElement(".//Finalidad").Text(); got != `Ajuts <menjador> "escolar"` {
				t.Errorf("Finalidad %q", got)
			}
		})
	}
}

func TestSignKeepsAnExistingSecurityHeaderAndBodyID(t *testing.T) {
	f := setup(t)
	env := []byte(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><wsse:Security xmlns:wsse="` +
		wssec.NamespaceWSSE + `"/></s:Header><s:Body xmlns:u="` + wssec.NamespaceWSU + `" u:Id="b1"><x/></s:Body></s:Envelope>`)
	signed, err := wssec.Sign(env, f.leaf.Cert, f.leaf.Key, now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wssec.Verify(signed, f.ca.Pool(), now); err != nil {
		t.Fatalf("%v\n%s", err, signed)
	}
	if !bytes.Contains(signed, []byte(`URI="#b1"`)) || bytes.Count(signed, []byte("Security ")) != 1 {
		t.Errorf("the Body's Id or the Security header were not reused:\n%s", signed)
	}
	if _, err := wssec.Sign(signed, f.leaf.Cert, f.leaf.Key, now, time.Minute); err == nil {
		t.Error("signing a signed envelope again succeeded")
	}
	if _, err := wssec.Sign(read(t, "peticion.xml"), f.leaf.Cert, f.ecLeaf.Key, now, time.Minute); err == nil {
		t.Error("signing with another certificate's key succeeded")
	}
}

func TestOrganisationOf(t *testing.T) {
	f := setup(t)
	if nif, ok := wssec.OrganisationOf(f.leaf.Cert); !ok || nif != "P0801900B" {
		t.Errorf("OrganisationOf(devca leaf) = %q, %v", nif, ok)
	}
	if _, ok := wssec.OrganisationOf(f.ca.Cert); ok {
		t.Error("the CA names an organisation")
	}
}

// xmlsec1 runs xmlsec1 with args and fails the test with its output if it
// does not succeed (or, with fail, if it does).
func xmlsec1(t *testing.T, args []string, fail bool) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if (err != nil) != fail {
		t.Fatalf("%s: %v (want failure: %v)\n%s", strings.Join(args, " "), err, fail, out)
	}
	return string(out)
}

// xmlsecSigned signs the testdata template with xmlsec1 as a requester's
// client would, the Timestamp from at for ttl.
func xmlsecSigned(t *testing.T, l devca.Leaf, method string, at time.Time, ttl time.Duration) []byte {
	t.Helper()
	testenv.NeedTools(t, installXMLSec, "xmlsec1")
	tmpl := template.Must(template.ParseFiles(filepath.Join("testdata", "peticion-template.xml")))
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, map[string]string{
		"Created":         at.UTC().Format("2006-01-02T15:04:05.000Z"),
		"Expires":         at.Add(ttl).UTC().Format("2006-01-02T15:04:05.000Z"),
		"Token":           base64.StdEncoding.EncodeToString(l.Cert.Raw),
		"SignatureMethod": method,
	}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "template.xml"), filepath.Join(dir, "signed.xml")
	if err := os.WriteFile(in, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	xmlsec1(t, l.SignCommand(in, out), false)
	signed, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func TestXMLSec1SignsPontVerifies(t *testing.T) {
	f := setup(t)
	for _, tc := range []struct {
		name   string
		leaf   devca.Leaf
		method string
	}{{"RSA-SHA256", f.leaf, wssec.AlgorithmRSASHA256}, {"ECDSA-SHA256", f.ecLeaf, wssec.AlgorithmECDSASHA256}} {
		t.Run(tc.name, func(t *testing.T) {
			signed := xmlsecSigned(t, tc.leaf, tc.method, now, 5*time.Minute)
			v, err := wssec.Verify(signed, f.ca.Pool(), now)
			if err != nil {
				t.Fatalf("Verify of xmlsec1's signature: %v\n%s", err, signed)
			}
			if got := peticionOf(t, v.Body).FindElement(".//Documentacion").Text(); got != "00000000T" {
				t.Errorf("Documentacion %q", got)
			}
		})
	}
}

func TestPontSignsXMLSec1Verifies(t *testing.T) {
	testenv.NeedTools(t, installXMLSec, "xmlsec1")
	f := setup(t)
	for _, tc := range []struct {
		name string
		leaf devca.Leaf
	}{{"RSA-SHA256", f.leaf}, {"ECDSA-SHA256", f.ecLeaf}} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "signed.xml")
			if err := os.WriteFile(file, sign(t, tc.leaf, now, 5*time.Minute), 0o600); err != nil {
				t.Fatal(err)
			}
			xmlsec1(t, tc.leaf.VerifyCommand(file), false)

			// xmlsec1 must see a change too, or the check above proves little.
			b, _ := os.ReadFile(file)
			if err := os.WriteFile(file, bytes.Replace(b, []byte("00000000T"), []byte("11111111H"), 1), 0o600); err != nil {
				t.Fatal(err)
			}
			xmlsec1(t, tc.leaf.VerifyCommand(file), true)
		})
	}
}

// TestLargeBody signs and verifies a Body of tens of thousands of elements,
// as an asynchronous Peticion of 1000 SolicitudTransmision has, and holds
// the signature to its contents.
func TestLargeBody(t *testing.T) {
	f := setup(t)
	var b strings.Builder
	b.WriteString(`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header/><soapenv:Body><p:Peticion xmlns:p="urn:p">`)
	for i := range 1000 {
		fmt.Fprintf(&b, "<p:S><p:A>%d</p:A><p:B><p:C>x</p:C><p:D>y</p:D></p:B></p:S>", i)
	}
	b.WriteString(`</p:Peticion></soapenv:Body></soapenv:Envelope>`)
	now := time.Now()
	signed, err := wssec.Sign([]byte(b.String()), f.leaf.Cert, f.leaf.Key, now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wssec.Verify(signed, f.ca.Pool(), now); err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(signed), "<p:A>999</p:A>", "<p:A>998</p:A>", 1)
	if _, err := wssec.Verify([]byte(changed), f.ca.Pool(), now); err == nil {
		t.Fatal("a change in the 1000th element was not caught")
	}
}
