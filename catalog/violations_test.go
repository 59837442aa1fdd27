package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// An answer's violations name where and which keyword, and nothing of the
// values there, which are personal data.
func TestAnswerViolations(t *testing.T) {
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	padro := func(postcode, date string) string {
		return fmt.Sprintf(`{
			"province": {"code": "08", "name": "Barcelona"},
			"municipality": {"code": "08019", "name": "Barcelona"},
			"address": {"street_type": "C", "street_name": "de Mallorca", "number": "401", "postcode": %q},
			"registration_date": %q
		}`, postcode, date)
	}
	// Values a reader would recognise if they leaked.
	const street, date = "Carrer del Secret 7", "el dia de Sant Jordi"
	tests := []struct {
		name, service, data string
		want                []Violation
	}{
		{"valid", "padro", padro("08013", "2015-03-12"), nil},
		{"pattern and format", "padro", padro(street, date), []Violation{{"/address/postcode", "pattern"}, {"/registration_date", "format"}}},
		{"missing members", "padro", `{"province": {"code": "08"}, "municipality": {"code": "08019", "name": "Barcelona"}}`,
			[]Violation{{"/address", "required"}, {"/province/name", "required"}, {"/registration_date", "required"}}},
		{"stray member", "padro", strings.Replace(padro("08013", "2015-03-12"), `"number"`, `"phone": "600000000", "number"`, 1),
			[]Violation{{"/address", "additionalProperties"}}},
		{"type in a list", "prestacions", `{"benefits": [{"code": "A01", "name": "Jubilació", "type": "contributory", "managing_body": {"code": "INSS", "name": "INSS"}, "gross_amount": "` + street + `", "net_amount": 5, "payments": 14, "effective_date": "2019-01-01"}]}`,
			[]Violation{{"/benefits/0/gross_amount", "type"}}},
		{"enum", "titulacions", `{"titles": [{"kind": "university", "university": {"code": "022", "name": "UB"}, "title": {"code": "1", "name": "Grau"}, "type": {"code": "` + street + `", "name": "?"}, "completion_date": "2012-06-30", "registry_number": "1"}]}`,
			[]Violation{{"/titles/0/type/code", "enum"}}},
		{"non-university title", "titulacions", `{"titles": [{"kind": "non_university", "centre": {"code": "08013275", "name": "Institut Escola del Treball"}, "title": {"code": "IFC03S", "name": "Técnico Superior"}, "type": {"code": "TS", "name": "Técnico Superior"}, "completion_date": "2011-06-22", "registry_number": "2011613942"}]}`, nil},
		{"university title without its university", "titulacions", `{"titles": [{"kind": "university", "title": {"code": "1", "name": "Grau"}, "type": {"code": "0H", "name": "Grado"}, "completion_date": "2012-06-30", "registry_number": "1"}]}`,
			[]Violation{{"/titles/0/university", "required"}}},
		{"non-university title with a university", "titulacions", `{"titles": [{"kind": "non_university", "university": {"code": "022", "name": "UB"}, "title": {"code": "1", "name": "Grau"}, "type": {"code": "TS", "name": "Técnico Superior"}, "completion_date": "2012-06-30", "registry_number": "1"}]}`,
			[]Violation{{"/titles/0/university", "false"}}},
		{"title without its kind", "titulacions", `{"titles": [{"university": {"code": "022", "name": "UB"}, "title": {"code": "1", "name": "Grau"}, "type": {"code": "0H", "name": "Grado"}, "completion_date": "2012-06-30", "registry_number": "1"}]}`,
			[]Violation{{"/titles/0/kind", "required"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mustService(t, c, tt.service).AnswerViolations(json.RawMessage(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("AnswerViolations\n got %v\nwant %v", got, tt.want)
			}
			if (len(got) == 0) != (mustService(t, c, tt.service).ValidateAnswer(json.RawMessage(tt.data)) == nil) {
				t.Errorf("AnswerViolations and ValidateAnswer disagree on %s", tt.data)
			}
			for _, v := range got {
				if s := v.String(); strings.Contains(s, "Secret") || strings.Contains(s, "Jordi") {
					t.Errorf("violation %s quotes the data", s)
				}
			}
		})
	}
	if _, err := mustService(t, c, "padro").AnswerViolations(json.RawMessage(`["` + street + `"]`)); !errors.Is(err, ErrNotAnObject) || strings.Contains(err.Error(), "Secret") {
		t.Errorf("AnswerViolations of an array = %v, want ErrNotAnObject", err)
	}
}
