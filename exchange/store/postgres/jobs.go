package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pontexchange/pont/exchange/store"
	"github.com/pontexchange/pont/exchange/store/internal/query"
)

var _ store.Jobs = (*Store)(nil)

// params answers "$1, $2, ..., $n".
func params(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(i))
	}
	return b.String()
}

var (
	// The conflict target is the partial unique index of idempotency keys:
	// a repeated key is answered, a repeated id is refused like any
	// repeated key of a record.
	insertJobSQL = "INSERT INTO jobs (" + query.JobGivenList + ") VALUES (" + params(query.JobInserted) + `)
		ON CONFLICT (requester, idempotency_key) WHERE idempotency_key <> '' DO NOTHING`
	jobByKeySQL = "SELECT id FROM jobs WHERE requester = $1 AND idempotency_key = $2 AND idempotency_key <> ''"
	// One statement, so that Done and Counts are of one snapshot.
	selectJobSQL = "SELECT " + query.JobColumnList + `, COALESCE((SELECT jsonb_object_agg(c.outcome, c.n)
		FROM (SELECT outcome, count(*) AS n FROM job_elements WHERE job_id = jobs.id AND state = 'done' GROUP BY outcome) c), '{}')
		FROM jobs`
	getJobSQL = selectJobSQL + " WHERE id = $1"
	// The condition on the key is the partial index's, which it uses.
	getJobByKeySQL = selectJobSQL + " WHERE requester = $1 AND idempotency_key = $2 AND idempotency_key <> ''"
	peticionSQL    = "SELECT scsp_peticion FROM jobs WHERE id = $1"
	// LIMIT NULL is no limit.
	jobElementsSQL = "SELECT " + query.ElementSelectList + " FROM job_elements WHERE job_id = $1 AND idx >= $2 ORDER BY idx LIMIT $3"
	claimSQL       = "UPDATE job_elements SET state = 'claimed', claim = $3 WHERE job_id = $1 AND idx = $2 AND state = 'pending'"
	elementSQL     = "SELECT EXISTS (SELECT 1 FROM job_elements WHERE job_id = $1 AND idx = $2)"
	completeSQL    = `UPDATE job_elements SET state = 'done', outcome = $3, http_status = $4, scsp_code = $5, result = $6
		WHERE job_id = $1 AND idx = $2 AND state <> 'done' AND (state = 'pending' OR claim = $7) RETURNING transfer_id`
	insertTransferSQL = "INSERT INTO transfers (" + query.ColumnList + ") VALUES (" + params(len(query.Columns)) + ")"
	// Concurrent completions of one job take turns on its row, each
	// adding to the done the one before committed: exactly one of them
	// makes done reach total.
	jobDoneSQL = `UPDATE jobs SET done = done + 1,
		finished_at = CASE WHEN done + 1 = total THEN $2::timestamptz ELSE finished_at END,
		expires_at = CASE WHEN done + 1 = total THEN $2::timestamptz + retain_for * interval '1 microsecond' ELSE expires_at END
		WHERE id = $1 RETURNING done = total`
	unfinishedJobsSQL = "SELECT " + query.JobColumnList + ` FROM jobs
		WHERE finished_at IS NULL OR (callback_url <> '' AND notified_at IS NULL) ORDER BY created_at, id`
	markNotifiedSQL = "UPDATE jobs SET notified_at = COALESCE(notified_at, $2) WHERE id = $1"
	// A job whose deletion another node committed meanwhile is passed
	// over: the update waits for that node's row lock, then finds
	// deleted_at set.
	expireJobsSQL = `UPDATE jobs SET deleted_at = $1, scsp_peticion = NULL WHERE expires_at < $1 AND deleted_at IS NULL
		RETURNING id, requester, service, total`
	deleteResultsSQL = "UPDATE job_elements SET result = NULL WHERE job_id = ANY($1::text[]) AND result IS NOT NULL"
)

// CreateJob stores j and its elements, all pending, in one transaction:
// the job with one INSERT, the elements with one COPY. When j's requester
// has a job with j's idempotency key, nothing is stored and that job is
// answered, as GetJob answers it, with an error wrapping
// store.ErrExists; two nodes creating the same key at once store one job,
// and the other answers it. A job the stores cannot keep as given is
// refused, naming what is wrong (see query.CheckJob).
func (s *Store) CreateJob(ctx context.Context, j store.Job, elements []store.JobElement) (store.Job, error) {
	if err := query.CheckJob(j, elements); err != nil {
		return store.Job{}, fmt.Errorf("postgres: create job %q: %w", j.ID, err)
	}
	j = query.NewJob(j)
	var existing string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, insertJobSQL, query.JobArgs(j, query.Postgres)...)
		if err != nil {
			return fmt.Errorf("job: %w", err)
		}
		if tag.RowsAffected() == 0 {
			// The key's job committed before this insert, or while it
			// waited: in either case this statement's snapshot has it.
			if err := tx.QueryRow(ctx, jobByKeySQL, j.Requester, j.IdempotencyKey).Scan(&existing); err != nil {
				return fmt.Errorf("the job of the idempotency key: %w", err)
			}
			return refused{store.ErrExists}
		}
		n, err := tx.CopyFrom(ctx, pgx.Identifier{"job_elements"}, query.ElementColumns[:query.ElementGiven],
			pgx.CopyFromSlice(len(elements), func(i int) ([]any, error) {
				return query.ElementArgs(j.ID, i, elements[i]), nil
			}))
		if err != nil {
			return fmt.Errorf("elements: %w", err)
		}
		if n != int64(len(elements)) {
			return fmt.Errorf("elements: copied %d of %d", n, len(elements))
		}
		return nil
	})
	if existing != "" {
		got, err := s.GetJob(ctx, existing)
		if err != nil {
			return store.Job{}, err
		}
		return got, fmt.Errorf("postgres: create job %s: %s's idempotency key %q names job %s: %w",
			j.ID, j.Requester, j.IdempotencyKey, existing, store.ErrExists)
	}
	if err != nil {
		if rejected(err) {
			err = fmt.Errorf("%w: %w", store.ErrRejected, err)
		}
		return store.Job{}, unavailable(fmt.Sprintf("create job %s of %d elements", j.ID, len(elements)), err)
	}
	return j, nil
}

// GetJob answers the job with id, its Done, Counts and times, without
// its SCSPPeticion, or store.ErrNotFound.
func (s *Store) GetJob(ctx context.Context, id string) (store.Job, error) {
	notFound := fmt.Errorf("postgres: job %s: %w", id, store.ErrNotFound)
	if !query.PlainText(id) {
		return store.Job{}, notFound // never stored: CreateJob refuses such text
	}
	j, err := query.ScanJob(s.pool.QueryRow(ctx, getJobSQL, id), query.Postgres, true)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Job{}, notFound
	}
	if err != nil {
		return store.Job{}, unavailable("get job "+id, err)
	}
	return j, nil
}

// JobByKey answers the job of requester whose idempotency key is key, as
// GetJob answers it, or store.ErrNotFound: always for an empty key, and
// for text CreateJob would have refused.
func (s *Store) JobByKey(ctx context.Context, requester, key string) (store.Job, error) {
	notFound := fmt.Errorf("postgres: %s's job of the idempotency key %q: %w", requester, key, store.ErrNotFound)
	if key == "" || !query.PlainText(requester) || !query.PlainText(key) {
		return store.Job{}, notFound
	}
	j, err := query.ScanJob(s.pool.QueryRow(ctx, getJobByKeySQL, requester, key), query.Postgres, true)
	if errors.Is(err, pgx.ErrNoRows) {
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
	notFound := fmt.Errorf("postgres: job %s: %w", id, store.ErrNotFound)
	if !query.PlainText(id) {
		return nil, notFound
	}
	b, err := query.ScanPeticion(s.pool.QueryRow(ctx, peticionSQL, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound
	}
	if err != nil {
		return nil, unavailable("the peticion of job "+id, err)
	}
	return b, nil
}

// JobElements answers up to limit elements of job (all when limit <= 0)
// from index from on, in index order; none is an empty slice.
func (s *Store) JobElements(ctx context.Context, job string, from, limit int) ([]store.JobElement, error) {
	if !query.PlainText(job) {
		return []store.JobElement{}, nil
	}
	var most any // NULL: no limit
	if limit > 0 {
		most = limit
	}
	rows, err := s.pool.Query(ctx, jobElementsSQL, job, max(from, 0), most)
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
		return fmt.Errorf("postgres: claim element %d of job %s: the claim %q is not a non-empty UTF-8 text without NUL", index, job, claim)
	}
	if !query.PlainText(job) {
		return fmt.Errorf("postgres: element %d of job %s: %w", index, job, store.ErrNotFound)
	}
	tag, err := s.pool.Exec(ctx, claimSQL, job, index, claim)
	if err != nil {
		return unavailable(fmt.Sprintf("claim element %d of job %s", index, job), err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var exists bool
	if err := s.pool.QueryRow(ctx, elementSQL, job, index).Scan(&exists); err != nil {
		return unavailable(fmt.Sprintf("claim element %d of job %s", index, job), err)
	}
	if !exists {
		return fmt.Errorf("postgres: element %d of job %s: %w", index, job, store.ErrNotFound)
	}
	return fmt.Errorf("postgres: claim element %d of job %s: %w", index, job, store.ErrTaken)
}

// CompleteJobElement stores e's result and appends t, the element's
// record, in one transaction, provided the element is pending or claimed
// by e.Claim: store.ErrTaken otherwise, store.ErrNotFound when there is no
// such element, and nothing written. t is written as AppendTransfers
// writes a record (a fresh salt when it has none; store.ErrRejected beside
// store.ErrUnavailable when PostgreSQL refuses it), with the element's
// transfer id and job (see query.CompletionRecord). The completion that
// makes the job's done reach its total finishes the job at the time it
// runs (this node's clock, UTC, microsecond precision), and answers true.
func (s *Store) CompleteJobElement(ctx context.Context, e store.JobElement, t store.Transfer) (bool, error) {
	op := fmt.Sprintf("complete element %d of job %s", e.Index, e.JobID)
	if err := query.CheckCompletion(e, t); err != nil {
		return false, fmt.Errorf("postgres: %s: %w", op, err)
	}
	var finished bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var transferID string
		err := tx.QueryRow(ctx, completeSQL, e.JobID, e.Index, e.Outcome, e.HTTPStatus, e.SCSPCode,
			query.ResultArg(e.Result), e.Claim).Scan(&transferID)
		if errors.Is(err, pgx.ErrNoRows) {
			var exists bool
			if err := tx.QueryRow(ctx, elementSQL, e.JobID, e.Index).Scan(&exists); err != nil {
				return err
			}
			if !exists {
				return refused{store.ErrNotFound}
			}
			return refused{store.ErrTaken}
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
		args, err := query.Args(rec, query.Postgres)
		if err != nil {
			return fmt.Errorf("record: %w: %w", store.ErrRejected, err)
		}
		if _, err := tx.Exec(ctx, insertTransferSQL, args...); err != nil {
			return fmt.Errorf("record: %w", err)
		}
		if err := tx.QueryRow(ctx, jobDoneSQL, e.JobID, query.Now()).Scan(&finished); err != nil {
			return fmt.Errorf("job: %w", err)
		}
		return nil
	})
	var r refused
	if errors.As(err, &r) {
		return false, fmt.Errorf("postgres: %s: %w", op, r.error)
	}
	if err != nil {
		if rejected(err) {
			err = fmt.Errorf("%w: %w", store.ErrRejected, err)
		}
		return false, unavailable(op, err)
	}
	return finished, nil
}

// UnfinishedJobs answers the jobs not yet finished and the finished ones
// whose callback is not yet delivered, oldest first, without Counts.
func (s *Store) UnfinishedJobs(ctx context.Context) ([]store.Job, error) {
	rows, err := s.pool.Query(ctx, unfinishedJobsSQL)
	if err != nil {
		return nil, unavailable("unfinished jobs", err)
	}
	defer rows.Close()
	out := []store.Job{}
	for rows.Next() {
		j, err := query.ScanJob(rows, query.Postgres, false)
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
	if !query.PlainText(job) {
		return fmt.Errorf("postgres: job %s: %w", job, store.ErrNotFound)
	}
	tag, err := s.pool.Exec(ctx, markNotifiedSQL, job, query.Postgres.Time(at))
	if err != nil {
		return unavailable("mark job "+job+" notified", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: job %s: %w", job, store.ErrNotFound)
	}
	return nil
}

// DeleteExpiredJobResults deletes, in one transaction, the results and
// the SCSP Peticion of every job whose ExpiresAt is before now and whose
// results are not yet deleted, sets their DeletedAt to now, and appends
// for each an EventJobResultsDeleted event (written as AppendEvents
// writes events), whose Count is the job's elements. Two nodes running it
// at once delete each job's results, and record it, once.
func (s *Store) DeleteExpiredJobResults(ctx context.Context, now time.Time, node string) (int, error) {
	now = now.UTC().Truncate(time.Microsecond)
	var deleted int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, expireJobsSQL, now)
		if err != nil {
			return fmt.Errorf("jobs: %w", err)
		}
		var salts query.Salts
		var ids []string
		var events []store.Event
		for rows.Next() {
			var id, requester, service string
			var total int
			if err := rows.Scan(&id, &requester, &service, &total); err != nil {
				rows.Close()
				return fmt.Errorf("jobs: %w", err)
			}
			ids = append(ids, id)
			events = append(events, query.ResultsDeleted(id, requester, service, total, now, node, salts.Next()))
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("jobs: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		if _, err := tx.Exec(ctx, deleteResultsSQL, ids); err != nil {
			return fmt.Errorf("results: %w", err)
		}
		n, err := tx.CopyFrom(ctx, pgx.Identifier{"log_events"}, query.EventColumns,
			pgx.CopyFromSlice(len(events), func(i int) ([]any, error) {
				return query.EventArgs(events[i], query.Postgres)
			}))
		if err != nil {
			return fmt.Errorf("events: %w", err)
		}
		if n != int64(len(events)) {
			return fmt.Errorf("events: copied %d of %d", n, len(events))
		}
		deleted = len(ids)
		return nil
	})
	if err != nil {
		return 0, unavailable("delete expired job results", err)
	}
	return deleted, nil
}
