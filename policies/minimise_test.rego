package pont_test

import rego.v1

_fields(patch) := f if {
	f := data.pont.fields with input as object.union(_input, patch)
}

_verify_only(whole) := v if {
	v := data.pont.verify_only with input as whole
}

test_minimise_fields[note] if {
	some note, tc in {
		"purpose listing fields": {"patch": {}, "want": ["municipality", "registration_date"]},
		"purpose allowing all fields": {"patch": {"request": {"purpose": "demo"}}, "want": "*"},
		"purpose the service does not list": {"patch": {"request": {"purpose": "audit"}}, "want": []},
		"fields neither a list nor all": {"patch": {"service": {"purposes": {"social-benefits": {"fields": "municipality"}}}}, "want": []},
		"another service's fields": {"patch": {"service": _discapacitat}, "want": ["degree", "valid_until"]},
	}
	_fields(tc.patch) == tc.want
}

test_minimise_fields_purpose_rule_without_fields if {
	no_fields := json.remove(_input, ["service/purposes/social-benefits/fields"])
	data.pont.fields == [] with input as no_fields
}

test_minimise_verify_only[note] if {
	some note, tc in {
		"verify mode": {"input": object.union(_input, {"request": {"params": {"mode": "verify"}}}), "want": true},
		"consult mode": {"input": _input, "want": false},
		"no mode": {"input": json.remove(_input, ["request/params/mode"]), "want": false},
		"no params": {"input": json.remove(_input, ["request/params"]), "want": false},
		"mode in other case": {"input": object.union(_input, {"request": {"params": {"mode": "VERIFY"}}}), "want": false},
	}
	_verify_only(tc.input) == tc.want
}
