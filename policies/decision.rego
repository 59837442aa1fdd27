# The decision the broker asks for: every reason to refuse, in a stable
# order, and what an allowed answer may carry.
package pont

# Sorted so that equal inputs give equal decisions (and equal transfer
# records) whatever the evaluation order. Every reason is an object with
# exactly the keys code and message, and OPA orders objects key by key, so
# sort orders them by code, then by message: one builtin call, where an
# explicit sort key would cost a comprehension per request. deny is a local,
# not a rule of its own, which spares OPA a rule evaluation per request.
decision := {
	"allow": deny == [],
	"deny": deny,
	"fields": fields,
	"verify_only": verify_only,
} if {
	deny := sort(reasons)
}
