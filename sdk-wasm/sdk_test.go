//go:build !wasip1

package sdk

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pontexchange/pont/sdk-wasm/jsonread"
)

const sampleInput = `{"abi":1,"transfer_id":"t-1","service":"padro","purpose":"demo","requester":"P0801900B","procedure":"DEMO",
 "subject":{"id_type":"DNI","id":"12345678Z","name":"Mar\u00eda \"la\" Puig","surname1":"Puig\\Soler","extra":[1,{"a":null}]},
 "params":{"municipality":"08019","n":42,"flag":true,"obj":{"a":[1,2]},"nothing":null,"esc":"a\nb\u00e9\ud83d\ude00"},
 "future_member":{"x":[true,false,-1.5e3]}}`

func TestDecodeRequest(t *testing.T) {
	r, err := decodeRequest([]byte(sampleInput))
	if err != nil {
		t.Fatalf("decodeRequest: %v", err)
	}
	want := Request{TransferID: "t-1", Service: "padro", Purpose: "demo", Requester: "P0801900B", Procedure: "DEMO",
		Subject: Subject{IDType: "DNI", ID: "12345678Z", Name: `María "la" Puig`, Surname1: `Puig\Soler`}}
	got := *r
	got.Params = nil
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("decodeRequest = %+v, want %+v", got, want)
	}
	params := []struct{ name, want string }{
		{"municipality", "08019"},
		{"n", "42"},
		{"flag", "true"},
		{"obj", `{"a":[1,2]}`},
		{"nothing", ""},
		{"absent", ""},
		{"esc", "a\nbé😀"},
	}
	for _, p := range params {
		t.Run(p.name, func(t *testing.T) {
			if got := r.Param(p.name); got != p.want {
				t.Errorf("Param(%q) = %q, want %q", p.name, got, p.want)
			}
		})
	}
}

func TestDecodeRequestAgreesWithEncodingJSON(t *testing.T) {
	var std struct {
		TransferID string                     `json:"transfer_id"`
		Subject    Subject                    `json:"subject"`
		Params     map[string]json.RawMessage `json:"params"`
	}
	if err := json.Unmarshal([]byte(sampleInput), &std); err != nil {
		t.Fatal(err)
	}
	r, err := decodeRequest([]byte(sampleInput))
	if err != nil {
		t.Fatal(err)
	}
	if r.Subject != std.Subject || r.TransferID != std.TransferID {
		t.Errorf("subject = %+v, encoding/json says %+v", r.Subject, std.Subject)
	}
	for k, v := range std.Params {
		if string(r.Params[k]) != string(v) {
			t.Errorf("params[%s] = %s, encoding/json says %s", k, r.Params[k], v)
		}
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	tests := map[string]string{
		"not json":       `hello`,
		"truncated":      `{"abi":1,"service":"pa`,
		"trailing":       `{"abi":1} x`,
		"wrong abi":      `{"abi":2}`,
		"no abi":         `{"service":"padro"}`,
		"bad escape":     `{"abi":1,"service":"\q"}`,
		"bad number":     `{"abi":1,"params":{"n":1-2}}`,
		"control char":   "{\"abi\":1,\"service\":\"a\x01\"}",
		"subject array":  `{"abi":1,"subject":[]}`,
		"missing colon":  `{"abi" 1}`,
		"unclosed array": `{"abi":1,"params":{"a":[1,2}}`,
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if r, err := decodeRequest([]byte(in)); err == nil {
				t.Errorf("decodeRequest(%s) = %+v, want an error", in, r)
			}
		})
	}
}

func TestObject(t *testing.T) {
	inner := (&Object{}).String("code", "08019").String("name", "Barcelona")
	o := (&Object{}).
		String("s", "a\"b\\c\n\t\x01<>&\u2028é").
		String("bad", "x\xffy").
		Int("i", -42).
		Float("f", 1.5).
		Float("nan", nanValue()).
		Bool("b", true).
		Null("z").
		Strings("list", []string{"a", "b"}).
		Strings("empty", nil).
		Object("municipality", inner).
		Objects("objs", []*Object{inner, {}}).
		Raw("raw", []byte(`[1,{"x":2}]`))
	var got map[string]any
	if err := json.Unmarshal(o.JSON(), &got); err != nil {
		t.Fatalf("Object.JSON() = %s: %v", o.JSON(), err)
	}
	want := map[string]any{
		"s": "a\"b\\c\n\t\x01<>&\u2028é", "bad": "x\uFFFDy", "i": -42.0, "f": 1.5, "nan": nil, "b": true, "z": nil,
		"list": []any{"a", "b"}, "empty": []any{},
		"municipality": map[string]any{"code": "08019", "name": "Barcelona"},
		"objs":         []any{map[string]any{"code": "08019", "name": "Barcelona"}, map[string]any{}},
		"raw":          []any{1.0, map[string]any{"x": 2.0}},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Object decodes to\n%v\nwant\n%v", got, want)
	}
	if s := string((&Object{}).JSON()); s != "{}" {
		t.Errorf("empty Object = %s", s)
	}
}

func nanValue() float64 {
	zero := 0.0
	return zero / zero
}

// FuzzAppendString checks the hand-written string encoder against
// encoding/json's decoder.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\"back\\slash", "\x00\x1f\x7f", "\xff\xfe", "é😀\u2028\u2029"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("appendString(%q) = %s: not JSON: %v", s, b, err)
		}
		want := strings.ToValidUTF8(s, "\uFFFD")
		if utf8.ValidString(s) && got != s || !utf8.ValidString(s) && got != replaceInvalid(s) {
			t.Fatalf("appendString(%q) decodes to %q, want %q", s, got, want)
		}
		// And the decoder reads it back the same.
		sc := scanner{b: b}
		if back := sc.str(); sc.err != nil || back != got {
			t.Fatalf("scanner.str(%s) = %q, %v; want %q", b, back, sc.err, got)
		}
	})
}

// replaceInvalid replaces each invalid byte by U+FFFD, as encoding/json does.
func replaceInvalid(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r)
		i += n
	}
	return b.String()
}

// fakeHost answers the capabilities from fixed values, to test run's
// encoding and the SDK's decoding of host results.
type fakeHost struct {
	logs    []string
	results map[string]string // URL -> result JSON
	config  map[string]string
	sent    []string
}

func (h *fakeHost) Log(level Level, msg string) {
	h.logs = append(h.logs, fmt.Sprintf("%d %s", level, msg))
}
func (h *fakeHost) ConfigGet(key string) (string, bool) {
	v, ok := h.config[key]
	return v, ok
}
func (h *fakeHost) HTTPCall(req []byte) []byte {
	h.sent = append(h.sent, string(req))
	var r struct{ URL string }
	_ = json.Unmarshal(req, &r)
	return []byte(h.results[r.URL])
}

func TestRunAnswers(t *testing.T) {
	h := &fakeHost{
		config: map[string]string{"k": "v"},
		results: map[string]string{
			"http://s/ok":      `{"status":201,"headers":{"Content-Type":"text/plain"},"body":"hi\n"}`,
			"http://s/refused": `{"error":{"code":"host_not_allowed","message":"no"}}`,
			"http://s/broken":  `{"status":`,
			// "Plaça" in ISO-8859-1, as the host hands over a body that is
			// not UTF-8.
			"http://s/latin1":     `{"status":200,"headers":{"Content-Type":"application/json; charset=ISO-8859-1"},"body_base64":"UGxh52E=","charset":"iso-8859-1"}`,
			"http://s/bad-base64": `{"status":200,"headers":{},"body_base64":"UGxh52E"}`,
		},
	}
	tests := []struct {
		name    string
		handler func(*Request) (any, error)
		want    string
	}{
		{"object", func(r *Request) (any, error) { return (&Object{}).String("id", r.Subject.ID), nil }, `{"data":{"id":"12345678Z"}}`},
		{"raw", func(*Request) (any, error) { return json.RawMessage(`{"a":1}`), nil }, `{"data":{"a":1}}`},
		{"bytes", func(*Request) (any, error) { return []byte(`{"a":2}`), nil }, `{"data":{"a":2}}`},
		{"struct", func(*Request) (any, error) { return struct{ A int }{3}, nil }, `{"data":{"A":3}}`},
		{"nil", func(*Request) (any, error) { return nil, nil }, `{"data":{}}`},
		{"not found", func(*Request) (any, error) { return nil, SubjectNotFound("no %s", "record") }, `{"error":{"code":"subject_not_found","message":"no record"}}`},
		{"unavailable", func(*Request) (any, error) { return nil, SourceUnavailable("down") }, `{"error":{"code":"source_unavailable","message":"down"}}`},
		{"invalid", func(*Request) (any, error) { return nil, InvalidParams("municipality: bad") }, `{"error":{"code":"invalid_params","message":"municipality: bad"}}`},
		{"misconfigured", func(*Request) (any, error) { return nil, Misconfigured("the adapter has no %s configured", "api_key") }, `{"error":{"code":"misconfigured","message":"the adapter has no api_key configured"}}`},
		{"wrapped", func(*Request) (any, error) { return nil, fmt.Errorf("ctx: %w", SubjectNotFound("gone")) }, `{"error":{"code":"subject_not_found","message":"gone"}}`},
		{"plain", func(*Request) (any, error) { return nil, errors.New("boom \"x\"") }, `{"error":{"code":"source_unavailable","message":"boom \"x\""}}`},
		{"unencodable", func(*Request) (any, error) { return map[string]any{"c": make(chan int)}, nil }, `"code":"adapter_bug"`},
		{"fetch", func(*Request) (any, error) {
			resp, err := Fetch(HTTPRequest{Method: "POST", URL: "http://s/ok", Header: map[string]string{"A": "b"}, Body: []byte("x")})
			if err != nil {
				return nil, err
			}
			return (&Object{}).Int("status", int64(resp.Status)).String("ct", resp.Header["Content-Type"]).String("body", string(resp.Body)), nil
		}, `{"data":{"status":201,"ct":"text/plain","body":"hi\n"}}`},
		{"fetch latin-1", func(*Request) (any, error) {
			resp, err := Get("http://s/latin1")
			if err != nil {
				return nil, err
			}
			if string(resp.Body) != "Pla\xe7a" {
				return nil, fmt.Errorf("raw body %q, want the source's bytes", resp.Body)
			}
			text, err := resp.Text()
			if err != nil {
				return nil, err
			}
			return (&Object{}).String("charset", resp.Charset).String("text", text), nil
		}, `{"data":{"charset":"iso-8859-1","text":"Plaça"}}`},
		{"fetch bad base64", func(*Request) (any, error) {
			_, err := Get("http://s/bad-base64")
			return nil, err
		}, `body_base64`},
		{"fetch refused", func(*Request) (any, error) {
			_, err := Get("http://s/refused")
			var he *HTTPError
			if !errors.As(err, &he) || he.Code != HTTPHostNotAllowed {
				return nil, fmt.Errorf("want host_not_allowed, got %v", err)
			}
			return nil, err
		}, `{"error":{"code":"source_unavailable","message":"http host_not_allowed: no"}}`},
		{"fetch broken result", func(*Request) (any, error) {
			_, err := Get("http://s/broken")
			return nil, err
		}, `bad_request`},
		{"config and log", func(*Request) (any, error) {
			v, ok := Config("k")
			_, ok2 := Config("other")
			Logf(LevelInfo, "got %s", v)
			return (&Object{}).String("v", v).Bool("ok", ok).Bool("ok2", ok2), nil
		}, `{"data":{"v":"v","ok":true,"ok2":false}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			Handle(tt.handler)
			got := string(Invoke(h, []byte(sampleInput)))
			if !strings.Contains(got, tt.want) {
				t.Errorf("answer = %s, want %s", got, tt.want)
			}
			if !json.Valid([]byte(got)) {
				t.Errorf("answer %s is not JSON", got)
			}
		})
	}
	if len(h.logs) != 1 || h.logs[0] != "1 got v" {
		t.Errorf("logs = %q", h.logs)
	}
	var sent struct {
		Method  string
		URL     string
		Headers map[string]string
		Body    string
	}
	if err := json.Unmarshal([]byte(h.sent[0]), &sent); err != nil || sent.Method != "POST" || sent.Headers["A"] != "b" || sent.Body != "x" {
		t.Errorf("request JSON %s decodes to %+v, %v", h.sent[0], sent, err)
	}

	Handle(nil)
	if got := string(Invoke(h, []byte(sampleInput))); !strings.Contains(got, "adapter_bug") {
		t.Errorf("answer with no handler = %s", got)
	}
	Handle(func(*Request) (any, error) { return nil, nil })
	if got := string(Invoke(h, []byte(`{"abi":9}`))); !strings.Contains(got, `"invalid_params"`) {
		t.Errorf("answer to a bad input = %s", got)
	}
}

func BenchmarkRun(b *testing.B) {
	Handle(func(r *Request) (any, error) {
		return (&Object{}).String("id", r.Subject.ID).String("municipality", r.Param("municipality")).
			String("address", "C. Major 1").String("since", "2015-03-02"), nil
	})
	in := []byte(sampleInput)
	b.ReportAllocs()
	for b.Loop() {
		run(in)
	}
}

// TestPlainASCII8 checks the eight-bytes-at-once test the writer uses, and
// load8 that feeds it, against the byte-by-byte rule for every byte value
// in every position of a plain word.
func TestPlainASCII8(t *testing.T) {
	base := []byte("abcdefgh")
	for pos := range 8 {
		for c := range 256 {
			w := append([]byte(nil), base...)
			w[pos] = byte(c)
			x := uint64(0)
			for i := 7; i >= 0; i-- {
				x = x<<8 | uint64(w[i])
			}
			special := c == '"' || c == '\\' || c < 0x20
			if got := jsonread.PlainASCII8(x); got != !(special || c >= 0x80) {
				t.Errorf("PlainASCII8(%q) = %v", w, got)
			}
			if got := load8(string(w), 0); got != x {
				t.Errorf("load8(%q) = %x, want %x", w, got, x)
			}
		}
	}
}

// TestLongStrings runs strings long enough for the word-at-a-time paths,
// with the special byte at every offset, through appendString and the
// scanner.
func TestLongStrings(t *testing.T) {
	for _, special := range []string{`"`, `\`, "\n", "\x01", "é", "\xff", "\u2028"} {
		for n := range 40 {
			s := strings.Repeat("x", n) + special + strings.Repeat("y", 41-n)
			b := appendString(nil, s)
			want, _ := json.Marshal(s)
			var got, back string
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("appendString(%q) = %s: %v", s, b, err)
			}
			if err := json.Unmarshal(want, &back); err != nil || got != back {
				t.Fatalf("appendString(%q) = %s decodes to %q, want %q", s, b, got, back)
			}
			sc := scanner{b: want}
			if v := sc.str(); sc.err != nil || v != back {
				t.Fatalf("scanner.str(%s) = %q, %v; want %q", want, v, sc.err, back)
			}
		}
	}
}

// TestNumbersAsEncodingJSON checks the scanner's number grammar against
// encoding/json's, on a param value.
func TestNumbersAsEncodingJSON(t *testing.T) {
	for _, n := range []string{"0", "-0", "7", "-12", "1.5", "0.25", "1e9", "1E+9", "2.5e-3", "10",
		"01", "-", "1.", ".5", "1e", "1e+", "--1", "+1", "0x10", "1.2.3", "1ee2", "-01", "1-2"} {
		in := `{"abi":1,"params":{"n":` + n + `}}`
		_, err := decodeRequest([]byte(in))
		if want := json.Valid([]byte(in)); (err == nil) != want {
			t.Errorf("decodeRequest(%s) = %v; encoding/json says valid=%v", in, err, want)
		}
	}
}
