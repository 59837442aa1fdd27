//go:build !wasip1

package sdk

import (
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// The SDK's own tables against golang.org/x/text's, byte by byte: the SDK
// keeps to the standard library, so its tables are written out, and this is
// what holds them to the standard ones. Where x/text has no character
// (U+FFFD: windows-1252's five unassigned bytes, ISO-8859-15's 0x80 to
// 0x9F) the SDK keeps the C1 control of the same number, as the WHATWG
// Encoding Standard and Unicode's mapping tables do: it never invents a
// replacement character.
func TestSingleByteCharsetsAgreeWithXText(t *testing.T) {
	tests := []struct {
		charset string
		want    *charmap.Charmap
	}{
		{"iso-8859-1", charmap.ISO8859_1},
		{"latin1", charmap.ISO8859_1},
		{"windows-1252", charmap.Windows1252},
		{"cp1252", charmap.Windows1252},
		{"iso-8859-15", charmap.ISO8859_15},
		{"latin9", charmap.ISO8859_15},
	}
	for _, tt := range tests {
		t.Run(tt.charset, func(t *testing.T) {
			for _, cs := range []string{tt.charset, strings.ToUpper(tt.charset)} {
				for b := 0; b < 256; b++ {
					want, err := tt.want.NewDecoder().Bytes([]byte{byte(b)})
					if err != nil {
						t.Fatal(err)
					}
					got, err := (&HTTPResponse{Body: []byte{byte(b)}, Charset: cs}).Text()
					if err != nil {
						t.Fatalf("Text(%s) of 0x%02x: %v", cs, b, err)
					}
					g, _ := utf8.DecodeRuneInString(got)
					w, _ := utf8.DecodeRune(want)
					if g != w && !(w == utf8.RuneError && g == rune(b) && b >= 0x80 && b < 0xa0) {
						t.Errorf("Text(%s): byte 0x%02x decodes to %U, x/text says %U", cs, b, g, w)
					}
					if utf8.RuneCountInString(got) != 1 {
						t.Errorf("Text(%s): byte 0x%02x decodes to %q, not one character", cs, b, got)
					}
				}
			}
		})
	}
}

func TestText(t *testing.T) {
	tests := []struct {
		name, charset string
		body          string
		want          string
		wantErr       string // a part of the error; "" for none
	}{
		{"utf-8 declared", "utf-8", "Plaça de Sant Jaume", "Plaça de Sant Jaume", ""},
		{"utf8 alias", "utf8", "Plaça", "Plaça", ""},
		{"none declared, utf-8", "", "Plaça", "Plaça", ""},
		{"latin-1", "iso-8859-1", "Pla\xe7a de Sant Jaume", "Plaça de Sant Jaume", ""},
		{"latin-1, plain ASCII", "iso-8859-1", `{"nom":"Girona"}`, `{"nom":"Girona"}`, ""},
		{"windows-1252 euro", "windows-1252", "\x80 5", "€ 5", ""},
		{"iso-8859-15 euro", "iso-8859-15", "\xa4 5", "€ 5", ""},
		{"iso-8859-1 keeps its 0xa4", "iso-8859-1", "\xa4", "¤", ""},
		{"us-ascii", "us-ascii", "Girona", "Girona", ""},
		{"empty", "iso-8859-1", "", "", ""},
		{"none declared, not utf-8", "", "Pla\xe7a", "", "declared no charset"},
		{"utf-8 declared, not utf-8", "utf-8", "Pla\xe7a", "", `"utf-8"`},
		{"us-ascii declared, 8 bits", "us-ascii", "Pla\xe7a", "", `"us-ascii"`},
		{"unknown charset", "shift_jis", "abc", "", `"shift_jis" is not one the SDK decodes`},
		{"a charset that is no name", "x\"\n" + strings.Repeat("y", 100), "abc", "", `"x??yyyy`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &HTTPResponse{Body: []byte(tt.body), Charset: tt.charset}
			got, err := r.Text()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Text() = %q, %v; want an error containing %s", got, err, tt.wantErr)
				}
				if !utf8.ValidString(err.Error()) || strings.ContainsAny(err.Error(), "\n\x00") || len(err.Error()) > 200 {
					t.Errorf("the error is no short line of text: %q", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Text() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// A body that needs no decoding is not copied: a record of a megabyte
// costs nothing more inside the guest.
func TestTextOfUTF8IsNotCopied(t *testing.T) {
	body := []byte(`{"nom":"Plaça"}`)
	for _, cs := range []string{"", "utf-8", "iso-8859-1"} {
		body := body
		if cs == "iso-8859-1" {
			body = []byte(`{"nom":"Girona"}`)
		}
		b, err := (&HTTPResponse{Body: body, Charset: cs}).utf8Body()
		if err != nil || &b[0] != &body[0] {
			t.Errorf("charset %q: the body was copied (or %v)", cs, err)
		}
	}
}
