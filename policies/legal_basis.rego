# Legal basis: presumed (Llei 39/2015 art. 28.2) unless the citizen objected
# and never alone for special-category data; a law the catalog lists for the
# service; or a recorded consent that is the subject's, in force, and covers
# this requester, procedure, service and purpose.
package pont

# A helper rule, not `not is_string(...)` inline: OPA evaluates the
# argument's reference before the negation, so an absent type would make the
# whole body undefined instead of denying.
_has_basis_type if is_string(input.request.legal_basis.type)

reasons contains {
	"code": "legal_basis_required",
	"message": "a legal basis is required: presumed, law or consent",
} if {
	input.access == "query"
	not _has_basis_type
}

reasons contains {
	"code": "legal_basis_required",
	"message": sprintf("legal basis type %s is unknown; use presumed, law or consent", [input.request.legal_basis.type]),
} if {
	input.access == "query"
	_has_basis_type
	not input.request.legal_basis.type in {"presumed", "law", "consent"}
}

# --- presumed -------------------------------------------------------------

reasons contains {
	"code": "legal_basis_required",
	"message": sprintf("service %s holds special-category data (GDPR art. 9), which is never served on the presumed basis of Llei 39/2015 art. 28.2 alone; it needs the citizen's consent or a law listed for the service", [_service]),
} if {
	input.request.legal_basis.type == "presumed"
	input.service.special_category == true
}

reasons contains {
	"code": "objection_registered",
	"message": sprintf("the citizen has objected to the consultation of service %s, so the presumed basis of Llei 39/2015 art. 28.2 does not apply; it needs the citizen's consent or a law listed for the service", [_service]),
} if {
	input.request.legal_basis.type == "presumed"
	input.objection != null
}

# --- law ------------------------------------------------------------------

# The service view and the catalog's law table are two views of the same
# catalog list; either one naming the reference is enough.
_law_listed if input.service.laws[input.request.legal_basis.reference] == true

_law_listed if data.laws[input.service.name][input.request.legal_basis.reference] == true

reasons contains {
	"code": "legal_basis_invalid",
	"message": "legal basis law needs a reference to a law the catalog lists for the service",
} if {
	input.request.legal_basis.type == "law"
	not input.request.legal_basis.reference
}

reasons contains {
	"code": "legal_basis_invalid",
	"message": "legal basis law needs a reference to a law the catalog lists for the service",
} if {
	input.request.legal_basis.type == "law"
	input.request.legal_basis.reference == ""
}

reasons contains {
	"code": "legal_basis_invalid",
	"message": sprintf("law %q is not one the catalog lists for service %s", [input.request.legal_basis.reference, _service]),
} if {
	input.request.legal_basis.type == "law"
	input.request.legal_basis.reference != ""
	not _law_listed
}

# --- consent --------------------------------------------------------------

# Judged only when consent is the basis given: a record passed along with
# another basis is not the reason for the transfer.

default _consent_id := "(none)"

_consent_id := input.request.legal_basis.consent_id if input.request.legal_basis.consent_id != ""

_consent := input.consent if is_object(input.consent)

reasons contains {
	"code": "consent_not_found",
	"message": sprintf("consent %s was not found", [_consent_id]),
} if {
	input.request.legal_basis.type == "consent"
	not _consent
}

reasons contains {
	"code": "consent_revoked",
	"message": sprintf("consent %s was revoked by the citizen", [_consent_id]),
} if {
	input.request.legal_basis.type == "consent"
	object.get(_consent, "revoked_at", null) != null
}

_consent_unexpired if {
	time.parse_rfc3339_ns(_consent.expires_at) > time.parse_rfc3339_ns(input.now)
}

# A missing or malformed expiry counts as expired: fail closed.
reasons contains {
	"code": "consent_expired",
	"message": sprintf("consent %s has expired", [_consent_id]),
} if {
	input.request.legal_basis.type == "consent"
	_consent
	not _consent_unexpired
}

# Read only through the consent_mismatch reason below, which checks that a
# consent record exists. The subject's id is kept out of the messages on
# purpose: reasons are shown to the requester and stored in the log.
# _service, not input.service.name, before `in`: a call's argument that is
# undefined makes the whole `not` undefined (see _has_basis_type).
_consent_mismatches contains "it was recorded under another id" if {
	not _consent.id == _consent_id
}

_consent_mismatches contains "it belongs to another subject" if {
	not _consent.subject == input.request.subject.id
}

_consent_mismatches contains sprintf("it does not cover organisation %s", [_org]) if {
	not _consent.requester == input.principal.org
}

_consent_mismatches contains sprintf("it does not cover procedure %s", [_procedure]) if {
	not _consent.procedure == input.request.procedure.code
}

_consent_mismatches contains sprintf("it does not cover service %s", [_service]) if {
	not _service in object.get(_consent, "services", [])
}

_consent_mismatches contains sprintf("it does not cover purpose %s", [_purpose]) if {
	not _consent.purpose == input.request.purpose
}

reasons contains {
	"code": "consent_mismatch",
	"message": sprintf("consent %s does not cover this query: %s", [_consent_id, why]),
} if {
	input.request.legal_basis.type == "consent"
	_consent
	some why in _consent_mismatches
}
