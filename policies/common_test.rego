# Fixtures shared by the policy tests: a catalog slice and one fully valid
# query (allowed), which each test changes by a patch merged over it.
package pont_test

import rego.v1

_authorisations := {
	"P0801900B": {"procedures": {
		"AJUT-MENJADOR": {
			"services": {"padro": true, "discapacitat": true, "prestacions": false},
			"purposes": {"social-benefits": true, "audit": true},
		},
		"DEMO": {
			"services": {"padro": true},
			"purposes": {"demo": true},
		},
	}},
	"S0811001G": {"procedures": {"DEMO": {
		"services": {"padro": true},
		"purposes": {"demo": true},
	}}},
}

_purposes := {
	"demo": {"title": "Demonstration"},
	"social-benefits": {"title": "Granting social benefits"},
	"audit": {"title": "Audit of the procedure"},
}

_laws := {
	"padro": {"Llei 7/1985 art. 16": true},
	"discapacitat": {"Reial Decret Legislatiu 1/2013": true, "Llei 12/2007": true},
}

_padro := {
	"name": "padro",
	"special_category": false,
	"purposes": {
		"demo": {"fields": "*"},
		"social-benefits": {"fields": ["municipality", "registration_date"]},
	},
	"laws": {"Llei 7/1985 art. 16": true},
}

_discapacitat := {
	"name": "discapacitat",
	"special_category": true,
	"purposes": {"social-benefits": {"fields": ["degree", "valid_until"]}},
	"laws": {"Reial Decret Legislatiu 1/2013": true},
}

_request := {
	"procedure": {"code": "AJUT-MENJADOR", "name": "Ajuts de menjador escolar"},
	"purpose": "social-benefits",
	"legal_basis": {"type": "presumed"},
	"case_id": "EXP-2026-00123",
	"official": {"id": "38000001E", "name": "Marta Puig"},
	"subject": {"id_type": "DNI", "id": "12345678Z", "name": "Joan", "surname1": "Garcia"},
	"params": {"municipality": "08019", "mode": "consult"},
}

_input := {
	"access": "query",
	"request": _request,
	"principal": {"role": "requester", "org": "P0801900B", "sub": "tramitador-bcn", "owner": ""},
	"service": _padro,
	"consent": null,
	"objection": null,
	"now": "2026-03-01T10:00:00Z",
}

# A consent that covers the fixture query exactly.
_consent := {
	"id": "CONS-0001",
	"subject": "12345678Z",
	"requester": "P0801900B",
	"procedure": "AJUT-MENJADOR",
	"services": ["padro", "discapacitat"],
	"purpose": "social-benefits",
	"expires_at": "2027-01-01T00:00:00Z",
	"revoked_at": null,
}

# The fixture query with its basis set to the fixture consent.
_with_consent := {
	"request": {"legal_basis": {"type": "consent", "consent_id": "CONS-0001"}},
	"consent": _consent,
}

# The fixture query with its basis set to consent c, taken whole (a merge
# over _with_consent could not drop a field of the record).
_consent_basis(c) := {
	"request": {"legal_basis": {"type": "consent", "consent_id": "CONS-0001"}},
	"consent": c,
}

# _reasons evaluates the reasons for the fixture input patched by patch
# (a deep merge: patch wins).
_reasons(patch) := rs if {
	rs := data.pont.reasons with input as object.union(_input, patch)
		with data.authorisations as _authorisations
		with data.purposes as _purposes
		with data.laws as _laws
}

# _reasons_of is _reasons for a whole input, for inputs that lack a part of
# the fixture (which a merge cannot remove).
_reasons_of(whole) := rs if {
	rs := data.pont.reasons with input as whole
		with data.authorisations as _authorisations
		with data.purposes as _purposes
		with data.laws as _laws
}

_decision(patch) := d if {
	d := data.pont.decision with input as object.union(_input, patch)
		with data.authorisations as _authorisations
		with data.purposes as _purposes
		with data.laws as _laws
}

_codes(rs) := {r.code | some r in rs}

test_fixture_is_allowed if {
	_reasons({}) == set()
}
