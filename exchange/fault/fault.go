// Package fault defines the errors that cross Pont's layers: each carries a
// stable code that callers of the API can rely on, the fields that were wrong
// and the policy reasons behind a refusal. It changes only when a new kind of
// failure becomes part of the public contract.
//
// Each code has one HTTP status and one SCSP v3 status code (SpecOf), so
// that the API answers and the transfer log records the same ones; every
// other package only chooses the code.
package fault

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// Code is a stable, machine-readable problem code, part of the public API.
type Code string

// The codes Pont answers with. Each comment says what a caller should do.
const (
	// InvalidRequest: the envelope or params are malformed; fix the named fields.
	InvalidRequest Code = "invalid_request"
	// InvalidSubjectID: the DNI/NIE is malformed or its check letter is wrong.
	InvalidSubjectID Code = "invalid_subject_id"
	// TooManySubjects: a batch lists more subjects than this endpoint
	// answers; split it, or send it where larger batches are taken.
	TooManySubjects Code = "too_many_subjects"
	// Unauthenticated: no token, or one that failed verification.
	Unauthenticated Code = "unauthenticated"
	// Forbidden: the principal's role may not use this endpoint.
	Forbidden Code = "forbidden"
	// NotAuthorized: the organisation is not authorised for this procedure and service.
	NotAuthorized Code = "not_authorized"
	// PurposeNotAllowed: the purpose is not allowed for this service or procedure.
	PurposeNotAllowed Code = "purpose_not_allowed"
	// LegalBasisRequired: no usable legal basis was given.
	LegalBasisRequired Code = "legal_basis_required"
	// LegalBasisInvalid: the law reference is not one the catalog lists for the service.
	LegalBasisInvalid Code = "legal_basis_invalid"
	// ConsentNotFound: the consent id names no consent record.
	ConsentNotFound Code = "consent_not_found"
	// ConsentExpired: the consent's expiry has passed; ask the citizen for a new one.
	ConsentExpired Code = "consent_expired"
	// ConsentRevoked: the citizen revoked the consent.
	ConsentRevoked Code = "consent_revoked"
	// ConsentMismatch: the consent is not the subject's, or does not cover this requester, procedure, service or purpose.
	ConsentMismatch Code = "consent_mismatch"
	// ObjectionRegistered: the citizen objected to presumed consultation; use consent or a law.
	ObjectionRegistered Code = "objection_registered"
	// SubjectNotFound: the source does not know the subject.
	SubjectNotFound Code = "subject_not_found"
	// UnknownService: the catalog has no such service.
	UnknownService Code = "unknown_service"
	// NotFound: the addressed resource (a transfer, a consent) does not exist.
	NotFound Code = "not_found"
	// MethodNotAllowed: the path exists but not with this HTTP method.
	MethodNotAllowed Code = "method_not_allowed"
	// UnsupportedMediaType: the body is not of a media type the endpoint
	// reads; send application/json.
	UnsupportedMediaType Code = "unsupported_media_type"
	// NoSource: no source serves the query's routing key.
	NoSource Code = "no_source"
	// SourceUnavailable: the source system behind the adapter did not answer; retry later.
	SourceUnavailable Code = "source_unavailable"
	// AdapterFailed: the adapter trapped or answered something unusable.
	AdapterFailed Code = "adapter_failed"
	// AdapterTimeout: the adapter did not answer within its deadline.
	AdapterTimeout Code = "adapter_timeout"
	// AdapterBusy: every instance of the adapter was busy for the whole wait; retry later.
	AdapterBusy Code = "adapter_busy"
	// AdapterMisconfigured: the adapter's configuration on this node (its
	// source_url, a key it needs) is missing or invalid. Only the node's
	// operator can fix it: retrying does not help.
	AdapterMisconfigured Code = "adapter_misconfigured"
	// RateLimited: the caller used up its quota; retry after the Retry-After seconds.
	RateLimited Code = "rate_limited"
	// StoreUnavailable: the transfer log could not be written; nothing was returned. Retry later.
	StoreUnavailable Code = "store_unavailable"
	// Internal: a bug; the log has the details.
	Internal Code = "internal"

	// ModuleRefused: a published module failed a check (its manifest, its
	// owner's rights, its signature, the ABI, its size); nothing was
	// stored. The fields name what to fix.
	ModuleRefused Code = "module_refused"
	// VersionExists: the adapter's version is already published; versions
	// never change, publish a new one.
	VersionExists Code = "version_exists"
	// ScopeTaken: another owner's adapter serves one of the version's
	// services at its scope.
	ScopeTaken Code = "scope_taken"
	// NoEarlierVersion: a rollback found no version active before the
	// current one.
	NoEarlierVersion Code = "no_earlier_version"
	// IdempotencyKeyReused: the requester's Idempotency-Key (or SCSP
	// IdPeticion) names a request accepted before with another body.
	IdempotencyKeyReused Code = "idempotency_key_reused"
	// JobInterrupted: the node running a job's element stopped during its
	// call to the source; the element was not asked again.
	JobInterrupted Code = "job_interrupted"
	// CallbackNotAllowed: a job's callback URL is not one the catalog
	// allows for the requesting organisation.
	CallbackNotAllowed Code = "callback_not_allowed"
)

// Spec is how one code is answered: the HTTP status, a short title, and the
// matching SCSP v3 status code ("" where SCSP has none). See docs/scsp.md.
type Spec struct {
	Status int
	Title  string
	SCSP   string
}

// specs is the one table from codes to statuses and SCSP codes.
var specs = map[Code]Spec{
	InvalidRequest:       {http.StatusBadRequest, "Invalid request", "0401"},
	InvalidSubjectID:     {http.StatusBadRequest, "Invalid subject identifier", "0231"},
	TooManySubjects:      {http.StatusBadRequest, "Invalid number of elements", "0237"},
	Unauthenticated:      {http.StatusUnauthorized, "Unauthenticated", "0305"},
	Forbidden:            {http.StatusForbidden, "Forbidden for this role", "0301"},
	NotAuthorized:        {http.StatusForbidden, "Organisation not authorised", "0301"},
	PurposeNotAllowed:    {http.StatusForbidden, "Purpose not allowed", "0301"},
	LegalBasisRequired:   {http.StatusForbidden, "Legal basis required", "0236"},
	LegalBasisInvalid:    {http.StatusForbidden, "Legal basis invalid", "0236"},
	ConsentNotFound:      {http.StatusForbidden, "Consent not found", "0236"},
	ConsentExpired:       {http.StatusForbidden, "Consent expired", "0236"},
	ConsentRevoked:       {http.StatusForbidden, "Consent revoked", "0236"},
	ConsentMismatch:      {http.StatusForbidden, "Consent does not cover the request", "0236"},
	ObjectionRegistered:  {http.StatusForbidden, "The citizen objected", "0236"},
	SubjectNotFound:      {http.StatusNotFound, "Subject not found", "0233"},
	UnknownService:       {http.StatusNotFound, "Unknown service", "0401"},
	NotFound:             {http.StatusNotFound, "Not found", ""},
	MethodNotAllowed:     {http.StatusMethodNotAllowed, "Method not allowed", ""},
	UnsupportedMediaType: {http.StatusUnsupportedMediaType, "Unsupported media type", "0401"},
	NoSource:             {http.StatusUnprocessableEntity, "No source for the routing key", "0238"},
	SourceUnavailable:    {http.StatusServiceUnavailable, "Source unavailable", "0901"},
	AdapterFailed:        {http.StatusBadGateway, "Adapter failed", "0227"},
	AdapterTimeout:       {http.StatusGatewayTimeout, "Adapter timed out", "0901"},
	AdapterBusy:          {http.StatusServiceUnavailable, "Adapter busy", "0901"},
	// SCSP has no code for a provider's misconfiguration; to the requester
	// the service is unavailable at this node, as for the other 503s
	// without a more precise code.
	AdapterMisconfigured: {http.StatusServiceUnavailable, "Adapter misconfigured", "0901"},
	RateLimited:          {http.StatusTooManyRequests, "Quota exceeded", "0901"},
	StoreUnavailable:     {http.StatusServiceUnavailable, "Transfer log unavailable", "0501"},
	Internal:             {http.StatusInternalServerError, "Internal error", "0502"},
	ModuleRefused:        {http.StatusUnprocessableEntity, "Module refused", ""},
	VersionExists:        {http.StatusConflict, "Version already published", ""},
	ScopeTaken:           {http.StatusConflict, "Scope served by another adapter", ""},
	NoEarlierVersion:     {http.StatusConflict, "No earlier version", ""},
	IdempotencyKeyReused: {http.StatusConflict, "Request id already used", "0229"},
	JobInterrupted:       {http.StatusServiceUnavailable, "Interrupted", "0502"},
	CallbackNotAllowed:   {http.StatusBadRequest, "Callback not allowed", "0401"},
}

// unknownSpec answers a code that is not in the table: a policy may deny
// with a code of its own, which is a refusal whose SCSP meaning is
// "undefined error".
var unknownSpec = Spec{http.StatusForbidden, "Denied", "0904"}

// SpecOf returns how code is answered.
func SpecOf(code Code) Spec {
	if s, ok := specs[code]; ok {
		return s
	}
	return unknownSpec
}

// RetryLater reports whether a problem with code tells the requester to send
// the same request again later (HTTP's Retry-After): the 503 and 429 codes,
// whose cause passes (a source back from maintenance, a quota refilled), but
// not adapter_misconfigured, which waits for the node's operator.
func RetryLater(code Code) bool {
	if code == AdapterMisconfigured {
		return false
	}
	s := SpecOf(code).Status
	return s == http.StatusServiceUnavailable || s == http.StatusTooManyRequests
}

// Codes lists every code of the table, for tests and documentation.
func Codes() []Code {
	out := make([]Code, 0, len(specs))
	for c := range specs {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// The answer of a query that was served, as SCSP states it ("Tramitada").
const (
	SCSPProcessed     = "0003"
	SCSPProcessedText = "Tramitada"
)

// FieldError names one wrong field of a request, by its JSON path.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Reason is one reason of a policy decision.
type Reason struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

// Error is a failure with a public code.
type Error struct {
	Code    Code
	Message string
	Fields  []FieldError
	Reasons []Reason
	// RetryAfter, when positive, is how long the caller should wait before
	// trying again, for a failure that knows (a source refused by its
	// circuit breaker until a probe is due); zero leaves the HTTP layer's
	// default.
	RetryAfter time.Duration
	Err        error // the cause, for logs; never shown to callers
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an Error with a formatted message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an Error with a formatted message and a cause.
func Wrap(code Code, err error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// Invalid returns an Error naming the wrong fields. Field names and
// messages pass through SafeText: they often quote what the caller sent.
func Invalid(code Code, fields ...FieldError) *Error {
	for i, f := range fields {
		fields[i] = FieldError{Field: SafeText(f.Field), Message: SafeText(f.Message)}
	}
	msg := "the request is invalid"
	if len(fields) == 1 {
		msg = fields[0].Field + ": " + fields[0].Message
	} else if len(fields) > 1 {
		msg = fmt.Sprintf("%d fields are invalid", len(fields))
	}
	return &Error{Code: code, Message: msg, Fields: fields}
}

// CodeOf returns the code of err, or Internal when err carries none.
func CodeOf(err error) Code {
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Code
	}
	return Internal
}

// As returns the *Error inside err, if any.
func As(err error) (*Error, bool) {
	var fe *Error
	ok := errors.As(err, &fe)
	return fe, ok
}

// MaxTextBytes bounds a field name or message that an Error carries: what a
// caller sent is echoed in problems and recorded in the transfer log, and
// neither may grow with an attacker's input.
const MaxTextBytes = 256

// SafeText returns s as it may be shown to a caller and recorded: unchanged
// when it is valid UTF-8 without control characters and at most
// MaxTextBytes long; otherwise Go-quoted ("\x00", "\xff", "\n" written out),
// so that the bytes are visible and nothing downstream must cope with them,
// and cut to MaxTextBytes with "…".
func SafeText(s string) string {
	if len(s) <= MaxTextBytes && printable(s) {
		return s
	}
	if printable(s) {
		return cut(s) + "…"
	}
	q := strconv.Quote(s)
	if len(q) > MaxTextBytes {
		return cut(q) + "…"
	}
	return q
}

// printable reports whether s is valid UTF-8 without control characters.
func printable(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || r < 0x20 || (r >= 0x7f && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return false
		}
	}
	return true
}

// cut shortens s to at most MaxTextBytes without splitting a character.
func cut(s string) string {
	if len(s) <= MaxTextBytes {
		return s
	}
	i := MaxTextBytes
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// Problem is an RFC 9457 problem document with Pont's extensions: how
// every refusal is answered, over HTTP and in a job's results.
type Problem struct {
	Type       string       `json:"type"`
	Title      string       `json:"title"`
	Status     int          `json:"status"`
	Detail     string       `json:"detail"`
	Instance   string       `json:"instance,omitempty"`
	Code       Code         `json:"code"`
	SCSPCode   string       `json:"scsp_code,omitempty"`
	Errors     []FieldError `json:"errors,omitempty"`
	Reasons    []Reason     `json:"reasons,omitempty"`
	TransferID string       `json:"transfer_id,omitempty"`
}

// ProblemOf answers the problem document of err (an internal error for
// anything that is not an *Error, its cause left out); Instance and
// TransferID are the caller's to set.
func ProblemOf(err error) Problem {
	fe, ok := As(err)
	if !ok {
		fe = Wrap(Internal, err, "internal error")
	}
	spec := SpecOf(fe.Code)
	return Problem{
		Type: "urn:pont:problem:" + string(fe.Code), Title: spec.Title, Status: spec.Status, Detail: fe.Message,
		Code: fe.Code, SCSPCode: spec.SCSP, Errors: fe.Fields, Reasons: fe.Reasons,
	}
}
