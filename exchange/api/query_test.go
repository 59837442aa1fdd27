package api

import (
	"testing"

	"github.com/pontexchange/pont/exchange/fault"
)

func TestCheckJSON(t *testing.T) {
	cases := []struct {
		ct   string
		want fault.Code // "" when accepted
	}{
		{"", ""},
		{"application/json", ""},
		{"application/json; charset=utf-8", ""},
		{"Application/JSON; charset=UTF-8", ""},
		{"application/problem+json", ""},
		{"application/merge-patch+json", ""},
		{"text/plain", fault.UnsupportedMediaType},
		{"application/xml", fault.UnsupportedMediaType},
		{"application/x-www-form-urlencoded", fault.UnsupportedMediaType},
		{"application/json; charset=iso-8859-1", fault.UnsupportedMediaType},
		{"application/jsonx", fault.UnsupportedMediaType},
		{"text/+json", fault.UnsupportedMediaType},
		{"application/json; charset", fault.InvalidRequest},
		{"/", fault.InvalidRequest},
		{"application/json\x00", fault.InvalidRequest},
	}
	for _, c := range cases {
		err := checkJSON(c.ct)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("checkJSON(%q): %v, want accepted", c.ct, err)
		case c.want != "" && fault.CodeOf(err) != c.want:
			t.Errorf("checkJSON(%q): %v, want %s", c.ct, err, c.want)
		}
	}
	if fault.SpecOf(fault.UnsupportedMediaType).Status != 415 {
		t.Error("unsupported_media_type is not answered 415")
	}
}
