// Package types holds the JSON shapes of Pont's public API: what a client
// decodes and what the server encodes, apart from the storage rows they are
// made from, so that renaming a column does not rename a field of the API.
//
// The types are versioned by name (TransferV1): a type changes only when the
// API changes, and a change a client would notice (a field renamed, removed
// or given another meaning) is a new type beside the old one, never an edit.
// The package needs the standard library only, so that clients may import it
// without the server's dependencies.
package types

import "time"

// TransferV1 is one record of the transfer log as the audit API serves it
// (GET /v1/audit/transfers, GET /v1/audit/transfers/{id}): who asked what
// about whom, under which basis, what was decided and what left. It never
// holds the data itself, only its SHA-256. Fields the request did not get
// to (an envelope that did not parse) are absent.
type TransferV1 struct {
	// ID is the record's id, time-ordered and unique (UUIDv7 text): the
	// transfer_id of the answer or problem the requester got.
	ID string `json:"id"`
	// Time is when the request arrived, UTC, microsecond precision.
	Time time.Time `json:"time"`
	// Node names the node that served the request.
	Node string `json:"node"`
	// Kind is "query" (a requester's query) or "self_access" (a citizen
	// reading her own data).
	Kind string `json:"kind"`
	// Requester is the requesting organisation's NIF (the token's org);
	// empty for a self_access record.
	Requester string `json:"requester"`
	// OfficialID identifies the official who handles the case.
	OfficialID string `json:"official_id,omitempty"`
	// OfficialName is the official's name.
	OfficialName string `json:"official_name,omitempty"`
	// Procedure is the procedure's code.
	Procedure string `json:"procedure,omitempty"`
	// ProcedureName is the procedure's name.
	ProcedureName string `json:"procedure_name,omitempty"`
	// Purpose is the purpose code the request gave.
	Purpose string `json:"purpose,omitempty"`
	// LegalBasis is the legal basis type: "presumed", "law", "consent", or
	// "self" for a citizen reading her own data.
	LegalBasis string `json:"legal_basis,omitempty"`
	// LawReference is the law a "law" basis named.
	LawReference string `json:"law_reference,omitempty"`
	// ConsentID is the citizen's consent a "consent" basis named.
	ConsentID string `json:"consent_id,omitempty"`
	// CaseID is the requester's case (expedient) reference.
	CaseID string `json:"case_id,omitempty"`
	// JobID is the job the transfer was an element of (POST
	// /v1/services/{service}/jobs); absent for a synchronous query.
	JobID string `json:"job_id,omitempty"`
	// SCSPRequestID is the Atributos/IdPeticion of the SCSP v3 Peticion
	// the transfer answered (POST /scsp/v3/{code}); absent for a request
	// that did not come through the SCSP door.
	SCSPRequestID string `json:"scsp_request_id,omitempty"`
	// SCSPSolicitudID is the Transmision/IdSolicitud of the Peticion's
	// SolicitudTransmision the transfer answered; absent like
	// SCSPRequestID.
	SCSPSolicitudID string `json:"scsp_solicitud_id,omitempty"`
	// SubjectIDType is the kind of the subject's identifier ("DNI", "NIE").
	SubjectIDType string `json:"subject_id_type,omitempty"`
	// Subject is the citizen's DNI or NIE.
	Subject string `json:"subject,omitempty"`
	// Service is the service the request named in its path, even one the
	// catalog does not have.
	Service string `json:"service"`
	// Adapter names the adapter the query was routed to, once allowed and
	// routed.
	Adapter string `json:"adapter,omitempty"`
	// AdapterVersion is that adapter's version.
	AdapterVersion string `json:"adapter_version,omitempty"`
	// ModuleSHA256 is the SHA-256 (hex) of the adapter's WebAssembly module.
	ModuleSHA256 string `json:"module_sha256,omitempty"`
	// Decision is the policy decision: "allow" or "deny".
	Decision string `json:"decision"`
	// Reasons say why the request was denied or invalid.
	Reasons []ReasonV1 `json:"reasons,omitempty"`
	// PolicyRevision is the revision of the policies that decided.
	PolicyRevision string `json:"policy_revision,omitempty"`
	// Outcome is "ok", or the problem code that ended the request
	// ("legal_basis_required", "subject_not_found", ...).
	Outcome string `json:"outcome"`
	// HTTPStatus is the HTTP status the request was answered with (200,
	// 403, 504, ...); absent on records written before Pont recorded it.
	HTTPStatus int `json:"http_status,omitempty"`
	// SCSPCode is the SCSP v3 code of the outcome: "0003" (Tramitada) for
	// an answered query, else the SCSP error code that matches the problem
	// code (docs/scsp.md lists the mapping); absent when none matches.
	SCSPCode string `json:"scsp_code,omitempty"`
	// LatencyMicros is the time spent in the pipeline, in microseconds.
	LatencyMicros int64 `json:"latency_us"`
	// DataSHA256 is the SHA-256 (hex) of the data returned; absent when
	// nothing was returned.
	DataSHA256 string `json:"data_sha256,omitempty"`
}

// ReasonV1 is one reason of a policy decision: a stable code and a message
// for people.
type ReasonV1 struct {
	// Code is the reason's stable code, such as "legal_basis_required".
	Code string `json:"code"`
	// Message explains the reason to a person.
	Message string `json:"message"`
}

// TransferPageV1 is one page of a transfer search, newest first.
type TransferPageV1 struct {
	// Items are the page's records, never null.
	Items []TransferV1 `json:"items"`
	// NextCursor, passed as the cursor parameter with the same filters,
	// gives the next page; null on the last page.
	NextCursor *string `json:"next_cursor"`
}
