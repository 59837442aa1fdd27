package store_test

import (
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pontexchange/pont/exchange/envelope"
	"github.com/pontexchange/pont/exchange/store"
)

func TestText(t *testing.T) {
	long := strings.Repeat("a", store.MaxText+500)
	for _, c := range []struct {
		name, in, want string
		change         store.TextChange
	}{
		{"ascii", "padro", "padro", 0},
		{"empty", "", "", 0},
		{"unicode", "Núria Ćwikła 東京 😀", "Núria Ćwikła 東京 😀", 0},
		{"backslash alone", `O\Brien`, `O\Brien`, 0},
		{"escape-like text", `x\x00`, `x\x00`, 0},
		{"NUL", "x\x00", `x\x00`, store.TextEscaped},
		{"only NUL", "\x00", `\x00`, store.TextEscaped},
		{"invalid byte", "x\xff", `x\xff`, store.TextEscaped},
		{"backslash beside NUL", "a\\b\x00", `a\\b\x00`, store.TextEscaped},
		{"escape-like text beside NUL", "\\x00\x00", `\\x00\x00`, store.TextEscaped},
		{"UTF-16 surrogate", "a\xed\xa0\x80b", `a\xed\xa0\x80b`, store.TextEscaped},
		{"truncated sequence", "caf\xc3", `caf\xc3`, store.TextEscaped},
		{"beyond U+10FFFF", "\xf4\x90\x80\x80", `\xf4\x90\x80\x80`, store.TextEscaped},
		{"valid around NUL", "é\x00ü", `é\x00ü`, store.TextEscaped},
		{"exactly store.MaxText", long[:store.MaxText], long[:store.MaxText], 0},
		{"too long", long, long[:store.MaxText], store.TextCut},
		{"too long, cut before a character", long[:store.MaxText-1] + "é" + long, long[:store.MaxText-1], store.TextCut},
		{"too long with NUL", "\x00" + long, `\x00` + long[:store.MaxText-1], store.TextCut | store.TextEscaped},
		{"too long, NUL after the cut", long + "\x00", long[:store.MaxText], store.TextCut},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ch := store.StorableText(c.in)
			if got != c.want || ch != c.change {
				t.Errorf("store.StorableText(%q) = %q, %v; want %q, %v", c.in, got, ch, c.want, c.change)
			}
			if !utf8.ValidString(got) || strings.IndexByte(got, 0) >= 0 {
				t.Errorf("store.StorableText(%q) = %q: not storable", c.in, got)
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
			if got, ch := store.StorableText(v); ch != 0 || got != v {
				t.Errorf("%d four-byte characters: altered (%v)", c.limit, ch)
			}
		})
	}
}

func TestStorable(t *testing.T) {
	clean := store.Transfer{ID: "id-1", Node: "n", Service: "padro", Decision: store.Deny,
		Reasons: []store.Reason{{Code: "not_authorized", Message: `pattern ^\d{5}$`}}}
	t.Run("clean record unchanged", func(t *testing.T) {
		got := store.Storable(clean)
		if !reflect.DeepEqual(got, clean) || &got.Reasons[0] != &clean.Reasons[0] {
			t.Errorf("Storable altered a clean record: %+v", got)
		}
	})
	t.Run("escaped and cut fields named", func(t *testing.T) {
		in := clean
		in.Service = "x\x00"
		in.OfficialName = strings.Repeat("b", store.MaxText+1)
		in.Reasons = []store.Reason{{Code: "invalid_request", Message: "official.name: \xff"}, {Code: "ok", Message: "fine"}}
		before := append([]store.Reason(nil), in.Reasons...)
		got := store.Storable(in)
		if got.Service != `x\x00` || got.OfficialName != strings.Repeat("b", store.MaxText) {
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
		in.Reasons = make([]store.Reason, store.MaxReasons+3)
		got := store.Storable(in)
		if len(got.Reasons) != store.MaxReasons+1 || got.Reasons[store.MaxReasons].Code != store.ReasonAltered ||
			!strings.Contains(got.Reasons[store.MaxReasons].Message, "3 reasons after the first 64 dropped") {
			t.Errorf("%d reasons, last %+v", len(got.Reasons), got.Reasons[len(got.Reasons)-1])
		}
	})
}

// BenchmarkStorable measures the check that a typical record needs no
// altering, which every record pays.
func BenchmarkStorable(b *testing.B) {
	t := store.Transfer{ID: "0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", Time: time.Now(), Node: "node-1", Kind: "query",
		RequesterOrg: "P0801900B", OfficialID: "38000001E", OfficialName: "Joana Puig i Ferrer",
		ProcedureCode: "DEMO", ProcedureName: "Demostració", Purpose: "demo", LegalBasis: "presumed",
		CaseID: "EXP-2026-00001", SubjectIDType: "DNI", SubjectID: "12345678Z", Service: "padro",
		Decision: store.Allow, Outcome: "ok", SCSPCode: "0003", HTTPStatus: 200}
	t.Reasons = []store.Reason{{Code: "purpose_not_allowed", Message: "el propòsit no és permès per a aquest servei"}}
	b.ReportAllocs()
	for b.Loop() {
		t = store.Storable(t)
	}
}
