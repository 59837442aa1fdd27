package query

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pontexchange/pont/exchange/store"
)

// JobColumns are the jobs table's columns in the order of ScanJob; the
// first JobGiven of them are the caller's, in the order of JobArgs, the
// others the store's. scsp_peticion, the caller's too, is not among them:
// it may weigh megabytes, and only JobPeticion reads it.
var JobColumns = []string{
	"id", "requester", "requested_by", "service", "callback_url", "total", "request_sha256",
	"idempotency_key", "retain_for", "created_at", "scsp_request_id",
	"done", "finished_at", "expires_at", "deleted_at", "notified_at",
}

// JobGiven is how many of JobColumns CreateJob writes; JobInserted how
// many values JobArgs answers: theirs and the job's SCSPPeticion.
const (
	JobGiven    = 11
	JobInserted = JobGiven + 1
)

// JobColumnList is JobColumns joined for a SELECT; JobGivenList the
// caller's columns, scsp_peticion last, for the INSERT.
var (
	JobColumnList = strings.Join(JobColumns, ", ")
	JobGivenList  = strings.Join(JobColumns[:JobGiven], ", ") + ", scsp_peticion"
)

// ElementColumns are the job_elements table's columns in the order of
// ScanElement (which reads one more value after them: whether result is
// NULL, see ElementSelectList); the first ElementGiven of them are
// CreateJob's, in the order of ElementArgs.
var ElementColumns = []string{
	"job_id", "idx", "transfer_id", "query", "state", "scsp_solicitud_id",
	"claim", "outcome", "http_status", "scsp_code", "result",
}

// ElementGiven is how many of ElementColumns CreateJob writes.
const ElementGiven = 6

// ElementSelectList selects what ScanElement reads: ElementColumns and
// whether result is NULL, which tells a deleted (or not yet stored)
// result from an empty one whatever the driver makes of an empty blob.
var ElementSelectList = strings.Join(ElementColumns, ", ") + ", result IS NULL"

// CheckJob answers why the stores refuse to create j with elements, or
// nil. The job's texts are keys (its id, its requester's idempotency key)
// or what the job runner uses as given (the callback URL, the SCSP ids
// the SOAP door answers with), so, as the adapter registry's, they are
// refused when the stores could not keep them byte for byte, never
// escaped; keys longer than store.MaxText are refused too, since an index
// holds them. Every element is elements[i]
// with Index i (and JobID j.ID, or empty), and has a transfer id of its
// own: the store keeps one record per element.
func CheckJob(j store.Job, elements []store.JobElement) error {
	switch {
	case j.ID == "":
		return errors.New("the job's ID is empty")
	case j.Requester == "":
		return errors.New("the job's Requester is empty")
	case j.CreatedAt.IsZero():
		return errors.New("CreatedAt is zero")
	case j.Total < 1:
		return fmt.Errorf("Total %d: a job has at least one element", j.Total)
	case len(elements) != j.Total:
		return fmt.Errorf("%d elements for a Total of %d", len(elements), j.Total)
	case j.RetainFor < 0:
		return fmt.Errorf("RetainFor %v is negative", j.RetainFor)
	}
	if err := checkTexts("ID", j.ID, "Requester", j.Requester, "RequestedBy", j.RequestedBy,
		"Service", j.Service, "CallbackURL", j.CallbackURL, "RequestSHA256", j.RequestSHA256,
		"IdempotencyKey", j.IdempotencyKey, "SCSPRequestID", j.SCSPRequestID); err != nil {
		return err
	}
	if err := checkKeys("ID", j.ID, "Requester", j.Requester, "IdempotencyKey", j.IdempotencyKey); err != nil {
		return err
	}
	seen := make(map[string]int, len(elements))
	for i, e := range elements {
		switch {
		case e.Index != i:
			return fmt.Errorf("elements[%d] has Index %d", i, e.Index)
		case e.JobID != "" && e.JobID != j.ID:
			return fmt.Errorf("elements[%d] has JobID %q, not the job's", i, e.JobID)
		case e.TransferID == "":
			return fmt.Errorf("elements[%d] has no TransferID", i)
		}
		if err := checkTexts(fmt.Sprintf("elements[%d].TransferID", i), e.TransferID,
			fmt.Sprintf("elements[%d].SCSPSolicitudID", i), e.SCSPSolicitudID); err != nil {
			return err
		}
		if err := checkKeys(fmt.Sprintf("elements[%d].TransferID", i), e.TransferID); err != nil {
			return err
		}
		if other, ok := seen[e.TransferID]; ok {
			return fmt.Errorf("elements[%d] and elements[%d] have the same TransferID %q", other, i, e.TransferID)
		}
		seen[e.TransferID] = i
	}
	return nil
}

// checkKeys answers an error naming the first field longer than
// store.MaxText.
func checkKeys(fields ...string) error {
	for i := 0; i+1 < len(fields); i += 2 {
		if len(fields[i+1]) > store.MaxText {
			return fmt.Errorf("%s of %d bytes: at most %d", fields[i], len(fields[i+1]), store.MaxText)
		}
	}
	return nil
}

// NewJob answers j as CreateJob stores it and answers it: CreatedAt in
// UTC and RetainFor at microsecond precision, an empty SCSPPeticion nil
// (none: see PeticionArg), nothing done, no count (an empty map), none of
// the store's times set.
func NewJob(j store.Job) store.Job {
	j.CreatedAt = j.CreatedAt.UTC().Truncate(time.Microsecond)
	j.RetainFor = j.RetainFor.Truncate(time.Microsecond)
	if len(j.SCSPPeticion) == 0 {
		j.SCSPPeticion = nil
	}
	j.Done, j.Counts = 0, map[string]int{}
	j.FinishedAt, j.ExpiresAt, j.DeletedAt, j.NotifiedAt = nil, nil, nil, nil
	return j
}

// JobArgs returns the JobInserted values of JobGivenList, in order:
// RetainFor in microseconds, the time converted by d, SCSPPeticion as
// PeticionArg makes it. j must pass CheckJob.
func JobArgs(j store.Job, d Dialect) []any {
	return []any{
		j.ID, j.Requester, j.RequestedBy, j.Service, j.CallbackURL, j.Total, j.RequestSHA256,
		j.IdempotencyKey, j.RetainFor.Microseconds(), d.Time(j.CreatedAt), j.SCSPRequestID,
		PeticionArg(j.SCSPPeticion),
	}
}

// PeticionArg is a Peticion as the jobs' scsp_peticion column holds it:
// NULL (an untyped nil, which both drivers write as NULL, where SQLite's
// would write a nil []byte as an empty blob) when there is none or it is
// empty, so that a job has a Peticion or none, never an empty one.
func PeticionArg(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// ScanPeticion reads a job's scsp_peticion: nil when NULL (none, or
// deleted with the results), never empty.
func ScanPeticion(row Row) ([]byte, error) {
	var b []byte
	if err := row.Scan(&b); err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, nil
	}
	return b, nil
}

// ScanJob reads one row selected with JobColumnList and, when counts is
// true, one more value: the done elements by outcome, a JSON object (see
// the stores' GetJob). Times come back in UTC; Counts is nil unless
// counts is true, and then never nil; SCSPPeticion is nil (see
// ScanPeticion).
func ScanJob(row Row, d Dialect, counts bool) (store.Job, error) {
	var j store.Job
	var retain int64
	var byOutcome []byte
	created, createdAt := d.TimeDest()
	finished, finishedAt := d.TimeDest()
	expires, expiresAt := d.TimeDest()
	deleted, deletedAt := d.TimeDest()
	notified, notifiedAt := d.TimeDest()
	dest := []any{&j.ID, &j.Requester, &j.RequestedBy, &j.Service, &j.CallbackURL, &j.Total, &j.RequestSHA256,
		&j.IdempotencyKey, &retain, created, &j.SCSPRequestID, &j.Done, finished, expires, deleted, notified}
	if counts {
		dest = append(dest, &byOutcome)
	}
	if err := row.Scan(dest...); err != nil {
		return store.Job{}, err
	}
	j.RetainFor = time.Duration(retain) * time.Microsecond
	if t := createdAt(); t != nil {
		j.CreatedAt = *t
	}
	j.FinishedAt, j.ExpiresAt, j.DeletedAt, j.NotifiedAt = finishedAt(), expiresAt(), deletedAt(), notifiedAt()
	if counts {
		j.Counts = map[string]int{}
		if len(byOutcome) > 0 {
			if err := json.Unmarshal(byOutcome, &j.Counts); err != nil {
				return store.Job{}, fmt.Errorf("decode the counts of job %s: %w", j.ID, err)
			}
		}
	}
	return j, nil
}

// ElementArgs returns the values of element index of job's first
// ElementGiven columns, in order: pending, whatever e.State says, its
// query never NULL.
func ElementArgs(job string, index int, e store.JobElement) []any {
	q := e.Query
	if q == nil {
		q = []byte{}
	}
	return []any{job, index, e.TransferID, q, store.ElementPending, e.SCSPSolicitudID}
}

// ScanElement reads one row selected with ElementSelectList. An empty
// query comes back nil; a result only when one is stored (never nil then,
// even empty).
func ScanElement(row Row) (store.JobElement, error) {
	var e store.JobElement
	var noResult bool
	if err := row.Scan(&e.JobID, &e.Index, &e.TransferID, &e.Query, &e.State, &e.SCSPSolicitudID, &e.Claim,
		&e.Outcome, &e.HTTPStatus, &e.SCSPCode, &e.Result, &noResult); err != nil {
		return store.JobElement{}, err
	}
	if len(e.Query) == 0 {
		e.Query = nil
	}
	switch {
	case noResult:
		e.Result = nil
	case e.Result == nil:
		e.Result = []byte{}
	}
	return e, nil
}

// CheckCompletion answers why the stores refuse to complete e with t, or
// nil: e names an element (JobID, Index), says how it ended (Outcome) and
// holds only text the stores keep byte for byte; t is the element's
// record, whose ID and JobID are the element's when given (the store sets
// them when they are empty, see CompletionRecord).
func CheckCompletion(e store.JobElement, t store.Transfer) error {
	switch {
	case e.JobID == "":
		return errors.New("the element's JobID is empty")
	case e.Index < 0:
		return fmt.Errorf("the element's Index %d is negative", e.Index)
	case e.Outcome == "":
		return errors.New("the element's Outcome is empty")
	case t.JobID != "" && t.JobID != e.JobID:
		return fmt.Errorf("the record's JobID %q is not the element's job", t.JobID)
	}
	return checkTexts("JobID", e.JobID, "Claim", e.Claim, "Outcome", e.Outcome, "SCSPCode", e.SCSPCode)
}

// CompletionRecord answers t as the record of the element whose transfer
// id is transferID in job: its ID and JobID set when empty. A t that
// names another record is refused: an element has one record, fixed when
// its job was created.
func CompletionRecord(t store.Transfer, job, transferID string) (store.Transfer, error) {
	switch {
	case t.ID == "":
		t.ID = transferID
	case t.ID != transferID:
		return store.Transfer{}, fmt.Errorf("the record's ID %q is not the element's transfer id %q", t.ID, transferID)
	}
	if t.JobID == "" {
		t.JobID = job
	}
	return t, nil
}

// ResultArg is a result as the element's result column holds it once
// done: never NULL, which is kept for a result not (or no longer) stored.
func ResultArg(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// ResultsDeleted answers the event that records the deletion of job's
// results, by node at now (UTC, microsecond precision), with a salt of
// its own.
func ResultsDeleted(job, requester, service string, count int, now time.Time, node string, salt []byte) store.Event {
	return store.Event{
		ID: job + ":" + store.EventJobResultsDeleted, Time: now, Node: node, Kind: store.EventJobResultsDeleted,
		Ref: job, Requester: requester, Service: service, Count: int64(count), Salt: salt,
	}
}

// Now answers the current time as the job statements write it: UTC, at
// microsecond precision.
func Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
