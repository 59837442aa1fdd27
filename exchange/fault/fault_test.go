package fault

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSpecOf(t *testing.T) {
	for _, code := range Codes() {
		s := SpecOf(code)
		if s.Status < 400 || s.Status > 599 || s.Title == "" {
			t.Errorf("%s: %+v is not a problem's answer", code, s)
		}
		if s.SCSP != "" && len(s.SCSP) != 4 {
			t.Errorf("%s: SCSP code %q is not four digits", code, s.SCSP)
		}
	}
	cases := []struct {
		code   Code
		status int
		scsp   string
	}{
		{InvalidRequest, http.StatusBadRequest, "0401"},
		{TooManySubjects, http.StatusBadRequest, "0237"},
		{SubjectNotFound, http.StatusNotFound, "0233"},
		{StoreUnavailable, http.StatusServiceUnavailable, "0501"},
		{UnsupportedMediaType, http.StatusUnsupportedMediaType, "0401"},
		{AdapterMisconfigured, http.StatusServiceUnavailable, "0901"},
		{"a_policy_own_code", http.StatusForbidden, "0904"},
	}
	for _, c := range cases {
		if s := SpecOf(c.code); s.Status != c.status || s.SCSP != c.scsp {
			t.Errorf("SpecOf(%s) = %+v, want %d and %s", c.code, s, c.status, c.scsp)
		}
	}
}

func TestRetryLater(t *testing.T) {
	cases := map[Code]bool{
		SourceUnavailable:    true,
		AdapterBusy:          true,
		StoreUnavailable:     true,
		RateLimited:          true,
		AdapterMisconfigured: false, // 503, but only the operator can fix it
		AdapterTimeout:       false,
		AdapterFailed:        false,
		InvalidRequest:       false,
		"a_policy_own_code":  false,
	}
	for code, want := range cases {
		if got := RetryLater(code); got != want {
			t.Errorf("RetryLater(%s) = %v, want %v", code, got, want)
		}
	}
}

func TestCodeOf(t *testing.T) {
	cause := errors.New("disk full")
	wrapped := fmt.Errorf("committing: %w", Wrap(StoreUnavailable, cause, "the log could not record"))
	if CodeOf(wrapped) != StoreUnavailable || !errors.Is(wrapped, cause) {
		t.Errorf("CodeOf(%v) = %s; the cause is kept: %v", wrapped, CodeOf(wrapped), errors.Is(wrapped, cause))
	}
	if CodeOf(cause) != Internal {
		t.Errorf("an error without a code is %s, want internal", CodeOf(cause))
	}
	one := Invalid(InvalidRequest, FieldError{Field: "purpose", Message: "is required"})
	two := Invalid(InvalidRequest, FieldError{Field: "a", Message: "x"}, FieldError{Field: "b", Message: "y"})
	if one.Message != "purpose: is required" || two.Message != "2 fields are invalid" {
		t.Errorf("messages %q and %q", one.Message, two.Message)
	}
}

func TestSafeText(t *testing.T) {
	long := string(make([]byte, 300))
	cases := []struct{ in, want string }{
		{"params.municipality", "params.municipality"},
		{"subject.name: Família & «Nou»", "subject.name: Família & «Nou»"},
		{"params.\x00", `"params.\x00"`},
		{"x\xffy", `"x\xffy"`},
		{"a\nb", `"a\nb"`},
		{"line\u2028sep", `"line\u2028sep"`},
	}
	for _, c := range cases {
		if got := SafeText(c.in); got != c.want {
			t.Errorf("SafeText(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, in := range []string{long, string(make([]rune, 300)), strings.Repeat("ñ", 300), strings.Repeat("\xff", 300)} {
		got := SafeText(in)
		if len(got) > MaxTextBytes+len("…") || !utf8.ValidString(got) || !printable(strings.TrimSuffix(got, "…")) {
			t.Errorf("SafeText of %d bytes = %q (%d bytes)", len(in), got, len(got))
		}
	}
	e := Invalid(InvalidRequest, FieldError{Field: "params.\x00", Message: "is not allowed\xff"})
	if e.Fields[0].Field != `"params.\x00"` || e.Fields[0].Message != `"is not allowed\xff"` {
		t.Errorf("Invalid kept unsafe text: %+v", e.Fields)
	}
}
