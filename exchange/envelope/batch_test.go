package envelope

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pontexchange/pont/exchange/fault"
)

const validBatch = `{
  "procedure":   {"code": "AJUT-MENJADOR", "name": "Ajuts de menjador escolar"},
  "purpose":     "social-benefits",
  "legal_basis": {"type": "presumed"},
  "case_id":     "EXP-2026-1",
  "official":    {"id": "12345678Z", "name": "Anna Puig"},
  "params":      {"municipality": "08019", "mode": "consult"},
  "subjects": [
    {"subject": {"id_type": "DNI", "id": "11111111H"}},
    {"subject": {"id_type": "NIE", "id": "X1234567L"}, "params": {"municipality": "17079"}, "case_id": "EXP-2026-2"},
    {"subject": {"id_type": "DNI", "id": "22222222J", "name": "Joan"}, "legal_basis": {"type": "consent", "consent_id": "0193-c"}}
  ]
}`

// batchMax is the limit the tests parse with, unless they test it.
const batchMax = 25

// edit sets the member at path (members joined by '.', an array's
// element as name[i]) to v, or removes it when v is deleted.
type edit struct {
	path string
	v    any
}

var pathPart = regexp.MustCompile(`^([^\[]*)(?:\[(\d+)\])?$`)

// batchWith returns validBatch with edits made, in order. The values are
// copied, so that tests may share them.
func batchWith(t testing.TB, edits ...edit) []byte {
	t.Helper()
	decode := func(b []byte) any {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	root := decode([]byte(validBatch))
	for _, e := range edits {
		if e.v != deleted {
			b, err := json.Marshal(e.v)
			if err != nil {
				t.Fatal(err)
			}
			e.v = decode(b)
		}
		parts := strings.Split(e.path, ".")
		// parent holds the container of the last part, by a setter.
		var cur any = root
		for i, part := range parts {
			sm := pathPart.FindStringSubmatch(part)
			if sm == nil {
				t.Fatalf("path %q", e.path)
			}
			obj := cur.(map[string]any)
			last := i == len(parts)-1
			if sm[2] == "" {
				if last {
					if e.v == deleted {
						delete(obj, sm[1])
					} else {
						obj[sm[1]] = e.v
					}
					break
				}
				cur = obj[sm[1]]
				continue
			}
			idx, _ := strconv.Atoi(sm[2])
			arr := obj[sm[1]].([]any)
			if last {
				if e.v == deleted {
					obj[sm[1]] = slices.Delete(arr, idx, idx+1)
				} else {
					arr[idx] = e.v
				}
				break
			}
			cur = arr[idx]
		}
	}
	b, err := json.Marshal(root)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// subjectsList returns n valid elements, each its own DNI.
func subjectsList(n int) []any {
	list := make([]any, n)
	for i := range list {
		list[i] = map[string]any{"subject": map[string]any{"id_type": "DNI", "id": validDNI(i)}}
	}
	return list
}

func validDNI(n int) string {
	return fmt.Sprintf("%08d%c", n, "TRWAGMYFPDXBNJZSQVHLCKE"[n%23])
}

// batchText returns validBatch with old replaced by new once, for what
// json.Marshal cannot write (repeated members, raw bytes).
func batchText(t testing.TB, old, new string) []byte {
	t.Helper()
	if !strings.Contains(validBatch, old) {
		t.Fatalf("validBatch has no %q", old)
	}
	return []byte(strings.Replace(validBatch, old, new, 1))
}

func TestParseBatchValid(t *testing.T) {
	b, err := ParseBatch([]byte(validBatch), batchMax)
	if err != nil {
		t.Fatalf("ParseBatch: %v (fields %+v)", err, fieldsOf(err))
	}
	shared := Query{
		Procedure:  Procedure{Code: "AJUT-MENJADOR", Name: "Ajuts de menjador escolar"},
		Purpose:    "social-benefits",
		LegalBasis: LegalBasis{Type: BasisPresumed},
		CaseID:     "EXP-2026-1",
		Official:   Official{ID: "12345678Z", Name: "Anna Puig"},
		Params:     mustParams(t, `{"municipality":"08019","mode":"consult"}`),
	}
	want := []Query{shared, shared, shared}
	want[0].Subject = Subject{IDType: IDTypeDNI, ID: "11111111H"}
	want[1].Subject = Subject{IDType: IDTypeNIE, ID: "X1234567L"}
	want[1].CaseID = "EXP-2026-2"
	// The shared members the element does not name, then its own.
	want[1].Params = mustParams(t, `{"mode":"consult","municipality":"17079"}`)
	want[2].Subject = Subject{IDType: IDTypeDNI, ID: "22222222J", Name: "Joan"}
	want[2].LegalBasis = LegalBasis{Type: BasisConsent, ConsentID: "0193-c"}
	if b.Single || len(b.Elements) != len(want) {
		t.Fatalf("Batch = %+v, want %d elements", b, len(want))
	}
	for i, q := range b.Elements {
		if !sameQuery(q, want[i]) {
			t.Errorf("element %d =\n%+v\nwant\n%+v", i, q, want[i])
		}
	}
}

func TestParseBatchAccepts(t *testing.T) {
	tests := []struct {
		name  string
		body  []byte
		max   int                  // batchMax when 0
		check func([]Query) string // "" when the queries are as expected
	}{
		{"as given", []byte(validBatch), 0, nil},
		{"no shared legal basis, each its own", batchWith(t, edit{"legal_basis", deleted},
			edit{"subjects[0].legal_basis", map[string]any{"type": "law", "reference": "Llei 18/2003"}},
			edit{"subjects[1].legal_basis", map[string]any{"type": "presumed"}}), 0, func(qs []Query) string {
			return ifNot(qs[0].LegalBasis.Reference == "Llei 18/2003" && qs[1].LegalBasis.Type == "presumed" && qs[2].LegalBasis.ConsentID == "0193-c", fmt.Sprint(qs))
		}},
		{"null shared legal basis, each its own", batchWith(t, edit{"legal_basis", nil},
			edit{"subjects[0].legal_basis", map[string]any{"type": "presumed"}},
			edit{"subjects[1].legal_basis", map[string]any{"type": "presumed"}}), 0, nil},
		{"no shared case id, each its own", batchWith(t, edit{"case_id", deleted},
			edit{"subjects[0].case_id", "A"}, edit{"subjects[2].case_id", "C"}), 0, func(qs []Query) string {
			return ifNot(qs[0].CaseID == "A" && qs[1].CaseID == "EXP-2026-2" && qs[2].CaseID == "C", fmt.Sprint(qs))
		}},
		{"null element members inherit", batchWith(t, edit{"subjects[0].legal_basis", nil}, edit{"subjects[0].case_id", nil}, edit{"subjects[0].params", nil}), 0, func(qs []Query) string {
			return ifNot(qs[0].LegalBasis.Type == "presumed" && qs[0].CaseID == "EXP-2026-1" && string(qs[0].Params.JSON()) == `{"mode":"consult","municipality":"08019"}`, fmt.Sprint(qs[0]))
		}},
		{"empty element params inherit", batchWith(t, edit{"subjects[0].params", map[string]any{}}), 0, func(qs []Query) string {
			return ifNot(string(qs[0].Params.JSON()) == `{"mode":"consult","municipality":"08019"}`, string(qs[0].Params.JSON()))
		}},
		{"no shared params", batchWith(t, edit{"params", deleted}), 0, func(qs []Query) string {
			return ifNot(qs[0].Params.Object() == nil && string(qs[1].Params.JSON()) == `{"municipality":"17079"}`, fmt.Sprint(qs))
		}},
		{"empty shared params", batchWith(t, edit{"params", map[string]any{}}), 0, func(qs []Query) string {
			return ifNot(qs[0].Params.Object() == nil && string(qs[1].Params.JSON()) == `{"municipality":"17079"}`, fmt.Sprint(qs))
		}},
		{"params merged member by member", batchWith(t, edit{"params", map[string]any{"a": 1, "b": map[string]any{"x": 1}, "c": "k"}},
			edit{"subjects[0].params", map[string]any{"b": map[string]any{"y": 2}, "d": []any{1}}}), 0, func(qs []Query) string {
			return ifNot(string(qs[0].Params.JSON()) == `{"a":1,"c":"k","b":{"y":2},"d":[1]}`, string(qs[0].Params.JSON()))
		}},
		{"a null param is a value", batchWith(t, edit{"subjects[0].params", map[string]any{"mode": nil}}), 0, func(qs []Query) string {
			v, ok := qs[0].Params.Get("mode")
			return ifNot(ok && v == nil && string(qs[0].Params.JSON()) == `{"municipality":"08019","mode":null}`, string(qs[0].Params.JSON()))
		}},
		{"escaped names merge by their value", batchText(t, `"params": {"municipality": "17079"}`, `"params": {"municip\u0061lity": "17079"}`), 0, func(qs []Query) string {
			return ifNot(string(qs[1].Params.JSON()) == `{"mode":"consult","municip\u0061lity":"17079"}`, string(qs[1].Params.JSON()))
		}},
		{"numbers kept as written", batchWith(t, edit{"subjects[0].params", map[string]any{"year": json.Number("12345678901234567890")}}), 0, func(qs []Query) string {
			v, _ := qs[0].Params.Get("year")
			return ifNot(v == json.Number("12345678901234567890"), fmt.Sprint(v))
		}},
		{"ids normalised", batchWith(t, edit{"subjects[0].subject", map[string]any{"id_type": "nie", "id": " x-1234567-l "}}), 0, func(qs []Query) string {
			return ifNot(qs[0].Subject == Subject{IDType: "NIE", ID: "X1234567L"}, fmt.Sprint(qs[0].Subject))
		}},
		{"one subject", batchWith(t, edit{"subjects", subjectsList(1)}), 0, nil},
		{"as many as allowed", batchWith(t, edit{"subjects", subjectsList(batchMax)}), 0, func(qs []Query) string {
			return ifNot(len(qs) == batchMax && qs[batchMax-1].Subject.ID == validDNI(batchMax-1), fmt.Sprint(len(qs)))
		}},
		{"a limit of one", batchWith(t, edit{"subjects", subjectsList(1)}), 1, nil},
		{"subjects spelt with an escape", batchText(t, `"subjects"`, `"subject\u0073"`), 0, nil},
		{"white space everywhere", []byte(strings.NewReplacer(",", " ,\n\t", ":", " : ", "[", "[ ", "]", " ]").Replace(validBatch)), 0, nil},
		{"deep params in an element", batchWith(t, edit{"subjects[0].params", json.RawMessage(`{"deep":` + strings.Repeat("[", 9000) + strings.Repeat("]", 9000) + `}`)}), 0, func(qs []Query) string {
			return ifNot(qs[0].Params.Len() == 3, fmt.Sprint(qs[0].Params.Len()))
		}},
		{"invalid UTF-8 in element params, as Parse takes it", batchText(t, `{"municipality": "17079"}`, "{\"municipality\": \"17079\", \"x\": \"a\xffb\"}"), 0, func(qs []Query) string {
			return ifNot(bytes.Contains(qs[1].Params.JSON(), []byte("a\xffb")), string(qs[1].Params.JSON()))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			max := tt.max
			if max == 0 {
				max = batchMax
			}
			b, err := ParseBatch(tt.body, max)
			if err != nil {
				t.Fatalf("ParseBatch: %v (fields %+v)", err, fieldsOf(err))
			}
			if b.Single {
				t.Fatal("read as a single envelope")
			}
			for i, q := range b.Elements {
				checkParams(t, fmt.Sprintf("element %d", i), q.Params)
			}
			if tt.check != nil {
				if msg := tt.check(b.Elements); msg != "" {
					t.Error(msg)
				}
			}
		})
	}
}

func TestParseBatchRejects(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	eight := subjectsList(8)
	tests := []struct {
		name     string
		body     []byte
		max      int // batchMax when 0
		wantCode fault.Code
		// want names every field the error must name, with a part of its
		// message ("" for any).
		want map[string]string
	}{
		// The batch as a whole.
		{"subject with subjects", batchWith(t, edit{"subject", map[string]any{"id_type": "DNI", "id": "11111111H"}}), 0, fault.InvalidRequest,
			map[string]string{"subject": "is not allowed with subjects"}},
		{"null subject with subjects", batchWith(t, edit{"subject", nil}), 0, fault.InvalidRequest,
			map[string]string{"subject": "is not allowed with subjects"}},
		{"subjects a string", batchWith(t, edit{"subjects", "11111111H"}), 0, fault.InvalidRequest, map[string]string{"subjects": "must be a JSON array"}},
		{"subjects an object", batchWith(t, edit{"subjects", map[string]any{"subject": map[string]any{}}}), 0, fault.InvalidRequest, map[string]string{"subjects": "must be a JSON array"}},
		{"subjects null", batchWith(t, edit{"subjects", nil}), 0, fault.InvalidRequest, map[string]string{"subjects": "must be a JSON array"}},
		{"no subjects listed", batchWith(t, edit{"subjects", []any{}}), 0, fault.InvalidRequest, map[string]string{"subjects": "must list at least one subject"}},
		{"too many subjects", batchWith(t, edit{"subjects", subjectsList(40)}), 0, fault.TooManySubjects,
			map[string]string{"subjects": "lists 40 subjects; at most 25 are answered here"}},
		{"too many for a limit of one", batchWith(t, edit{"subjects", subjectsList(2)}), 1, fault.TooManySubjects,
			map[string]string{"subjects": "lists 2 subjects; at most 1 is answered here"}},
		{"too many bad subjects, not read", batchWith(t, edit{"subjects", []any{nil, 1, "x"}}), 2, fault.TooManySubjects,
			map[string]string{"subjects": "lists 3 subjects; at most 2 are answered here"}},
		{"too many and a bad purpose", batchWith(t, edit{"subjects", subjectsList(26)}, edit{"purpose", "X"}), 0, fault.InvalidRequest,
			map[string]string{"subjects": "lists 26 subjects", "purpose": "purpose code"}},
		{"subjects given twice", batchText(t, `"subjects": [`, `"subjects": [], "subjects": [`), 0, fault.InvalidRequest,
			map[string]string{"subjects": "is given more than once"}},
		{"unknown member", batchWith(t, edit{"requester", "P0801900B"}), 0, fault.InvalidRequest,
			map[string]string{"requester": "the fields here are procedure, purpose, legal_basis, case_id, official, subjects, params"}},
		{"trailing data", append([]byte(validBatch), "{}"...), 0, fault.InvalidRequest, map[string]string{"$": "data after"}},
		{"NUL byte in a string", batchText(t, `"Joan"`, "\"Jo\x00an\""), 0, fault.InvalidRequest, map[string]string{"$": "not valid JSON"}},
		{"too deep", batchText(t, `"case_id": "EXP-2026-2"`, `"params": {"deep":`+strings.Repeat("[", 10000)+strings.Repeat("]", 10000)+`}`), 0, fault.InvalidRequest,
			map[string]string{"$": "exceeded max depth"}},

		// Shared members keep their paths.
		{"bad procedure code", batchWith(t, edit{"procedure.code", "AJUT MENJADOR"}), 0, fault.InvalidRequest, map[string]string{"procedure.code": "only letters"}},
		{"no official", batchWith(t, edit{"official", deleted}), 0, fault.InvalidRequest, map[string]string{"official": "is required"}},
		{"repeated shared param", batchText(t, `"mode": "consult"`, `"mode": "consult", "mode": "x"`), 0, fault.InvalidRequest, map[string]string{"params.mode": "more than once"}},
		{"overridden shared basis still checked", batchWith(t, edit{"legal_basis", map[string]any{"type": "interest"}},
			edit{"subjects[0].legal_basis", map[string]any{"type": "presumed"}}, edit{"subjects[1].legal_basis", map[string]any{"type": "presumed"}}), 0, fault.InvalidRequest,
			map[string]string{"legal_basis.type": "presumed, law, consent"}},
		{"overridden shared case id still checked", batchWith(t, edit{"case_id", long(66)},
			edit{"subjects[0].case_id", "A"}, edit{"subjects[2].case_id", "C"}), 0, fault.InvalidRequest,
			map[string]string{"case_id": "at most 65"}},
		{"blank shared case id", batchWith(t, edit{"case_id", " "}), 0, fault.InvalidRequest, map[string]string{"case_id": "is required"}},
		{"no legal basis anywhere", batchWith(t, edit{"legal_basis", deleted}, edit{"subjects[2].legal_basis", deleted}), 0, fault.InvalidRequest,
			map[string]string{"legal_basis": "is required"}},
		{"no legal basis for some", batchWith(t, edit{"legal_basis", deleted}), 0, fault.InvalidRequest,
			map[string]string{"subjects[0].legal_basis": "is required", "subjects[1].legal_basis": "is required"}},
		{"no case id anywhere", batchWith(t, edit{"case_id", deleted}, edit{"subjects[1].case_id", deleted}), 0, fault.InvalidRequest,
			map[string]string{"case_id": "is required"}},
		{"no case id for some", batchWith(t, edit{"case_id", nil}), 0, fault.InvalidRequest,
			map[string]string{"subjects[0].case_id": "is required", "subjects[2].case_id": "is required"}},

		// An element.
		{"element null", batchWith(t, edit{"subjects[1]", nil}), 0, fault.InvalidRequest, map[string]string{"subjects[1]": "must be a JSON object"}},
		{"element an array", batchWith(t, edit{"subjects[1]", []any{map[string]any{"subject": map[string]any{}}}}), 0, fault.InvalidRequest,
			map[string]string{"subjects[1]": "must be a JSON object"}},
		{"element a string", batchWith(t, edit{"subjects[0]", "11111111H"}), 0, fault.InvalidRequest, map[string]string{"subjects[0]": "must be a JSON object"}},
		{"every element null, no basis", batchWith(t, edit{"legal_basis", deleted}, edit{"subjects", []any{nil, nil}}), 0, fault.InvalidRequest,
			map[string]string{"subjects[0]": "must be a JSON object", "subjects[1]": "must be a JSON object", "legal_basis": "is required"}},
		{"element member unknown", batchWith(t, edit{"subjects[1].purpose", "x"}), 0, fault.InvalidRequest,
			map[string]string{"subjects[1].purpose": "is not a field of the envelope; the fields here are subject, params, case_id, legal_basis"}},
		{"element member repeated", batchText(t, `{"subject": {"id_type": "DNI", "id": "11111111H"}}`, `{"subject": {"id_type": "DNI", "id": "11111111H"}, "subject": {}}`), 0, fault.InvalidRequest,
			map[string]string{"subjects[0].subject": "more than once"}},
		{"element without subject", batchWith(t, edit{"subjects[1].subject", deleted}), 0, fault.InvalidRequest, map[string]string{"subjects[1].subject": "is required"}},
		{"element subject null", batchWith(t, edit{"subjects[1].subject", nil}), 0, fault.InvalidRequest, map[string]string{"subjects[1].subject": "is required"}},
		{"only a document number, still invalid_request", batchWith(t, edit{"subjects", eight}, edit{"subjects[3].subject.id", "12345678A"}), 0, fault.InvalidRequest,
			map[string]string{"subjects[3].subject.id": "is not a valid DNI: check letter should be Z, not A"}},
		{"NIE typed as DNI", batchWith(t, edit{"subjects[0].subject.id", "X1234567L"}), 0, fault.InvalidRequest,
			map[string]string{"subjects[0].subject.id": "set id_type to NIE"}},
		{"passport", batchWith(t, edit{"subjects[2].subject.id_type", "Pasaporte"}), 0, fault.InvalidRequest,
			map[string]string{"subjects[2].subject.id_type": "DNI or NIE"}},
		{"unknown subject member", batchWith(t, edit{"subjects[2].subject.birth_date", "2000-01-01"}), 0, fault.InvalidRequest,
			map[string]string{"subjects[2].subject.birth_date": "the fields here are id_type, id, name, surname1, surname2"}},
		{"name too long", batchWith(t, edit{"subjects[2].subject.name", long(41)}), 0, fault.InvalidRequest, map[string]string{"subjects[2].subject.name": "at most 40"}},
		{"NUL in a name", batchWith(t, edit{"subjects[2].subject.name", "Jo\x00an"}), 0, fault.InvalidRequest, map[string]string{"subjects[2].subject.name": "control characters"}},
		{"invalid UTF-8 in a name", batchText(t, `"Joan"`, "\"Jo\xffan\""), 0, fault.InvalidRequest, map[string]string{"subjects[2].subject.name": "UTF-8"}},
		{"invalid UTF-8 in a member name", batchText(t, `"case_id": "EXP-2026-2"`, "\"case_id\": \"EXP-2026-2\", \"\xff\": 1"), 0, fault.InvalidRequest,
			map[string]string{strconv.Quote("subjects[1].\xff"): "is not a field"}},
		{"NUL in a case id", batchWith(t, edit{"subjects[1].case_id", "EXP\x00"}), 0, fault.InvalidRequest, map[string]string{"subjects[1].case_id": "control characters"}},
		{"case id too long", batchWith(t, edit{"subjects[2].case_id", long(66)}), 0, fault.InvalidRequest, map[string]string{"subjects[2].case_id": "at most 65"}},
		{"case id blank", batchWith(t, edit{"subjects[2].case_id", ""}), 0, fault.InvalidRequest, map[string]string{"subjects[2].case_id": "is required"}},
		{"case id a number", batchWith(t, edit{"subjects[2].case_id", 7}), 0, fault.InvalidRequest, map[string]string{"subjects[2].case_id": "must be a string"}},
		{"legal basis type unknown", batchWith(t, edit{"subjects", eight}, edit{"subjects[7].legal_basis", map[string]any{"type": "interest"}}), 0, fault.InvalidRequest,
			map[string]string{"subjects[7].legal_basis.type": "must be one of presumed, law, consent"}},
		{"legal basis without type", batchWith(t, edit{"subjects[0].legal_basis", map[string]any{}}), 0, fault.InvalidRequest,
			map[string]string{"subjects[0].legal_basis.type": "is required"}},
		{"legal basis a string", batchWith(t, edit{"subjects[0].legal_basis", "consent"}), 0, fault.InvalidRequest,
			map[string]string{"subjects[0].legal_basis": "must be a JSON object"}},
		{"consent without id", batchWith(t, edit{"subjects[2].legal_basis.consent_id", deleted}), 0, fault.InvalidRequest,
			map[string]string{"subjects[2].legal_basis.consent_id": "is required"}},
		{"presumed with a reference", batchWith(t, edit{"subjects[0].legal_basis", map[string]any{"type": "presumed", "reference": "Llei"}}), 0, fault.InvalidRequest,
			map[string]string{"subjects[0].legal_basis.reference": "is not allowed with legal basis type presumed"}},
		{"law reference too long", batchWith(t, edit{"subjects[0].legal_basis", map[string]any{"type": "law", "reference": long(251)}}), 0, fault.InvalidRequest,
			map[string]string{"subjects[0].legal_basis.reference": "at most 250"}},
		{"element params an array", batchWith(t, edit{"subjects[0].params", []any{"08019"}}), 0, fault.InvalidRequest,
			map[string]string{"subjects[0].params": "must be a JSON object"}},
		{"element param repeated", batchText(t, `{"municipality": "17079"}`, `{"municipality": "17079", "municipality": "08019"}`), 0, fault.InvalidRequest,
			map[string]string{"subjects[1].params.municipality": "is given more than once"}},
		{"element nested param repeated", batchText(t, `{"municipality": "17079"}`, `{"expected": {"address": {"postcode": "1", "postcode": "2"}}}`), 0, fault.InvalidRequest,
			map[string]string{"subjects[1].params.expected.address.postcode": "is given more than once"}},

		// Every problem at once, each by its path.
		{"many problems", batchWith(t, edit{"purpose", "X"},
			edit{"subjects[0].subject.id", "11111111A"},
			edit{"subjects[1].extra", 1},
			edit{"subjects[1].subject.name", long(41)},
			edit{"subjects[2].legal_basis.type", "law"}), 0, fault.InvalidRequest,
			map[string]string{"purpose": "", "subjects[0].subject.id": "", "subjects[1].extra": "", "subjects[1].subject.name": "",
				"subjects[2].legal_basis.reference": "is required", "subjects[2].legal_basis.consent_id": "not allowed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			max := tt.max
			if max == 0 {
				max = batchMax
			}
			b, err := ParseBatch(tt.body, max)
			if err == nil {
				t.Fatalf("ParseBatch accepted %s as %+v", tt.body, b)
			}
			fe, ok := fault.As(err)
			if !ok {
				t.Fatalf("error %v is not a *fault.Error", err)
			}
			if fe.Code != tt.wantCode {
				t.Errorf("code = %s, want %s (%v)", fe.Code, tt.wantCode, err)
			}
			got := map[string]string{}
			for _, f := range fe.Fields {
				got[f.Field] = f.Message
			}
			for field, msg := range tt.want {
				if m, ok := got[field]; !ok || !strings.Contains(m, msg) {
					t.Errorf("%s: %q, want %q", field, m, msg)
				}
			}
			if len(got) != len(tt.want) {
				t.Errorf("fields %v, want %d", fe.Fields, len(tt.want))
			}
			if len(b.Elements) == 0 {
				t.Error("nothing read to record")
			}
		})
	}
}

// TestParseBatchMessage: the message names the limit and the count, and
// nothing else.
func TestParseBatchMessage(t *testing.T) {
	_, err := ParseBatch(batchWith(t, edit{"subjects", subjectsList(40)}), 25)
	if got := err.Error(); got != "too_many_subjects: subjects: lists 40 subjects; at most 25 are answered here" {
		t.Errorf("error %q", got)
	}
}

// TestParseBatchReadsWhatItCan: a refused batch still has the requester's
// procedure for its record, and each element what it gave.
func TestParseBatchReadsWhatItCan(t *testing.T) {
	b, _ := ParseBatch(batchWith(t, edit{"subjects", subjectsList(30)}), batchMax)
	if len(b.Elements) != 1 || b.Elements[0].Procedure.Code != "AJUT-MENJADOR" || b.Elements[0].Subject != (Subject{}) || b.Single {
		t.Errorf("too many: %+v", b)
	}
	b, _ = ParseBatch(batchWith(t, edit{"purpose", "X"}), batchMax)
	if len(b.Elements) != 3 || b.Elements[2].Subject.ID != "22222222J" || b.Elements[1].CaseID != "EXP-2026-2" {
		t.Errorf("bad purpose: %+v", b)
	}
}

// TestParseBatchOversized: an array over the limit is counted, not read:
// what it costs does not grow with its elements.
func TestParseBatchOversized(t *testing.T) {
	body := batchWith(t, edit{"subjects", subjectsList(100_000)})
	allocs := testing.AllocsPerRun(3, func() {
		if _, err := ParseBatch(body, batchMax); fault.CodeOf(err) != fault.TooManySubjects {
			t.Fatalf("ParseBatch: %v", err)
		}
	})
	small := testing.AllocsPerRun(3, func() { _, _ = ParseBatch(batchWith(t, edit{"subjects", subjectsList(26)}), batchMax) })
	if allocs > 200 || allocs > small+20 {
		t.Errorf("%v allocations for 100,000 subjects, %v for 26", allocs, small)
	}
}

// singleBodies are single envelopes, good and bad, that ParseBatch must
// read as Parse does.
func singleBodies(t testing.TB) [][]byte {
	return [][]byte{
		[]byte(validBody),
		envelopeWith(t, "subject", deleted),
		envelopeWith(t, "subject.id", "12345678A"),
		envelopeWith(t, "subject", map[string]any{"id_type": "DNI", "id": "12345678A", "extra": 1}),
		envelopeWith(t, "legal_basis", map[string]any{"type": "law"}),
		envelopeWith(t, "requester", "x"),
		envelopeWith(t, "params", json.RawMessage(`{"a":1,"a":2}`)),
		envelopeWith(t, "subject.name", "Jo\x00an"),
		[]byte(strings.Replace(validBody, `"Joan"`, "\"Jo\xffan\"", 1)),
		[]byte(strings.Replace(validBody, `"purpose":     "social-benefits",`, `"purpose": "a", "purpose": "social-benefits",`, 1)),
		[]byte(`{}`), []byte(`[]`), []byte(`null`), []byte(``), []byte(`"subjects"`), []byte(`{"subject": 1`),
		[]byte(`[{"subjects": []}]`), []byte(`{"x": {"subjects": []}}`), append([]byte(validBody), "x"...),
	}
}

func TestParseBatchSingle(t *testing.T) {
	for _, body := range singleBodies(t) {
		b, err := ParseBatch(body, batchMax)
		q, perr := Parse(body)
		if !b.Single || !reflect.DeepEqual(b.Elements, []Query{q}) || !reflect.DeepEqual(err, perr) {
			t.Errorf("ParseBatch(%.60q) = %+v, %v; Parse: %+v, %v", body, b, err, q, perr)
		}
	}
	// Telling a single envelope from a batch costs no allocation beyond
	// the Batch's one slice.
	body := []byte(validBody)
	parse := testing.AllocsPerRun(100, func() { _, _ = Parse(body) })
	batch := testing.AllocsPerRun(100, func() { _, _ = ParseBatch(body, batchMax) })
	if batch > parse+1 {
		t.Errorf("ParseBatch of a single envelope: %v allocations, Parse %v", batch, parse)
	}
}

// TestQueryRoundTrip: every element of every batch, written by
// MarshalJSON, is read back by Parse as the same query.
func TestQueryRoundTrip(t *testing.T) {
	bodies := [][]byte{
		[]byte(validBatch),
		batchWith(t, edit{"params", deleted}, edit{"procedure.name", deleted}),
		batchWith(t, edit{"legal_basis", map[string]any{"type": "law", "reference": `Llei 18/2003 <art. 4> & "5"`}}),
		batchWith(t, edit{"subjects[0].params", map[string]any{"s": "x & <y> \u2028 \\ \"q\" ñ", "n": json.Number("1.50e3"), "z": nil, "l": []any{true, map[string]any{}}}}),
		batchWith(t, edit{"subjects[2].subject", map[string]any{"id_type": "DNI", "id": "22222222J", "name": "Núria", "surname1": "Puig & Vidal", "surname2": "D'Òdena"}}),
		batchText(t, `{"municipality": "17079"}`, "{\"municipality\": \"17079\", \"x\": \"a\xffb\"}"),
		batchText(t, `"subjects"`, `"subject\u0073"`),
	}
	for _, body := range bodies {
		b, err := ParseBatch(body, batchMax)
		if err != nil {
			t.Fatalf("ParseBatch(%s): %v", body, err)
		}
		for i, q := range b.Elements {
			roundTrip(t, fmt.Sprintf("%.40q element %d", body, i), q)
		}
	}
	q, err := Parse([]byte(validBody))
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, "validBody", q)
}

func TestParamsOver(t *testing.T) {
	cases := []struct{ shared, own, want string }{
		{`{}`, `{}`, `{}`},
		{`{"a":1}`, `{}`, `{"a":1}`},
		{`{}`, `{"a":1}`, `{"a":1}`},
		{`{"a":1,"b":2}`, `{"b":3}`, `{"a":1,"b":3}`},
		{`{"a":1,"b":2}`, `{"a":3}`, `{"b":2,"a":3}`},
		{`{"a":1,"b":2}`, `{"a":null,"c":[]}`, `{"b":2,"a":null,"c":[]}`},
		{`{"\u0061":1,"b":2}`, `{"a":3}`, `{"b":2,"a":3}`},
		{"{\"\xff\":1,\"b\":2}", "{\"\xfe\":3}", "{\"b\":2,\"\xfe\":3}"},
		{`{"a":{"x":1,"y":2}}`, `{"a":{"y":3}}`, `{"a":{"y":3}}`},
	}
	for _, c := range cases {
		got := mustParams(t, c.shared).over(mustParams(t, c.own))
		if string(got.JSON()) != c.want {
			t.Errorf("%s over %s = %s, want %s", c.own, c.shared, got.JSON(), c.want)
		}
		checkParams(t, c.shared+" "+c.own, got)
	}
}

// checkParams: p is exactly what ParseParams makes of its JSON.
func checkParams(t testing.TB, what string, p Params) {
	t.Helper()
	again, err := ParseParams(p.JSON())
	if err != nil {
		t.Fatalf("%s: params %s do not parse: %v", what, p.JSON(), err)
	}
	if !bytes.Equal(again.JSON(), p.JSON()) || !reflect.DeepEqual(again.Object(), p.Object()) {
		t.Fatalf("%s: params %s read as %s %v, not %v", what, p.JSON(), again.JSON(), again.Object(), p.Object())
	}
}

// roundTrip: q, written by MarshalJSON, is read back by Parse as q, its
// params' text included; written by json.Marshal, which escapes <, > and
// & even inside the params, as a query of the same meaning.
func roundTrip(t testing.TB, what string, q Query) {
	t.Helper()
	own, err := q.MarshalJSON()
	if err != nil {
		t.Fatalf("%s: MarshalJSON: %v", what, err)
	}
	var unescaped bytes.Buffer
	enc := json.NewEncoder(&unescaped)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(q); err != nil {
		t.Fatalf("%s: Encode: %v", what, err)
	}
	escaped, err := json.Marshal(q)
	if err != nil {
		t.Fatalf("%s: json.Marshal: %v", what, err)
	}
	for _, w := range []struct {
		body  []byte
		exact bool
	}{{own, true}, {unescaped.Bytes(), true}, {escaped, false}} {
		again, err := Parse(w.body)
		if err != nil {
			t.Fatalf("%s: %s does not parse: %v", what, w.body, err)
		}
		if !equalQuery(q, again) || w.exact && !sameQuery(q, again) {
			t.Fatalf("%s: %s reads as\n%+v\nnot\n%+v", what, w.body, again, q)
		}
	}
}

// sameQuery compares two queries field by field, params by their JSON
// text and their members.
func sameQuery(a, b Query) bool {
	return equalQuery(a, b) && bytes.Equal(a.Params.JSON(), b.Params.JSON())
}

// FuzzParseBatch checks ParseBatch's invariants on any input: it never
// panics; a refusal is a *fault.Error naming at least one field, with a
// batch's codes; a single envelope is read exactly as Parse reads it; an
// accepted batch has from one to max elements, each of which round-trips
// through MarshalJSON and Parse, with params that are exactly
// ParseParams's of their JSON.
func FuzzParseBatch(f *testing.F) {
	seeds := [][]byte{[]byte(validBatch)}
	seeds = append(seeds, singleBodies(f)...)
	seeds = append(seeds,
		batchWith(f, edit{"legal_basis", deleted}, edit{"subjects[0].legal_basis", map[string]any{"type": "law", "reference": "L"}}),
		batchWith(f, edit{"subjects", subjectsList(4)}),
		batchWith(f, edit{"subjects", []any{nil, []any{}, 1, "x", map[string]any{}}}),
		batchWith(f, edit{"subjects[0].params", map[string]any{"mode": nil, "a": []any{1, map[string]any{"b": 2.5}}}}),
		batchWith(f, edit{"subject", map[string]any{}}),
		batchText(f, `"subjects": [`, `"subjects": [], "subjects": [`),
		batchText(f, `{"municipality": "17079"}`, `{"municipality": "17079", "municipality": "08019"}`),
		batchText(f, `"Joan"`, "\"Jo\xffan\""),
		batchText(f, `"subjects"`, `"subject\u0073"`),
		[]byte(`{"subjects":[{"subject":{"id_type":"DNI","id":"00000000T"}}],"procedure":{"code":"A"},"purpose":"p","legal_basis":{"type":"presumed"},"case_id":"1","official":{"id":"00000000T","name":"n"}}`),
	)
	for _, s := range seeds {
		f.Add(s, uint8(batchMax))
	}
	f.Add([]byte(validBatch), uint8(0))
	f.Add([]byte(validBatch), uint8(2))
	f.Fuzz(func(t *testing.T, body []byte, limit uint8) {
		max := int(limit)
		b, err := ParseBatch(body, max)
		if b.Single {
			q, perr := Parse(body)
			if !reflect.DeepEqual(b.Elements, []Query{q}) || !reflect.DeepEqual(err, perr) {
				t.Fatalf("single envelope read as %+v, %v; Parse: %+v, %v", b.Elements, err, q, perr)
			}
		}
		if err != nil {
			fe, ok := fault.As(err)
			if !ok {
				t.Fatalf("error %v is not a *fault.Error", err)
			}
			if len(fe.Fields) == 0 {
				t.Fatalf("error %v names no field", err)
			}
			switch {
			case fe.Code == fault.InvalidRequest:
			case fe.Code == fault.InvalidSubjectID && b.Single:
			case fe.Code == fault.TooManySubjects && !b.Single && len(fe.Fields) == 1 && fe.Fields[0].Field == "subjects":
			default:
				t.Fatalf("unexpected code %s (single %v): %v", fe.Code, b.Single, err)
			}
			if len(b.Elements) == 0 {
				t.Fatal("a refusal with nothing to record")
			}
			return
		}
		if !b.Single && (len(b.Elements) == 0 || len(b.Elements) > max) {
			t.Fatalf("%d elements accepted with a limit of %d", len(b.Elements), max)
		}
		for i, q := range b.Elements {
			what := fmt.Sprintf("element %d", i)
			checkParams(t, what, q.Params)
			roundTrip(t, what, q)
			if err := ValidDNIOrNIE(q.Subject.ID); err != nil {
				t.Fatalf("%s: accepted subject id %q: %v", what, q.Subject.ID, err)
			}
		}
	})
}

func BenchmarkParseBatch(b *testing.B) {
	list := subjectsList(1000)
	for i := 0; i < len(list); i += 10 {
		// Some elements give their own params, case or consent, as real
		// batches do.
		e := list[i].(map[string]any)
		e["params"] = map[string]any{"municipality": "17079"}
		e["case_id"] = "EXP-2026-" + strconv.Itoa(i)
		if i%20 == 0 {
			e["legal_basis"] = map[string]any{"type": "consent", "consent_id": "0193-" + strconv.Itoa(i)}
		}
	}
	body := batchWith(b, edit{"subjects", list})
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := ParseBatch(body, 1000); err != nil {
			b.Fatal(err)
		}
	}
}
