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
// It reads v's tokens once, keeping a set of names per open object, so that
// deep nesting costs no more than its bytes.
func repeatedName(v json.RawMessage, path string) string {
	type level struct {
		object    bool
		seen      map[string]bool
		path      string
		name      string // the member whose value is being read
		expectKey bool
	}
	var stack []*level
	done := func() { // a value ended: its object, if any, expects a name
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].expectKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		var top *level
		if n := len(stack); n > 0 {
			top = stack[n-1]
		}
		if top != nil && top.object && top.expectKey {
			if tok == json.Delim('}') {
				stack = stack[:len(stack)-1]
				done()
				continue
			}
			name, _ := tok.(string)
			if top.seen[name] {
				return joinPath(top.path, name)
			}
			top.seen[name] = true
			top.name, top.expectKey = name, false
			continue
		}
		valuePath := path
		switch {
		case top == nil:
		case top.object:
			valuePath = joinPath(top.path, top.name)
		default:
			valuePath = top.path + "[]"
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &level{object: true, seen: map[string]bool{}, path: valuePath, expectKey: true})
		case json.Delim('['):
			stack = append(stack, &level{path: valuePath})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
			done()
		default:
			done()
		}
		if len(stack) == 0 {
			return ""
		}
	}
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
