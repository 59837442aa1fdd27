package envelope

import (
	"encoding/json"
	"strconv"

	"github.com/pontexchange/pont/exchange/fault"
)

// Batch is what ParseBatch read: the queries one request asks.
type Batch struct {
	// Elements are the queries, one per subject in the order the body
	// lists them; a single envelope's one query when Single.
	Elements []Query
	// Single is set when the body was read as a single envelope: it has
	// no subjects member, or is not one valid JSON object.
	Single bool
}

// The members of a batch envelope, and of each of its elements.
var (
	batchMembers   = []string{"procedure", "purpose", "legal_basis", "case_id", "official", "subjects", "params"}
	elementMembers = []string{"subject", "params", "case_id", "legal_basis"}
)

// ParseBatch decodes and validates a batch envelope: a query envelope
// whose subject member is replaced by subjects, an array of elements.
// Each element is an object that names its subject and may give, for
// itself only, params, case_id and legal_basis:
//
//	{"procedure": ..., "purpose": ..., "legal_basis": ..., "case_id": ...,
//	 "official": ..., "params": {"municipality": "08019"},
//	 "subjects": [
//	   {"subject": {"id_type": "DNI", "id": "11111111H"}},
//	   {"subject": {...}, "params": {"municipality": "17079"}, "case_id": "EXP-2"},
//	   {"subject": {...}, "legal_basis": {"type": "consent", "consent_id": "..."}}]}
//
// Each element yields one complete Query, in order: the shared members
// with the element's subject, its case_id and legal_basis in place of the
// shared ones, and its params merged over the shared params member by
// member, its own winning (a member it sets to null is null, not
// removed). Merged params are the Params ParseParams makes of the object
// of the shared members the element does not name followed by the
// element's own, and behave as such everywhere (JSON, Object, routing).
// The shared legal_basis and case_id may be left out when every element
// gives its own; one that is given must be valid by itself, used or not.
// When one is left out, each element without its own is named
// (subjects[1].legal_basis: is required), or, when no element gives one,
// the batch is, as a single envelope would be (legal_basis: is required).
// A subject member beside subjects is refused, even null.
//
// A body without a subjects member is a single envelope: Batch has its
// one Query and Single is set, and the Query and the error are exactly
// Parse's.
//
// Decoding is as strict as Parse's, and every element is checked by the
// same rules. Every problem of the batch is reported at once, as a
// *fault.Error whose Fields name each bad field by its JSON path: the
// shared members' as in a single envelope (procedure.code), an element's
// under its index (subjects[3].subject.id, subjects[0].params.municipality).
// Its code is fault.InvalidRequest, even when the only problem is a
// subject's document number: a batch is not one subject. A batch that
// lists more than max subjects is fault.TooManySubjects when that is its
// only problem; its elements are then not read.
//
// On error, Elements still holds what could be read, so that the refused
// request can be recorded: a query per element, or, when the elements
// were not read, one query with the shared members and no subject. It
// must not be used for anything else. Limiting the body's size is the
// caller's business.
func ParseBatch(body []byte, max int) (Batch, error) {
	var p parser
	raw, ok := p.valid(body)
	if !ok {
		return Batch{Elements: []Query{{}}, Single: true}, p.err()
	}
	subject, subjects := shape(raw)
	if !subjects {
		return Batch{Elements: []Query{p.envelope(raw)}, Single: true}, p.err()
	}
	b := p.batch(raw, subject, max)
	if len(p.fields) == 0 {
		return b, nil
	}
	code := fault.InvalidRequest
	if len(p.fields) == 1 && p.tooMany {
		code = fault.TooManySubjects
	}
	return b, fault.Invalid(code, p.fields...)
}

// batch reads raw, a JSON object with a subjects member; subject says
// whether it has a subject member too.
func (p *parser) batch(raw []byte, subject bool, max int) Batch {
	if subject {
		// Before object, whose "not a field" would say less.
		p.add("subject", "is not allowed with subjects")
	}
	m, _ := p.object("", raw, batchMembers)
	var shared Query
	p.procedure(&shared.Procedure, m["procedure"])
	p.purpose(&shared, m["purpose"])
	sharedBasis := given(m["legal_basis"])
	if sharedBasis {
		if lm, ok := p.required("legal_basis", m["legal_basis"], legalBasisMembers); ok {
			p.legalBasis(&shared.LegalBasis, lm)
		}
	}
	sharedCase := given(m["case_id"])
	if sharedCase {
		p.caseID(&shared, m["case_id"])
	}
	p.official(&shared.Official, m["official"])
	shared.Params, _ = p.params(m["params"])

	list := p.subjects(m["subjects"], max)
	if list == nil {
		return Batch{Elements: []Query{shared}}
	}
	b := Batch{Elements: make([]Query, len(list))}
	var basis, caseID overrides
	for i, e := range list {
		p.enter("subjects[" + strconv.Itoa(i) + "]")
		q := shared
		if m, ok := p.element(&q, e); ok {
			basis.note(i, given(m["legal_basis"]))
			caseID.note(i, given(m["case_id"]))
		}
		b.Elements[i] = q
	}
	p.enter("")
	if !sharedBasis {
		p.inherited("legal_basis", basis)
	}
	if !sharedCase {
		p.inherited("case_id", caseID)
	}
	return b
}

// overrides tells which elements of a batch give a member of their own.
type overrides struct {
	givers  int
	lacking []int // the indexes of the elements (objects) that do not
}

func (o *overrides) note(i int, given bool) {
	if given {
		o.givers++
	} else {
		o.lacking = append(o.lacking, i)
	}
}

// given reports whether a member is there and not null, which reads as
// absent.
func given(raw json.RawMessage) bool { return len(raw) > 0 && !isNull(raw) }

// subjects returns the elements of a batch's subjects member, or nil when
// there are none to read: it is not an array, it is empty, or it lists
// more than max, in which case none is read.
func (p *parser) subjects(raw json.RawMessage, max int) []json.RawMessage {
	if len(raw) == 0 || raw[0] != '[' {
		p.add("subjects", "must be a JSON array of the subjects")
		return nil
	}
	var list []json.RawMessage
	n := 0
	for e := range elements(raw) {
		// Counted to the end, for the message; kept only up to the
		// limit, so that an oversized array costs one walk and no memory.
		if n++; n <= max {
			list = append(list, e)
		}
	}
	switch {
	case n == 0:
		p.add("subjects", "must list at least one subject")
		return nil
	case n > max:
		p.tooMany = p.add("subjects", "lists %s; at most %s answered here", plural(n, "subject", "subjects"), plural(max, "is", "are"))
		return nil
	}
	return list
}

// element reads an element of a batch, at p.at, into q, which holds the
// batch's shared members, and returns its members; ok is false when it is
// not an object.
func (p *parser) element(q *Query, raw json.RawMessage) (m map[string]json.RawMessage, ok bool) {
	if m, ok = p.object("", raw, elementMembers); !ok {
		return nil, false
	}
	if given(m["legal_basis"]) {
		q.LegalBasis = LegalBasis{}
		if lm, ok := p.required("legal_basis", m["legal_basis"], legalBasisMembers); ok {
			p.legalBasis(&q.LegalBasis, lm)
		}
	}
	if given(m["case_id"]) {
		p.caseID(q, m["case_id"])
	}
	if sm, ok := p.required("subject", m["subject"], subjectMembers); ok {
		p.subject(&q.Subject, sm)
	}
	if own, ok := p.params(m["params"]); ok {
		q.Params = q.Params.over(own)
	}
	return m, true
}

// inherited reports a member that the batch does not give: when no
// element gives it either, the batch lacks it, as a single envelope would;
// otherwise each element that does not give it lacks it.
func (p *parser) inherited(member string, o overrides) {
	if o.givers == 0 {
		p.add(member, "is required")
		return
	}
	for _, i := range o.lacking {
		p.add("subjects["+strconv.Itoa(i)+"]."+member, "is required")
	}
}

// plural writes n with the word for one or for many.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
