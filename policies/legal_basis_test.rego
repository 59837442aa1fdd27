package pont_test

import rego.v1

test_legal_basis_allows[note] if {
	some note, patch in {
		"presumed without objection": {},
		"law listed for the service": {"request": {"legal_basis": {"type": "law", "reference": "Llei 7/1985 art. 16"}}},
		"law listed only in the catalog's law table": {
			"service": _discapacitat,
			"request": {"legal_basis": {"type": "law", "reference": "Llei 12/2007"}},
		},
		"law on special-category data": {
			"service": _discapacitat,
			"request": {"legal_basis": {"type": "law", "reference": "Reial Decret Legislatiu 1/2013"}},
		},
		"law despite an objection": {
			"request": {"legal_basis": {"type": "law", "reference": "Llei 7/1985 art. 16"}},
			"objection": {"subject": "12345678Z", "service": "padro", "recorded_at": "2025-11-02T09:00:00Z"},
		},
		"consent that covers the query": _with_consent,
		"consent on special-category data": object.union(_with_consent, {"service": _discapacitat}),
		"consent despite an objection": object.union(_with_consent, {"objection": {"subject": "12345678Z"}}),
		"consent without a revoked_at field": _consent_basis(json.remove(_consent, ["revoked_at"])),
		"consent expiring in a second": object.union(_with_consent, {"consent": {"expires_at": "2026-03-01T10:00:01Z"}}),
		"revoked consent passed along with a presumed basis": {"consent": object.union(_consent, {"revoked_at": "2026-01-01T00:00:00Z"})},
	}
	_reasons(patch) == set()
}

test_legal_basis_required[note] if {
	some note, tc in {
		"missing type": {
			"input": json.remove(_input, ["request/legal_basis/type"]),
			"want": "a legal basis is required: presumed, law or consent",
		},
		"missing legal basis": {
			"input": json.remove(_input, ["request/legal_basis"]),
			"want": "a legal basis is required: presumed, law or consent",
		},
		"type that is not a string": {
			"input": object.union(_input, {"request": {"legal_basis": {"type": 1}}}),
			"want": "a legal basis is required: presumed, law or consent",
		},
		"unknown type": {
			"input": object.union(_input, {"request": {"legal_basis": {"type": "contract"}}}),
			"want": "legal basis type contract is unknown; use presumed, law or consent",
		},
		"presumed on special-category data": {
			"input": object.union(_input, {"service": _discapacitat}),
			"want": "service discapacitat holds special-category data (GDPR art. 9), which is never served on the presumed basis of Llei 39/2015 art. 28.2 alone; it needs the citizen's consent or a law listed for the service",
		},
	}
	_reasons_of(tc.input) == {{"code": "legal_basis_required", "message": tc.want}}
}

test_legal_basis_objection_registered if {
	_reasons({"objection": {"subject": "12345678Z", "service": "padro", "recorded_at": "2025-11-02T09:00:00Z"}}) == {{
		"code": "objection_registered",
		"message": "the citizen has objected to the consultation of service padro, so the presumed basis of Llei 39/2015 art. 28.2 does not apply; it needs the citizen's consent or a law listed for the service",
	}}
}

test_legal_basis_objection_and_special_category if {
	_codes(_reasons({"service": _discapacitat, "objection": {"subject": "12345678Z"}})) == {"legal_basis_required", "objection_registered"}
}

test_legal_basis_invalid[note] if {
	some note, tc in {
		"law not listed for the service": {
			"patch": {"request": {"legal_basis": {"type": "law", "reference": "Reial Decret Legislatiu 1/2013"}}},
			"want": `law "Reial Decret Legislatiu 1/2013" is not one the catalog lists for service padro`,
		},
		"law of another service's list": {
			"patch": {"request": {"legal_basis": {"type": "law", "reference": "Llei 12/2007"}}},
			"want": `law "Llei 12/2007" is not one the catalog lists for service padro`,
		},
		"law without reference": {
			"patch": {"request": {"legal_basis": {"type": "law"}}},
			"want": "legal basis law needs a reference to a law the catalog lists for the service",
		},
		"law with an empty reference": {
			"patch": {"request": {"legal_basis": {"type": "law", "reference": ""}}},
			"want": "legal basis law needs a reference to a law the catalog lists for the service",
		},
		"law listed as false": {
			"patch": {
				"request": {"legal_basis": {"type": "law", "reference": "Llei 7/1985 art. 16"}},
				"service": {"laws": {"Llei 7/1985 art. 16": false}},
			},
			"want": "", # the catalog's law table still lists it: allowed
		},
	}
	want := {{"code": "legal_basis_invalid", "message": tc.want} | tc.want != ""}
	_reasons(tc.patch) == want
}

test_legal_basis_consent_not_found[note] if {
	some note, patch in {
		"consent record null": {"request": {"legal_basis": {"type": "consent", "consent_id": "CONS-0404"}}},
		"consent record not an object": {
			"request": {"legal_basis": {"type": "consent", "consent_id": "CONS-0404"}},
			"consent": "CONS-0404",
		},
	}
	_reasons(patch) == {{"code": "consent_not_found", "message": "consent CONS-0404 was not found"}}
}

test_legal_basis_consent_revoked if {
	_reasons(object.union(_with_consent, {"consent": {"revoked_at": "2026-02-15T08:30:00Z"}})) == {{
		"code": "consent_revoked",
		"message": "consent CONS-0001 was revoked by the citizen",
	}}
}

test_legal_basis_consent_expired[note] if {
	some note, consent in {
		"expired yesterday": object.union(_consent, {"expires_at": "2026-02-28T10:00:00Z"}),
		"expires right now": object.union(_consent, {"expires_at": "2026-03-01T10:00:00Z"}),
		"expiry in another zone, passed": object.union(_consent, {"expires_at": "2026-03-01T10:30:00+01:00"}),
		"no expiry": json.remove(_consent, ["expires_at"]),
		"malformed expiry": object.union(_consent, {"expires_at": "next year"}),
	}
	_reasons(_consent_basis(consent)) == {{
		"code": "consent_expired",
		"message": "consent CONS-0001 has expired",
	}}
}

test_legal_basis_consent_mismatch[note] if {
	some note, tc in {
		"another subject's consent": {
			"consent": {"subject": "87654321X"},
			"why": {"it belongs to another subject"},
		},
		"another requester": {
			"consent": {"requester": "S0811001G"},
			"why": {"it does not cover organisation P0801900B"},
		},
		"another procedure": {
			"consent": {"procedure": "BEQUES"},
			"why": {"it does not cover procedure AJUT-MENJADOR"},
		},
		"another service": {
			"consent": {"services": ["titulacions"]},
			"why": {"it does not cover service padro"},
		},
		"another purpose": {
			"consent": {"purpose": "demo"},
			"why": {"it does not cover purpose social-benefits"},
		},
		"another consent's record": {
			"consent": {"id": "CONS-0002"},
			"why": {"it was recorded under another id"},
		},
		"several differences": {
			"consent": {"requester": "S0811001G", "purpose": "demo"},
			"why": {"it does not cover organisation P0801900B", "it does not cover purpose social-benefits"},
		},
	}
	want := {{"code": "consent_mismatch", "message": sprintf("consent CONS-0001 does not cover this query: %s", [w])} | some w in tc.why}
	_reasons(object.union(_with_consent, {"consent": tc.consent})) == want
}

test_legal_basis_consent_missing_subject if {
	_reasons(_consent_basis(json.remove(_consent, ["subject"]))) == {{
		"code": "consent_mismatch",
		"message": "consent CONS-0001 does not cover this query: it belongs to another subject",
	}}
}

test_legal_basis_consent_revoked_and_expired if {
	consent := object.union(_consent, {"revoked_at": "2025-06-01T00:00:00Z", "expires_at": "2025-12-31T00:00:00Z"})
	_codes(_reasons(object.union(_with_consent, {"consent": consent}))) == {"consent_revoked", "consent_expired"}
}

test_legal_basis_consent_without_services if {
	_reasons(_consent_basis(json.remove(_consent, ["services"]))) == {{
		"code": "consent_mismatch",
		"message": "consent CONS-0001 does not cover this query: it does not cover service padro",
	}}
}
