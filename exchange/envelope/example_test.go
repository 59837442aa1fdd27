package envelope_test

import (
	"fmt"

	"github.com/pontexchange/pont/exchange/envelope"
	"github.com/pontexchange/pont/exchange/fault"
)

func ExampleParse() {
	_, err := envelope.Parse([]byte(`{
	  "procedure": {"code": "AJUT-MENJADOR"},
	  "purpose": "social-benefits",
	  "legal_basis": {"type": "law"},
	  "case_id": "EXP-2026-00123",
	  "official": {"id": "38000001E", "name": "Anna Puig"},
	  "subject": {"id_type": "DNI", "id": "12345678-a", "second_name": "x"}
	}`))
	fe, _ := fault.As(err)
	fmt.Println(fe.Code)
	for _, f := range fe.Fields {
		fmt.Printf("%s: %s\n", f.Field, f.Message)
	}
	// Output:
	// invalid_request
	// legal_basis.reference: is required
	// subject.second_name: is not a field of the envelope; the fields here are id_type, id, name, surname1, surname2
	// subject.id: is not a valid DNI: check letter should be Z, not A
}

func ExampleValidNIE() {
	fmt.Println(envelope.ValidNIE("X1234567L"))
	fmt.Println(envelope.ValidNIE(envelope.NormalizeID("x-1234567-t")))
	// Output:
	// <nil>
	// check letter should be L, not T
}

func ExampleParseBatch() {
	b, err := envelope.ParseBatch([]byte(`{
	  "procedure": {"code": "AJUT-MENJADOR"},
	  "purpose": "social-benefits",
	  "legal_basis": {"type": "presumed"},
	  "case_id": "EXP-2026-1",
	  "official": {"id": "38000001E", "name": "Anna Puig"},
	  "params": {"municipality": "08019", "year": 2026},
	  "subjects": [
	    {"subject": {"id_type": "DNI", "id": "11111111H"}},
	    {"subject": {"id_type": "NIE", "id": "X1234567L"}, "params": {"municipality": "17079"}, "case_id": "EXP-2026-2"},
	    {"subject": {"id_type": "DNI", "id": "22222222J"}, "legal_basis": {"type": "consent", "consent_id": "0193-c"}}
	  ]
	}`), 25)
	if err != nil {
		panic(err)
	}
	for _, q := range b.Elements {
		fmt.Println(q.Subject.ID, q.CaseID, q.LegalBasis.Type, string(q.Params.JSON()))
	}
	// Output:
	// 11111111H EXP-2026-1 presumed {"municipality":"08019","year":2026}
	// X1234567L EXP-2026-2 presumed {"year":2026,"municipality":"17079"}
	// 22222222J EXP-2026-1 consent {"municipality":"08019","year":2026}
}

func ExampleParseBatch_errors() {
	_, err := envelope.ParseBatch([]byte(`{
	  "procedure": {"code": "AJUT-MENJADOR"},
	  "purpose": "social-benefits",
	  "case_id": "EXP-2026-1",
	  "official": {"id": "38000001E", "name": "Anna Puig"},
	  "subjects": [
	    {"subject": {"id_type": "DNI", "id": "11111111A"}, "legal_basis": {"type": "presumed"}},
	    {"subject": {"id_type": "NIE", "id": "X1234567L"}, "params": {"municipality": "17079", "municipality": "08019"}}
	  ]
	}`), 25)
	fe, _ := fault.As(err)
	fmt.Println(fe.Code)
	for _, f := range fe.Fields {
		fmt.Printf("%s: %s\n", f.Field, f.Message)
	}
	// Output:
	// invalid_request
	// subjects[0].subject.id: is not a valid DNI: check letter should be H, not A
	// subjects[1].params.municipality: is given more than once
	// subjects[1].legal_basis: is required
}
