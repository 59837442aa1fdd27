package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/pontexchange/pont/exchange/auth"
	"github.com/pontexchange/pont/exchange/envelope"
	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/sdk-wasm/abi"
)

// TestVerifyModeIsTheBrokers holds the pipeline to ABI.md 3.1: in verify
// mode the adapter gets params.mode and params.expected as the requester
// sent them and answers as in consult mode; the broker checks the data,
// compares it and answers only whether it matched.
func TestVerifyModeIsTheBrokers(t *testing.T) {
	expected := map[string]any{"address": map[string]any{"postcode": "17002"}}
	tests := []struct {
		name     string
		expected any // params.expected; nil leaves it out
		answer   func(abi.Input) (json.RawMessage, error)
		want     string // the data answered; "" for an error
		wantErr  fault.Code
	}{
		{"a match", expected, answers(padroAnswer), `{"verified":true}`, ""},
		{"no match", map[string]any{"address": map[string]any{"postcode": "17003"}}, answers(padroAnswer), `{"verified":false}`, ""},
		{"a record, nothing expected", nil, answers(padroAnswer), `{"verified":true}`, ""},
		{"no record", expected, fails(fault.New(fault.SubjectNotFound, "not registered")), `{"verified":false}`, ""},
		{"the source down", expected, fails(fault.New(fault.SourceUnavailable, "503")), "", fault.SourceUnavailable},
		{"an adapter that verifies itself", expected, answers(`{"verified":true}`), "", fault.AdapterFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			r.adapters["padro-17079"].answer = tt.answer
			p := map[string]any{"municipality": "17079", "mode": "verify"}
			if tt.expected != nil {
				p["expected"] = tt.expected
			}
			ans, err := r.p.Query(context.Background(), requester, "padro", query(t, "params", p))
			if tt.wantErr != "" {
				if fault.CodeOf(err) != tt.wantErr {
					t.Fatalf("Query = %v, want %s", err, tt.wantErr)
				}
			} else if err != nil || string(ans.Data) != tt.want {
				t.Fatalf("Query = %s, %v; want %s", ans.Data, err, tt.want)
			}
			a := r.adapters["padro-17079"]
			if len(a.calls) != 1 {
				t.Fatalf("the adapter was called %d times", len(a.calls))
			}
			sent, _ := json.Marshal(p)
			if !jsonEqual(t, a.calls[0].Params, sent) {
				t.Errorf("the adapter got params %s, the requester sent %s", a.calls[0].Params, sent)
			}
		})
	}
}

// TestAdapterInput holds the pipeline to the input members of ABI.md 3.1:
// a requester's query passes its purpose, organisation, procedure and
// subject; a citizen's read of her own data passes none of the first three.
func TestAdapterInput(t *testing.T) {
	r := newRig(t)
	r.answers("padro-17079", padroAnswer)
	if _, err := r.p.Query(context.Background(), requester, "padro", query(t, "subject", map[string]any{"id_type": "dni", "id": "67890123B", "name": "Núria"})); err != nil {
		t.Fatal(err)
	}
	her := auth.Principal{Role: auth.RoleCitizen, Sub: "67890123B"}
	if _, err := r.p.SelfAccess(context.Background(), her, "padro", envelope.StringParams(map[string]string{"municipality": "17079"})); err != nil {
		t.Fatal(err)
	}
	calls := r.adapters["padro-17079"].calls
	if len(calls) != 2 {
		t.Fatalf("%d calls", len(calls))
	}
	rec := r.log.records
	want := []abi.Input{
		{ABI: abi.Version, TransferID: rec[0].ID, Service: "padro", Purpose: "demo", Requester: requester.Org, Procedure: "DEMO",
			Subject: abi.Subject{IDType: "DNI", ID: "67890123B", Name: "Núria"}},
		{ABI: abi.Version, TransferID: rec[1].ID, Service: "padro",
			Subject: abi.Subject{IDType: "DNI", ID: "67890123B"}},
	}
	for i, in := range calls {
		in.Params = nil
		if !reflect.DeepEqual(in, want[i]) {
			t.Errorf("call %d: input %+v, want %+v", i, in, want[i])
		}
	}
}

func answers(data string) func(abi.Input) (json.RawMessage, error) {
	return func(abi.Input) (json.RawMessage, error) { return json.RawMessage(data), nil }
}

func fails(err error) func(abi.Input) (json.RawMessage, error) {
	return func(abi.Input) (json.RawMessage, error) { return nil, err }
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}
