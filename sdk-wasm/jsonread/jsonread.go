// Package jsonread reads a source system's JSON answer without reflection,
// for adapters (the reference adapters use it). Standard library only, so
// it builds for any GOOS=wasip1 adapter. Inside a Wasm guest, encoding/json's
// reflection is the bulk of an adapter's cost (about 44 µs a call, against
// 1.3 µs for a hand-written scanner), so the adapters walk the source's
// record with this small reader instead of json.Unmarshal, and write their
// answer with sdk.Object.
//
// It reads the way json.Unmarshal reads into a struct, so that the adapters
// answer exactly what they answered with it: the whole input must be valid
// JSON; unknown keys are skipped; null leaves a string or number empty (and
// Object and Array report it); a value of the wrong type is an error;
// strings are unescaped, with invalid UTF-8 and lone surrogates replaced by
// U+FFFD. Two differences, neither met by a faithful source: keys match
// exactly, where json.Unmarshal would also accept another capitalisation of
// a key; and an adapter that reads an object into a fresh value keeps only
// the last of two objects under the same key, where json.Unmarshal merges
// them into a pointer it has already set.
//
// A Reader keeps the first error and turns every later read into a no-op
// that returns the zero value, so an adapter reads its whole record and
// checks Err (or End) once.
package jsonread

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Reader reads one JSON value from a byte slice.
type Reader struct {
	b   []byte
	i   int
	err error
}

// New returns a Reader of b. b must not change while it is read.
func New(b []byte) *Reader { return &Reader{b: b} }

// Err returns the first error met, or nil.
func (r *Reader) Err() error { return r.err }

// End checks that nothing but white space follows the value read and
// returns the first error met, or nil.
func (r *Reader) End() error {
	// peek's 0 is also a NUL byte: the end is where the input ends.
	if r.peek(); r.err == nil && r.i < len(r.b) {
		r.fail("data after the JSON value")
	}
	return r.err
}

func (r *Reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("at byte %d: %s", r.i, fmt.Sprintf(format, args...))
	}
}

// peek skips white space and returns the next byte, or 0 at the end or
// after an error.
func (r *Reader) peek() byte {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
			continue
		}
		break
	}
	if r.err != nil || r.i >= len(r.b) {
		return 0
	}
	return r.b[r.i]
}

// Null consumes a null and reports whether there was one.
func (r *Reader) Null() bool {
	if r.peek() != 'n' {
		return false
	}
	r.literal("null")
	return r.err == nil
}

// Object calls field for each key of an object, with the Reader at the
// key's value: field must read the value (or Skip it). The key's bytes are
// valid only during the call; switching on string(key) costs nothing. It
// reports whether there was an object: null is no object and no error.
func (r *Reader) Object(field func(key []byte)) bool {
	if r.Null() {
		return false
	}
	if r.peek() != '{' {
		r.fail("want an object")
		return false
	}
	r.i++
	if r.peek() == '}' {
		r.i++
		return true
	}
	for r.err == nil {
		key := r.str()
		if r.peek() != ':' {
			r.fail("want ':' after a key")
			break
		}
		r.i++
		field(key)
		switch r.peek() {
		case ',':
			r.i++
		case '}':
			r.i++
			return r.err == nil
		default:
			r.fail("want ',' or '}' in an object")
		}
	}
	return false
}

// Array calls elem for each element of an array, with the Reader at the
// element: elem must read it (or Skip it). It reports whether there was an
// array: null is no array and no error.
func (r *Reader) Array(elem func()) bool {
	if r.Null() {
		return false
	}
	if r.peek() != '[' {
		r.fail("want an array")
		return false
	}
	r.i++
	if r.peek() == ']' {
		r.i++
		return true
	}
	for r.err == nil {
		elem()
		switch r.peek() {
		case ',':
			r.i++
		case ']':
			r.i++
			return r.err == nil
		default:
			r.fail("want ',' or ']' in an array")
		}
	}
	return false
}

// String reads a string; null reads as "".
func (r *Reader) String() string {
	if r.Null() {
		return ""
	}
	return string(r.str())
}

// Int reads an integer number; null reads as 0. A fraction, an exponent or
// a number beyond int64 is an error, as json.Unmarshal makes it for an int.
func (r *Reader) Int() int64 {
	if r.Null() {
		return 0
	}
	if c := r.peek(); c != '-' && (c < '0' || c > '9') {
		r.fail("want a number")
		return 0
	}
	num := r.number()
	if r.err != nil {
		return 0
	}
	n, err := strconv.ParseInt(string(num), 10, 64)
	if err != nil {
		r.fail("the number %s is not an integer", num)
		return 0
	}
	return n
}

// Skip reads any value, checking that it is valid JSON, and drops it.
func (r *Reader) Skip() {
	switch c := r.peek(); {
	case c == '"':
		r.str()
	case c == '{':
		r.Object(func([]byte) { r.Skip() })
	case c == '[':
		r.Array(r.Skip)
	case c == 't':
		r.literal("true")
	case c == 'f':
		r.literal("false")
	case c == 'n':
		r.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		r.number()
	default:
		r.fail("want a JSON value")
	}
}

func (r *Reader) literal(lit string) {
	if len(r.b)-r.i < len(lit) || string(r.b[r.i:r.i+len(lit)]) != lit {
		r.fail("want %s", lit)
		return
	}
	r.i += len(lit)
}

// number reads a number by JSON's grammar (see Number) and returns its text.
func (r *Reader) number() []byte {
	start := r.i
	next, ok := Number(r.b, r.i)
	r.i = next
	if !ok {
		r.fail("bad number")
		return nil
	}
	return r.b[start:r.i]
}

// Number reads the JSON number that starts at b[i] by JSON's grammar,
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, and returns the index just
// past it; when the grammar breaks, ok is false and next is where it broke.
func Number(b []byte, i int) (next int, ok bool) {
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return i, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return i, false
		}
	}
	return i, true
}

// str reads a string and returns its bytes (see String).
func (r *Reader) str() []byte {
	if r.peek() != '"' {
		r.fail("want a string")
		return nil
	}
	v, next, err := String(r.b, r.i)
	if err != nil {
		if r.err == nil {
			r.err = err
		}
		return nil
	}
	r.i = next
	return v
}

// String reads the JSON string whose opening quote is b[i] and returns its
// value and the index just past its closing quote. The value is a view of b
// when the string holds no escape and no byte beyond ASCII (the common case,
// no copy), else a new slice with the escapes resolved and, as
// json.Unmarshal does, invalid UTF-8 and lone surrogates replaced by U+FFFD.
// Errors say at which byte the string breaks.
func String(b []byte, i int) (value []byte, next int, err error) {
	fail := func(at int, msg string) ([]byte, int, error) {
		return nil, at, fmt.Errorf("at byte %d: %s", at, msg)
	}
	if i >= len(b) || b[i] != '"' {
		return fail(i, "want a string")
	}
	i++
	start := i
	// Eight plain bytes at a time first: inside a Wasm guest run with
	// deadlines, every loop iteration costs a check by the host.
	for i+8 <= len(b) && PlainASCII8(binary.LittleEndian.Uint64(b[i:])) {
		i += 8
	}
	for i < len(b) {
		c := b[i]
		if c == '"' {
			return b[start:i], i + 1, nil
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
		i++
	}
	buf := append(make([]byte, 0, i-start+64), b[start:i]...)
	for i < len(b) {
		// Between escapes, copy plain runs whole: an escaped JSON document
		// (a source's body inside the host's answer) is mostly such runs.
		run := i
		for i+8 <= len(b) && PlainASCII8(binary.LittleEndian.Uint64(b[i:])) {
			i += 8
		}
		for i < len(b) && plain(b[i]) {
			i++
		}
		buf = append(buf, b[run:i]...)
		if i >= len(b) {
			break
		}
		c := b[i]
		switch {
		case c == '"':
			return buf, i + 1, nil
		case c < 0x20:
			return fail(i, "control character in a string")
		case c >= utf8.RuneSelf:
			// json.Unmarshal replaces each invalid byte with U+FFFD.
			ru, size := utf8.DecodeRune(b[i:])
			if ru == utf8.RuneError && size == 1 {
				buf = utf8.AppendRune(buf, utf8.RuneError)
			} else {
				buf = append(buf, b[i:i+size]...)
			}
			i += size
			continue
		}
		if i+1 >= len(b) {
			break
		}
		e := b[i+1]
		i += 2
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			ru := hex4(b, i)
			if ru < 0 {
				return fail(i, "bad \\u escape")
			}
			i += 4
			if utf16.IsSurrogate(ru) {
				// As json.Unmarshal: a valid pair is one rune; a lone
				// surrogate is U+FFFD, and what follows it is read on
				// its own.
				ru2 := rune(-1)
				if i+1 < len(b) && b[i] == '\\' && b[i+1] == 'u' {
					ru2 = hex4(b, i+2)
				}
				if d := utf16.DecodeRune(ru, ru2); d != utf8.RuneError {
					i += 6
					ru = d
				} else {
					ru = utf8.RuneError
				}
			}
			buf = utf8.AppendRune(buf, ru)
		default:
			return fail(i, fmt.Sprintf("bad escape \\%c", e))
		}
	}
	return fail(i, "unterminated string")
}

// plain reports whether a string carries c as it is: not a quote, a
// backslash, a control byte or a byte beyond ASCII.
func plain(c byte) bool {
	return c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf
}

// hex4 decodes the four hex digits at b[at:], or returns -1.
func hex4(b []byte, at int) rune {
	if at+4 > len(b) {
		return -1
	}
	var n rune
	for _, c := range b[at : at+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		n = n<<4 | rune(c)
	}
	return n
}

// Bytes repeated in each of a word's eight bytes, for testing eight bytes of
// a string at once.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// PlainASCII8 reports whether none of the eight bytes of x (read
// little-endian) is a quote, a backslash, a control byte or a non-ASCII
// byte: eight bytes that a JSON string carries as they are, in reading and
// in writing. Each test is exact for "some byte matches": a borrow only
// propagates past a byte that matches itself.
func PlainASCII8(x uint64) bool {
	quote := x ^ (ones * '"')
	backslash := x ^ (ones * '\\')
	hit := (x - ones*0x20) &^ x // a byte below 0x20
	hit |= (quote - ones) &^ quote
	hit |= (backslash - ones) &^ backslash
	return (hit|x)&highs == 0
}
