package wasmhost

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/sdk-wasm/abi"
)

func TestEncodeInput(t *testing.T) {
	in := abi.Input{
		TransferID: "7c1e0a52-0000-4000-8000-000000000001", Service: "padro", Purpose: "social-benefits",
		Requester: "P0801900B", Procedure: "AJUT-MENJADOR",
		// Strings that encoding/json must escape, and invalid UTF-8.
		Subject: abi.Subject{IDType: "DNI", ID: "12345678Z", Name: "Maria \"la\" <Puig>\n", Surname1: "Soler\xff"},
	}
	tests := []struct {
		name       string
		abiVersion int
		params     string
		// want is the params member as the adapter gets it.
		want string
	}{
		{"params as they are", 0, `{"municipality": "08019", "n": [1, {"a": null}]}`, `{"municipality": "08019", "n": [1, {"a": null}]}`},
		{"the host sets the ABI version", 7, `{}`, `{}`},
		{"no params", 0, ``, `{}`},
		{"blank params", 0, " \n\t", `{}`},
		{"params with space around", 0, " {\"a\":1} \n", `{"a":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := in
			q.ABI, q.Params = tt.abiVersion, json.RawMessage(tt.params)
			b, err := encodeInput(q)
			if err != nil {
				t.Fatalf("encodeInput: %v", err)
			}
			var got abi.Input
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("the input %s is not JSON: %v", b, err)
			}
			want := in
			want.ABI, want.Params = abi.Version, json.RawMessage(tt.want)
			want.Subject.Surname1 = "Soler\uFFFD"
			if !reflect.DeepEqual(got, want) {
				t.Errorf("the adapter reads\n%+v\nwant\n%+v\nfrom %s", got, want, b)
			}
		})
	}
	for _, params := range []string{`[1]`, `"x"`, `{"a":`, `null`} {
		t.Run("refuses "+params, func(t *testing.T) {
			q := in
			q.Params = json.RawMessage(params)
			if _, err := encodeInput(q); fault.CodeOf(err) != fault.InvalidRequest {
				t.Errorf("encodeInput with params %s: %v, want invalid_request", params, err)
			}
		})
	}
}

func BenchmarkEncodeInput(b *testing.B) {
	in := query(`{"behave":"ok","municipality":"08019"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encodeInput(in); err != nil {
			b.Fatal(err)
		}
	}
}

func TestLogLimiter(t *testing.T) {
	t0 := time.Now()
	l := newLogLimiter(10, 3) // a line every 100 ms, after a burst of 3
	steps := []struct {
		at          time.Duration
		ok          bool
		wantDropped uint64
	}{
		{0, true, 0}, {0, true, 0}, {0, true, 0}, // the burst
		{0, false, 0}, {50 * time.Millisecond, false, 0}, // over the limit: dropped
		{100 * time.Millisecond, true, 2}, // refilled: says how many were dropped
		{100 * time.Millisecond, false, 0},
		{200 * time.Millisecond, true, 1},
		{time.Hour, true, 0}, {time.Hour, true, 0}, {time.Hour, true, 0}, // the burst again, no more
		{time.Hour, false, 0},
	}
	for i, s := range steps {
		ok, dropped := l.allowAt(t0.Add(s.at))
		if ok != s.ok || dropped != s.wantDropped {
			t.Fatalf("line %d at +%v: allow = %v, %d dropped; want %v, %d", i, s.at, ok, dropped, s.ok, s.wantDropped)
		}
	}
}
