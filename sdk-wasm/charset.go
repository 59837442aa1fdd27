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
	cs := strings.ToLower(strings.TrimSpace(r.Charset))
	switch charsets[cs] {
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
// source's header: anything but a plain name is cut, so that an error
// message stays one short line.
func quoteCharset(cs string) string {
	const max = 40
	if len(cs) > max {
		cs = cs[:max] + "…"
	}
	return `"` + strings.Map(func(r rune) rune {
		if r < 0x20 || r == '"' || r == 0x7f {
			return '?'
		}
		return r
	}, cs) + `"`
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

// charsets maps the names sources use (IANA's names and the usual aliases,
// lowercased) to the decoders; "" is a body without a declared charset,
// which JSON (RFC 8259) and the ABI take to be UTF-8.
var charsets = map[string]charset{
	"": csUTF8, "utf-8": csUTF8, "utf8": csUTF8,
	"us-ascii": csASCII, "ascii": csASCII,
	"iso-8859-1": csLatin1, "iso8859-1": csLatin1, "iso_8859-1": csLatin1, "iso_8859-1:1987": csLatin1,
	"latin1": csLatin1, "latin-1": csLatin1, "l1": csLatin1, "cp819": csLatin1, "ibm819": csLatin1, "iso-ir-100": csLatin1,
	"windows-1252": csWindows1252, "cp1252": csWindows1252, "x-cp1252": csWindows1252,
	"iso-8859-15": csLatin9, "iso8859-15": csLatin9, "iso_8859-15": csLatin9, "latin9": csLatin9, "latin-9": csLatin9, "l9": csLatin9,
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
	for b, r := range map[byte]rune{0xa4: '€', 0xa6: 'Š', 0xa8: 'š', 0xb4: 'Ž', 0xb8: 'ž', 0xbc: 'Œ', 0xbd: 'œ', 0xbe: 'Ÿ'} {
		latin9[b-0x80] = r
	}
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

func ascii(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}
