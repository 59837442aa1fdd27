package conformance

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestDifferences(t *testing.T) {
	tests := []struct {
		name      string
		got, want string
		diffs     []string
	}{
		{"equal in another order", `{"a": 1, "b": {"c": [1, "x"]}}`, `{"b": {"c": [1, "x"]}, "a": 1}`, nil},
		{"numbers by value", `{"n": 1.0, "m": 1e2, "k": 451.20}`, `{"n": 1, "m": 100, "k": 451.2}`, nil},
		{"a different value", `{"a": {"b": "08013"}}`, `{"a": {"b": "08014"}}`, []string{`/a/b: got "08013", want "08014"`}},
		{"a missing member", `{"a": 1}`, `{"a": 1, "b": null}`, []string{"/b: missing, want null"}},
		{"an unexpected member", `{"a": 1, "z/~": true}`, `{"a": 1}`, []string{"/z~1~0: got true, which is not expected"}},
		{"a number for a string", `{"a": 1}`, `{"a": "1"}`, []string{`/a: got 1, want "1"`}},
		{"a shorter list", `{"l": [1]}`, `{"l": [1, 2]}`, []string{"/l/1: missing, want 2"}},
		{"a longer list", `{"l": [1, 2, 3]}`, `{"l": [1]}`, []string{"/l/1: got 2, which is not expected", "/l/2: got 3, which is not expected"}},
		{"an object for a list", `{"l": {}}`, `{"l": []}`, []string{"/l: got {}, want a list"}},
		{"a list for an object", `[]`, `{}`, []string{"(the data): got [], want an object"}},
		{"false is not null", `{"a": false}`, `{"a": null}`, []string{"/a: got false, want null"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := decode([]byte(tt.got))
			if err != nil {
				t.Fatal(err)
			}
			w, err := decode([]byte(tt.want))
			if err != nil {
				t.Fatal(err)
			}
			if d := differences(g, w); !slices.Equal(d, tt.diffs) {
				t.Fatalf("differences =\n%s\nwant\n%s", strings.Join(d, "\n"), strings.Join(tt.diffs, "\n"))
			}
		})
	}
}

func TestDifferencesAreCapped(t *testing.T) {
	got, want := map[string]any{}, map[string]any{}
	for i := range 30 {
		got[fmt.Sprintf("k%02d", i)] = json.Number("1")
		want[fmt.Sprintf("k%02d", i)] = json.Number("2")
	}
	d := differences(got, want)
	if len(d) != maxDifferences+1 || d[len(d)-1] != fmt.Sprintf("and %d more differences", 30-maxDifferences) {
		t.Fatalf("differences = %q", d)
	}
	if d[0] != "/k00: got 1, want 2" {
		t.Errorf("first = %q, want the first member in order", d[0])
	}
}

func TestViolations(t *testing.T) {
	sch, err := compileAnswer("probe", json.RawMessage(`{
	  "type": "object",
	  "properties": {
	    "code": {"type": "string", "pattern": "^[0-9]{5}$"},
	    "date": {"type": "string", "format": "date"},
	    "list": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "integer", "minimum": 0}},
	             "required": ["n"], "additionalProperties": false}}
	  },
	  "required": ["code"],
	  "additionalProperties": false
	}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, data string
		want       []string // pointers
	}{
		{"valid", `{"code": "08019", "date": "2020-02-29", "list": [{"n": 0}]}`, nil},
		{"pattern", `{"code": "8019"}`, []string{"/code"}},
		{"format", `{"code": "08019", "date": "2021-02-29"}`, []string{"/date"}},
		{"required", `{}`, []string{"/code"}},
		{"unknown member", `{"code": "08019", "extra/one": 1}`, []string{"/extra~1one"}},
		{"in a list", `{"code": "08019", "list": [{"n": 1}, {"n": -1, "m": 2}, {}]}`, []string{"/list/1/m", "/list/1/n", "/list/2/n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, v := range violations(sch, []byte(tt.data)) {
				if v.Message == "" {
					t.Errorf("%s has no message", v.Pointer)
				}
				got = append(got, v.Pointer)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("violations at %q, want %q", got, tt.want)
			}
		})
	}
	v := violations(sch, []byte(`{"code": "8019"}`))
	if len(v) != 1 || !strings.Contains(v[0].String(), `/code: '8019' does not match pattern`) {
		t.Errorf("violation = %v", v)
	}
}
