// Package wssec makes and checks the WS-Security signatures of SOAP 1.1
// envelopes, as SCSP v3 (PID, Via Oberta) exchanges them: OASIS Web
// Services Security 1.0/1.1 with the X.509 Token Profile. A signed envelope
// carries, in soapenv:Header/wsse:Security,
//
//   - a wsu:Timestamp with wsu:Created and wsu:Expires,
//   - a wsse:BinarySecurityToken (ValueType X509v3, EncodingType
//     Base64Binary) holding the signer's certificate, a public body's
//     "sello de órgano",
//   - a ds:Signature whose SignedInfo is canonicalised with exclusive C14N
//     and signed with RSA-SHA256 (or ECDSA-SHA256), with one Reference to
//     the soapenv:Body and one to the wsu:Timestamp, each by "#" and its
//     wsu:Id, each with the exclusive C14N transform and a SHA-256 digest,
//     and a KeyInfo whose wsse:SecurityTokenReference points at the token.
//
// Verify checks such an envelope and hands back the certificate and the
// very Body it checked; Sign produces one. Everything else (SHA-1, HMAC,
// other canonicalisations, tokens by key identifier, references by XPath)
// is refused: docs/scsp.md, section "Signatures (WS-Security)", is the
// contract a requester's developer configures a client from, and
// RATIONALE.md says why the package checks references itself rather than
// through goxmldsig's validator.
//
// The package knows nothing of SCSP's messages: the caller maps every
// error of Verify to SCSP 0305 (invalid signature).
package wssec

import "time"

// Namespaces and algorithm identifiers of the profile.
const (
	NamespaceSOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
	NamespaceWSSE   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	NamespaceWSU    = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
	NamespaceDSig   = "http://www.w3.org/2000/09/xmldsig#"

	ValueTypeX509v3      = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
	EncodingTypeBase64   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
	AlgorithmExcC14N     = "http://www.w3.org/2001/10/xml-exc-c14n#"
	AlgorithmRSASHA256   = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	AlgorithmECDSASHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
	AlgorithmSHA256      = "http://www.w3.org/2001/04/xmlenc#sha256"
)

// Limits of what Verify and Sign parse.
const (
	// MaxEnvelopeBytes is the largest envelope accepted. An SCSP request
	// of 1000 elements fits many times over; the HTTP door is expected to
	// bound its bodies lower.
	MaxEnvelopeBytes = 16 << 20
	// MaxDepth is the deepest element nesting accepted, the envelope
	// counting as 1. SCSP messages nest about 10 deep.
	MaxDepth = 64
	// Skew is the clock difference tolerated between the signer and
	// Pont on both sides of the Timestamp: Created may be up to Skew after
	// now, and Expires up to Skew before it. The certificate's validity
	// gets no skew.
	Skew = 5 * time.Minute
)
