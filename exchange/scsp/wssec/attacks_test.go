package wssec_test

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"

	"github.com/pontexchange/pont/exchange/scsp/wssec"
)

// edit parses env, lets fn change it and answers it written back.
func edit(t *testing.T, env []byte, fn func(t *testing.T, doc *etree.Document)) []byte {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(env); err != nil {
		t.Fatal(err)
	}
	fn(t, doc)
	out, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func find(t *testing.T, doc *etree.Document, path string) *etree.Element {
	t.Helper()
	el := doc.FindElement(path)
	if el == nil {
		t.Fatalf("no %s", path)
	}
	return el
}

func canonicalOf(t *testing.T, el *etree.Element) []byte {
	t.Helper()
	ctx, err := etreeutils.NSBuildParentContext(el)
	if err != nil {
		t.Fatal(err)
	}
	d, err := etreeutils.NSDetatch(ctx, el)
	if err != nil {
		t.Fatal(err)
	}
	c, err := dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("").Canonicalize(d)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// redigest recomputes the DigestValue of every Reference (the test
// envelopes have no InclusiveNamespaces).
func redigest(t *testing.T, doc *etree.Document) {
	t.Helper()
	for _, ref := range doc.FindElements("//Signature/SignedInfo/Reference") {
		id := strings.TrimPrefix(ref.SelectAttrValue("URI", ""), "#")
		target := doc.FindElement("//[@wsu:Id='" + id + "']")
		if target == nil {
			t.Fatalf("no element %s", id)
		}
		d := sha256.Sum256(canonicalOf(t, target))
		find(t, doc, "//Reference[@URI='#"+id+"']/DigestValue").SetText(base64.StdEncoding.EncodeToString(d[:]))
	}
}

// resign signs the SignedInfo again with key (RSA), so that what is
// tested is the check named, not a broken SignatureValue.
func resign(t *testing.T, doc *etree.Document, key crypto.Signer) {
	t.Helper()
	h := sha256.Sum256(canonicalOf(t, find(t, doc, "//Signature/SignedInfo")))
	sig, err := key.Sign(rand.Reader, h[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	find(t, doc, "//Signature/SignatureValue").SetText(base64.StdEncoding.EncodeToString(sig))
}

func TestVerifyRefuses(t *testing.T) {
	f := setup(t)
	signed := sign(t, f.leaf, now, 5*time.Minute)
	key := f.leaf.Key
	pool := f.ca.Pool()

	for _, tc := range []struct {
		name  string
		env   func(t *testing.T) []byte
		at    time.Time      // zero: now
		roots *x509.CertPool // nil: the CA's
		want  string         // in the error
	}{
		{name: "unsigned envelope", env: func(t *testing.T) []byte { return read(t, "peticion.xml") },
			want: "no wsse:Security header"},
		{name: "no Header", env: func(t *testing.T) []byte {
			return []byte(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/></s:Envelope>`)
		}, want: "no SOAP Header"},
		{name: "not SOAP 1.1", env: func(t *testing.T) []byte {
			return []byte(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>`)
		}, want: "not a SOAP 1.1 Envelope"},
		{name: "body changed after signing", env: func(t *testing.T) []byte {
			return []byte(strings.Replace(string(signed), "00000000T", "11111111H", 1))
		}, want: "digest of the Body does not match"},
		{name: "body attribute added", env: func(t *testing.T) []byte {
			return edit(t, signed, func(t *testing.T, doc *etree.Document) {
				find(t, doc, "//Peticion").CreateAttr("extra", "1")
			})
		}, want: "digest of the Body does not match"},
		{name: "timestamp changed", env: func(t *testing.T) []byte {
			return edit(t, signed, func(t *testing.T, doc *etree.Document) {
				find(t, doc, "//Timestamp/Expires").SetText(now.Add(24 * time.Hour).UTC().Format(time.RFC3339))
			})
		}, want: "digest of the Timestamp does not match"},
		{name: "signature value changed", env: func(t *testing.T) []byte {
			return edit(t, signed, func(t *testing.T, doc *etree.Document) {
				find(t, doc, "//Reference").CreateAttr("Id", "r1")
			})
		}, want: "SignatureValue does not verify"},
		{name: "timestamp expired", env: func(t *testing.T) []byte { return sign(t, f.leaf, now.Add(-time.Hour), 5*time.Minute) },
			want: "Timestamp expired"},
		{name: "timestamp expired beyond the skew", env: func(t *testing.T) []byte { return signed },
			at: now.Add(5*time.Minute + wssec.Skew + time.Second), want: "Timestamp expired"},
		{name: "timestamp in the future", env: func(t *testing.T) []byte { return sign(t, f.leaf, now.Add(time.Hour), 5*time.Minute) },
			want: "created in the future"},
		{name: "timestamp without Expires", env: func(t *testing.T) []byte {
			return edit(t, signed, func(t *testing.T, doc *etree.Document) {
				ts := find(t, doc, "//Timestamp")
				ts.RemoveChild(find(t, doc, "//Timestamp/Expires"))
				redigest(t, doc)
				resign(t, doc, key)
			})
		}, want: "no wsu:Expires"},
		{name: "signature over the Timestamp only", env: func(t *testing.T) []byte {
			return edit(t, signed, func(t *testing.T, doc *etree.Document) {
				si := find(t, doc, "//SignedInfo")
				si.RemoveChild(si.SelectElements("Reference")[0])
				resign(t, doc, key)
			})
		}, want: "does not cover the Envelope's soapenv:Body"},
		{name: "signature over the Body only", env: func(t *testing.T) []byte {
			return edit(t, signed, func(t *testing.T, doc *etree.Document) {
				si := find(t, doc, "//SignedInfo")
				si.RemoveChild(si.SelectElements("Reference")[1])
				resign(t, doc, key)
			})
		}, want: "does not cover the wsu:Timestamp"},
		{name: "signed Body wrapped into the header, a forged one in its place", env: func(t *testing.T) []byte {
			return edit(t, signed, func(t *testing.T, doc *etree.Document) {
				body := find(t, doc, "/Envelope/Body")
				env := body.Parent()
				env.RemoveChild(body)
				find(t, doc, "/Envelope/Header").CreateElement("Wrapper").AddChild(body)
				forged := env.CreateElement("soapenv:Body")
				forged.CreateElement("Peticion").SetText("forged")
			})
		}, want: "does not cover the Envelope's soapenv:Body"},
		{name: "signed Body wrapped, a forged one with the same wsu:Id", env: func(t *testing.T) []byte {
			return edit(t, signed, func(t *testing.T, doc *etree.Document) {
				body := find(t, doc, "/Envelope/Body")
				env := body.Parent()
				forged := body.Copy()
				forged.FindElement(".//Documentacion").SetText("11111111H")
				env.RemoveChild(body)
				find(t, doc, "/Envelope/Header").CreateElement("Wrapper").AddChild(body)
				env.AddChild(forged)
			})
		}, want: "carried by 2 elements"},
		{name: "second Body", env: func(t *testing.T) []byte {
			return edit(t, signed, func(t *testing.T, doc *etree.Document) {
				find(t, doc, "/Envelope").CreateElement("soapenv:Body")
			})
		}, want: "unexpected element soapenv:Body"},
		{name: "duplicate wsu:Id", env: func(t *testing.T) []byte {
			return edit(t, signed, func(t *testing.T, doc *etree.Document) {
				id := find(t, doc, "//Timestamp").SelectAttrValue("wsu:Id", "")
				find(t, doc, "/Envelope/Header").CreateElement("Other").CreateAttr("Id", id)
			})
		}, want: "carried by 2 elements"},
		{name: "token missing", env: func(t *testing.T) []byte {
			return edit(t, signed, func(t *testing.T, doc *etree.Document) {
				bst := find(t, doc, "//BinarySecurityToken")
				bst.Parent().RemoveChild(bst)
			})
		}, want: "names no element"},
		{name: "token of another type", env: func(t *testing.T) []byte {
			return edit(t, signed, func(t *testing.T, doc *etree.Document) {
				find(t, doc, "//BinarySecurityToken").CreateAttr("ValueType", "urn:x")
			})
		}, want: "ValueType \"urn:x\" refused"},
		{name: "certificate from another CA", env: func(t *testing.T) []byte { return sign(t, f.foreign, now, 5*time.Minute) },
			want: "is not trusted"},
		{name: "no roots in the pool", env: func(t *testing.T) []byte { return signed },
			roots: x509.NewCertPool(), want: "is not trusted"},
		{name: "expired certificate", env: func(t *testing.T) []byte { return sign(t, f.expired, now, 5*time.Minute) },
			want: "expired at"},
		{name: "DOCTYPE with entities", env: func(t *testing.T) []byte {
			return append([]byte(`<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>`),
				signed[strings.Index(string(signed), "<soapenv:Envelope"):]...)
		}, want: "DOCTYPE"},
		{name: "10 MB deep nesting", env: func(t *testing.T) []byte {
			n := 10 << 20 / 7
			return []byte(strings.Repeat("<a><b>", n/2) + strings.Repeat("</b></a>", n/2))
		}, want: "nested deeper than"},
		{name: "NUL byte", env: func(t *testing.T) []byte {
			return []byte(strings.Replace(string(signed), "00000000T", "00000000T\x00", 1))
		}, want: "NUL byte"},
		{name: "duplicate attribute", env: func(t *testing.T) []byte {
			return []byte(strings.Replace(string(signed), "<soapenv:Body ", `<soapenv:Body wsu:Id="x" `, 1))
		}, want: "twice"},
		{name: "processing instruction", env: func(t *testing.T) []byte {
			return []byte(strings.Replace(string(signed), "<pet:Peticion>", "<?evil x?><pet:Peticion>", 1))
		}, want: "processing instruction"},
		{name: "other encoding", env: func(t *testing.T) []byte {
			return []byte(strings.Replace(string(signed), `encoding="UTF-8"`, `encoding="ISO-8859-1"`, 1))
		}, want: "malformed XML"},
		{name: "SignatureMethod HMAC", env: func(t *testing.T) []byte {
			return edit(t, signed, func(t *testing.T, doc *etree.Document) {
				find(t, doc, "//SignatureMethod").CreateAttr("Algorithm", "http://www.w3.org/2000/09/xmldsig#hmac-sha1")
			})
		}, want: "HMAC SignatureMethod"},
		{name: "SignatureMethod none", env: func(t *testing.T) []byte {
			return edit(t, signed, func(t *testing.T, doc *etree.Document) {
				find(t, doc, "//SignatureMethod").RemoveAttr("Algorithm")
			})
		}, want: "SignatureMethod has no Algorithm"},
		{name: "SignatureMethod RSA-SHA1", env: func(t *testing.T) []byte {
			return edit(t, signed, func(t *testing.T, doc *etree.Document) {
				find(t, doc, "//SignatureMethod").CreateAttr("Algorithm", "http://www.w3.org/2000/09/xmldsig#rsa-sha1")
			})
		}, want: "SHA-1 is not accepted"},
		{name: "digest SHA-1", env: func(t *testing.T) []byte {
			return edit(t, signed, func(t *testing.T, doc *etree.Document) {
				find(t, doc, "//DigestMethod").CreateAttr("Algorithm", "http://www.w3.org/2000/09/xmldsig#sha1")
			})
		}, want: "want SHA-256"},
		{name: "inclusive canonicalization", env: func(t *testing.T) []byte {
			return edit(t, signed, func(t *testing.T, doc *etree.Document) {
				find(t, doc, "//CanonicalizationMethod").CreateAttr("Algorithm", "http://www.w3.org/TR/2001/REC-xml-c14n-20010315")
			})
		}, want: "want exclusive C14N"},
		{name: "enveloped-signature transform", env: func(t *testing.T) []byte {
			return edit(t, signed, func(t *testing.T, doc *etree.Document) {
				find(t, doc, "//Reference/Transforms/Transform").CreateAttr("Algorithm", "http://www.w3.org/2000/09/xmldsig#enveloped-signature")
			})
		}, want: "want exclusive C14N"},
		{name: "XPointer reference", env: func(t *testing.T) []byte {
			return edit(t, signed, func(t *testing.T, doc *etree.Document) {
				ref := find(t, doc, "//Reference")
				ref.CreateAttr("URI", "#xpointer(id('"+strings.TrimPrefix(ref.SelectAttrValue("URI", ""), "#")+"'))")
			})
		}, want: "is not a reference"},
		{name: "whole-document reference", env: func(t *testing.T) []byte {
			return edit(t, signed, func(t *testing.T, doc *etree.Document) {
				find(t, doc, "//Reference").CreateAttr("URI", "")
			})
		}, want: "is not a reference"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at, roots := tc.at, tc.roots
			if at.IsZero() {
				at = now
			}
			if roots == nil {
				roots = pool
			}
			_, err := wssec.Verify(tc.env(t), roots, at)
			if err == nil {
				t.Fatal("Verify accepted it")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to say %q", err, tc.want)
			}
		})
	}
}

func TestVerifyAcceptsWithinSkew(t *testing.T) {
	f := setup(t)
	for _, tc := range []struct {
		name string
		sign time.Time
		at   time.Time
	}{
		{"created a little in the future", now.Add(wssec.Skew - time.Second), now},
		{"expired a little ago", now.Add(-5*time.Minute - wssec.Skew + time.Second), now},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := wssec.Verify(sign(t, f.leaf, tc.sign, 5*time.Minute), f.ca.Pool(), tc.at); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestResignIsSound checks the helpers the attacks use: an envelope
// digested and signed again unchanged still verifies, so that the attacks
// above fail for the reason they name.
func TestResignIsSound(t *testing.T) {
	f := setup(t)
	env := edit(t, sign(t, f.leaf, now, time.Minute), func(t *testing.T, doc *etree.Document) {
		find(t, doc, "//Timestamp/Expires").SetText(now.Add(time.Hour).UTC().Format(time.RFC3339))
		redigest(t, doc)
		resign(t, doc, f.leaf.Key)
	})
	v, err := wssec.Verify(env, f.ca.Pool(), now)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Expires.Equal(now.Add(time.Hour)) {
		t.Errorf("Expires %s", v.Expires)
	}
}
