package pipeline

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pontexchange/pont/exchange/fault"
)

// An answer that breaks the schema fails with adapter_failed naming where
// and which rule, and nothing of the offending value: the error is logged
// (its Error text), answered (its message) and recorded (the reasons), and
// the value is the citizen's data.
func TestSchemaBreakQuotesNoValue(t *testing.T) {
	const street, date = "Carrer del Secret 7", "el dia de Sant Jordi"
	tests := []struct {
		name, data string
		want       []string // parts of the message
	}{
		{"postcode and date", strings.Replace(strings.Replace(padroAnswer, `"17002"`, `"`+street+`"`, 1), `"2022-02-02"`, `"`+date+`"`, 1),
			[]string{"padro answer schema", "/address/postcode (pattern)", "/registration_date (format)"}},
		{"a list where a string goes", strings.Replace(padroAnswer, `"17002"`, `["`+street+`"]`, 1),
			[]string{"/address/postcode (type)"}},
		{"many", `{"province": {"code": "` + street + `", "name": "` + date + `"}, "x": "` + street + `", "y": 1, "z": 2}`,
			[]string{"the data object (additionalProperties)", "/address (required)", "and 2 more"}},
		{"not an object", `"` + street + `"`, []string{"not a JSON object"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			r.answers("padro-17079", tt.data)
			_, err := r.p.Query(context.Background(), requester, "padro", query(t))
			fe, ok := fault.As(err)
			if !ok || fe.Code != fault.AdapterFailed {
				t.Fatalf("Query = %v, want adapter_failed", err)
			}
			rec := r.log.last(t)
			reasons, _ := json.Marshal(rec.Reasons)
			for what, text := range map[string]string{"error": err.Error(), "message": fe.Message, "recorded reasons": string(reasons)} {
				if strings.Contains(text, "Secret") || strings.Contains(text, "Jordi") {
					t.Errorf("the %s quotes the answer's values: %s", what, text)
				}
			}
			for _, w := range tt.want {
				if !strings.Contains(fe.Message, w) {
					t.Errorf("message %q does not name %q", fe.Message, w)
				}
				if !strings.Contains(string(reasons), w) {
					t.Errorf("recorded reasons %s do not name %q", reasons, w)
				}
			}
		})
	}
}
