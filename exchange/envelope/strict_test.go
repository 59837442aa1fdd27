package envelope

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/pontexchange/pont/exchange/fault"
)

func TestCheckObject(t *testing.T) {
	allowed := []string{"service", "procedure", "services"}
	cases := []struct {
		body   string
		fields []string // the fields named; nil when accepted
	}{
		{`{"service":"padro","procedure":"DEMO"}`, nil},
		{` {"services":["padro","titulacions"]} `, nil},
		{`{"service":"padro","service":"prestacions"}`, []string{"service"}},
		{`{"Service":"padro"}`, []string{"Service"}},
		{`{"SERVICE":"padro","service":"padro"}`, []string{"SERVICE"}},
		{`{"service":"padro"} x`, []string{RootField}},
		{`{"service":"padro"}{}`, []string{RootField}},
		{`{"service":"padro"}]`, []string{RootField}},
		{`["padro"]`, []string{RootField}},
		{`{"services":[{"a":1,"a":2}]}`, []string{"services[].a"}},
		{`{"\u0000":1}`, []string{"\x00"}},
		{``, []string{RootField}},
	}
	for _, c := range cases {
		var got []string
		for _, f := range CheckObject([]byte(c.body), allowed) {
			got = append(got, f.Field)
		}
		if !slices.Equal(got, c.fields) {
			t.Errorf("CheckObject(%s) named %q, want %q", c.body, got, c.fields)
		}
	}
}

func TestParamsRepeatedNames(t *testing.T) {
	for _, raw := range []string{
		`{"municipality":"08019","municipality":"17079"}`,
		`{"expected":{"address":{"postcode":"1","postcode":"2"}}}`,
		`{"list":[{"a":1},{"b":1,"b":2}]}`,
	} {
		if _, err := ParseParams([]byte(raw)); err == nil || !strings.Contains(err.Error(), "more than once") {
			t.Errorf("ParseParams(%s): %v, want a repeated member refused", raw, err)
		}
		q, err := Parse(envelopeWith(t, "params", json.RawMessage(raw)))
		fe, ok := fault.As(err)
		if !ok || len(fe.Fields) != 1 || !strings.HasPrefix(fe.Fields[0].Field, "params.") || q.Params.Object() != nil {
			t.Errorf("Parse with params %s: %v", raw, err)
		}
	}
}

// TestRepeatedNameDeep: the check reads deep nesting in one pass, and
// still finds the repeat at the bottom.
func TestRepeatedNameDeep(t *testing.T) {
	const depth = 20000
	deep := strings.Repeat("[", depth) + `{"a":1,"a":2}` + strings.Repeat("]", depth)
	if got := repeatedName(json.RawMessage(deep), "params"); got != "params"+strings.Repeat("[]", depth)+".a" {
		t.Errorf("repeatedName of a deep array found %.40q…", got)
	}
	flat := `{"x":` + strings.Repeat(`{"y":`, depth) + "1" + strings.Repeat("}", depth) + `}`
	if got := repeatedName(json.RawMessage(flat), ""); got != "" {
		t.Errorf("repeatedName found %.40q in objects without repeats", got)
	}
}
