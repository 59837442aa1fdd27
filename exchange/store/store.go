// Package store defines Pont's persistent state behind one interface, so
// that PostgreSQL (production) and the embedded SQLite (pont dev) behave the
// same; the conformance suite in storetest holds both to it. It changes when
// what Pont keeps changes, never for one backend's sake.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors returned by every backend.
var (
	// ErrNotFound: the record does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrUnavailable: the database could not be reached or the transaction
	// failed; nothing was written. Callers fail closed (503 store_unavailable).
	ErrUnavailable = errors.New("store: unavailable")
	// ErrRejected: the database refused what it was given, not the
	// connection: a value it cannot hold, a constraint (a repeated id). It
	// always comes with ErrUnavailable, so that callers who only know that
	// one still fail closed; a writer that sees it may retry the batch's
	// other records without the refused one (see package audit).
	ErrRejected = errors.New("store: rejected by the database")
)

// ReasonAltered is the code of the reason a store adds to a record whose
// values it could not keep as given (bytes a text column refuses, text
// longer than the store keeps, too many reasons): its message names each
// altered field, so that an auditor knows which values are escaped or cut.
// The escape is the same in every backend: NUL and bytes that are not UTF-8
// become \xHH written out, and in such a value every backslash is doubled.
const ReasonAltered = "record_altered"

// Decision values of a transfer record.
const (
	Allow = "allow"
	Deny  = "deny"
)

// Reason is one reason of a decision, as recorded.
type Reason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Transfer is one record of the transfer log: who asked what about whom,
// under which basis, what was decided and what left. It never holds the data
// itself, only its SHA-256.
type Transfer struct {
	ID             string    `json:"id"`   // time-ordered, unique (UUIDv7 text)
	Time           time.Time `json:"time"` // UTC, microsecond precision
	Node           string    `json:"node"`
	Kind           string    `json:"kind"` // "query" or "self_access"
	RequesterOrg   string    `json:"requester"`
	OfficialID     string    `json:"official_id,omitempty"`
	OfficialName   string    `json:"official_name,omitempty"`
	ProcedureCode  string    `json:"procedure,omitempty"`
	ProcedureName  string    `json:"procedure_name,omitempty"`
	Purpose        string    `json:"purpose,omitempty"`
	LegalBasis     string    `json:"legal_basis,omitempty"` // presumed | law | consent
	LawReference   string    `json:"law_reference,omitempty"`
	ConsentID      string    `json:"consent_id,omitempty"`
	CaseID         string    `json:"case_id,omitempty"`
	JobID          string    `json:"job_id,omitempty"` // the job the record is an element of; empty for a synchronous request
	SubjectIDType  string    `json:"subject_id_type,omitempty"`
	SubjectID      string    `json:"subject,omitempty"`
	Service        string    `json:"service"`
	Adapter        string    `json:"adapter,omitempty"`
	AdapterVersion string    `json:"adapter_version,omitempty"`
	ModuleSHA256   string    `json:"module_sha256,omitempty"`
	Decision       string    `json:"decision"` // Allow or Deny
	Reasons        []Reason  `json:"reasons,omitempty"`
	PolicyRevision string    `json:"policy_revision,omitempty"`
	Outcome        string    `json:"outcome"`               // "ok" or the problem code that ended the request
	SCSPCode       string    `json:"scsp_code,omitempty"`   // the SCSP status code answered: 0003 when served
	HTTPStatus     int       `json:"http_status,omitempty"` // the HTTP status answered
	LatencyMicros  int64     `json:"latency_us"`
	DataSHA256     string    `json:"data_sha256,omitempty"`

	// SCSPRequestID is the Atributos/IdPeticion (up to 26 characters) of
	// the SCSP v3 Peticion the record answered, and SCSPSolicitudID the
	// Transmision/IdSolicitud (up to 40) of its SolicitudTransmision
	// (docs/scsp.md); both empty for a request that did not come through
	// the SCSP door. They name a request, not a person: not personal, and
	// kept when the record is pruned.
	SCSPRequestID   string `json:"scsp_request_id,omitempty"`
	SCSPSolicitudID string `json:"scsp_solicitud_id,omitempty"`

	// Salt is SaltSize random bytes hashed with the record's personal
	// fields into its leaf (see Event.Salt); empty once pruned.
	Salt []byte `json:"-"`
	// PersonalSHA256 is the commitment to the personal fields (hex), kept
	// when they are pruned; empty before.
	PersonalSHA256 string `json:"-"`
}

// Pruned reports whether the record's personal fields were removed.
func (t Transfer) Pruned() bool { return len(t.Salt) == 0 }

// OutcomeOK is the Outcome of a record whose request was answered (as
// pipeline.OutcomeOK); any other Outcome is the problem code that ended it.
const OutcomeOK = "ok"

// AdapterActivity is what the transfer log says of one adapter's calls
// over a window of time (Store.AdapterActivity): every record that names
// the adapter is one call, whatever its outcome.
type AdapterActivity struct {
	// Calls counts the records.
	Calls int64
	// ByOutcome counts them by Outcome: OutcomeOK or the problem code;
	// never nil, and without zero counts.
	ByOutcome map[string]int64
	// Latency is taken over the answered calls (OutcomeOK) only; all zero
	// when there were none.
	Latency Latency
}

// Latency summarises the LatencyMicros of a set of records, in
// microseconds: P50 and P95 are discrete percentiles (the smallest
// latency that at least that fraction of the records do not exceed, as
// PostgreSQL's percentile_disc), Max the largest.
type Latency struct {
	P50, P95, Max int64
}

// Cursor is a keyset position in the newest-first order (Time desc, ID desc).
type Cursor struct {
	Time time.Time
	ID   string
}

// Page sizes of a search (Filter.Limit): every backend and the API use these.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// Filter selects transfers. Empty fields match everything; From is
// inclusive, To exclusive.
type Filter struct {
	Subject   string
	Requester string
	Official  string
	Procedure string
	Service   string
	Purpose   string
	Decision  string
	From, To  time.Time
	Limit     int     // 1..MaxPageSize; backends treat 0 as DefaultPageSize
	After     *Cursor // continue after this position

	// SCSPRequestID selects the records of one SCSP request: those whose
	// Transfer.SCSPRequestID (the Peticion's IdPeticion) it is.
	SCSPRequestID string
}

// Page is one page of a search, newest first.
type Page struct {
	Items []Transfer
	Next  *Cursor // nil on the last page
}

// Store is Pont's persistent state. Implementations are safe for concurrent use.
type Store interface {
	// AppendTransfers writes all records in one transaction: either all are
	// durable when it returns nil, or none (ErrUnavailable wrapped).
	AppendTransfers(ctx context.Context, records []Transfer) error
	// SearchTransfers answers one page, newest first.
	SearchTransfers(ctx context.Context, f Filter) (Page, error)
	// GetTransfer answers one record or ErrNotFound.
	GetTransfer(ctx context.Context, id string) (Transfer, error)
	// AdapterActivity answers what the log holds of adapter's calls in
	// [from, to): the records whose Adapter it is and whose Time is in the
	// window. An empty window, or one without such records, answers zeros.
	// adapter must not be empty and from must not be after to.
	AdapterActivity(ctx context.Context, adapter string, from, to time.Time) (AdapterActivity, error)
	// Citizens holds consents and objections.
	Citizens
	// Log is the tamper-evident log over the transfers and events.
	Log
	// Adapters is the registry of published adapters.
	Adapters
	// Jobs keeps asynchronous requests and their results.
	Jobs
	// Ping reports whether the store can serve.
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}

// Consent is a citizen's recorded consent, from her carpeta: she allows
// Requester to consult Services for Procedure and Purpose until ExpiresAt.
type Consent struct {
	ID        string     `json:"id"` // UUIDv7 text
	Subject   string     `json:"subject"`
	Requester string     `json:"requester"`
	Procedure string     `json:"procedure"`
	Services  []string   `json:"services"`
	Purpose   string     `json:"purpose"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at"`
}

// Objection is a citizen's objection (Llei 39/2015, art. 28.2) to presumed
// consultation of Service; for every procedure when Procedure is empty.
type Objection struct {
	ID        string    `json:"id"` // UUIDv7 text
	Subject   string    `json:"subject"`
	Service   string    `json:"service"`
	Procedure string    `json:"procedure,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Citizens is the state a citizen manages from her carpeta. Every method is
// scoped to one subject, so that no call can reach another citizen's records.
type Citizens interface {
	// CreateConsent stores c (ID, CreatedAt set by the caller).
	CreateConsent(ctx context.Context, c Consent) error
	// GetConsent answers the consent with id, whoever's it is (the policy
	// checks that it is the query subject's), or ErrNotFound.
	GetConsent(ctx context.Context, id string) (Consent, error)
	// ListConsents answers subject's consents, newest first, revoked ones included.
	ListConsents(ctx context.Context, subject string) ([]Consent, error)
	// RevokeConsent marks subject's consent id revoked at the given time and
	// answers it; ErrNotFound when subject has no such consent. Revoking twice
	// keeps the first time.
	RevokeConsent(ctx context.Context, subject, id string, at time.Time) (Consent, error)
	// CreateObjection stores o (ID, CreatedAt set by the caller). An
	// objection equal in subject, service and procedure to an existing one is
	// not duplicated: the existing one is answered.
	CreateObjection(ctx context.Context, o Objection) (Objection, error)
	// ListObjections answers subject's objections, newest first.
	ListObjections(ctx context.Context, subject string) ([]Objection, error)
	// DeleteObjection removes subject's objection id; ErrNotFound when none.
	DeleteObjection(ctx context.Context, subject, id string) error
	// FindObjection answers subject's objection that applies to service and
	// procedure: one for that procedure, or one for every procedure (empty
	// Procedure); ErrNotFound when none applies.
	FindObjection(ctx context.Context, subject, service, procedure string) (Objection, error)
}
