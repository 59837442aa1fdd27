package query

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pontexchange/pont/exchange/envelope"
	"github.com/pontexchange/pont/exchange/store"
)

func TestText(t *testing.T) {
	long := strings.Repeat("a", MaxText+500)
	for _, c := range []struct {
		name, in, want string
		change         Change
	}{
		{"ascii", "padro", "padro", 0},
		{"empty", "", "", 0},
		{"unicode", "Núria Ćwikła 東京 😀", "Núria Ćwikła 東京 😀", 0},
		{"backslash alone", `O\Brien`, `O\Brien`, 0},
		{"escape-like text", `x\x00`, `x\x00`, 0},
		{"NUL", "x\x00", `x\x00`, Escaped},
		{"only NUL", "\x00", `\x00`, Escaped},
		{"invalid byte", "x\xff", `x\xff`, Escaped},
		{"backslash beside NUL", "a\\b\x00", `a\\b\x00`, Escaped},
		{"escape-like text beside NUL", "\\x00\x00", `\\x00\x00`, Escaped},
		{"UTF-16 surrogate", "a\xed\xa0\x80b", `a\xed\xa0\x80b`, Escaped},
		{"truncated sequence", "caf\xc3", `caf\xc3`, Escaped},
		{"beyond U+10FFFF", "\xf4\x90\x80\x80", `\xf4\x90\x80\x80`, Escaped},
		{"valid around NUL", "é\x00ü", `é\x00ü`, Escaped},
		{"exactly MaxText", long[:MaxText], long[:MaxText], 0},
		{"too long", long, long[:MaxText], Cut},
		{"too long, cut before a character", long[:MaxText-1] + "é" + long, long[:MaxText-1], Cut},
		{"too long with NUL", "\x00" + long, `\x00` + long[:MaxText-1], Cut | Escaped},
		{"too long, NUL after the cut", long + "\x00", long[:MaxText], Cut},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ch := Text(c.in)
			if got != c.want || ch != c.change {
				t.Errorf("Text(%q) = %q, %v; want %q, %v", c.in, got, ch, c.want, c.change)
			}
			if !utf8.ValidString(got) || strings.IndexByte(got, 0) >= 0 {
				t.Errorf("Text(%q) = %q: not storable", c.in, got)
			}
		})
	}
}

// TestMaxTextKeepsEveryEnvelopeValue: a value the envelope accepts (its
// limits are in characters, up to four bytes each) is never cut.
func TestMaxTextKeepsEveryEnvelopeValue(t *testing.T) {
	for _, c := range []struct {
		name  string
		limit int
	}{
		{"MaxProcedureCode", envelope.MaxProcedureCode}, {"MaxProcedureName", envelope.MaxProcedureName},
		{"MaxPurpose", envelope.MaxPurpose}, {"MaxLawReference", envelope.MaxLawReference},
		{"MaxConsentID", envelope.MaxConsentID}, {"MaxCaseID", envelope.MaxCaseID},
		{"MaxOfficialName", envelope.MaxOfficialName}, {"MaxSubjectName", envelope.MaxSubjectName},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := strings.Repeat("😀", c.limit)
			if got, ch := Text(v); ch != 0 || got != v {
				t.Errorf("%d four-byte characters: altered (%v)", c.limit, ch)
			}
		})
	}
}

func TestStorable(t *testing.T) {
	clean := store.Transfer{ID: "id-1", Node: "n", Service: "padro", Decision: store.Deny,
		Reasons: []store.Reason{{Code: "not_authorized", Message: `pattern ^\d{5}$`}}}
	t.Run("clean record unchanged", func(t *testing.T) {
		got := Storable(clean)
		if !reflect.DeepEqual(got, clean) || &got.Reasons[0] != &clean.Reasons[0] {
			t.Errorf("Storable altered a clean record: %+v", got)
		}
	})
	t.Run("escaped and cut fields named", func(t *testing.T) {
		in := clean
		in.Service = "x\x00"
		in.OfficialName = strings.Repeat("b", MaxText+1)
		in.Reasons = []store.Reason{{Code: "invalid_request", Message: "official.name: \xff"}, {Code: "ok", Message: "fine"}}
		before := append([]store.Reason(nil), in.Reasons...)
		got := Storable(in)
		if got.Service != `x\x00` || got.OfficialName != strings.Repeat("b", MaxText) {
			t.Errorf("service %q, official name of %d bytes", got.Service, len(got.OfficialName))
		}
		if !reflect.DeepEqual(in.Reasons, before) {
			t.Errorf("Storable wrote into the caller's reasons: %+v", in.Reasons)
		}
		want := []store.Reason{{Code: "invalid_request", Message: `official.name: \xff`}, {Code: "ok", Message: "fine"},
			{Code: store.ReasonAltered, Message: `the store altered what it could not keep as given: escaped (NUL and bytes that are not UTF-8 written \xHH, backslashes \\): service, reasons[0].message; cut to 1024 bytes: official_name`}}
		if !reflect.DeepEqual(got.Reasons, want) {
			t.Errorf("reasons\n got %q\nwant %q", got.Reasons, want)
		}
	})
	t.Run("too many reasons", func(t *testing.T) {
		in := clean
		in.Reasons = make([]store.Reason, MaxReasons+3)
		got := Storable(in)
		if len(got.Reasons) != MaxReasons+1 || got.Reasons[MaxReasons].Code != store.ReasonAltered ||
			!strings.Contains(got.Reasons[MaxReasons].Message, "3 reasons after the first 64 dropped") {
			t.Errorf("%d reasons, last %+v", len(got.Reasons), got.Reasons[len(got.Reasons)-1])
		}
	})
}

func TestTexts(t *testing.T) {
	args := []any{"ok", 7, "a\x00"}
	got := Texts(args)
	if !reflect.DeepEqual(got, []any{"ok", 7, `a\x00`}) || args[2] != "a\x00" {
		t.Errorf("Texts = %q, args now %q", got, args)
	}
	if clean := []any{"ok", 7}; &Texts(clean)[0] != &clean[0] {
		t.Error("Texts copied arguments that need nothing")
	}
}
