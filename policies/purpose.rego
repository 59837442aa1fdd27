# Purpose limitation: the purpose must be one the catalog allows for the
# service and one the organisation's procedure is authorised for.
package pont

_purpose_allowed_for_service if is_object(input.service.purposes[input.request.purpose])

reasons contains {
	"code": "purpose_not_allowed",
	"message": sprintf("purpose %s is not allowed for service %s", [_purpose, _service]),
} if {
	input.access == "query"
	not _purpose_allowed_for_service
}

# Only judged where the organisation holds the procedure at all: otherwise
# not_authorized already says why, and a second reason would only repeat it.
reasons contains {
	"code": "purpose_not_allowed",
	"message": sprintf("purpose %s is not allowed for procedure %s of organisation %s", [_purpose, _procedure, _org]),
} if {
	_org_procedure
	not _org_procedure.purposes[input.request.purpose] == true
}
