// Package abi holds the data of the Pont adapter ABI (sdk-wasm/ABI.md) as Go
// types: the input the host passes to pont_handle, the answer the guest
// returns, the http_call request and result, and the codes and levels the
// ABI names. The broker's host (exchange/wasmhost) and the Go SDK (package
// sdk) both use it, so that the two sides of the contract cannot drift
// apart. It uses the standard library only and builds for GOOS=wasip1.
//
// The types are the wire format and nothing more: ABI.md stays the
// contract, and an adapter in another language is written from ABI.md
// alone.
package abi

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Version is the ABI version a host writes in Input.ABI.
const Version = 1

// Subject is the citizen a query is about (ABI.md 3.1). The name parts are
// present only when the requester gave them.
type Subject struct {
	IDType   string `json:"id_type"`
	ID       string `json:"id"`
	Name     string `json:"name,omitempty"`
	Surname1 string `json:"surname1,omitempty"`
	Surname2 string `json:"surname2,omitempty"`
}

// Input is the JSON the host passes to pont_handle (ABI.md 3.1).
type Input struct {
	// ABI is always Version.
	ABI int `json:"abi"`
	// TransferID is the transfer log's id of the query: the one thing an
	// adapter may put in its log lines to tie them to the query.
	TransferID string  `json:"transfer_id"`
	Service    string  `json:"service"`
	Purpose    string  `json:"purpose"`
	Requester  string  `json:"requester"`
	Procedure  string  `json:"procedure"`
	Subject    Subject `json:"subject"`
	// Params is the service's params, a JSON object; empty means {}.
	Params json.RawMessage `json:"params"`
}

// The answer error codes (ABI.md 3.2): the only codes an error answer may
// carry. Any other code makes the answer broken.
const (
	// CodeSubjectNotFound: the source does not know the subject.
	CodeSubjectNotFound = "subject_not_found"
	// CodeSourceUnavailable: the source did not answer usably; retrying
	// later may work.
	CodeSourceUnavailable = "source_unavailable"
	// CodeInvalidParams: the params are wrong for this source; the message
	// names the param.
	CodeInvalidParams = "invalid_params"
	// CodeMisconfigured: the adapter's own configuration is missing or
	// invalid (a config_get key without a value, a source_url that is not a
	// URL); the message names the key. Only the operator can fix it.
	CodeMisconfigured = "misconfigured"
)

// Answer is the JSON the guest returns from pont_handle (ABI.md 3.2):
// exactly one of Data (a JSON object) and Error.
type Answer struct {
	Data  json.RawMessage `json:"data,omitempty"`
	Error *Error          `json:"error,omitempty"`
}

// Error is an error answer's error, and the error of an http_call result.
// Its message reaches the requester and the logs: never personal data.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// HTTPRequest is the JSON a guest passes to http_call (ABI.md 4.2).
type HTTPRequest struct {
	// Method defaults to GET.
	Method string `json:"method,omitempty"`
	// URL is absolute, http or https, on one of the manifest's allowed
	// hosts.
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	// Body is a UTF-8 string; nil sends no body.
	Body *string `json:"body,omitempty"`
}

// HTTPResponse is the result of an http_call that reached the source,
// whatever its status (ABI.md 4.2). A host makes one with NewHTTPResponse,
// which chooses between Body and BodyBase64.
type HTTPResponse struct {
	Status int `json:"status"`
	// Headers holds the first value of each header, canonical keys.
	Headers map[string]string `json:"headers"`
	// Body is the body when it is valid UTF-8 (an empty body included);
	// nil otherwise.
	Body *string `json:"body,omitempty"`
	// BodyBase64 is the body's bytes when they are not valid UTF-8;
	// encoding/json writes and reads it as standard base64 with padding.
	BodyBase64 []byte `json:"body_base64,omitempty"`
	// Charset is the charset parameter of the response's Content-Type,
	// lowercased; empty when the source declared none.
	Charset string `json:"charset,omitempty"`
}

// NewHTTPResponse is the result of an http_call whose source answered status
// with headers (first values, canonical keys) and body. The body's bytes
// reach the guest unchanged: as Body when they are valid UTF-8, as
// BodyBase64 otherwise, never replaced or transcoded, so that a source that
// answers in ISO-8859-1 can still be read.
func NewHTTPResponse(status int, headers map[string]string, body []byte) HTTPResponse {
	r := HTTPResponse{Status: status, Headers: headers, Charset: ContentTypeCharset(headers["Content-Type"])}
	if utf8.Valid(body) {
		s := string(body)
		r.Body = &s
	} else {
		r.BodyBase64 = body
	}
	return r
}

// ContentTypeCharset returns the charset parameter of a Content-Type value,
// unquoted and lowercased, or "" when there is none. It reads what sources
// actually send leniently (a stray semicolon, spaces around '='), since a
// charset it missed would leave an adapter guessing.
func ContentTypeCharset(contentType string) string {
	_, params, _ := strings.Cut(contentType, ";")
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		name, value, ok := strings.Cut(p, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "charset") {
			continue
		}
		value = strings.TrimSpace(value)
		if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = value[1 : len(value)-1]
		}
		return strings.ToLower(value)
	}
	return ""
}

// HTTPFailure is the result of an http_call that the host refused or could
// not carry out (ABI.md 4.2); its Error's code is one of the HTTP… codes.
type HTTPFailure struct {
	Error Error `json:"error"`
}

// The error codes of an http_call result (ABI.md 4.2).
const (
	// HTTPHostNotAllowed: the URL's origin, or a redirect's, is not in the
	// manifest's allowed_hosts; nothing was sent to it.
	HTTPHostNotAllowed = "host_not_allowed"
	// HTTPTimeout: the request took longer than the host's own limit for
	// one request while the call still had time. When the call's deadline
	// passes during http_call there is no result: the host stops the call
	// (adapter_timeout).
	HTTPTimeout = "timeout"
	// HTTPTooLarge: the response body exceeds the host's limit.
	HTTPTooLarge = "too_large"
	// HTTPNetwork: the connection failed.
	HTTPNetwork = "network"
	// HTTPBadRequest: the request lies outside the guest's memory, is not
	// the ABI's JSON, or its URL is not absolute; or http_call was made
	// while the instance started (_initialize), when no query is under way.
	HTTPBadRequest = "bad_request"
)

// MaxLogBytes is the longest log message the host keeps (ABI.md 4.1, 5):
// a longer one, or a longer stdout or stderr line, is truncated.
const MaxLogBytes = 4096

// The levels of the log import (ABI.md 4.1); anything above LogError
// counts as LogError.
const (
	LogDebug int32 = 0
	LogInfo  int32 = 1
	LogWarn  int32 = 2
	LogError int32 = 3
)
