package sdk

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// Text returns the body as UTF-8 text, decoded from the charset the source
// declared (Charset): utf-8, or no charset at all, as it is once checked;
// us-ascii likewise; iso-8859-1 (latin1), windows-1252 and iso-8859-15
// (latin9) character by character, each by its own table: ISO-8859-1's
// bytes 0x80 to 0x9F stay the control characters they are in it, even
// though many systems that declare it mean windows-1252 there. The error
// names the charset: one the SDK does not decode, or a body that is not
// valid in it. The host hands the body over unchanged (ABI.md 4.2): this is
// where an old system's ISO-8859-1 becomes the UTF-8 of an answer.
func (r *HTTPResponse) Text() (string, error) {
	b, err := r.utf8Body()
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// utf8Body is Text as bytes; a body that is UTF-8 already is returned as it
// is, not copied.
func (r *HTTPResponse) utf8Body() ([]byte, error) {
	cs := asciiLower(strings.TrimSpace(r.Charset))
	switch charsetOf(cs) {
	case csUTF8:
		if !utf8.Valid(r.Body) {
			if cs == "" {
				return nil, errors.New("the body is not valid UTF-8, and the source declared no charset")
			}
			return nil, errors.New("the body is not valid in its declared charset " + quoteCharset(cs))
		}
		return r.Body, nil
	case csASCII:
		if !ascii(r.Body) {
			return nil, errors.New("the body is not valid in its declared charset " + quoteCharset(cs))
		}
		return r.Body, nil
	case csLatin1:
		return decodeSingleByte(r.Body, &latin1), nil
	case csWindows1252:
		return decodeSingleByte(r.Body, &windows1252), nil
	case csLatin9:
		return decodeSingleByte(r.Body, &latin9), nil
	}
	return nil, errors.New("the source's charset " + quoteCharset(cs) + " is not one the SDK decodes (utf-8, us-ascii, iso-8859-1, windows-1252, iso-8859-15)")
}

// quoteCharset quotes a charset name for a message. It comes from the
// source's header: a byte that no charset name holds becomes '?', and a
// long one is cut, so that an error message stays one short line.
func quoteCharset(cs string) string {
	const max = 40
	b := make([]byte, 0, max+2)
	b = append(b, '"')
	for i := 0; i < len(cs) && i < max; i++ {
		c := cs[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			c = '?'
		}
		b = append(b, c)
	}
	if len(cs) > max {
		b = append(b, "..."...)
	}
	return string(append(b, '"'))
}

type charset int

const (
	csUnknown charset = iota
	csUTF8
	csASCII
	csLatin1
	csWindows1252
	csLatin9
)

// charsetOf maps the names sources use (IANA's names and the usual
// aliases, lowercased) to the decoders; "" is a body without a declared
// charset, which JSON (RFC 8259) and the ABI take to be UTF-8.
func charsetOf(name string) charset {
	switch name {
	case "", "utf-8", "utf8":
		return csUTF8
	case "us-ascii", "ascii":
		return csASCII
	case "iso-8859-1", "iso8859-1", "iso_8859-1", "iso_8859-1:1987", "latin1", "latin-1", "l1", "cp819", "ibm819", "iso-ir-100":
		return csLatin1
	case "windows-1252", "cp1252", "x-cp1252":
		return csWindows1252
	case "iso-8859-15", "iso8859-15", "iso_8859-15", "latin9", "latin-9", "l9":
		return csLatin9
	}
	return csUnknown
}

// The upper halves (bytes 0x80 to 0xFF) of the single-byte charsets; the
// lower half of each is ASCII.
var latin1, windows1252, latin9 [128]rune

func init() {
	for i := range latin1 {
		latin1[i] = rune(0x80 + i)
	}
	// windows-1252 puts printable characters where ISO-8859-1 has C1
	// controls; its five unassigned bytes keep the control character, as
	// the WHATWG Encoding Standard decodes them: a byte is never replaced.
	windows1252 = latin1
	copy(windows1252[:0x20], []rune{
		'€', 0x81, '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', 0x8d, 'Ž', 0x8f,
		0x90, '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', 0x9d, 'ž', 'Ÿ',
	})
	// ISO-8859-15 is ISO-8859-1 with eight characters replaced.
	latin9 = latin1
	latin9[0xa4-0x80], latin9[0xa6-0x80], latin9[0xa8-0x80], latin9[0xb4-0x80] = '€', 'Š', 'š', 'Ž'
	latin9[0xb8-0x80], latin9[0xbc-0x80], latin9[0xbd-0x80], latin9[0xbe-0x80] = 'ž', 'Œ', 'œ', 'Ÿ'
}

// decodeSingleByte decodes b, in a single-byte charset whose upper half is
// high, to UTF-8; a body of ASCII alone is returned as it is.
func decodeSingleByte(b []byte, high *[128]rune) []byte {
	n := 0
	for _, c := range b {
		if c >= 0x80 {
			n++
		}
	}
	if n == 0 {
		return b
	}
	out := make([]byte, 0, len(b)+2*n) // at most 3 bytes for an upper-half character
	for _, c := range b {
		if c < 0x80 {
			out = append(out, c)
			continue
		}
		out = utf8.AppendRune(out, high[c-0x80])
	}
	return out
}

// asciiLower lowers the ASCII letters of s alone: charset names and URL
// schemes are ASCII, and strings.ToLower would bring Unicode's case tables
// into every adapter's module.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

func ascii(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}
