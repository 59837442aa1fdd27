# Authorisation: only a requester organisation may query, and only for a
# procedure and service that the PID "autorización" matrix grants it.
package pont

reasons contains {
	"code": "not_authorized",
	"message": sprintf("a principal with role %s may not query services; only requester organisations may", [_role]),
} if {
	input.access == "query"
	not input.principal.role == "requester"
}

reasons contains {
	"code": "not_authorized",
	"message": sprintf("organisation %s is not authorised for procedure %s on service %s", [_org, _procedure, _service]),
} if {
	input.access == "query"
	input.principal.role == "requester"
	not _org_procedure.services[input.service.name] == true
}

# A citizen reads her own data, and never another's, whatever the request says.
reasons contains {
	"code": "not_authorized",
	"message": sprintf("a principal with role %s may not read a citizen's data as its own; only the citizen may", [_role]),
} if {
	input.access == "self"
	not input.principal.role == "citizen"
}

reasons contains {
	"code": "not_authorized",
	"message": "a citizen may read only her own data",
} if {
	input.access == "self"
	input.principal.role == "citizen"
	not _own_data
}

_own_data if {
	input.principal.sub != ""
	input.request.subject.id == input.principal.sub
}

# Any other kind of access (or none) is refused: the rules above apply only
# to the kinds they name, so an input without one must not fall through to
# an allow. Two negated equalities, not `not input.access in {...}`: that
# would call a builtin on every request, and an absent access would make the
# call, and so the whole body, undefined.
reasons contains {
	"code": "not_authorized",
	"message": sprintf("access %v is unknown; only query and self access are decided", [object.get(input, "access", "(none)")]),
} if {
	not input.access == "query"
	not input.access == "self"
}
