package store

import (
	"context"
	"errors"
	"time"
)

// ErrTaken: a job's element is no longer pending (ClaimJobElement), or no
// longer the caller's to complete (CompleteJobElement): another attempt
// claimed or completed it.
var ErrTaken = errors.New("store: taken by another attempt")

// EventJobResultsDeleted records that a job's results were deleted when
// its retention ended: Ref is the job's id, Requester its requesting
// organisation, Service its service, Count the results deleted.
const EventJobResultsDeleted = "job_results_deleted"

// The states of a job's element.
const (
	// ElementPending: not yet run, or run up to its call to the source
	// by an attempt that stopped before the call.
	ElementPending = "pending"
	// ElementClaimed: an attempt is about to call, or calling, the source
	// for it; no other attempt may.
	ElementClaimed = "claimed"
	// ElementDone: its result and its transfer record are stored.
	ElementDone = "done"
)

// Job is an asynchronous request: one service asked about one or many
// subjects by one requesting organisation.
type Job struct {
	ID            string // UUIDv7 text
	Requester     string // the requesting organisation
	RequestedBy   string // the requester token's subject (a system, not a person)
	Service       string
	CallbackURL   string // "" when none
	Total         int    // elements
	RequestSHA256 string // lowercase hex SHA-256 of the request body
	// IdempotencyKey is the requester's key for the request ("" when
	// none): unique per requester.
	IdempotencyKey string
	// RetainFor is how long results are kept once the job is done.
	RetainFor time.Duration
	CreatedAt time.Time // UTC, microsecond precision
	// SCSPRequestID is the Atributos/IdPeticion (up to 26 characters) of
	// the SCSP v3 Peticion the job runs, asynchronously, for the SOAP
	// door; "" for a job that did not come through the door. It names a
	// request, not a person.
	SCSPRequestID string
	// SCSPPeticion is the SOAP Body of that Peticion, as verified (up to
	// a few MB), from which the door writes the answer; nil for a job
	// that did not come through the door. It holds personal data: it is
	// deleted with the job's results (DeleteExpiredJobResults), and only
	// JobPeticion answers it (GetJob, JobByKey and UnfinishedJobs leave
	// it nil).
	SCSPPeticion []byte

	// Set by the store.
	Done       int            // elements done
	Counts     map[string]int // done elements by outcome (GetJob)
	FinishedAt *time.Time     // when the last element was done
	ExpiresAt  *time.Time     // FinishedAt + RetainFor
	DeletedAt  *time.Time     // when its results were deleted
	NotifiedAt *time.Time     // when its callback was delivered
}

// Finished reports whether every element is done.
func (j Job) Finished() bool { return j.FinishedAt != nil }

// JobElement is one subject of a job.
type JobElement struct {
	JobID string
	Index int // 0-based, in request order
	// TransferID is the id of the element's transfer record, fixed when
	// the job is created, so that however often the element is attempted
	// it has one record.
	TransferID string
	// Query is the element's own envelope (JSON): the batch's shared
	// members with the element's subject and its own overrides.
	Query []byte
	// SCSPSolicitudID is the Transmision/IdSolicitud (up to 40
	// characters) of the SolicitudTransmision the element runs, for a
	// job of the SCSP door; "" otherwise. It names a request, not a
	// person.
	SCSPSolicitudID string
	State           string // ElementPending, ElementClaimed or ElementDone
	// Claim names the attempt that claimed the element ("" when pending).
	Claim string

	// Set when done.
	Outcome    string // "ok" or the problem code
	HTTPStatus int
	SCSPCode   string
	// Result is the answer body or the problem document (JSON); nil
	// once the job's results were deleted.
	Result []byte
}

// Jobs keeps asynchronous requests and their results.
type Jobs interface {
	// CreateJob stores j and its elements (all pending) in one
	// transaction, and answers j as stored. When j.IdempotencyKey is set
	// and j.Requester already has a job with that key, nothing is stored:
	// the existing job is answered with an error wrapping ErrExists.
	// elements[i] is the element of Index i, and j.Total is their number
	// (at least one); a job that breaks this, or whose texts the store
	// cannot keep byte for byte (UTF-8 without NUL), is refused, and
	// nothing stored.
	CreateJob(ctx context.Context, j Job, elements []JobElement) (Job, error)
	// GetJob answers a job with Done, Counts and the times set, without
	// its SCSPPeticion (see JobPeticion), or ErrNotFound.
	GetJob(ctx context.Context, id string) (Job, error)
	// JobByKey answers the job of requester whose IdempotencyKey is key,
	// as GetJob answers it, or ErrNotFound (always for an empty key,
	// which names no job).
	JobByKey(ctx context.Context, requester, key string) (Job, error)
	// JobPeticion answers the SCSPPeticion of the job with id: nil, and no
	// error, when the job has none or its results were deleted;
	// ErrNotFound when there is no such job.
	JobPeticion(ctx context.Context, id string) ([]byte, error)
	// JobElements answers up to limit elements of job (all of them when
	// limit <= 0) from index from on, in index order; none is an empty
	// slice.
	JobElements(ctx context.Context, job string, from, limit int) ([]JobElement, error)
	// ClaimJobElement marks a pending element claimed by claim (not
	// empty). ErrTaken when it is not pending, ErrNotFound when there is
	// no such element.
	ClaimJobElement(ctx context.Context, job string, index int, claim string) error
	// CompleteJobElement stores e's result (Outcome, HTTPStatus, SCSPCode,
	// Result) and appends t, the element's transfer record, in one
	// transaction, provided the element is pending or claimed by e.Claim;
	// otherwise nothing is written and the error wraps ErrTaken
	// (ErrNotFound when there is no such element). t is written as
	// AppendTransfers writes it, with the element's TransferID as its ID
	// and e.JobID as its JobID (set when empty; a t that names another
	// record or job is refused). The last element done finishes the job:
	// FinishedAt is when that completion ran, ExpiresAt FinishedAt +
	// RetainFor; finished reports whether this call did.
	CompleteJobElement(ctx context.Context, e JobElement, t Transfer) (finished bool, err error)
	// UnfinishedJobs answers the jobs not yet finished, oldest first, and
	// the finished ones with a callback not yet delivered.
	UnfinishedJobs(ctx context.Context) ([]Job, error)
	// MarkJobNotified records that job's callback was delivered at at;
	// marked again, it keeps the first time. ErrNotFound when there is no
	// such job.
	MarkJobNotified(ctx context.Context, job string, at time.Time) error
	// DeleteExpiredJobResults deletes the results of the jobs whose
	// ExpiresAt is before now, and their SCSPPeticion, which holds
	// personal data as the results do, and appends for each an
	// EventJobResultsDeleted event (Node node, Time now, Count the job's
	// elements) in the same transaction, and sets their DeletedAt to now.
	// A job's results are deleted, and the event written, once. It
	// answers the number of jobs whose results were deleted.
	DeleteExpiredJobResults(ctx context.Context, now time.Time, node string) (int, error)
}
