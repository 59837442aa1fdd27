// Package auth establishes who is calling Pont: it verifies the bearer JWTs
// of the configured issuers and turns them into a Principal, and it runs the
// development issuer of `pont dev`. It changes only when the identity
// contract changes (issuers, claims, roles); what a principal may do is the
// policy's business.
package auth

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pontexchange/pont/exchange/envelope"
	"github.com/pontexchange/pont/exchange/fault"
)

// Role is what a principal is to Pont, carried in the token's role claim.
type Role string

// The roles Pont knows.
const (
	// RoleRequester is a case system (tramitador) of a public body; org is
	// the body's NIF.
	RoleRequester Role = "requester"
	// RoleCitizen is a citizen in her carpeta; sub is her DNI or NIE.
	RoleCitizen Role = "citizen"
	// RoleAuditor is a data protection officer or supervisory authority.
	RoleAuditor Role = "auditor"
	// RolePublisher is a data owner publishing adapters; owner is its id.
	RolePublisher Role = "publisher"
)

// Valid reports whether r is one of the roles Pont knows.
func (r Role) Valid() bool {
	switch r {
	case RoleRequester, RoleCitizen, RoleAuditor, RolePublisher:
		return true
	}
	return false
}

// Principal is the verified identity behind a request.
type Principal struct {
	Role Role `json:"role"`
	// Org is the requesting organisation's NIF (requesters).
	Org string `json:"org,omitempty"`
	// Sub is the citizen's DNI or NIE (citizens), normalised as in
	// envelope.NormalizeID, or the user's id at the issuer (others).
	Sub string `json:"sub,omitempty"`
	// Owner is the data owner's id (publishers).
	Owner string `json:"owner,omitempty"`
	// Issuer is the iss of the token the principal came from.
	Issuer string `json:"issuer,omitempty"`
	// Expires is when the token stops being accepted.
	Expires time.Time `json:"expires,omitzero"`
}

// maxClaim bounds the free-form claims (sub of non-citizens, owner), which
// end up in the transfer log.
const maxClaim = 128

// normalize returns p with its ids in canonical form: the citizen's
// document as envelope.NormalizeID writes it (so that it compares equal to
// a query's subject.id) and the NIF in upper case.
func (p Principal) normalize() Principal {
	p.Org = strings.ToUpper(strings.TrimSpace(p.Org))
	if p.Role == RoleCitizen {
		p.Sub = envelope.NormalizeID(p.Sub)
	}
	return p
}

// Problems answers what is wrong with p as a principal (a role it does not
// know, or without the claims it needs), each naming its claim; none for a
// valid one. A principal that did not come from a verified token (the web
// pages' session) is held to the same rules.
func (p Principal) Problems() []fault.FieldError { return p.check() }

// check returns the problems of a normalised principal's claims, each
// naming its claim: the role must be known and carry the claims it needs.
func (p Principal) check() []fault.FieldError {
	var fields []fault.FieldError
	add := func(field, format string, args ...any) {
		fields = append(fields, fault.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	switch {
	case p.Role == "":
		add("role", "is required: one of requester, citizen, auditor, publisher")
	case !p.Role.Valid():
		add("role", "must be one of requester, citizen, auditor, publisher")
	}
	switch p.Role {
	case RoleRequester:
		if p.Org == "" {
			add("org", "is required for a requester: the organisation's NIF")
		} else if !isPublicBodyNIF(p.Org) {
			add("org", "must be a public body's NIF: a letter, 7 digits and a letter or digit")
		}
	case RoleCitizen:
		if p.Sub == "" {
			add("sub", "is required for a citizen: her DNI or NIE")
		} else if err := envelope.ValidDNIOrNIE(p.Sub); err != nil {
			add("sub", "must be the citizen's DNI or NIE: %v", err)
		}
	case RolePublisher:
		if strings.TrimSpace(p.Owner) == "" {
			add("owner", "is required for a publisher: the data owner's id")
		}
	}
	if !plainClaim(p.Sub) {
		add("sub", "must be at most %d characters, without control characters", maxClaim)
	}
	if !plainClaim(p.Owner) {
		add("owner", "must be at most %d characters, without control characters", maxClaim)
	}
	return fields
}

// isPublicBodyNIF matches SCSP's IdentificadorSolicitante,
// [A-Za-z][0-9]{7}[0-9A-Za-z].
func isPublicBodyNIF(s string) bool {
	if len(s) != 9 || !isLetter(s[0]) || !(isLetter(s[8]) || isDigit(s[8])) {
		return false
	}
	for i := 1; i < 8; i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

// plainClaim reports whether v is short and free of control characters,
// fit for logs.
func plainClaim(v string) bool {
	if len(v) > maxClaim*utf8.UTFMax || utf8.RuneCountInString(v) > maxClaim || !utf8.ValidString(v) {
		return false
	}
	return !strings.ContainsFunc(v, unicode.IsControl)
}
