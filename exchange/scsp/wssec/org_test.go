package wssec_test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"

	"github.com/pontexchange/pont/exchange/scsp/wssec"
)

func TestOrganisationOfRule(t *testing.T) {
	serial := asn1.ObjectIdentifier{2, 5, 4, 5}
	name := func(kv ...any) *x509.Certificate {
		var n pkix.Name
		for i := 0; i < len(kv); i += 2 {
			n.Names = append(n.Names, pkix.AttributeTypeAndValue{Type: kv[i].(asn1.ObjectIdentifier), Value: kv[i+1]})
		}
		return &x509.Certificate{Subject: n}
	}
	org := wssec.OIDOrganizationIdentifier
	for _, tc := range []struct {
		name string
		cert *x509.Certificate
		nif  string
		ok   bool
	}{
		{"organizationIdentifier", name(org, "VATES-P0801900B"), "P0801900B", true},
		{"lower case", name(org, "vates-p0801900b"), "P0801900B", true},
		{"serialNumber", name(serial, "S0811001G"), "S0811001G", true},
		{"both, agreeing", name(org, "VATES-P0801900B", serial, "P0801900B"), "P0801900B", true},
		{"both, disagreeing", name(org, "VATES-P0801900B", serial, "S0811001G"), "", false},
		{"another country", name(org, "VATFR-12345678901"), "", false},
		{"a person's serialNumber", name(serial, "IDCES-00000000T"), "", false},
		{"a malformed NIF", name(org, "VATES-P08019"), "", false},
		{"nothing", name(), "", false},
		{"no certificate", nil, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nif, ok := wssec.OrganisationOf(tc.cert)
			if nif != tc.nif || ok != tc.ok {
				t.Errorf("OrganisationOf = %q, %v; want %q, %v", nif, ok, tc.nif, tc.ok)
			}
		})
	}
}
