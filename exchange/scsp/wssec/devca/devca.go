// Package devca is a development certificate authority for WS-Security
// tests and pont dev: it makes a CA and issues seal certificates ("sellos
// de órgano") to organisations, writing each as PEM files that xmlsec1 and
// openssl read. Nothing it makes is fit for production: the keys are
// written unencrypted.
//
// A leaf's subject carries the organisation's NIF as eIDAS seal
// certificates do, organizationIdentifier (2.5.4.97) "VATES-<NIF>", which
// wssec.OrganisationOf reads back.
package devca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/pontexchange/pont/exchange/scsp/wssec"
)

// CA is a development CA: its certificate and key, and the directory it
// writes its files to.
type CA struct {
	Dir  string
	Cert *x509.Certificate
	Key  crypto.Signer
	// CertFile is the CA certificate's PEM file (ca.pem), what
	// xmlsec1 --trusted-pem and Verify's roots take.
	CertFile string
}

// Leaf is a certificate the CA issued and its files: <name>.pem and
// <name>-key.pem, name the certificate's common name made file-safe.
type Leaf struct {
	Cert     *x509.Certificate
	Key      crypto.Signer
	CertFile string
	KeyFile  string
}

// NewCA makes a CA valid for ten years from an hour ago, with an RSA 2048
// key, and writes ca.pem and ca-key.pem to dir (made if missing).
func NewCA(dir string) (*CA, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "Pont development CA", Organization: []string{"Pont (development)"}, Country: []string{"ES"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	ca := &CA{Dir: dir, Cert: cert, Key: key, CertFile: filepath.Join(dir, "ca.pem")}
	if err := writePEM(ca.CertFile, "CERTIFICATE", der); err != nil {
		return nil, err
	}
	if err := writeKey(filepath.Join(dir, "ca-key.pem"), key); err != nil {
		return nil, err
	}
	return ca, nil
}

// Pool answers a pool holding the CA's certificate, Verify's roots.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Issue issues an RSA 2048 seal certificate to the organisation orgNIF,
// common name cn, valid from an hour ago for a year.
func (ca *CA) Issue(cn, orgNIF string) (Leaf, error) {
	now := time.Now()
	return ca.IssueWith(cn, orgNIF, Options{NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0)})
}

// Options are what IssueWith may vary.
type Options struct {
	NotBefore, NotAfter time.Time
	// ECDSA asks for a P-256 key instead of RSA 2048.
	ECDSA bool
}

var nifPattern = regexp.MustCompile(`^[A-Z][0-9]{7}[0-9A-Z]$`)

// IssueWith is Issue with the validity and key type of o.
func (ca *CA) IssueWith(cn, orgNIF string, o Options) (Leaf, error) {
	if cn == "" {
		return Leaf{}, errors.New("devca: a certificate needs a common name")
	}
	if !nifPattern.MatchString(orgNIF) {
		return Leaf{}, fmt.Errorf("devca: %q is not an organisation's NIF", orgNIF)
	}
	var key crypto.Signer
	var err error
	if o.ECDSA {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	} else {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		return Leaf{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject: pkix.Name{
			CommonName:   cn,
			Organization: []string{cn},
			Country:      []string{"ES"},
			ExtraNames: []pkix.AttributeTypeAndValue{
				{Type: wssec.OIDOrganizationIdentifier, Value: "VATES-" + orgNIF},
			},
		},
		NotBefore:   o.NotBefore,
		NotAfter:    o.NotAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageEmailProtection},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return Leaf{}, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Leaf{}, err
	}
	name := fileName(cn)
	l := Leaf{Cert: cert, Key: key, CertFile: filepath.Join(ca.Dir, name+".pem"), KeyFile: filepath.Join(ca.Dir, name+"-key.pem")}
	if err := writePEM(l.CertFile, "CERTIFICATE", der); err != nil {
		return Leaf{}, err
	}
	if err := writeKey(l.KeyFile, key); err != nil {
		return Leaf{}, err
	}
	return l, nil
}

// SignCommand answers the xmlsec1 command that signs template, an
// envelope whose Security header holds this leaf's BinarySecurityToken
// and an empty ds:Signature (see the package wssec's testdata), into out.
func (l Leaf) SignCommand(template, out string) []string {
	return append([]string{"xmlsec1", "--sign", "--privkey-pem", l.KeyFile + "," + l.CertFile},
		append(IDAttrFlags(), "--output", out, template)...)
}

// VerifyCommand answers the xmlsec1 command that checks the signature of
// the envelope in file with this leaf's certificate.
func (l Leaf) VerifyCommand(file string) []string {
	return append([]string{"xmlsec1", "--verify", "--pubkey-cert-pem", l.CertFile}, append(IDAttrFlags(), file)...)
}

// IDAttrFlags are the xmlsec1 flags that make it resolve "#id" references
// through the wsu:Id of the Body and the Timestamp: xmlsec1 knows only
// the attribute Id of XML-DSig's own elements unless told.
func IDAttrFlags() []string {
	return []string{
		"--id-attr:Id", wssec.NamespaceSOAP11 + ":Body",
		"--id-attr:Id", wssec.NamespaceWSU + ":Timestamp",
		"--id-attr:Id", wssec.NamespaceWSSE + ":BinarySecurityToken",
	}
}

// fileName makes a common name a file name: lower-case letters, digits
// and '-', accents dropped (Inclusió gives inclusio).
func fileName(cn string) string {
	cn = strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Mn, r) {
			return -1
		}
		return r
	}, norm.NFD.String(cn))
	return strings.Trim(strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, cn), "-")
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err)
	}
	return n
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

func writeKey(path string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return writePEM(path, "PRIVATE KEY", der)
}
