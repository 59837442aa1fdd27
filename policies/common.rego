# Shared lookups over the input.
#
# Performance (every expression costs a few µs per request): conditions
# refer to input.* directly, and test it against constants first wherever
# they can, so that OPA's rule index skips a rule without evaluating its
# body; the catalog data is keyed, never scanned. The underscored names with
# defaults below serve the messages, which are built only on denial; each
# default makes a missing field read "(none)" instead of leaving the message,
# and so the reason, undefined (an undefined reason would silently allow).
package pont

default _role := "(none)"

_role := input.principal.role

default _org := "(none)"

_org := input.principal.org if input.principal.org != ""

default _procedure := "(none)"

_procedure := input.request.procedure.code

default _service := "(none)"

_service := input.service.name

default _purpose := "(none)"

_purpose := input.request.purpose if input.request.purpose != ""

# input.access is "query" for a requester's query and "self" for a citizen
# reading her own data from her carpeta (GET /v1/me/data/{service}). Every
# rule tests input.access literally, rather than through a helper rule, so
# that OPA's rule index skips the rules of the other kind of access without
# entering them.

# The organisation's entry for this procedure: a keyed lookup (a scan over
# the matrix costs twenty times more per request).
_org_procedure := data.authorisations[input.principal.org].procedures[input.request.procedure.code]
