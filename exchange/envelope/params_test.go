package envelope

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestParseParams(t *testing.T) {
	cases := []struct {
		raw, json string
		ok        bool
	}{
		{``, `{}`, true},
		{`null`, `{}`, true},
		{` { "a" : "x & <y>" , "n": 1.50 } `, `{"a":"x & <y>","n":1.50}`, true},
		{`[]`, ``, false},
		{`"x"`, ``, false},
		{`{"a":`, ``, false},
	}
	for _, c := range cases {
		p, err := ParseParams([]byte(c.raw))
		if (err == nil) != c.ok {
			t.Errorf("ParseParams(%q): %v, want ok %v", c.raw, err, c.ok)
			continue
		}
		if c.ok && string(p.JSON()) != c.json {
			t.Errorf("ParseParams(%q).JSON() = %s, want %s", c.raw, p.JSON(), c.json)
		}
	}
	p, _ := ParseParams([]byte(`{"n":1.50,"s":"v"}`))
	if n, _ := p.Get("n"); n != json.Number("1.50") {
		t.Errorf("n = %#v, want the json.Number as written", n)
	}
	if s, ok := p.String("s"); !ok || s != "v" {
		t.Errorf("String(s) = %q, %v", s, ok)
	}
	if _, ok := p.String("n"); ok {
		t.Error("a number read as a string")
	}
}

// TestStringParams: a query string's params encode to JSON that decodes
// back to the same members, with no HTML escaping.
func TestStringParams(t *testing.T) {
	m := map[string]string{"municipality": "08019", "b": `<x> & "y" \ ñ`, "a\x01": "ctl"}
	p := StringParams(m)
	var back map[string]string
	if err := json.Unmarshal(p.JSON(), &back); err != nil {
		t.Fatalf("JSON %s: %v", p.JSON(), err)
	}
	if !reflect.DeepEqual(back, m) {
		t.Errorf("round trip %v, want %v", back, m)
	}
	want := `{"a\u0001":"ctl","b":"<x> & \"y\" \\ ñ","municipality":"08019"}`
	if string(p.JSON()) != want {
		t.Errorf("JSON %s, want %s", p.JSON(), want)
	}
	if got := StringParams(nil).JSON(); string(got) != "{}" {
		t.Errorf("no params: %s", got)
	}
}
