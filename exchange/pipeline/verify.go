package pipeline

import (
	"bytes"
	"encoding/json"
	"reflect"
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

func subset(want, got any) bool {
	switch w := want.(type) {
	case map[string]any:
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
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !equalValue(w[i], g[i]) {
				return false
			}
		}
		return true
	}
	return equalValue(want, got)
}

// equalValue compares two decoded JSON values, numbers by value.
func equalValue(a, b any) bool {
	an, aNum := a.(json.Number)
	bn, bNum := b.(json.Number)
	if aNum && bNum {
		if an == bn {
			return true
		}
		af, aerr := an.Float64()
		bf, berr := bn.Float64()
		return aerr == nil && berr == nil && af == bf
	}
	switch av := a.(type) {
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			return false
		}
		for i := range av {
			if !equalValue(av[i], bv[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok || len(av) != len(bv) {
			return false
		}
		for k, v := range av {
			if w, ok := bv[k]; !ok || !equalValue(v, w) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}
