package wssec

import (
	"crypto/x509"
	"encoding/asn1"
	"regexp"
	"strings"
)

// OIDOrganizationIdentifier is X.520's organizationIdentifier (2.5.4.97),
// where eIDAS seal certificates (ETSI EN 319 412-1) carry the
// organisation's identifier, "VATES-" and the NIF for a Spanish body.
var OIDOrganizationIdentifier = asn1.ObjectIdentifier{2, 5, 4, 97}

// nif is an organisation's NIF, as SCSP's IdentificadorSolicitante takes
// it: a letter, seven digits, a digit or letter.
var nif = regexp.MustCompile(`^[A-Z][0-9]{7}[0-9A-Z]$`)

// OrganisationOf answers the NIF of the organisation a seal certificate
// (a Spanish "sello de órgano" or "sello de entidad") was issued to, read
// from its subject the way those certificates carry it:
//
//  1. organizationIdentifier (2.5.4.97) "VATES-<NIF>", the eIDAS form;
//  2. else serialNumber (2.5.4.5) "<NIF>", the form of the Spanish
//     profiles before eIDAS.
//
// Letters are upper-cased, and the NIF must be a letter, seven digits and
// a check character. If the two attributes carry different NIFs, or either
// is present but holds something else (another country's VAT number, a
// natural person's "IDCES-…"), the answer is false: the certificate does
// not name one Spanish organisation.
func OrganisationOf(cert *x509.Certificate) (string, bool) {
	if cert == nil {
		return "", false
	}
	var fromOrgID, fromSerial string
	for _, atv := range cert.Subject.Names {
		v, ok := atv.Value.(string)
		if !ok {
			continue
		}
		v = strings.ToUpper(strings.TrimSpace(v))
		switch {
		case atv.Type.Equal(OIDOrganizationIdentifier):
			id, ok := strings.CutPrefix(v, "VATES-")
			if !ok || !nif.MatchString(id) || (fromOrgID != "" && fromOrgID != id) {
				return "", false
			}
			fromOrgID = id
		case atv.Type.Equal(asn1.ObjectIdentifier{2, 5, 4, 5}):
			if !nif.MatchString(v) || (fromSerial != "" && fromSerial != v) {
				return "", false
			}
			fromSerial = v
		}
	}
	switch {
	case fromOrgID != "" && fromSerial != "" && fromOrgID != fromSerial:
		return "", false
	case fromOrgID != "":
		return fromOrgID, true
	case fromSerial != "":
		return fromSerial, true
	}
	return "", false
}
