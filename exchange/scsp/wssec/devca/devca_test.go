package devca

import (
	"testing"

	"github.com/pontexchange/pont/exchange/scsp/wssec"
)

func TestFileName(t *testing.T) {
	for cn, want := range map[string]string{
		"Departament de Drets Socials i Inclusió": "departament-de-drets-socials-i-inclusio",
		"Ajuntament de Barcelona":                 "ajuntament-de-barcelona",
		"../../etc/passwd":                        "etc-passwd",
		"Pont development node":                   "pont-development-node",
	} {
		if got := fileName(cn); got != want {
			t.Errorf("fileName(%q) = %q, want %q", cn, got, want)
		}
	}
}

// TestOpenKeepsWhatItMade checks that a development node finds its CA and
// certificates again after a restart, and that they identify the
// organisation they were issued to.
func TestOpenKeepsWhatItMade(t *testing.T) {
	dir := t.TempDir()
	ca, err := OpenCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Open("Ajuntament de Barcelona", "P0801900B")
	if err != nil {
		t.Fatal(err)
	}
	again, err := OpenCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Cert.Equal(ca.Cert) {
		t.Fatal("OpenCA made a new CA over the one in its directory")
	}
	same, err := again.Open("Ajuntament de Barcelona", "P0801900B")
	if err != nil {
		t.Fatal(err)
	}
	if !same.Cert.Equal(leaf.Cert) {
		t.Fatal("Open issued a new certificate over a valid one")
	}
	if org, ok := wssec.OrganisationOf(same.Cert); !ok || org != "P0801900B" {
		t.Fatalf("OrganisationOf = %q, %v", org, ok)
	}
	// A certificate another CA issued in the directory is not taken.
	other, err := NewCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other.Dir = dir
	if _, err := other.Issue("Ajuntament de Girona", "P1708500B"); err != nil {
		t.Fatal(err)
	}
	girona, err := again.Open("Ajuntament de Girona", "P1708500B")
	if err != nil {
		t.Fatal(err)
	}
	if girona.Cert.CheckSignatureFrom(again.Cert) != nil {
		t.Fatal("Open kept a certificate its CA did not issue")
	}
}
