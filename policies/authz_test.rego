package pont_test

import rego.v1

test_authz_allows[note] if {
	some note, patch in {
		"requester authorised for procedure and service": {},
		"second procedure of the same organisation": {"request": {"procedure": {"code": "DEMO"}, "purpose": "demo"}},
		"another organisation authorised for its procedure": {
			"principal": {"org": "S0811001G"},
			"request": {"procedure": {"code": "DEMO"}, "purpose": "demo"},
		},
		"another service of the procedure": {
			"service": _discapacitat,
			"request": {"legal_basis": {"type": "law", "reference": "Reial Decret Legislatiu 1/2013"}},
		},
	}
	not "not_authorized" in _codes(_reasons(patch))
}

test_authz_denies_organisation[note] if {
	some note, tc in {
		"organisation not in the matrix": {
			"patch": {"principal": {"org": "P4300000A"}},
			"want": "organisation P4300000A is not authorised for procedure AJUT-MENJADOR on service padro",
		},
		"procedure the organisation does not hold": {
			"patch": {"request": {"procedure": {"code": "LLICENCIA-OBRES"}}},
			"want": "organisation P0801900B is not authorised for procedure LLICENCIA-OBRES on service padro",
		},
		"service not in the procedure": {
			"patch": {"service": object.union(_padro, {"name": "titulacions"})},
			"want": "organisation P0801900B is not authorised for procedure AJUT-MENJADOR on service titulacions",
		},
		"service listed as false": {
			"patch": {"service": object.union(_padro, {"name": "prestacions"})},
			"want": "organisation P0801900B is not authorised for procedure AJUT-MENJADOR on service prestacions",
		},
		"another organisation's procedure": {
			"patch": {"principal": {"org": "S0811001G"}},
			"want": "organisation S0811001G is not authorised for procedure AJUT-MENJADOR on service padro",
		},
		"empty organisation": {
			"patch": {"principal": {"org": ""}},
			"want": "organisation (none) is not authorised for procedure AJUT-MENJADOR on service padro",
		},
	}
	_reasons(tc.patch) == {{"code": "not_authorized", "message": tc.want}}
}

test_authz_denies_role[note] if {
	some note, role in {
		"citizen": "citizen",
		"auditor": "auditor",
		"publisher": "publisher",
		"unknown role": "admin",
	}
	_reasons({"principal": {"role": role}}) == {{
		"code": "not_authorized",
		"message": sprintf("a principal with role %s may not query services; only requester organisations may", [role]),
	}}
}

test_authz_denies_missing_principal if {
	missing := json.remove(_input, ["principal"])
	_reasons_of(missing) == {{
		"code": "not_authorized",
		"message": "a principal with role (none) may not query services; only requester organisations may",
	}}
}

_self_input(principal, subject) := {
	"access": "self",
	"request": {"subject": {"id_type": "DNI", "id": subject}, "params": {"municipality": "08019"}},
	"principal": principal,
	"service": _discapacitat,
	"consent": null,
	"objection": null,
	"now": "2026-11-23T10:00:00Z",
}

test_self_access_allows_her_own_data if {
	d := data.pont.decision with input as _self_input({"role": "citizen", "sub": "12345678Z"}, "12345678Z")
		with data.authorisations as _authorisations
		with data.purposes as _purposes
		with data.laws as _laws
	d.allow == true
	d.fields == "*"
}

test_self_access_denies[note] if {
	some note, tc in {
		"another citizen's data": {
			"principal": {"role": "citizen", "sub": "12345678Z"}, "subject": "00000000T",
			"want": "a citizen may read only her own data",
		},
		"citizen without subject": {
			"principal": {"role": "citizen", "sub": ""}, "subject": "",
			"want": "a citizen may read only her own data",
		},
		"a requester": {
			"principal": {"role": "requester", "org": "P0801900B"}, "subject": "12345678Z",
			"want": "a principal with role requester may not read a citizen's data as its own; only the citizen may",
		},
	}
	d := data.pont.decision with input as _self_input(tc.principal, tc.subject)
		with data.authorisations as _authorisations
		with data.purposes as _purposes
		with data.laws as _laws
	d.deny == [{"code": "not_authorized", "message": tc.want}]
}
