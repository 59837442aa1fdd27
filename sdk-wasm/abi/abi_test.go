package abi_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/pontexchange/pont/sdk-wasm/abi"
)

// The documents of ABI.md, which the types must read and write member for
// member.
func TestTypesReadABIDocuments(t *testing.T) {
	body := `{"municipality":{"code":"08019"}}`
	tests := []struct {
		name string
		doc  string
		into any
		want any
	}{
		{"input", `{"abi": 1, "transfer_id": "0192f0c4-6a3e-7c1d-9e55-0a1b2c3d4e5f", "service": "padro",
			"purpose": "social-benefits", "requester": "P0801900B", "procedure": "AJUT-MENJADOR",
			"subject": {"id_type": "DNI", "id": "12345678Z", "name": "Maria", "surname1": "Puig", "surname2": "Soler"},
			"params": {"municipality": "08019", "mode": "consult"}}`,
			&abi.Input{},
			&abi.Input{ABI: abi.Version, TransferID: "0192f0c4-6a3e-7c1d-9e55-0a1b2c3d4e5f", Service: "padro",
				Purpose: "social-benefits", Requester: "P0801900B", Procedure: "AJUT-MENJADOR",
				Subject: abi.Subject{IDType: "DNI", ID: "12345678Z", Name: "Maria", Surname1: "Puig", Surname2: "Soler"},
				Params:  json.RawMessage(`{"municipality": "08019", "mode": "consult"}`)}},
		{"data answer", `{"data": ` + body + `}`, &abi.Answer{}, &abi.Answer{Data: json.RawMessage(body)}},
		{"error answer", `{"error": {"code": "subject_not_found", "message": "no inhabitant with this id"}}`,
			&abi.Answer{}, &abi.Answer{Error: &abi.Error{Code: abi.CodeSubjectNotFound, Message: "no inhabitant with this id"}}},
		{"http request", `{"method": "GET", "url": "http://padro-08019.sources.pont.test/habitants/12345678Z",
			"headers": {"Accept": "application/json"}, "body": "..."}`,
			&abi.HTTPRequest{}, &abi.HTTPRequest{Method: "GET", URL: "http://padro-08019.sources.pont.test/habitants/12345678Z",
				Headers: map[string]string{"Accept": "application/json"}, Body: ptr("...")}},
		{"http response", `{"status": 200, "headers": {"Content-Type": "application/json"}, "body": "..."}`,
			&abi.HTTPResponse{}, &abi.HTTPResponse{Status: 200, Headers: map[string]string{"Content-Type": "application/json"}, Body: ptr("...")}},
		{"http response in latin-1", `{"status": 200, "headers": {"Content-Type": "application/json; charset=ISO-8859-1"},
			"body_base64": "eyJub20iOiJQbGHnYSJ9", "charset": "iso-8859-1"}`,
			&abi.HTTPResponse{}, &abi.HTTPResponse{Status: 200, Headers: map[string]string{"Content-Type": "application/json; charset=ISO-8859-1"},
				BodyBase64: []byte("{\"nom\":\"Pla\xe7a\"}"), Charset: "iso-8859-1"}},
		{"http failure", `{"error": {"code": "host_not_allowed", "message": "..."}}`,
			&abi.HTTPFailure{}, &abi.HTTPFailure{Error: abi.Error{Code: abi.HTTPHostNotAllowed, Message: "..."}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := json.Unmarshal([]byte(tt.doc), tt.into); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(tt.into, tt.want) {
				t.Errorf("read %+v, want %+v", tt.into, tt.want)
			}
		})
	}
}

// What a host writes: optional members are left out, not written empty.
func TestTypesWriteABIDocuments(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"subject without names", abi.Subject{IDType: "NIE", ID: "X1234567L"}, `{"id_type":"NIE","id":"X1234567L"}`},
		{"data answer", abi.Answer{Data: json.RawMessage(`{}`)}, `{"data":{}}`},
		{"error answer", abi.Answer{Error: &abi.Error{Code: abi.CodeInvalidParams, Message: "municipality: unknown"}},
			`{"error":{"code":"invalid_params","message":"municipality: unknown"}}`},
		{"bare GET", abi.HTTPRequest{URL: "http://s.test/x"}, `{"url":"http://s.test/x"}`},
		{"empty body", abi.HTTPRequest{Method: "POST", URL: "http://s.test/x", Body: ptr("")},
			`{"method":"POST","url":"http://s.test/x","body":""}`},
		{"utf-8 response", abi.NewHTTPResponse(200, map[string]string{"Content-Type": "application/json"}, []byte(`{"nom":"Plaça"}`)),
			`{"status":200,"headers":{"Content-Type":"application/json"},"body":"{\"nom\":\"Plaça\"}"}`},
		{"latin-1 response", abi.NewHTTPResponse(200, map[string]string{"Content-Type": "application/json; charset=ISO-8859-1"}, []byte("{\"nom\":\"Pla\xe7a\"}")),
			`{"status":200,"headers":{"Content-Type":"application/json; charset=ISO-8859-1"},"body_base64":"eyJub20iOiJQbGHnYSJ9","charset":"iso-8859-1"}`},
		{"ascii declared latin-1", abi.NewHTTPResponse(200, map[string]string{"Content-Type": "text/plain;charset=latin1"}, []byte("ok")),
			`{"status":200,"headers":{"Content-Type":"text/plain;charset=latin1"},"body":"ok","charset":"latin1"}`},
		{"empty response body", abi.NewHTTPResponse(204, map[string]string{}, nil), `{"status":204,"headers":{},"body":""}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("wrote %s, want %s", got, tt.want)
			}
		})
	}
}

func ptr(s string) *string { return &s }

// The host never changes a body's bytes: the guest reads back exactly what
// the source sent, through body or body_base64.
func TestNewHTTPResponseKeepsTheBytes(t *testing.T) {
	bodies := [][]byte{
		nil,
		[]byte("Plaça de Sant Jaume"),
		[]byte("Pla\xe7a de Sant Jaume"),      // ISO-8859-1
		[]byte("\x80 \x9f \xa4"),              // windows-1252 and ISO-8859-15 differ from Latin-1 here
		[]byte("\x1f\x8b\x08\x00 gzip bytes"), // a compressed body the guest asked for itself
		[]byte("half \xe2\x82"),               // UTF-8 cut in the middle of a character
		[]byte("\xef\xbf\xbd"),                // U+FFFD itself is valid UTF-8
	}
	for _, b := range bodies {
		raw, err := json.Marshal(abi.NewHTTPResponse(200, nil, b))
		if err != nil {
			t.Fatal(err)
		}
		var back abi.HTTPResponse
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatal(err)
		}
		var got []byte
		switch {
		case back.Body != nil && back.BodyBase64 == nil:
			got = []byte(*back.Body)
		case back.Body == nil && back.BodyBase64 != nil:
			got = back.BodyBase64
		default:
			t.Fatalf("%q: %s carries not exactly one of body and body_base64", b, raw)
		}
		if !bytes.Equal(got, b) {
			t.Errorf("%q came back as %q through %s", b, got, raw)
		}
	}
}

func TestContentTypeCharset(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"application/json", ""},
		{"application/json; charset=ISO-8859-1", "iso-8859-1"},
		{"application/json;charset=utf-8", "utf-8"},
		{`text/plain; format=flowed; Charset="Windows-1252"`, "windows-1252"},
		{"text/plain; charset = latin1 ;", "latin1"},
		{"text/plain; charsets=utf-8", ""},
		{"text/plain; charset", ""},
	}
	for _, tt := range tests {
		if got := abi.ContentTypeCharset(tt.in); got != tt.want {
			t.Errorf("ContentTypeCharset(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
