package pont_test

import rego.v1

test_decision_allows[note] if {
	some note, tc in {
		"listed fields": {"patch": {}, "want": {
			"allow": true, "deny": [],
			"fields": ["municipality", "registration_date"], "verify_only": false,
		}},
		"all fields": {"patch": {"request": {"procedure": {"code": "DEMO"}, "purpose": "demo"}}, "want": {
			"allow": true, "deny": [],
			"fields": "*", "verify_only": false,
		}},
		"verify mode": {"patch": {"request": {"params": {"mode": "verify"}}}, "want": {
			"allow": true, "deny": [],
			"fields": ["municipality", "registration_date"], "verify_only": true,
		}},
	}
	_decision(tc.patch) == tc.want
}

test_decision_denies_with_sorted_reasons if {
	d := _decision({
		"principal": {"org": "P4300000A"},
		"request": {"purpose": "audit", "legal_basis": {"type": "law", "reference": "Llei 99/2099"}},
		"service": _discapacitat,
	})
	d.allow == false
	d.deny == [
		{"code": "legal_basis_invalid", "message": `law "Llei 99/2099" is not one the catalog lists for service discapacitat`},
		{"code": "not_authorized", "message": "organisation P4300000A is not authorised for procedure AJUT-MENJADOR on service discapacitat"},
		{"code": "purpose_not_allowed", "message": "purpose audit is not allowed for service discapacitat"},
	]
}

test_decision_sorts_same_code_by_message if {
	d := _decision(object.union(_with_consent, {"consent": {"requester": "S0811001G", "purpose": "demo", "procedure": "BEQUES"}}))
	d.allow == false
	d.deny == [
		{"code": "consent_mismatch", "message": "consent CONS-0001 does not cover this query: it does not cover organisation P0801900B"},
		{"code": "consent_mismatch", "message": "consent CONS-0001 does not cover this query: it does not cover procedure AJUT-MENJADOR"},
		{"code": "consent_mismatch", "message": "consent CONS-0001 does not cover this query: it does not cover purpose social-benefits"},
	]
}

test_decision_denies_empty_input if {
	d := data.pont.decision with input as {}
		with data.authorisations as _authorisations
		with data.purposes as _purposes
		with data.laws as _laws
	d.allow == false
	d.deny == [{"code": "not_authorized", "message": "access (none) is unknown; only query and self access are decided"}]
	d.fields == []
}
