package envelope

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"github.com/pontexchange/pont/exchange/fault"
)

// CheckObject checks that body is one JSON object and nothing else, whose
// member names are among allowed, spelt exactly (encoding/json would take
// "Requester" for "requester"), each at most once (encoding/json would keep
// the last). It names every problem, with RootField for the body as a
// whole. Nested values are checked for repeated names too.
func CheckObject(body []byte, allowed []string) []fault.FieldError {
	raw := bytes.TrimSpace(body)
	if !json.Valid(raw) {
		return []fault.FieldError{{Field: RootField, Message: "is not one valid JSON value (malformed, or data after it)"}}
	}
	if raw[0] != '{' {
		return []fault.FieldError{{Field: RootField, Message: "must be a JSON object"}}
	}
	var bad []fault.FieldError
	seen := map[string]bool{}
	for name, value := range members(raw) {
		switch {
		case seen[name]:
			bad = append(bad, fault.FieldError{Field: name, Message: "is given more than once"})
		case !slices.Contains(allowed, name):
			bad = append(bad, fault.FieldError{Field: name, Message: "is not a field here; the fields are " + strings.Join(allowed, ", ")})
		default:
			if dup := repeatedName(value, name); dup != "" {
				bad = append(bad, fault.FieldError{Field: dup, Message: "is given more than once"})
			}
		}
		seen[name] = true
	}
	return bad
}

// repeatedName answers the path of the first member name that an object
// inside v (valid JSON) repeats, or "" when there is none; path is v's own.
// It scans v's bytes once, keeping the names of each open object, so that
// deep nesting costs no more than its bytes, and a query's small params
// cost next to nothing.
func repeatedName(v []byte, path string) string {
	var stack []scanLevel
	for i := skipSpace(v, 0); i < len(v); i = skipSpace(v, i) {
		n := len(stack)
		if n > 0 && stack[n-1].object && stack[n-1].expectKey && v[i] == '"' {
			top := &stack[n-1]
			end := skipString(v, i)
			name := unquote(v[i:end])
			if top.has(name) {
				p := path
				for _, l := range stack[:n-1] {
					if l.object {
						p = joinPath(p, l.key)
					} else {
						p += "[]"
					}
				}
				return joinPath(p, name)
			}
			top.add(name)
			top.key, top.expectKey = name, false
			i = skipSpace(v, end) + 1 // past ':'
			continue
		}
		switch v[i] {
		case '{':
			stack = append(stack, scanLevel{object: true, expectKey: true})
			i++
		case '[':
			stack = append(stack, scanLevel{})
			i++
		case ']', '}':
			stack = stack[:n-1]
			i++
		case ',':
			if n > 0 && stack[n-1].object {
				stack[n-1].expectKey = true
			}
			i++
		default: // a string, number, true, false or null
			if j := skipValue(v, i); j > i {
				i = j
			} else {
				i++ // not valid JSON after all: never stall on it
			}
		}
	}
	return ""
}

// scanLevel is an open array or object of repeatedName's scan.
type scanLevel struct {
	object    bool
	expectKey bool
	key       string          // the member whose value is being read
	names     []string        // the object's names so far, while few
	set       map[string]bool // and once they are many
}

// manyNames is when an object's names move from a list to a set: a list
// is cheaper for the few members of real params, a set bounds the cost of
// an object of thousands.
const manyNames = 16

func (l *scanLevel) has(name string) bool {
	if l.set != nil {
		return l.set[name]
	}
	return slices.Contains(l.names, name)
}

func (l *scanLevel) add(name string) {
	switch {
	case l.set != nil:
		l.set[name] = true
	case len(l.names) < manyNames:
		l.names = append(l.names, name)
	default:
		l.set = make(map[string]bool, 2*manyNames)
		for _, n := range l.names {
			l.set[n] = true
		}
		l.set[name] = true
		l.names = nil
	}
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
