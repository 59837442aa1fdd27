package pipeline

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"

	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/policy"
)

// expectations reads params.expected of a verify-mode query: the values the
// requester believes the source holds. Without it, verify mode asks only
// whether the source holds a record (for padró: is she registered in that
// municipality?). A purpose that may not see a field may not verify it
// either, or guessing would reveal what minimisation hides.
func expectations(params json.RawMessage, dec policy.Decision) (map[string]json.RawMessage, error) {
	var p struct {
		Expected json.RawMessage `json:"expected"`
	}
	if len(params) > 0 {
		if err := json.Unmarshal(params, &p); err != nil {
			return nil, fault.Invalid(fault.InvalidRequest, fault.FieldError{Field: "params", Message: "must be a JSON object"})
		}
	}
	if len(p.Expected) == 0 || bytes.Equal(p.Expected, []byte("null")) {
		return nil, nil
	}
	var expected map[string]json.RawMessage
	if err := json.Unmarshal(p.Expected, &expected); err != nil || len(expected) == 0 {
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
			slices.SortFunc(bad, func(a, b fault.FieldError) int { return compare(a.Field, b.Field) })
			return nil, fault.Invalid(fault.InvalidRequest, bad...)
		}
	}
	return expected, nil
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// matches reports whether data holds every expected value: objects match
// when every expected member matches (members not mentioned are ignored),
// anything else when equal as JSON values.
func matches(data json.RawMessage, expected map[string]json.RawMessage) bool {
	if expected == nil {
		return true
	}
	var actual map[string]any
	if err := json.Unmarshal(data, &actual); err != nil {
		return false
	}
	for name, raw := range expected {
		var want any
		if err := json.Unmarshal(raw, &want); err != nil {
			return false
		}
		got, ok := actual[name]
		if !ok || !subset(want, got) {
			return false
		}
	}
	return true
}

func subset(want, got any) bool {
	w, ok := want.(map[string]any)
	if !ok {
		return reflect.DeepEqual(want, got)
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
