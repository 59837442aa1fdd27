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
