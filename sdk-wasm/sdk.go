// Package sdk is what a data owner uses to write a Pont adapter in Go: it
// decodes the broker's query, runs the adapter's handler and encodes its
// answer, and gives the handler the host's capabilities (HTTP to the allowed
// hosts, configuration, logging). It changes only when the adapter ABI
// (ABI.md) or the author-facing API changes.
//
// An adapter is a main package built as a WASI reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o padro.wasm .
//
// with an empty main and its handler registered from init:
//
//	func main() {}
//
//	func init() { sdk.Handle(handle) }
//
// Built for any other GOOS the same API runs natively against a replaceable
// Host; the sdktest package uses that to run an adapter with plain go test.
//
// The package uses the standard library only, and reads the query and writes
// answers built with Object without reflection, because encoding/json
// dominates the cost of a call inside a Wasm guest.
package sdk

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/pontexchange/pont/sdk-wasm/abi"
)

// Subject is the citizen the query is about. It is the ABI's type (package
// abi), so that the SDK and the broker read the same fields.
type Subject = abi.Subject

// Request is one query, as the broker passes it to the adapter.
type Request struct {
	TransferID string
	Service    string
	Purpose    string
	Requester  string
	Procedure  string
	Subject    Subject
	// Params are the service's params, each value the raw JSON text.
	Params map[string]json.RawMessage
}

// Param returns the value of a string param, the raw JSON text of a param
// of any other type (a number, an object), or "" when it is absent or null.
func (r *Request) Param(name string) string {
	raw, ok := r.Params[name]
	if !ok || len(raw) == 0 {
		return ""
	}
	if raw[0] == '"' {
		s := scanner{b: raw}
		v := s.str()
		if s.err == nil {
			return v
		}
	}
	if string(raw) == "null" {
		return ""
	}
	return string(raw)
}

// handler is the adapter's registered handler; a Wasm instance runs one
// call at a time, so it needs no lock.
var handler func(*Request) (any, error)

// Handle registers the adapter's handler; call it from init. The last
// registration wins.
//
// The handler's value becomes the answer's data, which must be a JSON
// object: an *Object, a json.RawMessage or []byte holding JSON, which are
// used as they are, or any value encoding/json encodes to an object. A nil
// value answers an empty object.
//
// A non-nil error becomes the answer's error: an *Error keeps its code (make
// them with SubjectNotFound, SourceUnavailable, InvalidParams or
// Misconfigured); any other
// error, an *HTTPError included, answers source_unavailable with the error's
// text as message, because a failure the adapter did not classify is most
// often its source's.
func Handle(h func(*Request) (any, error)) {
	handler = h
}

// The answer error codes of the ABI.
const (
	CodeSubjectNotFound   = abi.CodeSubjectNotFound
	CodeSourceUnavailable = abi.CodeSourceUnavailable
	CodeInvalidParams     = abi.CodeInvalidParams
	CodeMisconfigured     = abi.CodeMisconfigured
)

// codeAdapterBug marks an answer that the adapter could not build. It is
// deliberately not an ABI code: the broker treats it as a broken answer
// (adapter_failed) and logs the message.
const codeAdapterBug = "adapter_bug"

// Error is an answer error with one of the ABI's codes.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// SubjectNotFound reports that the source does not know the subject.
func SubjectNotFound(format string, args ...any) error {
	return &Error{Code: CodeSubjectNotFound, Message: sprintf(format, args)}
}

// SourceUnavailable reports that the source system did not answer usably;
// the caller may retry later.
func SourceUnavailable(format string, args ...any) error {
	return &Error{Code: CodeSourceUnavailable, Message: sprintf(format, args)}
}

// InvalidParams reports that the query's params are wrong for this source;
// name the param in the message.
func InvalidParams(format string, args ...any) error {
	return &Error{Code: CodeInvalidParams, Message: sprintf(format, args)}
}

// Misconfigured reports that the adapter's own configuration on this node
// is missing or invalid: name the config key in the message, never its
// value (it may be a secret). The requester gets adapter_misconfigured,
// the broker logs it as an error for the operator, and retrying does not
// help until the operator fixes the configuration.
func Misconfigured(format string, args ...any) error {
	return &Error{Code: CodeMisconfigured, Message: sprintf(format, args)}
}

// sprintf is fmt.Sprintf, skipped for a message without arguments or verbs:
// formatting is a measurable part of a call inside a Wasm guest.
func sprintf(format string, args []any) string {
	if len(args) == 0 && !strings.Contains(format, "%") {
		return format
	}
	return fmt.Sprintf(format, args...)
}

// Level is a log message's severity.
type Level int32

// The log levels of the ABI's log import. They are named like log/slog's
// because Error is the answer error type.
const (
	LevelDebug Level = Level(abi.LogDebug)
	LevelInfo  Level = Level(abi.LogInfo)
	LevelWarn  Level = Level(abi.LogWarn)
	LevelError Level = Level(abi.LogError)
)

// Log writes msg to the broker's log, tagged with the adapter's name and the
// transfer id. Never log personal data: the broker's log is not the
// transfer log.
func Log(level Level, msg string) {
	hostLog(level, msg)
}

// Logf is Log with a format.
func Logf(level Level, format string, args ...any) {
	hostLog(level, fmt.Sprintf(format, args...))
}

// Config returns the value of a configuration key that the manifest
// declares; ok is false for an undeclared key or one with no value.
func Config(key string) (value string, ok bool) {
	return hostConfig(key)
}

// HTTPRequest is a request for the host to send.
type HTTPRequest struct {
	// Method defaults to GET.
	Method string
	// URL must be on one of the manifest's allowed hosts.
	URL    string
	Header map[string]string
	// Body travels as a UTF-8 string; invalid UTF-8 is replaced.
	Body []byte
}

// HTTPResponse is the source's answer, whatever its status.
type HTTPResponse struct {
	Status int
	// Header holds the first value of each header, canonical keys.
	Header map[string]string
	// Body is the body's bytes exactly as the source sent them, in
	// whatever charset; Text decodes them to UTF-8.
	Body []byte
	// Charset is the charset parameter of the Content-Type, lowercased
	// ("iso-8859-1"); empty when the source declared none.
	Charset string
}

// HTTPError is the host's refusal or failure to carry a request. Its Code is
// one of the HTTPError… constants.
type HTTPError struct {
	Code    string
	Message string
}

func (e *HTTPError) Error() string { return "http " + e.Code + ": " + e.Message }

// The codes of HTTPError.
const (
	HTTPHostNotAllowed = abi.HTTPHostNotAllowed
	HTTPTimeout        = abi.HTTPTimeout
	HTTPTooLarge       = abi.HTTPTooLarge
	HTTPNetwork        = abi.HTTPNetwork
	HTTPBadRequest     = abi.HTTPBadRequest
)

// Fetch asks the host to send req and returns the response, or an
// *HTTPError when the host refused or failed.
func Fetch(req HTTPRequest) (*HTTPResponse, error) {
	out := hostHTTP(encodeHTTPRequest(req))
	return decodeHTTPResult(out)
}

// Get fetches url with GET.
func Get(url string) (*HTTPResponse, error) {
	return Fetch(HTTPRequest{Method: "GET", URL: url})
}

// run answers one input JSON with the answer JSON: the body of pont_handle.
func run(input []byte) []byte {
	h := handler
	if h == nil {
		return errorAnswer(codeAdapterBug, "sdk: no handler registered; call sdk.Handle from init")
	}
	req, err := decodeRequest(input)
	if err != nil {
		return errorAnswer(CodeInvalidParams, "sdk: the input is not the ABI's query JSON: "+err.Error())
	}
	v, err := h(req)
	if err != nil {
		e, ok := err.(*Error) // the common case, without errors.As's reflection
		if ok || errors.As(err, &e) {
			return errorAnswer(e.Code, e.Message)
		}
		return errorAnswer(CodeSourceUnavailable, err.Error())
	}
	data, err := encodeData(v)
	if err != nil {
		return errorAnswer(codeAdapterBug, "sdk: encoding the answer: "+err.Error())
	}
	out := make([]byte, 0, len(data)+9)
	out = append(out, `{"data":`...)
	out = append(out, data...)
	return append(out, '}')
}

func encodeData(v any) ([]byte, error) {
	var data []byte
	switch v := v.(type) {
	case nil:
		return []byte("{}"), nil
	case *Object:
		return v.JSON(), nil
	case json.RawMessage:
		data = v
	case []byte:
		data = v
	default:
		var err error
		if data, err = json.Marshal(v); err != nil {
			return nil, err
		}
	}
	if len(data) == 0 {
		return nil, errors.New("the data is empty")
	}
	return data, nil
}

func errorAnswer(code, msg string) []byte {
	b := make([]byte, 0, len(msg)+len(code)+40)
	b = append(b, `{"error":{"code":`...)
	b = appendString(b, code)
	b = append(b, `,"message":`...)
	b = appendString(b, msg)
	return append(b, "}}"...)
}
