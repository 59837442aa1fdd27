package wssec

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// Verified is what Verify answers for an envelope whose signature holds.
type Verified struct {
	// Certificate is the signer's, taken from the BinarySecurityToken
	// the signature's KeyInfo points at; Chain is the chain Verify built
	// from it to one of the roots, the certificate first.
	Certificate *x509.Certificate
	Chain       []*x509.Certificate
	// Body is the soapenv:Body the signature covers, in the exclusive
	// canonical form (without comments) whose SHA-256 the signature's
	// Reference holds: a standalone XML element, every namespace prefix
	// it uses visibly declared on it (a prefix used only inside attribute
	// or text values, as in xsi:type="p:T", is not declared unless the
	// signer listed it in the reference's InclusiveNamespaces). The
	// caller must read the request from these bytes, never from the
	// envelope it passed to Verify: that is what makes moving the signed
	// Body elsewhere in the envelope (signature wrapping) harmless.
	Body []byte
	// Created and Expires are the signed Timestamp's.
	Created, Expires time.Time
}

// maxReferences bounds the References of one SignedInfo: Body and
// Timestamp, and a few other parts some clients sign too (the token,
// WS-Addressing headers).
const maxReferences = 8

// Verify checks the WS-Security signature of a SOAP 1.1 envelope at time
// now and answers the signer's certificate and the signed Body. It
// requires, and refuses anything else:
//
//   - a well-formed UTF-8 envelope of at most MaxEnvelopeBytes, nested at
//     most MaxDepth deep, without DOCTYPE, processing instructions or NUL
//     bytes, whose root is a SOAP 1.1 Envelope holding one Header and
//     then one Body and nothing else;
//   - one wsse:Security in the Header, holding one wsu:Timestamp and one
//     ds:Signature;
//   - a SignedInfo canonicalised with exclusive C14N and signed with
//     RSA-SHA256 or ECDSA-SHA256;
//   - References by "#"+wsu:Id, each with the one transform exclusive
//     C14N and a SHA-256 digest, among which one is the Envelope's Body
//     and one the Security's Timestamp, each digest matching;
//   - no identifier (an attribute Id, ID or id in any namespace) carried
//     by two elements of the envelope when a Reference names it;
//   - a KeyInfo with a wsse:SecurityTokenReference whose wsse:Reference
//     points at a wsse:BinarySecurityToken of the same Security header,
//     ValueType X509v3, EncodingType Base64Binary (or none, its default);
//   - a SignatureValue that the token's public key verifies;
//   - a certificate valid at now that chains to roots (x509 verification
//     with any extended key usage), with a key usage, if it has one, that
//     allows digital signatures or non-repudiation;
//   - a Timestamp with Created and Expires (xsd:dateTime), Created at most
//     Skew after now and Expires at most Skew before it.
//
// roots holds the CAs whose certificates Pont trusts, intermediates that
// issue sellos included (a CA in roots is a trust anchor: its own issuer
// is not looked for). Every error says which requirement failed; all of
// them mean an invalid signature (SCSP 0305) to the caller.
func Verify(envelope []byte, roots *x509.CertPool, now time.Time) (Verified, error) {
	if roots == nil {
		return Verified{}, errors.New("wssec: no trusted roots given")
	}
	doc, err := parse(envelope)
	if err != nil {
		return Verified{}, err
	}
	env, err := soapParts(doc)
	if err != nil {
		return Verified{}, err
	}
	if env.header == nil {
		return Verified{}, errors.New("wssec: no SOAP Header, so no wsse:Security")
	}
	sec, err := child(env.header, NamespaceWSSE, "Security", "wsse:Security header")
	if err != nil {
		return Verified{}, err
	}
	sig, err := child(sec, NamespaceDSig, "Signature", "ds:Signature in the wsse:Security header")
	if err != nil {
		return Verified{}, err
	}
	ts, err := child(sec, NamespaceWSU, "Timestamp", "wsu:Timestamp in the wsse:Security header")
	if err != nil {
		return Verified{}, err
	}
	idCount := ids(doc.Root())
	resolve := func(uri, what string) (*etree.Element, error) {
		id, ok := strings.CutPrefix(uri, "#")
		if !ok || id == "" || strings.ContainsAny(id, "()") {
			return nil, fmt.Errorf("wssec: %s URI %q is not a reference \"#id\" to a wsu:Id", what, uri)
		}
		if n := idCount[id]; n > 1 {
			return nil, fmt.Errorf("wssec: identifier %q is carried by %d elements (signature wrapping?)", id, n)
		}
		el := findWsuID(doc.Root(), id)
		if el == nil {
			return nil, fmt.Errorf("wssec: %s URI %q names no element with that wsu:Id", what, uri)
		}
		return el, nil
	}

	signedInfo, err := child(sig, NamespaceDSig, "SignedInfo", "ds:SignedInfo")
	if err != nil {
		return Verified{}, err
	}
	c14n, err := child(signedInfo, NamespaceDSig, "CanonicalizationMethod", "ds:CanonicalizationMethod")
	if err != nil {
		return Verified{}, err
	}
	if alg, _ := attr(c14n, "", "Algorithm"); alg != AlgorithmExcC14N {
		return Verified{}, fmt.Errorf("wssec: SignedInfo canonicalization %q refused, want exclusive C14N %s", alg, AlgorithmExcC14N)
	}
	method, err := child(signedInfo, NamespaceDSig, "SignatureMethod", "ds:SignatureMethod")
	if err != nil {
		return Verified{}, err
	}
	sigAlg, _ := attr(method, "", "Algorithm")
	if err := acceptableSignatureMethod(sigAlg); err != nil {
		return Verified{}, err
	}

	refs := children(signedInfo, NamespaceDSig, "Reference")
	if len(refs) > maxReferences {
		return Verified{}, fmt.Errorf("wssec: %d References, at most %d accepted", len(refs), maxReferences)
	}
	// Every reference resolves to one element before any digest is
	// computed, so that a duplicated identifier is named as such.
	targets := make([]*etree.Element, len(refs))
	for i, ref := range refs {
		uri, _ := attr(ref, "", "URI")
		if targets[i], err = resolve(uri, "Reference"); err != nil {
			return Verified{}, err
		}
	}
	var body []byte
	var tsSigned bool
	for i, ref := range refs {
		target := targets[i]
		name := describe(target, env.body, ts)
		digested, err := checkDigest(ref, target, name)
		if err != nil {
			return Verified{}, err
		}
		if target == env.body {
			body = digested
		}
		tsSigned = tsSigned || target == ts
	}
	if body == nil {
		return Verified{}, errors.New("wssec: the signature does not cover the Envelope's soapenv:Body")
	}
	if !tsSigned {
		return Verified{}, errors.New("wssec: the signature does not cover the wsu:Timestamp")
	}

	cert, err := token(sig, sec, resolve)
	if err != nil {
		return Verified{}, err
	}
	sigValueEl, err := child(sig, NamespaceDSig, "SignatureValue", "ds:SignatureValue")
	if err != nil {
		return Verified{}, err
	}
	sigValue, err := decodeBase64(sigValueEl.Text())
	if err != nil {
		return Verified{}, fmt.Errorf("wssec: SignatureValue is not base64: %w", err)
	}
	canonicalSI, err := canonical(signedInfo, inclusivePrefixes(c14n))
	if err != nil {
		return Verified{}, fmt.Errorf("wssec: cannot canonicalize SignedInfo: %w", err)
	}
	if err := checkSignature(cert, sigAlg, canonicalSI, sigValue); err != nil {
		return Verified{}, err
	}

	chain, err := checkCertificate(cert, roots, now)
	if err != nil {
		return Verified{}, err
	}
	created, expires, err := checkTimestamp(ts, now)
	if err != nil {
		return Verified{}, err
	}
	return Verified{Certificate: cert, Chain: chain, Body: body, Created: created, Expires: expires}, nil
}

// envelopeParts are a SOAP 1.1 envelope's Header (nil if none) and Body.
type envelopeParts struct {
	root, header, body *etree.Element
}

// soapParts checks that doc is a SOAP 1.1 Envelope of an optional Header
// and one Body, in that order, and nothing else.
func soapParts(doc *etree.Document) (envelopeParts, error) {
	root := doc.Root()
	if !is(root, NamespaceSOAP11, "Envelope") {
		return envelopeParts{}, errors.New("wssec: the root element is not a SOAP 1.1 Envelope")
	}
	p := envelopeParts{root: root}
	for _, c := range root.ChildElements() {
		switch {
		case is(c, NamespaceSOAP11, "Header") && p.header == nil && p.body == nil:
			p.header = c
		case is(c, NamespaceSOAP11, "Body") && p.body == nil:
			p.body = c
		default:
			return envelopeParts{}, fmt.Errorf("wssec: unexpected element %s in the Envelope (one Header, then one Body)", c.FullTag())
		}
	}
	if p.body == nil {
		return envelopeParts{}, errors.New("wssec: no SOAP Body")
	}
	return p, nil
}

// findWsuID answers the first element under root whose wsu:Id is id.
func findWsuID(root *etree.Element, id string) *etree.Element {
	if v, ok := wsuID(root); ok && v == id {
		return root
	}
	for _, c := range root.ChildElements() {
		if el := findWsuID(c, id); el != nil {
			return el
		}
	}
	return nil
}

// describe names a referenced element for errors.
func describe(el, body, ts *etree.Element) string {
	switch el {
	case body:
		return "the Body"
	case ts:
		return "the Timestamp"
	}
	return "element " + el.FullTag()
}

func acceptableSignatureMethod(alg string) error {
	switch {
	case alg == AlgorithmRSASHA256 || alg == AlgorithmECDSASHA256:
		return nil
	case alg == "":
		return errors.New("wssec: SignatureMethod has no Algorithm")
	case strings.Contains(strings.ToLower(alg), "hmac"):
		return fmt.Errorf("wssec: HMAC SignatureMethod %q refused: the signature must be the certificate's", alg)
	case strings.HasSuffix(alg, "sha1"):
		return fmt.Errorf("wssec: SignatureMethod %q refused: SHA-1 is not accepted, use %s", alg, AlgorithmRSASHA256)
	default:
		return fmt.Errorf("wssec: SignatureMethod %q refused, want %s", alg, AlgorithmRSASHA256)
	}
}

// checkDigest checks one Reference's transforms, digest method and
// digest against target, and answers the octets it digested.
func checkDigest(ref, target *etree.Element, name string) ([]byte, error) {
	transforms, err := child(ref, NamespaceDSig, "Transforms", "ds:Transforms in the Reference to "+name)
	if err != nil {
		return nil, err
	}
	ts := transforms.ChildElements()
	if len(ts) != 1 || !is(ts[0], NamespaceDSig, "Transform") {
		return nil, fmt.Errorf("wssec: the Reference to %s must have exactly one Transform, exclusive C14N", name)
	}
	if alg, _ := attr(ts[0], "", "Algorithm"); alg != AlgorithmExcC14N {
		return nil, fmt.Errorf("wssec: the Reference to %s has transform %q, want exclusive C14N %s", name, alg, AlgorithmExcC14N)
	}
	dm, err := child(ref, NamespaceDSig, "DigestMethod", "ds:DigestMethod in the Reference to "+name)
	if err != nil {
		return nil, err
	}
	if alg, _ := attr(dm, "", "Algorithm"); alg != AlgorithmSHA256 {
		return nil, fmt.Errorf("wssec: the Reference to %s has digest method %q, want SHA-256 %s", name, alg, AlgorithmSHA256)
	}
	dv, err := child(ref, NamespaceDSig, "DigestValue", "ds:DigestValue in the Reference to "+name)
	if err != nil {
		return nil, err
	}
	want, err := decodeBase64(dv.Text())
	if err != nil {
		return nil, fmt.Errorf("wssec: the DigestValue of %s is not base64: %w", name, err)
	}
	c, err := canonical(target, inclusivePrefixes(ts[0]))
	if err != nil {
		return nil, fmt.Errorf("wssec: cannot canonicalize %s: %w", name, err)
	}
	got := sha256.Sum256(c)
	if !bytes.Equal(got[:], want) {
		return nil, fmt.Errorf("wssec: the digest of %s does not match its Reference (changed after signing)", name)
	}
	return c, nil
}

// token answers the certificate of the BinarySecurityToken that sig's
// KeyInfo points at, which must be in the same Security header.
func token(sig, sec *etree.Element, resolve func(string, string) (*etree.Element, error)) (*x509.Certificate, error) {
	ki, err := child(sig, NamespaceDSig, "KeyInfo", "ds:KeyInfo")
	if err != nil {
		return nil, err
	}
	str, err := child(ki, NamespaceWSSE, "SecurityTokenReference", "wsse:SecurityTokenReference in the KeyInfo")
	if err != nil {
		return nil, err
	}
	ref, err := child(str, NamespaceWSSE, "Reference", "wsse:Reference in the SecurityTokenReference (key identifiers and issuer serials are not accepted)")
	if err != nil {
		return nil, err
	}
	if vt, ok := attr(ref, "", "ValueType"); ok && vt != ValueTypeX509v3 {
		return nil, fmt.Errorf("wssec: the SecurityTokenReference's ValueType %q is not X509v3", vt)
	}
	uri, _ := attr(ref, "", "URI")
	bst, err := resolve(uri, "SecurityTokenReference")
	if err != nil {
		return nil, err
	}
	if !is(bst, NamespaceWSSE, "BinarySecurityToken") || bst.Parent() != sec {
		return nil, errors.New("wssec: the SecurityTokenReference does not point at a wsse:BinarySecurityToken of the Security header")
	}
	if vt, _ := attr(bst, "", "ValueType"); vt != ValueTypeX509v3 {
		return nil, fmt.Errorf("wssec: BinarySecurityToken ValueType %q refused, want %s", vt, ValueTypeX509v3)
	}
	if et, ok := attr(bst, "", "EncodingType"); ok && et != EncodingTypeBase64 {
		return nil, fmt.Errorf("wssec: BinarySecurityToken EncodingType %q refused, want %s", et, EncodingTypeBase64)
	}
	der, err := decodeBase64(bst.Text())
	if err != nil {
		return nil, fmt.Errorf("wssec: the BinarySecurityToken is not base64: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("wssec: the BinarySecurityToken holds no X.509 certificate: %w", err)
	}
	return cert, nil
}

// checkSignature checks sig over signedInfo (canonical) with cert's key.
func checkSignature(cert *x509.Certificate, alg string, signedInfo, sig []byte) error {
	h := sha256.Sum256(signedInfo)
	switch pub := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		if alg != AlgorithmRSASHA256 {
			return fmt.Errorf("wssec: SignatureMethod %q does not fit the certificate's RSA key", alg)
		}
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig); err != nil {
			return errors.New("wssec: the SignatureValue does not verify with the certificate's key")
		}
	case *ecdsa.PublicKey:
		if alg != AlgorithmECDSASHA256 {
			return fmt.Errorf("wssec: SignatureMethod %q does not fit the certificate's ECDSA key", alg)
		}
		size := (pub.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			return errors.New("wssec: the ECDSA SignatureValue is not r||s of the curve's size")
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		if !ecdsa.Verify(pub, h[:], r, s) {
			return errors.New("wssec: the SignatureValue does not verify with the certificate's key")
		}
	default:
		return fmt.Errorf("wssec: the certificate's key type %T is not accepted (RSA or ECDSA)", cert.PublicKey)
	}
	return nil
}

// checkCertificate checks cert's validity at now, its key usage and its
// chain to roots.
func checkCertificate(cert *x509.Certificate, roots *x509.CertPool, now time.Time) ([]*x509.Certificate, error) {
	if now.Before(cert.NotBefore) {
		return nil, fmt.Errorf("wssec: the certificate of %q is not valid before %s", cert.Subject.CommonName, cert.NotBefore.UTC().Format(time.RFC3339))
	}
	if now.After(cert.NotAfter) {
		return nil, fmt.Errorf("wssec: the certificate of %q expired at %s", cert.Subject.CommonName, cert.NotAfter.UTC().Format(time.RFC3339))
	}
	if cert.KeyUsage != 0 && cert.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		return nil, fmt.Errorf("wssec: the certificate of %q does not allow digital signatures", cert.Subject.CommonName)
	}
	chains, err := cert.Verify(x509.VerifyOptions{
		Roots:       roots,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return nil, fmt.Errorf("wssec: the certificate of %q is not trusted: %w", cert.Subject.CommonName, err)
	}
	return chains[0], nil
}

// checkTimestamp checks that ts's Created and Expires bracket now, give
// or take Skew.
func checkTimestamp(ts *etree.Element, now time.Time) (created, expires time.Time, err error) {
	read := func(local string) (time.Time, error) {
		el, err := child(ts, NamespaceWSU, local, "wsu:"+local+" in the Timestamp")
		if err != nil {
			return time.Time{}, err
		}
		t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(el.Text()))
		if err != nil {
			return time.Time{}, fmt.Errorf("wssec: the Timestamp's %s %q is not an xsd:dateTime with a zone", local, el.Text())
		}
		return t, nil
	}
	if created, err = read("Created"); err != nil {
		return
	}
	if expires, err = read("Expires"); err != nil {
		return
	}
	switch {
	case expires.Before(created):
		err = fmt.Errorf("wssec: the Timestamp expires (%s) before it is created (%s)", expires.Format(time.RFC3339), created.Format(time.RFC3339))
	case created.After(now.Add(Skew)):
		err = fmt.Errorf("wssec: the Timestamp is created in the future (%s; now %s, skew %s)", created.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), Skew)
	case !expires.After(now.Add(-Skew)):
		err = fmt.Errorf("wssec: the Timestamp expired at %s (now %s, skew %s)", expires.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), Skew)
	}
	return
}

// decodeBase64 decodes base64 with the line breaks and spaces XML
// signers put in it.
func decodeBase64(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
	return base64.StdEncoding.DecodeString(s)
}
