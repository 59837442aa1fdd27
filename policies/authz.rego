# Authorisation: only a requester organisation may query, and only for a
# procedure and service that the PID "autorización" matrix grants it.
package pont

reasons contains {
	"code": "not_authorized",
	"message": sprintf("a principal with role %s may not query services; only requester organisations may", [_role]),
} if {
	not input.principal.role == "requester"
}

reasons contains {
	"code": "not_authorized",
	"message": sprintf("organisation %s is not authorised for procedure %s on service %s", [_org, _procedure, _service]),
} if {
	input.principal.role == "requester"
	not _org_procedure.services[input.service.name] == true
}
