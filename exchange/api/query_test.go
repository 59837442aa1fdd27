package api

import (
	"reflect"
	"strings"
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

func TestStrictQuery(t *testing.T) {
	cases := []struct {
		raw   string
		want  map[string][]string // nil: refused
		field string              // the field a refusal names
	}{
		{"", map[string][]string{}, ""},
		{"subject=00000000T&limit=3", map[string][]string{"subject": {"00000000T"}, "limit": {"3"}}, ""},
		{"subject=00000000T;limit=3", nil, "subject=00000000T;limit=3"},
		{"subject", nil, "subject"},
		{"subject=1&&limit=2", nil, "query"},
		{"subject=1&", nil, "query"},
		{"subject=%zz", nil, "subject=%zz"},
		{"subject=%00", nil, "subject"},
		{"%00=1", nil, `"\x00"`},
		{"subject=%ff", nil, "subject"},
		{"subject=a%0Ab", nil, "subject"},
		{"service=fam%C3%ADlia+nombrosa", map[string][]string{"service": {"família nombrosa"}}, ""},
		{"subject=1&subject=2", map[string][]string{"subject": {"1", "2"}}, ""},
		{"subject=" + strings.Repeat("A", 300), nil, "subject"},
	}
	for _, c := range cases {
		got, err := strictQuery(c.raw)
		if c.want == nil {
			fe, ok := fault.As(err)
			if !ok || fe.Code != fault.InvalidRequest || len(fe.Fields) == 0 || fe.Fields[0].Field != c.field {
				t.Errorf("strictQuery(%q) = %v, %v; want a refusal naming %q", c.raw, got, err, c.field)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(map[string][]string(got), c.want) {
			t.Errorf("strictQuery(%q) = %v, %v; want %v", c.raw, got, err, c.want)
		}
	}
}
