package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/pontexchange/pont/exchange/fault"
	"github.com/pontexchange/pont/exchange/pipeline"
)

// problemSpec is how one fault code is answered over HTTP.
type problemSpec struct {
	status int
	title  string
	scsp   string // the matching SCSP v3 status code (DOMAIN.md)
}

// problems is the one table that maps Pont's codes to HTTP statuses and SCSP
// codes. Every error that leaves the API goes through writeProblem.
var problems = map[fault.Code]problemSpec{
	fault.InvalidRequest:      {http.StatusBadRequest, "Invalid request", "0401"},
	fault.InvalidSubjectID:    {http.StatusBadRequest, "Invalid subject identifier", "0231"},
	fault.Unauthenticated:     {http.StatusUnauthorized, "Unauthenticated", "0305"},
	fault.Forbidden:           {http.StatusForbidden, "Forbidden for this role", "0301"},
	fault.NotAuthorized:       {http.StatusForbidden, "Organisation not authorised", "0301"},
	fault.PurposeNotAllowed:   {http.StatusForbidden, "Purpose not allowed", "0301"},
	fault.LegalBasisRequired:  {http.StatusForbidden, "Legal basis required", "0236"},
	fault.LegalBasisInvalid:   {http.StatusForbidden, "Legal basis invalid", "0236"},
	fault.ConsentNotFound:     {http.StatusForbidden, "Consent not found", "0236"},
	fault.ConsentExpired:      {http.StatusForbidden, "Consent expired", "0236"},
	fault.ConsentRevoked:      {http.StatusForbidden, "Consent revoked", "0236"},
	fault.ConsentMismatch:     {http.StatusForbidden, "Consent does not cover the request", "0236"},
	fault.ObjectionRegistered: {http.StatusForbidden, "The citizen objected", "0236"},
	fault.SubjectNotFound:     {http.StatusNotFound, "Subject not found", "0233"},
	fault.UnknownService:      {http.StatusNotFound, "Unknown service", "0401"},
	fault.NotFound:            {http.StatusNotFound, "Not found", ""},
	fault.MethodNotAllowed:    {http.StatusMethodNotAllowed, "Method not allowed", ""},
	fault.NoSource:            {http.StatusUnprocessableEntity, "No source for the routing key", "0238"},
	fault.SourceUnavailable:   {http.StatusServiceUnavailable, "Source unavailable", "0901"},
	fault.AdapterFailed:       {http.StatusBadGateway, "Adapter failed", "0227"},
	fault.AdapterTimeout:      {http.StatusGatewayTimeout, "Adapter timed out", "0901"},
	fault.AdapterBusy:         {http.StatusServiceUnavailable, "Adapter busy", "0901"},
	fault.StoreUnavailable:    {http.StatusServiceUnavailable, "Transfer log unavailable", "0501"},
	fault.Internal:            {http.StatusInternalServerError, "Internal error", "0502"},
}

// Problem is an RFC 9457 problem document with Pont's extensions.
type Problem struct {
	Type       string             `json:"type"`
	Title      string             `json:"title"`
	Status     int                `json:"status"`
	Detail     string             `json:"detail"`
	Instance   string             `json:"instance,omitempty"`
	Code       fault.Code         `json:"code"`
	SCSPCode   string             `json:"scsp_code,omitempty"`
	Errors     []fault.FieldError `json:"errors,omitempty"`
	Reasons    []fault.Reason     `json:"reasons,omitempty"`
	TransferID string             `json:"transfer_id,omitempty"`
}

// problemOf builds the problem document for err.
func problemOf(r *http.Request, err error) Problem {
	fe, ok := fault.As(err)
	if !ok {
		fe = fault.Wrap(fault.Internal, err, "internal error")
	}
	spec, ok := problems[fe.Code]
	if !ok {
		spec = problemSpec{http.StatusForbidden, "Denied", "0904"}
	}
	p := Problem{
		Type:     "urn:pont:problem:" + string(fe.Code),
		Title:    spec.title,
		Status:   spec.status,
		Detail:   fe.Message,
		Instance: r.URL.Path,
		Code:     fe.Code,
		SCSPCode: spec.scsp,
		Errors:   fe.Fields,
		Reasons:  fe.Reasons,
	}
	var failure *pipeline.Failure
	if errors.As(err, &failure) {
		p.TransferID = failure.TransferID
	}
	return p
}

// writeProblem answers err as application/problem+json. Causes of internal
// errors go to the log, never to the caller.
func writeProblem(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	p := problemOf(r, err)
	if p.Status >= 500 {
		log.LogAttrs(r.Context(), slog.LevelWarn, "request failed",
			slog.String("code", string(p.Code)), slog.String("route", routeOf(r)), slog.String("error", err.Error()))
	}
	if p.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="pont"`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
