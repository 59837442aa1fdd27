package api

import (
	"net/url"
	"strings"

	"github.com/pontexchange/pont/exchange/fault"
)

// maxQueryValue bounds one query-string value: filters name ids, codes and
// times, never more.
const maxQueryValue = 256

// strictQuery reads a query string as name=value pairs joined by '&', and
// refuses, naming it, every pair that r.URL.Query() would drop or
// misread: a pair without '=', an empty pair, a ';' (which Go no longer
// takes as a separator, so "subject=X;limit=3" would silently lose its
// filter and answer about everyone), a bad %-escape, or a name or value
// that is not printable UTF-8 or is too long. Repeated names are kept for
// the caller to refuse.
func strictQuery(raw string) (url.Values, error) {
	q := url.Values{}
	if raw == "" {
		return q, nil
	}
	var bad []fault.FieldError
	for _, pair := range strings.Split(raw, "&") {
		name, value, ok := strings.Cut(pair, "=")
		switch {
		case pair == "":
			bad = append(bad, fault.FieldError{Field: "query", Message: "has an empty pair (\"&&\" or a trailing \"&\")"})
			continue
		case !ok:
			bad = append(bad, fault.FieldError{Field: pair, Message: "must be given as name=value"})
			continue
		case strings.ContainsRune(pair, ';'):
			bad = append(bad, fault.FieldError{Field: pair, Message: "contains ';': separate parameters with '&'"})
			continue
		}
		n, errN := url.QueryUnescape(name)
		v, errV := url.QueryUnescape(value)
		switch {
		case errN != nil || errV != nil:
			bad = append(bad, fault.FieldError{Field: pair, Message: "has a malformed %-escape"})
		case n == "" || fault.SafeText(n) != n || len(n) > maxQueryValue:
			bad = append(bad, fault.FieldError{Field: n, Message: "is not a parameter name"})
		case fault.SafeText(v) != v || len(v) > maxQueryValue:
			bad = append(bad, fault.FieldError{Field: n, Message: "must be printable UTF-8 of at most 256 bytes"})
		default:
			q.Add(n, v)
		}
	}
	if len(bad) > 0 {
		return nil, fault.Invalid(fault.InvalidRequest, bad...)
	}
	return q, nil
}
