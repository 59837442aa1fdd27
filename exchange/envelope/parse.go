package envelope

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/pontexchange/pont/exchange/fault"
)

// Limits of the envelope's fields, in characters, from SCSP v3's
// DatosGenericos where it has one (docs/scsp.md), so that any query Pont
// accepts can be relayed to a PID or Via Oberta source unchanged. They are
// the limits of the same fields wherever else Pont takes them (a citizen's
// consents and objections name procedures and purposes too).
const (
	MaxProcedureCode = 20  // CodProcedimiento
	MaxProcedureName = 100 // NombreProcedimiento
	MaxPurpose       = 64
	MaxLawReference  = 250 // Finalidad
	MaxConsentID     = 128
	MaxCaseID        = 65  // IdExpediente (its later revision; the older one has 25)
	MaxOfficialName  = 122 // NombreCompletoFuncionario
	MaxSubjectName   = 40  // Nombre, Apellido1, Apellido2
)

// RootField names the body as a whole in a fault.FieldError, for problems
// that belong to no single field (malformed JSON, trailing data).
const RootField = "$"

// The members each object of the envelope may have; anything else is
// refused, so that a misspelt optional field is never silently ignored.
var (
	queryMembers      = []string{"procedure", "purpose", "legal_basis", "case_id", "official", "subject", "params"}
	procedureMembers  = []string{"code", "name"}
	legalBasisMembers = []string{"type", "reference", "consent_id"}
	officialMembers   = []string{"id", "name"}
	subjectMembers    = []string{"id_type", "id", "name", "surname1", "surname2"}
)

// Parse decodes and validates a v1 query envelope. Decoding is strict: a
// member the envelope does not define, a member given twice, a value of the
// wrong JSON type, or anything after the envelope is an error. Every problem
// is reported at once, as a *fault.Error whose Fields name each bad field by
// its JSON path (procedure.code, subject.id, ...). Its code is
// fault.InvalidSubjectID when the only problem is the subject's document
// number, and fault.InvalidRequest otherwise. On error the Query still holds
// what could be read, so that the refused attempt is recorded with its
// requester's procedure and subject; it must not be used for anything else.
// Limiting the body's size is the caller's business.
func Parse(body []byte) (Query, error) {
	var p parser
	q := p.query(body)
	return q, p.err()
}

// parser collects the problems of one envelope, or of a batch's shared
// members and each of its elements.
type parser struct {
	fields []fault.FieldError
	// subjectIDBad is set when subject.id is present but not a valid
	// document of its type, the one problem with its own code.
	subjectIDBad bool
	// tooMany is set when a batch lists more subjects than it may, the
	// one problem of a batch with its own code.
	tooMany bool
	// at is the JSON path of the object being read as an envelope: "" for
	// the body, subjects[i] for an element of a batch. The functions below
	// name fields as in a single envelope, and add puts them under at, so
	// that an element is checked by the very code that checks an envelope.
	at string
	// from is where the problems of the object being read begin: fields
	// under different elements never collide, so add looks for an earlier
	// problem of the same field only from there.
	from int
	// seen holds the fields of fields[from:] once they are many, so that a
	// body of thousands of unknown members is not checked in quadratic
	// time.
	seen map[string]bool
}

// enter makes at the object whose problems add reports next.
func (p *parser) enter(at string) {
	p.at, p.from, p.seen = at, len(p.fields), nil
	if at == "" {
		p.from = 0
	}
}

// err is the outcome of Parse: nil, or every problem at once.
func (p *parser) err() error {
	if len(p.fields) == 0 {
		return nil
	}
	code := fault.InvalidRequest
	if len(p.fields) == 1 && p.subjectIDBad {
		code = fault.InvalidSubjectID
	}
	return fault.Invalid(code, p.fields...)
}

// add reports a problem with field; only the first problem of each field
// is kept, so that a value of the wrong type is not also called missing.
// It reports whether the problem was kept.
func (p *parser) add(field, format string, args ...any) bool {
	if p.at != "" {
		if field == RootField {
			field = p.at
		} else {
			field = p.at + "." + field
		}
	}
	if p.seen != nil {
		if p.seen[field] {
			return false
		}
		p.seen[field] = true
	} else {
		window := p.fields[p.from:]
		for _, f := range window {
			if f.Field == field {
				return false
			}
		}
		if len(window) >= manyNames {
			p.seen = make(map[string]bool, 2*len(window))
			for _, f := range window {
				p.seen[f.Field] = true
			}
			p.seen[field] = true
		}
	}
	p.fields = append(p.fields, fault.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	return true
}

func (p *parser) query(body []byte) Query {
	raw, ok := p.valid(body)
	if !ok {
		return Query{}
	}
	return p.envelope(raw)
}

// valid returns body without the white space around it when it is one
// JSON value and nothing else.
func (p *parser) valid(body []byte) ([]byte, bool) {
	// json.Valid is the fast check; the decoder only runs to explain a
	// refusal.
	raw := bytes.TrimSpace(body)
	if json.Valid(raw) {
		return raw, true
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var v json.RawMessage
	if err := dec.Decode(&v); err != nil {
		p.add(RootField, "the body is not valid JSON: %s", describeJSONError(err))
	} else {
		p.add(RootField, "the body has data after the JSON object")
	}
	return nil, false
}

// envelope reads raw, a valid JSON value, as a single envelope.
func (p *parser) envelope(raw []byte) Query {
	m, ok := p.object("", raw, queryMembers)
	if !ok {
		return Query{}
	}
	var q Query
	p.procedure(&q.Procedure, m["procedure"])
	p.purpose(&q, m["purpose"])
	if lm, ok := p.required("legal_basis", m["legal_basis"], legalBasisMembers); ok {
		p.legalBasis(&q.LegalBasis, lm)
	}
	p.caseID(&q, m["case_id"])
	p.official(&q.Official, m["official"])
	if sm, ok := p.required("subject", m["subject"], subjectMembers); ok {
		p.subject(&q.Subject, sm)
	}
	q.Params, _ = p.params(m["params"])
	return q
}

func (p *parser) procedure(pr *Procedure, raw json.RawMessage) {
	pm, ok := p.required("procedure", raw, procedureMembers)
	if !ok {
		return
	}
	pr.Code = p.str("procedure.code", pm["code"])
	pr.Name = p.str("procedure.name", pm["name"])
	if p.present("procedure.code", pr.Code) && p.maxLen("procedure.code", pr.Code, MaxProcedureCode) && !IsProcedureCode(pr.Code) {
		p.add("procedure.code", "must contain only letters, digits, '_' and '-'")
	}
	p.maxLen("procedure.name", pr.Name, MaxProcedureName)
}

func (p *parser) purpose(q *Query, raw json.RawMessage) {
	q.Purpose = p.str("purpose", raw)
	if p.present("purpose", q.Purpose) && p.maxLen("purpose", q.Purpose, MaxPurpose) && !IsPurposeCode(q.Purpose) {
		p.add("purpose", "must be a purpose code of the catalog: lower-case letters, digits and '-'")
	}
}

func (p *parser) caseID(q *Query, raw json.RawMessage) {
	q.CaseID = p.str("case_id", raw)
	if p.present("case_id", q.CaseID) {
		p.maxLen("case_id", q.CaseID, MaxCaseID)
	}
}

func (p *parser) official(o *Official, raw json.RawMessage) {
	om, ok := p.required("official", raw, officialMembers)
	if !ok {
		return
	}
	o.ID = NormalizeID(p.str("official.id", om["id"]))
	o.Name = p.str("official.name", om["name"])
	if p.present("official.id", o.ID) {
		if err := ValidDNIOrNIE(o.ID); err != nil {
			p.add("official.id", "must be the official's DNI or NIE: %v", err)
		}
	}
	if p.present("official.name", o.Name) {
		p.maxLen("official.name", o.Name, MaxOfficialName)
	}
}

// params reads the params member; ok is false when it is given but
// refused.
func (p *parser) params(raw json.RawMessage) (params Params, ok bool) {
	if len(raw) == 0 || isNull(raw) {
		return Params{}, true
	}
	if raw[0] != '{' {
		p.add("params", "must be a JSON object")
		return Params{}, false
	}
	params, err := ParseParams(raw)
	if err != nil {
		var rep *RepeatedMemberError
		if errors.As(err, &rep) {
			p.add(joinPath("params", rep.Path), "is given more than once")
		} else {
			p.add("params", "must be a JSON object: %s", describeJSONError(err))
		}
		return Params{}, false
	}
	return params, true
}

func (p *parser) legalBasis(b *LegalBasis, m map[string]json.RawMessage) {
	b.Type = p.str("legal_basis.type", m["type"])
	b.Reference = p.str("legal_basis.reference", m["reference"])
	b.ConsentID = p.str("legal_basis.consent_id", m["consent_id"])
	if !p.present("legal_basis.type", b.Type) {
		return
	}
	notWith := func(field, value string) {
		if value != "" {
			p.add(field, "is not allowed with legal basis type %s", b.Type)
		}
	}
	switch b.Type {
	case BasisPresumed:
		notWith("legal_basis.reference", b.Reference)
		notWith("legal_basis.consent_id", b.ConsentID)
	case BasisLaw:
		if p.present("legal_basis.reference", b.Reference) {
			p.maxLen("legal_basis.reference", b.Reference, MaxLawReference)
		}
		notWith("legal_basis.consent_id", b.ConsentID)
	case BasisConsent:
		if p.present("legal_basis.consent_id", b.ConsentID) {
			p.maxLen("legal_basis.consent_id", b.ConsentID, MaxConsentID)
		}
		notWith("legal_basis.reference", b.Reference)
	default:
		p.add("legal_basis.type", "must be one of presumed, law, consent")
	}
}

func (p *parser) subject(s *Subject, m map[string]json.RawMessage) {
	s.IDType = strings.ToUpper(p.str("subject.id_type", m["id_type"]))
	s.ID = NormalizeID(p.str("subject.id", m["id"]))
	s.Name = p.str("subject.name", m["name"])
	s.Surname1 = p.str("subject.surname1", m["surname1"])
	s.Surname2 = p.str("subject.surname2", m["surname2"])

	typeOK := false
	if p.present("subject.id_type", s.IDType) {
		if typeOK = s.IDType == IDTypeDNI || s.IDType == IDTypeNIE; !typeOK {
			p.add("subject.id_type", "must be DNI or NIE")
		}
	}
	if p.present("subject.id", s.ID) && typeOK {
		var err error
		if s.IDType == IDTypeDNI {
			err = ValidDNI(s.ID)
			if err != nil && ValidNIE(s.ID) == nil {
				err = fmt.Errorf("%w (it is a valid NIE: set id_type to NIE)", err)
			}
		} else {
			err = ValidNIE(s.ID)
			if err != nil && ValidDNI(s.ID) == nil {
				err = fmt.Errorf("%w (it is a valid DNI: set id_type to DNI)", err)
			}
		}
		if err != nil {
			p.subjectIDBad = p.add("subject.id", "is not a valid %s: %v", s.IDType, err)
		}
	}
	p.maxLen("subject.name", s.Name, MaxSubjectName)
	p.maxLen("subject.surname1", s.Surname1, MaxSubjectName)
	p.maxLen("subject.surname2", s.Surname2, MaxSubjectName)
}

// required reads the object member at path, reporting it when missing.
func (p *parser) required(path string, raw json.RawMessage, members []string) (map[string]json.RawMessage, bool) {
	if len(raw) == 0 || isNull(raw) {
		p.add(path, "is required")
		return nil, false
	}
	return p.object(path, raw, members)
}

// object reads raw as a JSON object whose member names must be among
// members, each at most once; path is the object's own JSON path ("" for
// the envelope).
func (p *parser) object(path string, raw json.RawMessage, allowed []string) (map[string]json.RawMessage, bool) {
	name := path
	if name == "" {
		name = RootField
	}
	if len(raw) == 0 || raw[0] != '{' {
		p.add(name, "must be a JSON object")
		return nil, false
	}
	m := make(map[string]json.RawMessage, len(allowed))
	for key, val := range members(raw) {
		switch {
		case !slices.Contains(allowed, key):
			p.add(joinPath(path, key), "is not a field of the envelope; the fields here are %s", strings.Join(allowed, ", "))
		case m[key] != nil:
			p.add(joinPath(path, key), "is given more than once")
		default:
			m[key] = val
		}
	}
	return m, true
}

// str reads a string member; a missing member or null reads as "".
func (p *parser) str(path string, raw json.RawMessage) string {
	if len(raw) == 0 || isNull(raw) {
		return ""
	}
	if raw[0] != '"' {
		p.add(path, "must be a string")
		return ""
	}
	var s string
	if bytes.IndexByte(raw, '\\') < 0 {
		// No escapes: the bytes between the quotes are the string.
		if !utf8.Valid(raw) {
			p.add(path, "must be valid UTF-8")
			return ""
		}
		s = string(raw[1 : len(raw)-1])
	} else if err := json.Unmarshal(raw, &s); err != nil {
		p.add(path, "must be a string: %s", describeJSONError(err))
		return ""
	}
	for _, r := range s {
		// Control characters have no place in a name or a code, and they
		// would let a requester forge lines in logs and CSV exports.
		if r < 0x20 || (r >= 0x7f && r < 0xa0) || r == utf8.RuneError {
			p.add(path, "must not contain control characters or invalid UTF-8")
			return ""
		}
	}
	return s
}

// present reports a required string that is empty or blank.
func (p *parser) present(path, s string) bool {
	if strings.TrimSpace(s) == "" {
		p.add(path, "is required")
		return false
	}
	return true
}

// maxLen reports a string longer than n characters.
func (p *parser) maxLen(path, s string, n int) bool {
	if len(s) > n && utf8.RuneCountInString(s) > n {
		p.add(path, "must be at most %d characters", n)
		return false
	}
	return true
}

// IsProcedureCode reports whether s is spelt as a procedure code: letters,
// digits, '_' and '-' (its length is checked against MaxProcedureCode).
func IsProcedureCode(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return s != ""
}

// IsPurposeCode reports whether s is spelt as a purpose code: lower-case
// letters, digits and '-'.
func IsPurposeCode(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return s != ""
}

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

// describeJSONError turns a decoding error into a message for the caller,
// with the byte offset where there is one.
func describeJSONError(err error) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Sprintf("%s (at byte %d)", syn.Error(), syn.Offset)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "the body ends before the JSON object does"
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}
