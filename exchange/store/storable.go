package store

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits of what a record keeps, the same in both backends.
const (
	// MaxText is the most bytes of a value's text a record keeps (names,
	// codes, ids, each reason's code and message), counted before escaping,
	// which writes each escaped byte as four. The envelope's longest
	// field (envelope.MaxLawReference, 250 characters) is at most 1000 bytes
	// of UTF-8, so every value a query may carry is kept whole; only a
	// refused query's over-long values are cut.
	MaxText = 1024
	// MaxReasons is the most reasons a record keeps; one more, the store's
	// ReasonAltered, may follow them.
	MaxReasons = 64
)

// TextChange says how StorableText altered a value; zero when it kept it as given.
type TextChange uint8

// The ways StorableText alters a value.
const (
	// TextEscaped: the value held bytes a text column refuses (NUL, or bytes
	// that are not UTF-8), now written out as \xHH, with every backslash
	// doubled so that the escapes cannot be confused with the text.
	TextEscaped TextChange = 1 << iota
	// TextCut: the value was longer than MaxText; its first MaxText bytes (or
	// fewer, to end on a whole character) are kept.
	TextCut
)

// StorableText returns s as both stores write it, and how it was altered. Text that
// both PostgreSQL's text type and SQLite keep as given (valid UTF-8 without
// NUL, at most MaxText bytes) comes back unchanged, which is nearly every
// value. Otherwise every NUL and every byte that is not part of a valid
// UTF-8 sequence becomes the four characters \xHH (lowercase hex), and every
// backslash becomes \\, so that "\x00" read in an escaped value always
// means a NUL byte was sent; a value longer than MaxText is cut first.
//
// StorableText is a function of s alone, so a search or lookup passes its values
// through it too, and finds what was stored for the same input.
func StorableText(s string) (string, TextChange) {
	if kept(s) {
		return s, 0
	}
	var ch TextChange
	if len(s) > MaxText {
		ch |= TextCut
		n := MaxText
		// End on a character boundary when one is near; an invalid tail
		// is escaped below either way.
		for i := n; i > n-utf8.UTFMax && i > 0; i-- {
			if utf8.RuneStart(s[i]) {
				n = i
				break
			}
		}
		s = s[:n]
	}
	if strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s, ch
	}
	ch |= TextEscaped
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1, r == 0:
			b.WriteString(`\x`)
			b.WriteByte(hexDigits[s[i]>>4])
			b.WriteByte(hexDigits[s[i]&0xf])
		case r == '\\':
			b.WriteString(`\\`)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String(), ch
}

const hexDigits = "0123456789abcdef"

// Storable returns t as both stores write it: every text through StorableText,
// reasons included, at most MaxReasons of them. When anything was altered a
// last reason, with code ReasonAltered, names each altered field by
// its column (reasons[i].code, reasons[i].message for reasons), so that an
// auditor knows which values are escaped or cut; the other fields are
// exactly as given. A record that needs nothing is returned as it is.
func Storable(t Transfer) Transfer {
	if storable(&t) {
		return t
	}
	return alter(t)
}

// storable reports whether every text of t is kept as given: the common
// path, which must cost no more than one pass over the bytes.
func storable(t *Transfer) bool {
	for _, s := range [...]string{
		t.ID, t.Node, t.Kind, t.RequesterOrg, t.OfficialID, t.OfficialName, t.ProcedureCode,
		t.ProcedureName, t.Purpose, t.LegalBasis, t.LawReference, t.ConsentID, t.CaseID,
		t.SubjectIDType, t.SubjectID, t.Service, t.Adapter, t.AdapterVersion, t.ModuleSHA256,
		t.Decision, t.PolicyRevision, t.Outcome, t.SCSPCode, t.DataSHA256, t.PersonalSHA256, t.JobID,
		t.SCSPRequestID, t.SCSPSolicitudID,
	} {
		if !kept(s) {
			return false
		}
	}
	if len(t.Reasons) > MaxReasons {
		return false
	}
	for _, r := range t.Reasons {
		if !kept(r.Code) || !kept(r.Message) {
			return false
		}
	}
	return true
}

// kept reports whether StorableText keeps s as given. Values are short and mostly
// ASCII: one loop over the bytes, which looks at the rest with the library
// only from the first byte that is not ASCII, costs less than two calls.
func kept(s string) bool {
	if len(s) > MaxText {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == 0:
			return false
		case c >= utf8.RuneSelf:
			return strings.IndexByte(s[i:], 0) < 0 && utf8.ValidString(s[i:])
		}
	}
	return true
}

// alter is Storable for a record that needs altering.
func alter(t Transfer) Transfer {
	fields := [...]struct {
		column string
		value  *string
	}{
		{"id", &t.ID}, {"node", &t.Node}, {"kind", &t.Kind}, {"requester", &t.RequesterOrg},
		{"official_id", &t.OfficialID}, {"official_name", &t.OfficialName},
		{"procedure_code", &t.ProcedureCode}, {"procedure_name", &t.ProcedureName},
		{"purpose", &t.Purpose}, {"legal_basis", &t.LegalBasis}, {"law_reference", &t.LawReference},
		{"consent_id", &t.ConsentID}, {"case_id", &t.CaseID}, {"subject_id_type", &t.SubjectIDType},
		{"subject_id", &t.SubjectID}, {"service", &t.Service}, {"adapter", &t.Adapter},
		{"adapter_version", &t.AdapterVersion}, {"module_sha256", &t.ModuleSHA256},
		{"decision", &t.Decision}, {"policy_revision", &t.PolicyRevision}, {"outcome", &t.Outcome},
		{"scsp_code", &t.SCSPCode}, {"data_sha256", &t.DataSHA256},
		{"personal_sha256", &t.PersonalSHA256}, {"job_id", &t.JobID},
		{"scsp_request_id", &t.SCSPRequestID}, {"scsp_solicitud_id", &t.SCSPSolicitudID},
	}
	var escaped, cut []string
	note := func(column string, ch TextChange) {
		if ch&TextEscaped != 0 {
			escaped = append(escaped, column)
		}
		if ch&TextCut != 0 {
			cut = append(cut, column)
		}
	}
	for _, f := range fields {
		if v, ch := StorableText(*f.value); ch != 0 {
			*f.value = v
			note(f.column, ch)
		}
	}
	dropped := max(len(t.Reasons)-MaxReasons, 0)
	reasons := t.Reasons[:len(t.Reasons)-dropped]
	copied := false
	for i, r := range reasons {
		code, cc := StorableText(r.Code)
		msg, mc := StorableText(r.Message)
		if cc == 0 && mc == 0 {
			continue
		}
		if !copied { // never write into the caller's slice
			reasons, copied = append([]Reason(nil), reasons...), true
		}
		reasons[i] = Reason{Code: code, Message: msg}
		note("reasons["+strconv.Itoa(i)+"].code", cc)
		note("reasons["+strconv.Itoa(i)+"].message", mc)
	}
	if escaped == nil && cut == nil && dropped == 0 {
		return t
	}
	var parts []string
	if escaped != nil {
		parts = append(parts, `escaped (NUL and bytes that are not UTF-8 written \xHH, backslashes \\): `+strings.Join(escaped, ", "))
	}
	if cut != nil {
		parts = append(parts, fmt.Sprintf("cut to %d bytes: %s", MaxText, strings.Join(cut, ", ")))
	}
	if dropped > 0 {
		parts = append(parts, fmt.Sprintf("%d reasons after the first %d dropped", dropped, MaxReasons))
	}
	t.Reasons = append(reasons[:len(reasons):len(reasons)], Reason{
		Code:    ReasonAltered,
		Message: "the store altered what it could not keep as given: " + strings.Join(parts, "; "),
	})
	return t
}
