-- Asynchronous jobs (store.Jobs): one request about many subjects, each
-- subject an element run on its own, each element's call to its source a
-- transfer record like a synchronous query's.

-- The job a record is an element of; empty for a synchronous request and
-- for every record written before this migration. Not personal: it names
-- a request, not a person, and is kept when the record is pruned.
ALTER TABLE transfers ADD COLUMN job_id TEXT NOT NULL DEFAULT '';

-- A job: who asked what, and how far it has gone. Times are Unix
-- microseconds (UTC), as in the transfer log, and so is retain_for. done
-- counts the elements done, so that the last one knows it finished the
-- job without counting them; finished_at is set by that last completion,
-- expires_at with it (finished_at + retain_for). deleted_at is set when
-- the results are deleted, notified_at when the callback is delivered.
CREATE TABLE jobs (
	id              TEXT    NOT NULL PRIMARY KEY,
	requester       TEXT    NOT NULL,
	requested_by    TEXT    NOT NULL,
	service         TEXT    NOT NULL,
	callback_url    TEXT    NOT NULL,
	total           INTEGER NOT NULL CHECK (total > 0),
	request_sha256  TEXT    NOT NULL,
	idempotency_key TEXT    NOT NULL,
	retain_for      INTEGER NOT NULL CHECK (retain_for >= 0),
	created_at      INTEGER NOT NULL,
	done            INTEGER NOT NULL DEFAULT 0 CHECK (done >= 0 AND done <= total),
	finished_at     INTEGER,
	expires_at      INTEGER,
	deleted_at      INTEGER,
	notified_at     INTEGER
) STRICT;

-- A requester's key names one job: a request repeated with it finds the
-- first job instead of creating another.
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
	job_id      TEXT    NOT NULL REFERENCES jobs (id),
	idx         INTEGER NOT NULL CHECK (idx >= 0),
	transfer_id TEXT    NOT NULL,
	query       BLOB    NOT NULL,
	state       TEXT    NOT NULL CHECK (state IN ('pending', 'claimed', 'done')),
	claim       TEXT    NOT NULL DEFAULT '',
	outcome     TEXT    NOT NULL DEFAULT '',
	http_status INTEGER NOT NULL DEFAULT 0,
	scsp_code   TEXT    NOT NULL DEFAULT '',
	result      BLOB,
	PRIMARY KEY (job_id, idx)
) STRICT;
