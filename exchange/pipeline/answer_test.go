package pipeline

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzAnswer: whatever an adapter answers, an answer that leaves is valid
// JSON whose data member is, byte for byte, the data that was hashed, and
// minimisation keeps only the named fields.
func FuzzAnswer(f *testing.F) {
	f.Add([]byte(padroAnswer), "address,municipality")
	f.Add([]byte(`{"a":"<&>","b":[1,2.50,{"c":null}],"\u00e0":"\\u2028"}`), "a,\u00e0")
	f.Add([]byte(`{"a":1,"a":2}`), "a")
	f.Add([]byte(" {\n} "), "")
	f.Fuzz(func(t *testing.T, data []byte, fieldList string) {
		compacted, err := compact(data)
		if err != nil {
			return
		}
		if !json.Valid(compacted) {
			t.Fatalf("compact(%q) = %q, not JSON", data, compacted)
		}
		var fields []string
		if fieldList != "" {
			fields = strings.Split(fieldList, ",")
		}
		kept := compacted
		if compacted[0] == '{' {
			if kept, err = minimise(compacted, fields); err != nil {
				t.Fatalf("minimise(%q): %v", compacted, err)
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(kept, &m); err != nil {
				t.Fatalf("minimise(%q) = %q, not an object: %v", compacted, kept, err)
			}
			for k := range m {
				found := false
				for _, f := range fields {
					found = found || f == k
				}
				if !found {
					t.Fatalf("minimise kept %q, not among %v", k, fields)
				}
			}
		}
		ans := encodeAnswer("t-1", served{service: "padro", data: kept, source: Source{Adapter: "a<b>", Version: "1", ModuleSHA256: "x"}})
		ans = ans.withReceipt([]byte{1, 2, 3})
		var body struct {
			Data    json.RawMessage `json:"data"`
			Receipt Receipt         `json:"receipt"`
		}
		if err := json.Unmarshal(ans.Body, &body); err != nil {
			t.Fatalf("body %q is not JSON: %v", ans.Body, err)
		}
		if !bytes.Equal(body.Data, ans.Data) || !bytes.Equal(ans.Data, kept) {
			t.Fatalf("the body's data %q is not the data hashed %q", body.Data, kept)
		}
		if body.Receipt.TransferID != "t-1" || !bytes.Equal(body.Receipt.LeafHash, []byte{1, 2, 3}) {
			t.Fatalf("receipt %+v", body.Receipt)
		}
	})
}
