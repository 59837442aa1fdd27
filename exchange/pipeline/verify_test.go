package pipeline

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestMatches(t *testing.T) {
	data := json.RawMessage(`{"degree":45,"types":["physical","sensory"],"address":{"postcode":"17002","street":"Nou"},"valid":true,"note":null}`)
	cases := []struct {
		expected string
		want     bool
	}{
		{`{"degree":45}`, true},
		{`{"degree":45.0}`, true},
		{`{"degree":4.5e1}`, true},
		{`{"degree":"45"}`, false},
		{`{"degree":46}`, false},
		{`{"types":["physical","sensory"]}`, true},
		{`{"types":["sensory","physical"]}`, false},
		{`{"types":["physical"]}`, false},
		{`{"address":{"postcode":"17002"}}`, true},
		{`{"address":{"postcode":"17003"}}`, false},
		{`{"address":{"floor":"1"}}`, false},
		{`{"address":"17002"}`, false},
		{`{"valid":true,"note":null}`, true},
		{`{"valid":false}`, false},
		{`{"missing":1}`, false},
	}
	for _, c := range cases {
		dec := json.NewDecoder(bytes.NewReader([]byte(c.expected)))
		dec.UseNumber()
		var expected map[string]any
		if err := dec.Decode(&expected); err != nil {
			t.Fatal(err)
		}
		if got := matches(data, expected); got != c.want {
			t.Errorf("matches(%s) = %v, want %v", c.expected, got, c.want)
		}
	}
	if !matches(data, nil) {
		t.Error("no expectations should match any record")
	}
	if matches(json.RawMessage(`not json`), map[string]any{"a": "b"}) {
		t.Error("unreadable data matched")
	}
}
