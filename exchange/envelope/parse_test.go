package envelope

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pontexchange/pont/exchange/fault"
)

const validBody = `{
  "procedure":   {"code": "AJUT-MENJADOR", "name": "Ajuts de menjador escolar"},
  "purpose":     "social-benefits",
  "legal_basis": {"type": "presumed"},
  "case_id":     "EXP-2026-00123",
  "official":    {"id": "38000001E", "name": "Anna Puig i Ferrer"},
  "subject":     {"id_type": "DNI", "id": "12345678Z", "name": "Joan", "surname1": "Garcia", "surname2": "Vidal"},
  "params":      {"municipality": "08019", "mode": "consult"}
}`

// envelopeWith returns validBody with the member at path (dot-separated)
// set to v, or removed when v is the deleted marker.
func envelopeWith(t testing.TB, path string, v any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(validBody), &m); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(path, ".")
	obj := m
	for _, p := range parts[:len(parts)-1] {
		obj = obj[p].(map[string]any)
	}
	last := parts[len(parts)-1]
	if v == deleted {
		delete(obj, last)
	} else {
		obj[last] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type deletedMarker struct{}

var deleted = deletedMarker{}

func TestParseValid(t *testing.T) {
	q, err := Parse([]byte(validBody))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := Query{
		Procedure:  Procedure{Code: "AJUT-MENJADOR", Name: "Ajuts de menjador escolar"},
		Purpose:    "social-benefits",
		LegalBasis: LegalBasis{Type: "presumed"},
		CaseID:     "EXP-2026-00123",
		Official:   Official{ID: "38000001E", Name: "Anna Puig i Ferrer"},
		Subject:    Subject{IDType: "DNI", ID: "12345678Z", Name: "Joan", Surname1: "Garcia", Surname2: "Vidal"},
		Params:     mustParams(t, `{"municipality":"08019","mode":"consult"}`),
	}
	if !equalQuery(q, want) {
		t.Errorf("Parse =\n%+v\nwant\n%+v", q, want)
	}
}

func TestParseAccepts(t *testing.T) {
	tests := []struct {
		name  string
		body  []byte
		check func(Query) string // "" when the query is as expected
	}{
		{"law basis", envelopeWith(t, "legal_basis", map[string]any{"type": "law", "reference": "Llei 18/2003, art. 4"}), func(q Query) string {
			return ifNot(q.LegalBasis.Reference == "Llei 18/2003, art. 4", "reference lost")
		}},
		{"consent basis", envelopeWith(t, "legal_basis", map[string]any{"type": "consent", "consent_id": "c-0193"}), func(q Query) string {
			return ifNot(q.LegalBasis.ConsentID == "c-0193", "consent id lost")
		}},
		{"NIE subject", envelopeWith(t, "subject", map[string]any{"id_type": "NIE", "id": "Y1234567X"}), nil},
		{"subject id normalised", envelopeWith(t, "subject.id", " 12345678-z "), func(q Query) string {
			return ifNot(q.Subject.ID == "12345678Z", "got "+q.Subject.ID)
		}},
		{"id type normalised", envelopeWith(t, "subject.id_type", "dni"), func(q Query) string {
			return ifNot(q.Subject.IDType == "DNI", "got "+q.Subject.IDType)
		}},
		{"official NIE normalised", envelopeWith(t, "official.id", "z-1234567-r"), func(q Query) string {
			return ifNot(q.Official.ID == "Z1234567R", "got "+q.Official.ID)
		}},
		{"no params", envelopeWith(t, "params", deleted), func(q Query) string {
			return ifNot(q.Params.Object() == nil && string(q.Params.JSON()) == "{}", "params should be absent")
		}},
		{"null params", envelopeWith(t, "params", nil), func(q Query) string {
			return ifNot(q.Params.Object() == nil, "params should be absent")
		}},
		{"empty params", envelopeWith(t, "params", map[string]any{}), func(q Query) string {
			return ifNot(string(q.Params.JSON()) == "{}", "got "+string(q.Params.JSON()))
		}},
		{"no optional names", envelopeWith(t, "subject", map[string]any{"id_type": "DNI", "id": "00000000T"}), nil},
		{"no procedure name", envelopeWith(t, "procedure.name", deleted), nil},
		{"limits reached", envelopeWith(t, "procedure", map[string]any{"code": strings.Repeat("A", 20), "name": strings.Repeat("n", 100)}), nil},
		{"multibyte names count characters", envelopeWith(t, "subject.surname1", strings.Repeat("ñ", 40)), nil},
		{"trailing whitespace", append([]byte(validBody), " \n\t"...), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := Parse(tt.body)
			if err != nil {
				t.Fatalf("Parse: %v (fields %+v)", err, fieldsOf(err))
			}
			if tt.check != nil {
				if msg := tt.check(q); msg != "" {
					t.Error(msg)
				}
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name       string
		body       []byte
		wantCode   fault.Code
		wantFields []string
		wantMsg    string // part of the first field's message, when it matters
	}{
		// The body as a whole.
		{"empty body", []byte(""), fault.InvalidRequest, []string{"$"}, "ends before"},
		{"not JSON", []byte("procedure=x"), fault.InvalidRequest, []string{"$"}, "not valid JSON"},
		{"array", []byte("[]"), fault.InvalidRequest, []string{"$"}, "must be a JSON object"},
		{"null", []byte("null"), fault.InvalidRequest, []string{"$"}, "must be a JSON object"},
		{"trailing data", append([]byte(validBody), "{}"...), fault.InvalidRequest, []string{"$"}, "data after"},
		{"trailing garbage", append([]byte(validBody), "x"...), fault.InvalidRequest, []string{"$"}, "data after"},
		{"truncated", []byte(validBody[:40]), fault.InvalidRequest, []string{"$"}, "ends before"},
		{"unknown top-level field", envelopeWith(t, "requester", "P0801900B"), fault.InvalidRequest, []string{"requester"}, "not a field"},
		{"unknown nested field", envelopeWith(t, "subject.birth_date", "2000-01-01"), fault.InvalidRequest, []string{"subject.birth_date"}, "not a field"},
		{"case-folded field", envelopeWith(t, "Purpose", "x"), fault.InvalidRequest, []string{"Purpose"}, "not a field"},
		{"duplicate field", []byte(strings.Replace(validBody, `"purpose":     "social-benefits",`, `"purpose": "a", "purpose": "social-benefits",`, 1)), fault.InvalidRequest, []string{"purpose"}, "more than once"},
		{"duplicate bad subject id", []byte(strings.Replace(validBody, `"id": "12345678Z"`, `"id": "12345678A", "id": "00000000T"`, 1)), fault.InvalidRequest, []string{"subject.id"}, "more than once"},
		{"duplicate nested field", []byte(strings.Replace(validBody, `"id": "12345678Z"`, `"id": "12345678Z", "id": "00000000T"`, 1)), fault.InvalidRequest, []string{"subject.id"}, "more than once"},

		// Procedure.
		{"no procedure", envelopeWith(t, "procedure", deleted), fault.InvalidRequest, []string{"procedure"}, "required"},
		{"procedure not an object", envelopeWith(t, "procedure", "AJUT"), fault.InvalidRequest, []string{"procedure"}, "JSON object"},
		{"no procedure code", envelopeWith(t, "procedure.code", deleted), fault.InvalidRequest, []string{"procedure.code"}, "required"},
		{"blank procedure code", envelopeWith(t, "procedure.code", "  "), fault.InvalidRequest, []string{"procedure.code"}, "required"},
		{"procedure code too long", envelopeWith(t, "procedure.code", strings.Repeat("A", 21)), fault.InvalidRequest, []string{"procedure.code"}, "at most 20"},
		{"procedure code charset", envelopeWith(t, "procedure.code", "AJUT MENJADOR"), fault.InvalidRequest, []string{"procedure.code"}, "only letters"},
		{"procedure code a number", envelopeWith(t, "procedure.code", 42), fault.InvalidRequest, []string{"procedure.code"}, "must be a string"},
		{"procedure name too long", envelopeWith(t, "procedure.name", long(101)), fault.InvalidRequest, []string{"procedure.name"}, "at most 100"},

		// Purpose.
		{"no purpose", envelopeWith(t, "purpose", deleted), fault.InvalidRequest, []string{"purpose"}, "required"},
		{"purpose upper case", envelopeWith(t, "purpose", "Social-Benefits"), fault.InvalidRequest, []string{"purpose"}, "purpose code"},
		{"purpose too long", envelopeWith(t, "purpose", long(65)), fault.InvalidRequest, []string{"purpose"}, "at most 64"},
		{"purpose an object", envelopeWith(t, "purpose", map[string]any{}), fault.InvalidRequest, []string{"purpose"}, "must be a string"},

		// Legal basis.
		{"no legal basis", envelopeWith(t, "legal_basis", deleted), fault.InvalidRequest, []string{"legal_basis"}, "required"},
		{"no legal basis type", envelopeWith(t, "legal_basis", map[string]any{}), fault.InvalidRequest, []string{"legal_basis.type"}, "required"},
		{"unknown legal basis type", envelopeWith(t, "legal_basis.type", "interest"), fault.InvalidRequest, []string{"legal_basis.type"}, "presumed, law, consent"},
		{"law without reference", envelopeWith(t, "legal_basis", map[string]any{"type": "law"}), fault.InvalidRequest, []string{"legal_basis.reference"}, "required"},
		{"law reference too long", envelopeWith(t, "legal_basis", map[string]any{"type": "law", "reference": long(251)}), fault.InvalidRequest, []string{"legal_basis.reference"}, "at most 250"},
		{"law with consent id", envelopeWith(t, "legal_basis", map[string]any{"type": "law", "reference": "Llei 18/2003", "consent_id": "c1"}), fault.InvalidRequest, []string{"legal_basis.consent_id"}, "not allowed with legal basis type law"},
		{"consent without id", envelopeWith(t, "legal_basis", map[string]any{"type": "consent"}), fault.InvalidRequest, []string{"legal_basis.consent_id"}, "required"},
		{"consent with reference", envelopeWith(t, "legal_basis", map[string]any{"type": "consent", "consent_id": "c1", "reference": "Llei"}), fault.InvalidRequest, []string{"legal_basis.reference"}, "not allowed"},
		{"presumed with both", envelopeWith(t, "legal_basis", map[string]any{"type": "presumed", "consent_id": "c1", "reference": "Llei"}), fault.InvalidRequest, []string{"legal_basis.reference", "legal_basis.consent_id"}, "not allowed with legal basis type presumed"},

		// Case.
		{"no case id", envelopeWith(t, "case_id", deleted), fault.InvalidRequest, []string{"case_id"}, "required"},
		{"case id too long", envelopeWith(t, "case_id", long(66)), fault.InvalidRequest, []string{"case_id"}, "at most 65"},

		// Official.
		{"no official", envelopeWith(t, "official", deleted), fault.InvalidRequest, []string{"official"}, "required"},
		{"no official id", envelopeWith(t, "official.id", deleted), fault.InvalidRequest, []string{"official.id"}, "required"},
		{"official id bad letter", envelopeWith(t, "official.id", "38000001K"), fault.InvalidRequest, []string{"official.id"}, "check letter should be E"},
		{"official id not a document", envelopeWith(t, "official.id", "anna.puig"), fault.InvalidRequest, []string{"official.id"}, "DNI or NIE"},
		{"no official name", envelopeWith(t, "official.name", ""), fault.InvalidRequest, []string{"official.name"}, "required"},
		{"official name too long", envelopeWith(t, "official.name", long(123)), fault.InvalidRequest, []string{"official.name"}, "at most 122"},

		// Subject.
		{"no subject", envelopeWith(t, "subject", deleted), fault.InvalidRequest, []string{"subject"}, "required"},
		{"no id type", envelopeWith(t, "subject.id_type", deleted), fault.InvalidRequest, []string{"subject.id_type"}, "required"},
		{"passport id type", envelopeWith(t, "subject.id_type", "Pasaporte"), fault.InvalidRequest, []string{"subject.id_type"}, "DNI or NIE"},
		{"no subject id", envelopeWith(t, "subject.id", deleted), fault.InvalidRequest, []string{"subject.id"}, "required"},
		{"subject DNI bad letter", envelopeWith(t, "subject.id", "12345678A"), fault.InvalidSubjectID, []string{"subject.id"}, "check letter should be Z"},
		{"subject DNI bad length", envelopeWith(t, "subject.id", "1234567Z"), fault.InvalidSubjectID, []string{"subject.id"}, "got 8 characters"},
		{"subject NIE bad letter", envelopeWith(t, "subject", map[string]any{"id_type": "NIE", "id": "X1234567X"}), fault.InvalidSubjectID, []string{"subject.id"}, "check letter should be L"},
		{"subject NIE typed as DNI", envelopeWith(t, "subject.id", "X1234567L"), fault.InvalidSubjectID, []string{"subject.id"}, "set id_type to NIE"},
		{"subject DNI typed as NIE", envelopeWith(t, "subject.id_type", "NIE"), fault.InvalidSubjectID, []string{"subject.id"}, "set id_type to DNI"},
		{"subject name too long", envelopeWith(t, "subject.name", long(41)), fault.InvalidRequest, []string{"subject.name"}, "at most 40"},
		{"subject surname1 too long", envelopeWith(t, "subject.surname1", long(41)), fault.InvalidRequest, []string{"subject.surname1"}, "at most 40"},
		{"subject surname2 too long", envelopeWith(t, "subject.surname2", long(41)), fault.InvalidRequest, []string{"subject.surname2"}, "at most 40"},
		{"control character in name", envelopeWith(t, "subject.name", "Joan\nERROR forged"), fault.InvalidRequest, []string{"subject.name"}, "control characters"},
		{"invalid UTF-8 in name", []byte(strings.Replace(validBody, `"Joan"`, "\"Jo\xffan\"", 1)), fault.InvalidRequest, []string{"subject.name"}, "UTF-8"},

		// Params.
		{"params an array", envelopeWith(t, "params", []any{"08019"}), fault.InvalidRequest, []string{"params"}, "JSON object"},
		{"params a string", envelopeWith(t, "params", "municipality=08019"), fault.InvalidRequest, []string{"params"}, "JSON object"},

		// Several problems are all reported, and a bad subject id among
		// others no longer has its own code.
		{"many problems", envelopeWith(t, "subject", map[string]any{"id_type": "DNI", "id": "12345678A", "name": long(41), "extra": 1}),
			fault.InvalidRequest, []string{"subject.extra", "subject.id", "subject.name"}, ""},
		{"everything missing", []byte(`{}`), fault.InvalidRequest,
			[]string{"procedure", "purpose", "legal_basis", "case_id", "official", "subject"}, "required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := Parse(tt.body)
			if err == nil {
				t.Fatalf("Parse accepted %s as %+v", tt.body, q)
			}
			fe, ok := fault.As(err)
			if !ok {
				t.Fatalf("error %v is not a *fault.Error", err)
			}
			if fe.Code != tt.wantCode {
				t.Errorf("code = %s, want %s (%v)", fe.Code, tt.wantCode, err)
			}
			got := fieldsOf(err)
			if !slices.Equal(sortedCopy(got), sortedCopy(tt.wantFields)) {
				t.Errorf("fields = %v, want %v (%+v)", got, tt.wantFields, fe.Fields)
			}
			if tt.wantMsg != "" && len(fe.Fields) > 0 && !strings.Contains(fe.Fields[0].Message, tt.wantMsg) {
				t.Errorf("message %q does not contain %q", fe.Fields[0].Message, tt.wantMsg)
			}
		})
	}
}

func TestPolicyView(t *testing.T) {
	q, err := Parse(envelopeWith(t, "legal_basis", map[string]any{"type": "law", "reference": "Llei 18/2003"}))
	if err != nil {
		t.Fatal(err)
	}
	got := q.PolicyView()
	// The view must say the same as the JSON form, read back generically,
	// which is what OPA would have built from the body.
	b, err := json.Marshal(q)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var want map[string]any
	if err := dec.Decode(&want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("PolicyView =\n%v\nwant\n%v", got, want)
	}
}

// TestQueryMarshalJSON: a query is written as the envelope it was read
// from, compact, with only the envelope's members, and read back as itself.
func TestQueryMarshalJSON(t *testing.T) {
	q, err := Parse(envelopeWith(t, "legal_basis", map[string]any{"type": "law", "reference": "Llei 18/2003 <art. 4> & 5"}))
	if err != nil {
		t.Fatal(err)
	}
	got, err := q.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"procedure":{"code":"AJUT-MENJADOR","name":"Ajuts de menjador escolar"},"purpose":"social-benefits",` +
		`"legal_basis":{"type":"law","reference":"Llei 18/2003 <art. 4> & 5"},"case_id":"EXP-2026-00123",` +
		`"official":{"id":"38000001E","name":"Anna Puig i Ferrer"},` +
		`"subject":{"id_type":"DNI","id":"12345678Z","name":"Joan","surname1":"Garcia","surname2":"Vidal"},` +
		`"params":{"mode":"consult","municipality":"08019"}}`
	if string(got) != want {
		t.Errorf("MarshalJSON =\n%s\nwant\n%s", got, want)
	}
	// json.Marshal escapes what HTML would read; Parse reads both.
	escaped, err := json.Marshal(q)
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range [][]byte{got, escaped} {
		again, err := Parse(body)
		if err != nil || !equalQuery(again, q) || !bytes.Equal(again.Params.JSON(), q.Params.JSON()) {
			t.Errorf("Parse(%s) = %+v, %v", body, again, err)
		}
	}
	q.Params, q.Procedure.Name, q.LegalBasis = Params{}, "", LegalBasis{Type: BasisPresumed}
	q.Subject = Subject{IDType: IDTypeNIE, ID: "X1234567L"}
	got, _ = q.MarshalJSON()
	want = `{"procedure":{"code":"AJUT-MENJADOR"},"purpose":"social-benefits","legal_basis":{"type":"presumed"},"case_id":"EXP-2026-00123",` +
		`"official":{"id":"38000001E","name":"Anna Puig i Ferrer"},"subject":{"id_type":"NIE","id":"X1234567L"}}`
	if string(got) != want {
		t.Errorf("without the optional members, MarshalJSON =\n%s\nwant\n%s", got, want)
	}
}

func TestParamsObjectKeepsNumbers(t *testing.T) {
	q, err := Parse(envelopeWith(t, "params", map[string]any{"year": json.Number("12345678901234567890")}))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := q.Params.Get("year"); got != json.Number("12345678901234567890") {
		t.Errorf("params.year = %#v, want the exact json.Number", got)
	}
}

func fieldsOf(err error) []string {
	fe, ok := fault.As(err)
	if !ok {
		return nil
	}
	var names []string
	for _, f := range fe.Fields {
		names = append(names, f.Field)
	}
	return names
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

func ifNot(ok bool, msg string) string {
	if ok {
		return ""
	}
	return msg
}

// equalQuery compares two queries by meaning: params by their decoded
// value, since the same object has many spellings.
func equalQuery(a, b Query) bool {
	pa, pb := a.Params, b.Params
	a.Params, b.Params = Params{}, Params{}
	if !reflect.DeepEqual(a, b) {
		return false
	}
	return reflect.DeepEqual(pa.Object(), pb.Object())
}

func mustParams(t *testing.T, raw string) Params {
	t.Helper()
	p, err := ParseParams([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// FuzzParse checks Parse's invariants on any input: it never panics; a
// refusal is a *fault.Error naming at least one field; an accepted query
// re-marshals to a body that parses to the same query.
func FuzzParse(f *testing.F) {
	f.Add([]byte(validBody))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"procedure":{"code":"A"},"purpose":"p","legal_basis":{"type":"consent","consent_id":"c"},"case_id":"1","official":{"id":"X1234567L","name":"n"},"subject":{"id_type":"NIE","id":"z1234567r"},"params":{"a":[1,2.5e3,{"b":null}]}}`))
	f.Add(envelopeWith(f, "subject.id", "12345678A"))
	f.Add(envelopeWith(f, "legal_basis", map[string]any{"type": "law", "reference": "Llei 18/2003"}))
	f.Add([]byte(`{"purpose":"a","purpose":"b"}`))
	f.Add([]byte(`[1]`))
	f.Add([]byte(`{"params":"x"} {}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		q, err := Parse(body)
		if err != nil {
			fe, ok := fault.As(err)
			if !ok {
				t.Fatalf("error %v is not a *fault.Error", err)
			}
			if len(fe.Fields) == 0 {
				t.Fatalf("error %v names no field", err)
			}
			if fe.Code != fault.InvalidRequest && fe.Code != fault.InvalidSubjectID {
				t.Fatalf("unexpected code %s", fe.Code)
			}
			return
		}
		b, err := json.Marshal(q)
		if err != nil {
			t.Fatalf("accepted query does not marshal: %v", err)
		}
		again, err := Parse(b)
		if err != nil {
			t.Fatalf("re-parsing the accepted query %s: %v", b, err)
		}
		if !equalQuery(q, again) {
			t.Fatalf("round trip changed the query:\n%+v\n%+v", q, again)
		}
		if err := ValidDNIOrNIE(q.Subject.ID); err != nil {
			t.Fatalf("accepted subject id %q: %v", q.Subject.ID, err)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	body := []byte(validBody)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := Parse(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPolicyView(b *testing.B) {
	q, err := Parse([]byte(validBody))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = q.PolicyView()
	}
}

// TestParseManyProblems: a body of many unknown members names each once,
// a repeated one too, and costs time in proportion to its size, not its
// square (100,000 members took seconds when each problem was compared
// with every earlier one).
func TestParseManyProblems(t *testing.T) {
	const n = 100_000
	var b bytes.Buffer
	b.WriteString("{")
	for i := range n {
		fmt.Fprintf(&b, `"x%d":0,`, i)
	}
	b.WriteString(`"x7":1,"purpose":"p"}`)
	start := time.Now()
	_, err := Parse(b.Bytes())
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Parse took %v", d)
	}
	fe, ok := fault.As(err)
	if !ok {
		t.Fatalf("Parse: %v", err)
	}
	unknown := 0
	for _, f := range fe.Fields {
		if strings.HasPrefix(f.Field, "x") {
			unknown++
		}
	}
	if unknown != n {
		t.Errorf("%d unknown members named, want %d (x7 once)", unknown, n)
	}
}
