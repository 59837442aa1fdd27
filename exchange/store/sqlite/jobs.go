package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/store/internal/query"
)

var _ store.Jobs = (*Store)(nil)

// elementsPerInsert is how many elements one INSERT of CreateJob writes:
// a statement per element costs ten times as much, and SQLite takes at
// most 32,766 parameters.
const elementsPerInsert = 500

var (
	insertJobSQL = "INSERT INTO jobs (" + query.JobGivenList + ") VALUES (" + marks(query.JobInserted) + `)
		ON CONFLICT (requester, idempotency_key) WHERE idempotency_key <> '' DO NOTHING`
	jobByKeySQL = "SELECT id FROM jobs WHERE requester = ? AND idempotency_key = ? AND idempotency_key <> ''"
	// One statement, so that Done and Counts are of one snapshot.
	selectJobSQL = "SELECT " + query.JobColumnList + `, (SELECT json_group_object(c.outcome, c.n)
		FROM (SELECT outcome, count(*) AS n FROM job_elements WHERE job_id = jobs.id AND state = 'done' GROUP BY outcome) c)
		FROM jobs`
	getJobSQL = selectJobSQL + " WHERE id = ?"
	// The condition on the key is the partial index's, which it uses.
	getJobByKeySQL = selectJobSQL + " WHERE requester = ? AND idempotency_key = ? AND idempotency_key <> ''"
	peticionSQL    = "SELECT scsp_peticion FROM jobs WHERE id = ?"
	// LIMIT -1 is no limit.
	jobElementsSQL = "SELECT " + query.ElementSelectList + " FROM job_elements WHERE job_id = ? AND idx >= ? ORDER BY idx LIMIT ?"
	claimSQL       = "UPDATE job_elements SET state = 'claimed', claim = ? WHERE job_id = ? AND idx = ? AND state = 'pending'"
	elementSQL     = "SELECT EXISTS (SELECT 1 FROM job_elements WHERE job_id = ? AND idx = ?)"
	completeSQL    = `UPDATE job_elements SET state = 'done', outcome = ?, http_status = ?, scsp_code = ?, result = ?
		WHERE job_id = ? AND idx = ? AND state <> 'done' AND (state = 'pending' OR claim = ?) RETURNING transfer_id`
	jobDoneSQL = `UPDATE jobs SET done = done + 1,
		finished_at = CASE WHEN done + 1 = total THEN ?1 ELSE finished_at END,
		expires_at = CASE WHEN done + 1 = total THEN ?1 + retain_for ELSE expires_at END
		WHERE id = ?2 RETURNING done = total`
	unfinishedJobsSQL = "SELECT " + query.JobColumnList + ` FROM jobs
		WHERE finished_at IS NULL OR (callback_url <> '' AND notified_at IS NULL) ORDER BY created_at, id`
	markNotifiedSQL = "UPDATE jobs SET notified_at = COALESCE(notified_at, ?) WHERE id = ?"
	expireJobsSQL   = `UPDATE jobs SET deleted_at = ?1, scsp_peticion = NULL WHERE expires_at < ?1 AND deleted_at IS NULL
		RETURNING id, requester, service, total`
	deleteResultsSQL = "UPDATE job_elements SET result = NULL WHERE job_id = ? AND result IS NOT NULL"
)

// marks answers "?, ?, ..., ?", n of them.
func marks(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

// insertElementsSQL answers the INSERT of n elements.
func insertElementsSQL(n int) string {
	row := "(" + marks(query.ElementGiven) + ")"
	return "INSERT INTO job_elements (" + strings.Join(query.ElementColumns[:query.ElementGiven], ", ") + ") VALUES " +
		strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

// CreateJob stores j and its elements, all pending, in one transaction on
// the writer, the elements elementsPerInsert at a time. When j's requester
// has a job with j's idempotency key, nothing is stored and that job is
// answered, as GetJob answers it, with an error wrapping
// store.ErrExists. A job the stores cannot keep as given is refused,
// naming what is wrong (see query.CheckJob).
func (s *Store) CreateJob(ctx context.Context, j store.Job, elements []store.JobElement) (store.Job, error) {
	if err := query.CheckJob(j, elements); err != nil {
		return store.Job{}, fmt.Errorf("sqlite: create job %q: %w", j.ID, err)
	}
	j = query.NewJob(j)
	var existing string
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, insertJobSQL, query.JobArgs(j, query.SQLite)...)
		if err != nil {
			return fmt.Errorf("job: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("job: %w", err)
		} else if n == 0 {
			if err := tx.QueryRowContext(ctx, jobByKeySQL, j.Requester, j.IdempotencyKey).Scan(&existing); err != nil {
				return fmt.Errorf("the job of the idempotency key: %w", err)
			}
			return refused{store.ErrExists}
		}
		full, err := tx.PrepareContext(ctx, insertElementsSQL(elementsPerInsert))
		if err != nil {
			return fmt.Errorf("elements: %w", err)
		}
		defer full.Close()
		args := make([]any, 0, elementsPerInsert*query.ElementGiven)
		for from := 0; from < len(elements); from += elementsPerInsert {
			to := min(from+elementsPerInsert, len(elements))
			args = args[:0]
			for i := from; i < to; i++ {
				args = append(args, query.ElementArgs(j.ID, i, elements[i])...)
			}
			if to-from == elementsPerInsert {
				_, err = full.ExecContext(ctx, args...)
			} else {
				_, err = tx.ExecContext(ctx, insertElementsSQL(to-from), args...)
			}
			if err != nil {
				return fmt.Errorf("elements %d to %d: %w", from, to-1, err)
			}
		}
		return nil
	})
	if existing != "" {
		got, err := s.GetJob(ctx, existing)
		if err != nil {
			return store.Job{}, err
		}
		return got, fmt.Errorf("sqlite: create job %s: %s's idempotency key %q names job %s: %w",
			j.ID, j.Requester, j.IdempotencyKey, existing, store.ErrExists)
	}
	if err != nil {
		return store.Job{}, s.failed(fmt.Sprintf("create job %s of %d elements", j.ID, len(elements)), err)
	}
	return j, nil
}

// write runs fn in a transaction on the writer: committed when fn answers
// nil, rolled back otherwise.
func (s *Store) write(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// failed answers the error of op that write answered: a refused one as it
// is, any other as store.ErrUnavailable, with store.ErrRejected when SQLite
// refused the data.
func (s *Store) failed(op string, err error) error {
	var r refused
	if errors.As(err, &r) {
		return fmt.Errorf("sqlite: %s: %w", op, r.error)
	}
	if rejected(err) && !errors.Is(err, store.ErrRejected) {
		err = fmt.Errorf("%w: %w", store.ErrRejected, err)
	}
	return unavailable(op, err)
}

// GetJob answers the job with id, its Done, Counts and times, without
// its SCSPPeticion, or store.ErrNotFound.
func (s *Store) GetJob(ctx context.Context, id string) (store.Job, error) {
	j, err := query.ScanJob(s.r.QueryRowContext(ctx, getJobSQL, id), query.SQLite, true)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Job{}, fmt.Errorf("sqlite: job %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Job{}, unavailable("get job "+id, err)
	}
	return j, nil
}

// JobByKey answers the job of requester whose idempotency key is key, as
// GetJob answers it, or store.ErrNotFound: always for an empty key.
func (s *Store) JobByKey(ctx context.Context, requester, key string) (store.Job, error) {
	notFound := fmt.Errorf("sqlite: %s's job of the idempotency key %q: %w", requester, key, store.ErrNotFound)
	if key == "" {
		return store.Job{}, notFound
	}
	j, err := query.ScanJob(s.r.QueryRowContext(ctx, getJobByKeySQL, requester, key), query.SQLite, true)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Job{}, notFound
	}
	if err != nil {
		return store.Job{}, unavailable(fmt.Sprintf("%s's job of the idempotency key %q", requester, key), err)
	}
	return j, nil
}

// JobPeticion answers the SCSP Peticion kept with the job with id: nil
// when it has none or its results were deleted, store.ErrNotFound when
// there is no such job.
func (s *Store) JobPeticion(ctx context.Context, id string) ([]byte, error) {
	b, err := query.ScanPeticion(s.r.QueryRowContext(ctx, peticionSQL, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: job %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, unavailable("the peticion of job "+id, err)
	}
	return b, nil
}

// JobElements answers up to limit elements of job (all when limit <= 0)
// from index from on, in index order; none is an empty slice.
func (s *Store) JobElements(ctx context.Context, job string, from, limit int) ([]store.JobElement, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.r.QueryContext(ctx, jobElementsSQL, job, max(from, 0), limit)
	if err != nil {
		return nil, unavailable("elements of job "+job, err)
	}
	defer rows.Close()
	out := []store.JobElement{}
	for rows.Next() {
		e, err := query.ScanElement(rows)
		if err != nil {
			return nil, unavailable("elements of job "+job, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("elements of job "+job, err)
	}
	return out, nil
}

// ClaimJobElement marks element index of job claimed by claim, if it is
// pending: store.ErrTaken when it is not, store.ErrNotFound when there is
// no such element. An empty claim is refused: it would name no attempt.
func (s *Store) ClaimJobElement(ctx context.Context, job string, index int, claim string) error {
	if claim == "" || !query.PlainText(claim) {
		return fmt.Errorf("sqlite: claim element %d of job %s: the claim %q is not a non-empty UTF-8 text without NUL", index, job, claim)
	}
	op := fmt.Sprintf("claim element %d of job %s", index, job)
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, claimSQL, claim, job, index)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		return absentOrTaken(ctx, tx, job, index)
	})
	if err != nil {
		return s.failed(op, err)
	}
	return nil
}

// absentOrTaken answers, for an element that a conditional update did not
// change, why: store.ErrNotFound when it does not exist, store.ErrTaken
// otherwise, both refused.
func absentOrTaken(ctx context.Context, tx *sql.Tx, job string, index int) error {
	var exists bool
	if err := tx.QueryRowContext(ctx, elementSQL, job, index).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		return refused{store.ErrNotFound}
	}
	return refused{store.ErrTaken}
}

// CompleteJobElement stores e's result and appends t, the element's
// record, in one transaction on the writer, provided the element is
// pending or claimed by e.Claim: store.ErrTaken otherwise,
// store.ErrNotFound when there is no such element, and nothing written. t
// is written as AppendTransfers writes a record (a fresh salt when it has
// none; store.ErrRejected beside store.ErrUnavailable when SQLite refuses
// it), with the element's transfer id and job (see
// query.CompletionRecord). The completion that makes the job's done reach
// its total finishes the job at the time it runs (UTC, microsecond
// precision), and answers true.
func (s *Store) CompleteJobElement(ctx context.Context, e store.JobElement, t store.Transfer) (bool, error) {
	op := fmt.Sprintf("complete element %d of job %s", e.Index, e.JobID)
	if err := query.CheckCompletion(e, t); err != nil {
		return false, fmt.Errorf("sqlite: %s: %w", op, err)
	}
	var finished bool
	err := s.write(ctx, func(tx *sql.Tx) error {
		var transferID string
		err := tx.QueryRowContext(ctx, completeSQL, e.Outcome, e.HTTPStatus, e.SCSPCode, query.ResultArg(e.Result),
			e.JobID, e.Index, e.Claim).Scan(&transferID)
		if errors.Is(err, sql.ErrNoRows) {
			return absentOrTaken(ctx, tx, e.JobID, e.Index)
		}
		if err != nil {
			return fmt.Errorf("element: %w", err)
		}
		rec, err := query.CompletionRecord(t, e.JobID, transferID)
		if err != nil {
			return refused{err}
		}
		if len(rec.Salt) == 0 {
			var salts query.Salts
			rec.Salt = salts.Next()
		}
		args, err := query.Args(rec, query.SQLite)
		if err != nil {
			return fmt.Errorf("record: %w: %w", store.ErrRejected, err)
		}
		if _, err := tx.ExecContext(ctx, insertSQL, args...); err != nil {
			return fmt.Errorf("record: %w", err)
		}
		if err := tx.QueryRowContext(ctx, jobDoneSQL, query.SQLite.Time(query.Now()), e.JobID).Scan(&finished); err != nil {
			return fmt.Errorf("job: %w", err)
		}
		return nil
	})
	if err != nil {
		return false, s.failed(op, err)
	}
	return finished, nil
}

// UnfinishedJobs answers the jobs not yet finished and the finished ones
// whose callback is not yet delivered, oldest first, without Counts.
func (s *Store) UnfinishedJobs(ctx context.Context) ([]store.Job, error) {
	rows, err := s.r.QueryContext(ctx, unfinishedJobsSQL)
	if err != nil {
		return nil, unavailable("unfinished jobs", err)
	}
	defer rows.Close()
	out := []store.Job{}
	for rows.Next() {
		j, err := query.ScanJob(rows, query.SQLite, false)
		if err != nil {
			return nil, unavailable("unfinished jobs", err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("unfinished jobs", err)
	}
	return out, nil
}

// MarkJobNotified records that job's callback was delivered at at;
// marked again, it keeps the first time. store.ErrNotFound when there is
// no such job.
func (s *Store) MarkJobNotified(ctx context.Context, job string, at time.Time) error {
	res, err := s.w.ExecContext(ctx, markNotifiedSQL, query.SQLite.Time(at), job)
	if err != nil {
		return unavailable("mark job "+job+" notified", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return unavailable("mark job "+job+" notified", err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: job %s: %w", job, store.ErrNotFound)
	}
	return nil
}

// DeleteExpiredJobResults deletes, in one transaction on the writer, the
// results and the SCSP Peticion of every job whose ExpiresAt is before now
// and whose results are not yet deleted, sets their DeletedAt to now, and
// appends for each an EventJobResultsDeleted event (written as
// AppendEvents writes events), whose Count is the job's elements.
func (s *Store) DeleteExpiredJobResults(ctx context.Context, now time.Time, node string) (int, error) {
	now = now.UTC().Truncate(time.Microsecond)
	var deleted int
	err := s.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, expireJobsSQL, query.SQLite.Time(now))
		if err != nil {
			return fmt.Errorf("jobs: %w", err)
		}
		var salts query.Salts
		var events []store.Event
		for rows.Next() {
			var id, requester, service string
			var total int
			if err := rows.Scan(&id, &requester, &service, &total); err != nil {
				rows.Close()
				return fmt.Errorf("jobs: %w", err)
			}
			events = append(events, query.ResultsDeleted(id, requester, service, total, now, node, salts.Next()))
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("jobs: %w", err)
		}
		for _, e := range events {
			if _, err := tx.ExecContext(ctx, deleteResultsSQL, e.Ref); err != nil {
				return fmt.Errorf("results of job %s: %w", e.Ref, err)
			}
			args, err := query.EventArgs(e, query.SQLite)
			if err != nil {
				return fmt.Errorf("event of job %s: %w", e.Ref, err)
			}
			if _, err := tx.ExecContext(ctx, insertEventSQL, args...); err != nil {
				return fmt.Errorf("event of job %s: %w", e.Ref, err)
			}
		}
		deleted = len(events)
		return nil
	})
	if err != nil {
		return 0, s.failed("delete expired job results", err)
	}
	return deleted, nil
}
