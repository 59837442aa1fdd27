package pont_test

import rego.v1

test_purpose_allows[note] if {
	some note, patch in {
		"purpose of service and procedure": {},
		"demo purpose of the demo procedure": {"request": {"procedure": {"code": "DEMO"}, "purpose": "demo"}},
	}
	not "purpose_not_allowed" in _codes(_reasons(patch))
}

test_purpose_denies[note] if {
	some note, tc in {
		"purpose the service does not allow": {
			"patch": {"request": {"purpose": "audit"}},
			"want": {"purpose audit is not allowed for service padro"},
		},
		"purpose the procedure does not allow": {
			"patch": {"request": {"purpose": "demo"}},
			"want": {"purpose demo is not allowed for procedure AJUT-MENJADOR of organisation P0801900B"},
		},
		"purpose neither allows": {
			"patch": {"request": {"purpose": "marketing"}},
			"want": {
				"purpose marketing is not allowed for service padro",
				"purpose marketing is not allowed for procedure AJUT-MENJADOR of organisation P0801900B",
			},
		},
		"empty purpose": {
			"patch": {"request": {"purpose": ""}},
			"want": {
				"purpose (none) is not allowed for service padro",
				"purpose (none) is not allowed for procedure AJUT-MENJADOR of organisation P0801900B",
			},
		},
		"service purpose rule that is not an object": {
			"patch": {"service": {"purposes": {"social-benefits": true}}},
			"want": {"purpose social-benefits is not allowed for service padro"},
		},
	}
	_reasons(tc.patch) == {{"code": "purpose_not_allowed", "message": m} | some m in tc.want}
}

# Where the organisation does not hold the procedure, not_authorized says
# why; the procedure's purposes are not judged again.
test_purpose_not_judged_without_procedure if {
	_reasons({"request": {"procedure": {"code": "LLICENCIA-OBRES"}}}) == {{
		"code": "not_authorized",
		"message": "organisation P0801900B is not authorised for procedure LLICENCIA-OBRES on service padro",
	}}
}

test_purpose_denies_missing_purpose if {
	missing := json.remove(_input, ["request/purpose"])
	_codes(_reasons_of(missing)) == {"purpose_not_allowed"}
}
