package sdk

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/pontexchange/pont/sdk-wasm/abi"
	"github.com/pontexchange/pont/sdk-wasm/jsonread"
)

// scanner reads the few JSON shapes of the ABI without reflection. It keeps
// the first error and turns every later read into a no-op.
type scanner struct {
	b   []byte
	i   int
	err error
}

func (s *scanner) fail(format string, args ...any) {
	if s.err == nil {
		s.err = fmt.Errorf("at byte %d: %s", s.i, fmt.Sprintf(format, args...))
	}
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.err != nil || s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

func (s *scanner) expect(c byte) {
	if s.peek() != c {
		s.fail("want %q", c)
		return
	}
	s.i++
}

// object calls field for each key of an object, with the scanner at the
// key's value; field must consume the value. The key's bytes are valid only
// during the call: switching on string(key) costs no allocation.
func (s *scanner) object(field func(key []byte)) {
	s.expect('{')
	if s.peek() == '}' {
		s.i++
		return
	}
	for s.err == nil {
		key := s.rawStr()
		s.expect(':')
		if s.err != nil {
			return
		}
		field(key)
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return
		default:
			s.fail("want ',' or '}' in an object")
		}
	}
}

// str reads a JSON string.
func (s *scanner) str() string {
	return string(s.rawStr())
}

// rawStr reads a JSON string and returns its bytes: a view of the input when
// it has no escapes (jsonread.String, shared with the adapters' reader).
func (s *scanner) rawStr() []byte {
	if s.peek() != '"' {
		s.fail("want a string")
		return nil
	}
	v, next, err := jsonread.String(s.b, s.i)
	if err != nil {
		if s.err == nil {
			s.err = err
		}
		return nil
	}
	s.i = next
	return v
}

// value skips any JSON value and returns its raw text.
func (s *scanner) value() []byte {
	c := s.peek()
	start := s.i
	switch {
	case c == '"':
		s.str()
	case c == '{':
		s.object(func([]byte) { s.value() })
	case c == '[':
		s.i++
		if s.peek() == ']' {
			s.i++
			break
		}
		for s.err == nil {
			s.value()
			if s.peek() == ',' {
				s.i++
				continue
			}
			s.expect(']')
			break
		}
	case c == 't':
		s.literal("true")
	case c == 'f':
		s.literal("false")
	case c == 'n':
		s.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		s.number()
	default:
		s.fail("want a JSON value")
	}
	if s.err != nil {
		return nil
	}
	return s.b[start:s.i]
}

// number reads a JSON number (jsonread.Number, shared with the adapters'
// reader).
func (s *scanner) number() {
	next, ok := jsonread.Number(s.b, s.i)
	s.i = next
	if !ok {
		s.fail("bad number")
	}
}

func (s *scanner) literal(lit string) {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		s.fail("want %s", lit)
		return
	}
	s.i += len(lit)
}

// end checks that nothing but space follows the value.
func (s *scanner) end() {
	if s.peek() != 0 {
		s.fail("data after the JSON value")
	}
}

// strOrNull reads a string, or null as "".
func (s *scanner) strOrNull() string {
	if s.peek() == 'n' {
		s.literal("null")
		return ""
	}
	return s.str()
}

// rawStrOrNull reads a string's bytes as rawStr does, or null as nil.
func (s *scanner) rawStrOrNull() []byte {
	if s.peek() == 'n' {
		s.literal("null")
		return nil
	}
	return s.rawStr()
}

// decodeRequest reads the ABI's input JSON. Unknown keys are skipped so
// that a newer broker may add context without breaking older adapters.
func decodeRequest(input []byte) (*Request, error) {
	s := scanner{b: input}
	r := &Request{}
	var version []byte
	s.object(func(key []byte) {
		switch string(key) {
		case "abi":
			version = s.value()
		case "transfer_id":
			r.TransferID = s.strOrNull()
		case "service":
			r.Service = s.strOrNull()
		case "purpose":
			r.Purpose = s.strOrNull()
		case "requester":
			r.Requester = s.strOrNull()
		case "procedure":
			r.Procedure = s.strOrNull()
		case "subject":
			s.object(func(key []byte) {
				switch string(key) {
				case "id_type":
					r.Subject.IDType = s.strOrNull()
				case "id":
					r.Subject.ID = s.strOrNull()
				case "name":
					r.Subject.Name = s.strOrNull()
				case "surname1":
					r.Subject.Surname1 = s.strOrNull()
				case "surname2":
					r.Subject.Surname2 = s.strOrNull()
				default:
					s.value()
				}
			})
		case "params":
			if s.peek() == 'n' {
				s.literal("null")
				return
			}
			r.Params = map[string]json.RawMessage{}
			s.object(func(key []byte) {
				r.Params[string(key)] = json.RawMessage(s.value())
			})
		default:
			s.value()
		}
	})
	s.end()
	if s.err != nil {
		return nil, s.err
	}
	if string(version) != strconv.Itoa(abi.Version) {
		return nil, fmt.Errorf("abi is %q; this SDK speaks abi %d", version, abi.Version)
	}
	return r, nil
}

// Object builds a JSON object without reflection, for answers on the hot
// path. The zero value is an empty object; methods append a field and return
// the Object so that calls chain. Keys are written as given: do not repeat
// one.
type Object struct {
	buf []byte
}

func (o *Object) key(k string) {
	if len(o.buf) == 0 {
		// One allocation fits a typical answer.
		o.buf = append(make([]byte, 0, 256), '{')
	} else {
		o.buf = append(o.buf, ',')
	}
	o.buf = appendString(o.buf, k)
	o.buf = append(o.buf, ':')
}

// String adds a string field.
func (o *Object) String(key, v string) *Object {
	o.key(key)
	o.buf = appendString(o.buf, v)
	return o
}

// Int adds an integer field.
func (o *Object) Int(key string, v int64) *Object {
	o.key(key)
	o.buf = strconv.AppendInt(o.buf, v, 10)
	return o
}

// Float adds a number field; NaN and infinities, which JSON cannot hold,
// are written as null.
func (o *Object) Float(key string, v float64) *Object {
	o.key(key)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		o.buf = append(o.buf, "null"...)
		return o
	}
	o.buf = strconv.AppendFloat(o.buf, v, 'g', -1, 64)
	return o
}

// Bool adds a boolean field.
func (o *Object) Bool(key string, v bool) *Object {
	o.key(key)
	o.buf = strconv.AppendBool(o.buf, v)
	return o
}

// Null adds a null field.
func (o *Object) Null(key string) *Object {
	o.key(key)
	o.buf = append(o.buf, "null"...)
	return o
}

// Strings adds an array of strings.
func (o *Object) Strings(key string, v []string) *Object {
	o.key(key)
	o.buf = append(o.buf, '[')
	for i, s := range v {
		if i > 0 {
			o.buf = append(o.buf, ',')
		}
		o.buf = appendString(o.buf, s)
	}
	o.buf = append(o.buf, ']')
	return o
}

// Object adds a nested object.
func (o *Object) Object(key string, v *Object) *Object {
	o.key(key)
	o.buf = v.appendTo(o.buf)
	return o
}

// appendTo appends the object's JSON text to b, without the copy JSON makes.
func (o *Object) appendTo(b []byte) []byte {
	if o == nil || len(o.buf) == 0 {
		return append(b, "{}"...)
	}
	return append(append(b, o.buf...), '}')
}

// Objects adds an array of objects.
func (o *Object) Objects(key string, v []*Object) *Object {
	o.key(key)
	o.buf = append(o.buf, '[')
	for i, e := range v {
		if i > 0 {
			o.buf = append(o.buf, ',')
		}
		o.buf = e.appendTo(o.buf)
	}
	o.buf = append(o.buf, ']')
	return o
}

// Raw adds a field whose value is JSON text, written as it is.
func (o *Object) Raw(key string, v []byte) *Object {
	o.key(key)
	o.buf = append(o.buf, v...)
	return o
}

// JSON returns the object's JSON text.
func (o *Object) JSON() json.RawMessage {
	if o == nil || len(o.buf) == 0 {
		return json.RawMessage("{}")
	}
	out := make([]byte, len(o.buf)+1)
	copy(out, o.buf)
	out[len(o.buf)] = '}'
	return out
}

const hexDigits = "0123456789abcdef"

// load8 reads s[i:i+8] as a little-endian word (one load where the compiler
// combines them, Wasm included).
func load8(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does; HTML characters are not escaped, as nothing here is
// ever inlined in HTML.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		// Eight plain ASCII bytes at a time, the common case.
		for i+8 <= len(s) && jsonread.PlainASCII8(load8(s, i)) {
			i += 8
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript parsers.
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// encodeHTTPRequest writes the request JSON of the http_call import.
func encodeHTTPRequest(r HTTPRequest) []byte {
	method := r.Method
	if method == "" {
		method = "GET"
	}
	b := make([]byte, 0, 64+len(r.URL)+len(r.Body))
	b = append(b, `{"method":`...)
	b = appendString(b, method)
	b = append(b, `,"url":`...)
	b = appendString(b, r.URL)
	if len(r.Header) > 0 {
		b = append(b, `,"headers":{`...)
		first := true
		for k, v := range r.Header {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, v)
		}
		b = append(b, '}')
	}
	if r.Body != nil {
		b = append(b, `,"body":`...)
		b = appendString(b, string(r.Body))
	}
	return append(b, '}')
}

// decodeHTTPResult reads the result JSON of the http_call import.
func decodeHTTPResult(out []byte) (*HTTPResponse, error) {
	s := scanner{b: out}
	resp := &HTTPResponse{Header: map[string]string{}}
	var herr *HTTPError
	status := ""
	s.object(func(key []byte) {
		switch string(key) {
		case "status":
			status = string(s.value())
		case "headers":
			s.object(func(k []byte) { resp.Header[string(k)] = s.strOrNull() })
		case "body":
			// A view of out, which nothing else holds, or a new slice when
			// the body had escapes: no copy either way.
			resp.Body = s.rawStrOrNull()
		case "body_base64":
			// A body that is not UTF-8 (ABI.md 4.2): its bytes as the
			// source sent them.
			enc := s.rawStrOrNull()
			b := make([]byte, base64.StdEncoding.DecodedLen(len(enc)))
			n, err := base64.StdEncoding.Decode(b, enc)
			if err != nil && s.err == nil {
				s.err = fmt.Errorf("body_base64: %w", err)
			}
			resp.Body = b[:n]
		case "charset":
			resp.Charset = s.strOrNull()
		case "error":
			herr = &HTTPError{}
			s.object(func(k []byte) {
				switch string(k) {
				case "code":
					herr.Code = s.strOrNull()
				case "message":
					herr.Message = s.strOrNull()
				default:
					s.value()
				}
			})
		default:
			s.value()
		}
	})
	s.end()
	if s.err != nil {
		return nil, &HTTPError{Code: HTTPBadRequest, Message: "sdk: the host's http_call result is not valid JSON: " + s.err.Error()}
	}
	if herr != nil {
		return nil, herr
	}
	n, err := strconv.Atoi(status)
	if err != nil {
		return nil, &HTTPError{Code: HTTPBadRequest, Message: "sdk: the host's http_call result has no status"}
	}
	resp.Status = n
	return resp, nil
}
