package devca

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// OpenCA reads the CA that an earlier NewCA wrote to dir, or makes one
// there when dir holds none: a development node keeps its CA, and the
// certificates it issued, across restarts.
func OpenCA(dir string) (*CA, error) {
	certFile := filepath.Join(dir, "ca.pem")
	cert, key, err := readPair(certFile, filepath.Join(dir, "ca-key.pem"))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return NewCA(dir)
	case err != nil:
		return nil, fmt.Errorf("devca: %s: %w", dir, err)
	}
	return &CA{Dir: dir, Cert: cert, Key: key, CertFile: certFile}, nil
}

// Open answers the leaf that the CA issued to cn before, when its files
// are in the CA's directory, signed by this CA and valid for another day;
// otherwise it issues a new one (Issue).
func (ca *CA) Open(cn, orgNIF string) (Leaf, error) {
	name := fileName(cn)
	l := Leaf{CertFile: filepath.Join(ca.Dir, name+".pem"), KeyFile: filepath.Join(ca.Dir, name+"-key.pem")}
	cert, key, err := readPair(l.CertFile, l.KeyFile)
	if err == nil && cert.CheckSignatureFrom(ca.Cert) == nil && time.Now().Add(24*time.Hour).Before(cert.NotAfter) {
		l.Cert, l.Key = cert, key
		return l, nil
	}
	return ca.Issue(cn, orgNIF)
}

func readPair(certFile, keyFile string) (*x509.Certificate, crypto.Signer, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, errors.New("not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, ok := k.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("%s: not a signing key", keyFile)
	}
	return cert, key, nil
}
