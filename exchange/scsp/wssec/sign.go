package wssec

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/beevik/etree"
	"github.com/russellhaering/goxmldsig/etreeutils"
)

// timeFormat is how Sign writes the Timestamp: UTC, milliseconds, as WSS
// clients commonly do.
const timeFormat = "2006-01-02T15:04:05.000Z"

// Sign signs a SOAP 1.1 envelope the way Verify checks it. In the
// envelope's Header (made if there is none) it fills the wsse:Security
// header (made if there is none, with soapenv:mustUnderstand="1"; one that
// holds a ds:Signature already is refused) with, in this order:
//
//   - a wsu:Timestamp, Created now and Expires now+ttl, in UTC;
//   - a wsse:BinarySecurityToken (X509v3, Base64Binary) holding cert;
//   - a ds:Signature over the Body and the Timestamp, by wsu:Id, with
//     exclusive C14N (no InclusiveNamespaces), SHA-256 digests, and
//     RSA-SHA256 for an RSA key or ECDSA-SHA256 for a P-256 key, whose
//     KeyInfo is a wsse:SecurityTokenReference to the token.
//
// The Body gets a wsu:Id if it has none. key must be cert's. The answer is
// the envelope re-serialised (attribute and text escaping as canonical XML
// writes it), which Verify and xmlsec1 --verify both accept.
func Sign(envelope []byte, cert *x509.Certificate, key crypto.Signer, now time.Time, ttl time.Duration) ([]byte, error) {
	if cert == nil || key == nil {
		return nil, errors.New("wssec: no certificate or key to sign with")
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("wssec: a Timestamp's lifetime must be positive, not %s", ttl)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, errors.New("wssec: the key is not the certificate's")
	}
	var sigAlg string
	switch k := key.Public().(type) {
	case *rsa.PublicKey:
		sigAlg = AlgorithmRSASHA256
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, errors.New("wssec: ECDSA keys must be on P-256")
		}
		sigAlg = AlgorithmECDSASHA256
	default:
		return nil, fmt.Errorf("wssec: cannot sign with a %T key (RSA or ECDSA P-256)", k)
	}

	doc, err := parse(envelope)
	if err != nil {
		return nil, err
	}
	env, err := soapParts(doc)
	if err != nil {
		return nil, err
	}
	soapPrefix := env.root.Space
	if env.header == nil {
		env.header = etree.NewElement("Header")
		env.header.Space = soapPrefix
		env.root.InsertChildAt(env.body.Index(), env.header)
	}
	var sec *etree.Element
	switch secs := children(env.header, NamespaceWSSE, "Security"); len(secs) {
	case 0:
		sec = env.header.CreateElement("wsse:Security")
		sec.CreateAttr("xmlns:wsse", NamespaceWSSE)
		sec.CreateAttr("xmlns:wsu", NamespaceWSU)
		if soapPrefix == "" {
			soapPrefix = "soapenv"
			sec.CreateAttr("xmlns:soapenv", NamespaceSOAP11)
		}
		sec.CreateAttr(soapPrefix+":mustUnderstand", "1")
	case 1:
		sec = secs[0]
		if len(children(sec, NamespaceDSig, "Signature")) > 0 {
			return nil, errors.New("wssec: the wsse:Security header holds a Signature already")
		}
	default:
		return nil, errors.New("wssec: more than one wsse:Security header")
	}

	bodyID, ok := wsuID(env.body)
	if !ok {
		ctx, err := etreeutils.NSBuildParentContext(env.body)
		if err != nil {
			return nil, err
		}
		if ctx, err = ctx.SubContext(env.body); err != nil {
			return nil, err
		}
		switch ns, err := ctx.LookupPrefix("wsu"); {
		case err != nil:
			env.body.CreateAttr("xmlns:wsu", NamespaceWSU)
		case ns != NamespaceWSU:
			return nil, errors.New("wssec: the prefix wsu is bound to another namespace in the Body")
		}
		bodyID = newID("Body")
		env.body.CreateAttr("wsu:Id", bodyID)
	}

	ts := sec.CreateElement("wsu:Timestamp")
	ts.CreateAttr("xmlns:wsu", NamespaceWSU)
	tsID := newID("TS")
	ts.CreateAttr("wsu:Id", tsID)
	ts.CreateElement("wsu:Created").SetText(now.UTC().Format(timeFormat))
	ts.CreateElement("wsu:Expires").SetText(now.Add(ttl).UTC().Format(timeFormat))

	bst := sec.CreateElement("wsse:BinarySecurityToken")
	bst.CreateAttr("xmlns:wsse", NamespaceWSSE)
	bst.CreateAttr("xmlns:wsu", NamespaceWSU)
	bst.CreateAttr("EncodingType", EncodingTypeBase64)
	bst.CreateAttr("ValueType", ValueTypeX509v3)
	bstID := newID("X509")
	bst.CreateAttr("wsu:Id", bstID)
	bst.SetText(base64.StdEncoding.EncodeToString(cert.Raw))

	sig := sec.CreateElement("ds:Signature")
	sig.CreateAttr("xmlns:ds", NamespaceDSig)
	sig.CreateAttr("Id", newID("SIG"))
	si := sig.CreateElement("ds:SignedInfo")
	si.CreateElement("ds:CanonicalizationMethod").CreateAttr("Algorithm", AlgorithmExcC14N)
	si.CreateElement("ds:SignatureMethod").CreateAttr("Algorithm", sigAlg)
	for _, r := range []struct {
		id string
		el *etree.Element
	}{{bodyID, env.body}, {tsID, ts}} {
		c, err := canonical(r.el, "")
		if err != nil {
			return nil, err
		}
		d := sha256.Sum256(c)
		ref := si.CreateElement("ds:Reference")
		ref.CreateAttr("URI", "#"+r.id)
		ref.CreateElement("ds:Transforms").CreateElement("ds:Transform").CreateAttr("Algorithm", AlgorithmExcC14N)
		ref.CreateElement("ds:DigestMethod").CreateAttr("Algorithm", AlgorithmSHA256)
		ref.CreateElement("ds:DigestValue").SetText(base64.StdEncoding.EncodeToString(d[:]))
	}
	sigValue := sig.CreateElement("ds:SignatureValue")
	str := sig.CreateElement("ds:KeyInfo").CreateElement("wsse:SecurityTokenReference")
	str.CreateAttr("xmlns:wsse", NamespaceWSSE)
	ref := str.CreateElement("wsse:Reference")
	ref.CreateAttr("URI", "#"+bstID)
	ref.CreateAttr("ValueType", ValueTypeX509v3)

	c, err := canonical(si, "")
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(c)
	value, err := key.Sign(rand.Reader, h[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("wssec: signing: %w", err)
	}
	if sigAlg == AlgorithmECDSASHA256 {
		if value, err = rawECDSA(value, 32); err != nil {
			return nil, err
		}
	}
	sigValue.SetText(base64.StdEncoding.EncodeToString(value))

	doc.WriteSettings = etree.WriteSettings{CanonicalAttrVal: true, CanonicalText: true}
	return doc.WriteToBytes()
}

// rawECDSA turns an ASN.1 ECDSA signature into XML-DSig's r||s, each of
// size bytes.
func rawECDSA(der []byte, size int) ([]byte, error) {
	var rs struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(der, &rs); err != nil || len(rest) > 0 {
		return nil, errors.New("wssec: the signer's ECDSA signature is not ASN.1")
	}
	out := make([]byte, 2*size)
	rs.R.FillBytes(out[:size])
	rs.S.FillBytes(out[size:])
	return out, nil
}

// newID answers a fresh identifier for a wsu:Id.
func newID(prefix string) string {
	b := make([]byte, 12)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}
