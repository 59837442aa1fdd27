package api

import (
	"net/url"
	"time"

	"github.com/pontexchange/pont/exchange/store"
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

// FuzzStrictQuery: whatever the query string, strictQuery answers values
// that are printable and bounded, or a refusal naming a field; it never
// answers something r.URL.Query() would have read differently.
func FuzzStrictQuery(f *testing.F) {
	for _, s := range []string{"", "subject=00000000T&limit=3", "subject=X;limit=3", "a=%zz", "%00=1", "a=1&&b", "service=fam%C3%ADlia+nombrosa"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := strictQuery(raw)
		if err != nil {
			fe, ok := fault.As(err)
			if !ok || fe.Code != fault.InvalidRequest || len(fe.Fields) == 0 {
				t.Fatalf("strictQuery(%q): %v is not a refusal naming a field", raw, err)
			}
			return
		}
		std, perr := url.ParseQuery(raw)
		if perr != nil || !reflect.DeepEqual(map[string][]string(q), map[string][]string(std)) {
			t.Fatalf("strictQuery(%q) = %v; url.ParseQuery reads %v, %v", raw, q, std, perr)
		}
		for name, values := range q {
			for _, v := range append([]string{name}, values...) {
				if fault.SafeText(v) != v || len(v) > maxQueryValue {
					t.Fatalf("strictQuery(%q) let %q through", raw, v)
				}
			}
		}
	})
}

// FuzzCursor: a cursor this server did not issue is refused, whatever its
// bytes; one it issued reads back as the position it encodes.
func FuzzCursor(f *testing.F) {
	codec, err := newCursorCodec([]byte("a secret of at least sixteen bytes"))
	if err != nil {
		f.Fatal(err)
	}
	issued := codec.encode(store.Cursor{Time: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC), ID: "0199e5a1-7c3e-7b4a-9d2f-3a1b5c6d7e8f"})
	f.Add(issued)
	f.Add("")
	f.Add("e30.AAAA")
	f.Add(issued + "x")
	f.Fuzz(func(t *testing.T, v string) {
		c, err := codec.decode(v)
		if err != nil {
			return
		}
		if v != codec.encode(*c) {
			t.Fatalf("cursor %q accepted but is not what the server issues for %+v", v, *c)
		}
	})
}
