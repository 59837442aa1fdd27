# Minimisation: the answer carries only the fields the purpose needs for this
# service, and verify mode answers yes or no and nothing else.
package pont

_purpose_rule := input.service.purposes[input.request.purpose]

# No rule for the purpose means no field: minimisation fails closed.
default fields := []

fields := "*" if input.access == "self"

fields := "*" if {
	input.access == "query"
	_purpose_rule.fields == "*"
}

fields := f if {
	input.access == "query"
	f := _purpose_rule.fields
	is_array(f)
}

default verify_only := false

verify_only if input.request.params.mode == "verify"
