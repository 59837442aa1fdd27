package envelope

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"unicode/utf8"
)

// Params is a query's service-specific params object, read once: its
// compact JSON text, which the adapter receives as it is, and its decoded
// members, which the catalog's schema check, the policy, the router and
// verify mode read. Numbers are json.Number, so that no precision is lost.
// The zero Params is the empty object. A Params is immutable once made:
// treat what Object returns as read-only.
type Params struct {
	raw json.RawMessage
	obj map[string]any
}

// emptyObject is the JSON text of params that were not given.
var emptyObject = json.RawMessage("{}")

// ParseParams reads raw, which must be a JSON object (absent, empty or null
// reads as {}).
func ParseParams(raw []byte) (Params, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || isNull(raw) {
		return Params{}, nil
	}
	if raw[0] != '{' {
		return Params{}, fmt.Errorf("must be a JSON object")
	}
	if !json.Valid(raw) {
		return Params{}, fmt.Errorf("must be a JSON object: not valid JSON")
	}
	// encoding/json keeps the last of a repeated name; the schema check,
	// the policy and the adapter must not each see a different one.
	if dup := repeatedName(raw, ""); dup != "" {
		return Params{}, &RepeatedMemberError{Path: dup}
	}
	obj, err := decodeObject(raw)
	if err != nil {
		return Params{}, err
	}
	if len(obj) == 0 {
		return Params{}, nil // {} is no params, one value for both
	}
	// Compacted, so that the same params always have the same bytes
	// wherever they are passed on or compared.
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return Params{}, fmt.Errorf("compact params: %w", err)
	}
	return Params{raw: buf.Bytes(), obj: obj}, nil
}

// over returns the params of a batch's element: p, the batch's, with the
// element's own members added, each replacing p's member of that name
// (a null among them is a value like any other). Its text is p's members
// that own does not name, then own's, so that it is exactly the Params
// that ParseParams makes of that object (its JSON, its members, hence its
// routing), without reading either again.
func (p Params) over(own Params) Params {
	if own.Len() == 0 {
		return p
	}
	if p.Len() == 0 {
		return own
	}
	raw := make([]byte, 0, len(p.raw)+len(own.raw))
	raw = append(raw, '{')
	for lit, val := range rawMembers(p.raw) {
		if _, mine := own.obj[memberName(lit)]; mine {
			continue
		}
		raw = append(raw, lit...)
		raw = append(raw, ':')
		raw = append(raw, val...)
		raw = append(raw, ',')
	}
	raw = append(raw, own.raw[1:]...) // both compact: own's members and its '}'
	obj := make(map[string]any, len(p.obj)+len(own.obj))
	maps.Copy(obj, p.obj)
	maps.Copy(obj, own.obj)
	return Params{raw: raw, obj: obj}
}

// memberName is the name encoding/json reads from a member's string
// literal, invalid UTF-8 replaced, so that over matches names as the
// decoded members do.
func memberName(lit []byte) string {
	name := lit[1 : len(lit)-1]
	if bytes.IndexByte(name, '\\') < 0 && utf8.Valid(name) {
		return string(name)
	}
	var s string
	_ = json.Unmarshal(lit, &s) // a literal of valid JSON
	return s
}

// RepeatedMemberError is ParseParams's refusal of params that give a
// member name twice in one object.
type RepeatedMemberError struct {
	Path string // the member's path inside the params, e.g. expected.address.postcode
}

func (e *RepeatedMemberError) Error() string {
	return "member " + strconv.Quote(e.Path) + " is given more than once"
}

// StringParams makes params whose members are all strings, such as a query
// string's.
func StringParams(m map[string]string) Params {
	if len(m) == 0 {
		return Params{}
	}
	obj := make(map[string]any, len(m))
	for k, v := range m {
		obj[k] = v
	}
	// Sorted by name, as encoding/json writes a map, and without its HTML
	// escaping, which the adapter would have to undo.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(m) // a map of strings always encodes
	return Params{raw: bytes.TrimSuffix(buf.Bytes(), []byte("\n")), obj: obj}
}

// JSON returns the params' compact JSON text; {} when there are none.
func (p Params) JSON() json.RawMessage {
	if len(p.raw) == 0 {
		return emptyObject
	}
	return p.raw
}

// Object returns the decoded members; nil when there are none.
func (p Params) Object() map[string]any { return p.obj }

// Len is the number of members.
func (p Params) Len() int { return len(p.obj) }

// Get returns the member called name.
func (p Params) Get(name string) (any, bool) {
	v, ok := p.obj[name]
	return v, ok
}

// String returns the member called name when it is a string; ok is false
// when it is absent or of another type.
func (p Params) String(name string) (s string, ok bool) {
	s, ok = p.obj[name].(string)
	return s, ok
}

// MarshalJSON writes the params' JSON text.
func (p Params) MarshalJSON() ([]byte, error) { return p.JSON(), nil }
