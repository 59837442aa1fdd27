package jsonread

import (
	"encoding/json"
	"reflect"
	"testing"
)

// record is what the tests read both ways: with json.Unmarshal, which the
// adapters used to call, and with a Reader, which must read the same.
type record struct {
	Name  string   `json:"name"`
	N     int64    `json:"n"`
	Sub   *sub     `json:"sub"`
	Items []sub    `json:"items"`
	Tags  []string `json:"tags"`
}

type sub struct {
	Code string `json:"code"`
}

func readSub(rd *Reader) (sub, bool) {
	var s sub
	ok := rd.Object(func(key []byte) {
		if string(key) == "code" {
			s.Code = rd.String()
			return
		}
		rd.Skip()
	})
	return s, ok
}

func readRecord(b []byte) (record, error) {
	var r record
	rd := New(b)
	rd.Object(func(key []byte) {
		switch string(key) {
		case "name":
			r.Name = rd.String()
		case "n":
			r.N = rd.Int()
		case "sub":
			r.Sub = nil
			if s, ok := readSub(rd); ok {
				r.Sub = &s
			}
		case "items":
			r.Items = nil
			if rd.Array(func() { s, _ := readSub(rd); r.Items = append(r.Items, s) }) && r.Items == nil {
				r.Items = []sub{}
			}
		case "tags":
			r.Tags = nil
			if rd.Array(func() { r.Tags = append(r.Tags, rd.String()) }) && r.Tags == nil {
				r.Tags = []string{}
			}
		default:
			rd.Skip()
		}
	})
	return r, rd.End()
}

// check reads in both ways and compares: the same value, or both an error.
func check(t *testing.T, in string) {
	t.Helper()
	var want record
	werr := json.Unmarshal([]byte(in), &want)
	got, gerr := readRecord([]byte(in))
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("%q: error %v, json.Unmarshal's %v", in, gerr, werr)
	}
	if werr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: read %+v, json.Unmarshal %+v", in, got, want)
	}
}

func TestReadsAsUnmarshal(t *testing.T) {
	for _, in := range []string{
		`{}`, ` { } `, `null`,
		`{"name":"Anna","n":42,"sub":{"code":"08"},"items":[{"code":"a"},{"code":"b"}],"tags":["x","y"]}`,
		`{"name":null,"n":null,"sub":null,"items":null,"tags":null}`,
		`{"items":[],"tags":[]}`,
		`{"n":-7}`, `{"n":0}`, `{"n":-0}`, `{"n":9223372036854775807}`,
		`{"unknown":{"deep":[1,2.5e-3,-0.5E+2,true,false,null,"s",{"a":[]}]},"name":"n"}`,
		`{"name":"a\"b\\c\/d\b\f\n\r\t\u00e9\u20ac"}`,
		`{"name":"\ud83d\ude00"}`,
		`{"name":"\ud83d"}`, `{"name":"\ud83dx"}`, `{"name":"\ud83d\u0041"}`, `{"name":"\ude00\ud83d\ude00"}`,
		"{\"name\":\"Ll\xc3\xadria\"}", "{\"name\":\"bad\xffbyte\xc3\"}",
		`{"name":"a","name":"b"}`,
		`{"items":[{"code":"a"}],"items":[{"code":"b"}]}`,
		`{"sub":{"code":"x","other":{"k":[null]}}}`,
		// Errors: wrong types, bad JSON anywhere, trailing data.
		`{"name":5}`, `{"n":"5"}`, `{"n":1.5}`, `{"n":1e2}`, `{"n":9223372036854775808}`,
		`{"sub":[]}`, `{"items":{}}`, `{"tags":[1]}`, `[]`, `"s"`, `5`,
		`{"unknown":01}`, `{"unknown":1.}`, `{"unknown":.5}`, `{"unknown":+1}`, `{"unknown":-}`, `{"unknown":1e}`,
		`{"unknown":tru}`, `{"unknown":nul}`, `{"unknown":[1,]}`, `{"unknown":{"a":1,}}`, `{"a" 1}`,
		`{"name":"\x"}`, `{"name":"\u12"}`, `{"name":"\u12g4"}`, "{\"name\":\"a\nb\"}", `{"name":"open`,
		`{"name":"a"} x`, `{"name":"a"}{}`, ``, `{`, `{"name"`, `{"name":`, `{"name":"a",}`,
		`{'name':'a'}`,
	} {
		check(t, in)
	}
}

func TestEndReportsTheFirstError(t *testing.T) {
	rd := New([]byte(`{"a":x}`))
	rd.Object(func([]byte) { rd.Skip() })
	if rd.Err() == nil || rd.End() != rd.Err() {
		t.Fatalf("Err %v, End %v: want the same error", rd.Err(), rd.End())
	}
}

// FuzzReadsAsUnmarshal puts arbitrary text where a string, a number and a
// skipped value go. (Whole arbitrary objects would also try keys in another
// capitalisation, which json.Unmarshal accepts and the Reader, on purpose,
// does not.)
func FuzzReadsAsUnmarshal(f *testing.F) {
	for _, s := range []string{
		`"Anna"`, `"\ud83d\ude00\u00e9"`, `"\ud83d\u0041"`, "\"bad\xff\"", `-1`, `1.5e3`, `null`,
		`[1,{"a":[true,false]},"x"]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		check(t, `{"name":`+v+`}`)
		check(t, `{"n":`+v+`}`)
		check(t, `{"unknown":`+v+`,"tags":[`+v+`]}`)
	})
}
