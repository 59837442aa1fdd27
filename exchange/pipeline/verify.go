package pipeline

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"

	"github.com/pontexchange/pont/exchange/envelope"
	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/policy"
)

// expectations reads params.expected of a verify-mode query: the values the
// requester believes the source holds. Without it, verify mode asks only
// whether the source holds a record (for padró: is she registered in that
// municipality?). A purpose that may not see a field may not verify it
// either, or guessing would reveal what minimisation hides.
func expectations(params envelope.Params, dec policy.Decision) (map[string]any, error) {
	raw, ok := params.Get("expected")
	if !ok || raw == nil {
		return nil, nil
	}
	expected, isObject := raw.(map[string]any)
	if !isObject || len(expected) == 0 {
		return nil, fault.Invalid(fault.InvalidRequest, fault.FieldError{Field: "params.expected", Message: "must be a non-empty object of answer fields and their expected values"})
	}
	if !dec.AllFields {
		var bad []fault.FieldError
		for name := range expected {
			if !slices.Contains(dec.Fields, name) {
				bad = append(bad, fault.FieldError{Field: "params.expected." + name, Message: "is not a field this purpose may see, so it may not verify it"})
			}
		}
		if len(bad) > 0 {
			slices.SortFunc(bad, func(a, b fault.FieldError) int { return strings.Compare(a.Field, b.Field) })
			return nil, fault.Invalid(fault.InvalidRequest, bad...)
		}
	}
	return expected, nil
}

// matches reports whether data holds every expected value: objects match
// when every expected member matches (members not mentioned are ignored),
// anything else when equal as JSON values (numbers by value: 1 and 1.0 are
// equal).
func matches(data json.RawMessage, expected map[string]any) bool {
	if expected == nil {
		return true
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var actual map[string]any
	if err := dec.Decode(&actual); err != nil {
		return false
	}
	for name, want := range expected {
		got, ok := actual[name]
		if !ok || !subset(want, got) {
			return false
		}
	}
	return true
}

// subset reports whether got holds want: objects member by member (got
// may have more), anything else as equal values.
func subset(want, got any) bool {
	w, ok := want.(map[string]any)
	if !ok {
		return equalValue(want, got)
	}
	g, ok := got.(map[string]any)
	if !ok {
		return false
	}
	for k, v := range w {
		gv, ok := g[k]
		if !ok || !subset(v, gv) {
			return false
		}
	}
	return true
}

// equalValue compares two decoded JSON values, numbers by value.
func equalValue(a, b any) bool {
	switch av := a.(type) {
	case json.Number:
		bv, ok := b.(json.Number)
		if !ok {
			return false
		}
		if av == bv {
			return true
		}
		af, aerr := av.Float64()
		bf, berr := bv.Float64()
		return aerr == nil && berr == nil && af == bf
	case []any:
		bv, ok := b.([]any)
		return ok && slices.EqualFunc(av, bv, equalValue)
	case map[string]any:
		bv, ok := b.(map[string]any)
		return ok && len(av) == len(bv) && subset(av, bv)
	}
	return a == b // strings, booleans and null
}
