-- Asynchronous jobs (store.Jobs): one request about many subjects, each
-- subject an element run on its own, each element's call to its source a
-- transfer record like a synchronous query's.

-- The job a record is an element of; empty for a synchronous request and
-- for every record written before this migration. Not personal: it names
-- a request, not a person, and is kept when the record is pruned.
ALTER TABLE transfers ADD COLUMN job_id text NOT NULL DEFAULT '';

-- A job: who asked what, and how far it has gone. retain_for is in
-- microseconds. done counts the elements done, so that the last one knows
-- it finished the job without counting them; finished_at is set by that
-- last completion, expires_at with it (finished_at + retain_for).
-- deleted_at is set when the results are deleted, notified_at when the
-- callback is delivered. Ids and keys are COLLATE "C", as elsewhere, so
-- that they compare and sort bytewise, as in SQLite.
CREATE TABLE jobs (
	id              text COLLATE "C" NOT NULL PRIMARY KEY,
	requester       text COLLATE "C" NOT NULL,
	requested_by    text        NOT NULL,
	service         text        NOT NULL,
	callback_url    text        NOT NULL,
	total           integer     NOT NULL CHECK (total > 0),
	request_sha256  text        NOT NULL,
	idempotency_key text COLLATE "C" NOT NULL,
	retain_for      bigint      NOT NULL CHECK (retain_for >= 0),
	created_at      timestamptz NOT NULL,
	done            integer     NOT NULL DEFAULT 0 CHECK (done >= 0 AND done <= total),
	finished_at     timestamptz,
	expires_at      timestamptz,
	deleted_at      timestamptz,
	notified_at     timestamptz
);

-- A requester's key names one job: a request repeated with it, even on two
-- nodes at once, finds the first job instead of creating another.
CREATE UNIQUE INDEX jobs_idempotency ON jobs (requester, idempotency_key) WHERE idempotency_key <> '';

-- What a starting node resumes (UnfinishedJobs), and what the retention
-- deletes (DeleteExpiredJobResults): both few among all the jobs kept.
CREATE INDEX jobs_unfinished ON jobs (created_at, id)
	WHERE finished_at IS NULL OR (callback_url <> '' AND notified_at IS NULL);
CREATE INDEX jobs_expiring ON jobs (expires_at) WHERE deleted_at IS NULL;

-- A job's elements, by index. query is the element's envelope and result
-- the answer or problem document, both JSON kept as bytes, as given;
-- result is NULL until the element is done, and again once the job's
-- results are deleted. claim names the attempt that claimed the element.
CREATE TABLE job_elements (
	job_id      text COLLATE "C" NOT NULL REFERENCES jobs (id),
	idx         integer NOT NULL CHECK (idx >= 0),
	transfer_id text COLLATE "C" NOT NULL,
	query       bytea   NOT NULL,
	state       text    NOT NULL CHECK (state IN ('pending', 'claimed', 'done')),
	claim       text    NOT NULL DEFAULT '',
	outcome     text    NOT NULL DEFAULT '',
	http_status integer NOT NULL DEFAULT 0,
	scsp_code   text    NOT NULL DEFAULT '',
	result      bytea,
	PRIMARY KEY (job_id, idx)
);
