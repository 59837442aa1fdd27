-- What a citizen manages from her carpeta: consents and objections. Times
-- are Unix microseconds (UTC), as in the transfer log; revoked_at is NULL
-- until the consent is revoked.
CREATE TABLE consents (
	id         TEXT    NOT NULL PRIMARY KEY,
	subject    TEXT    NOT NULL,
	requester  TEXT    NOT NULL,
	procedure  TEXT    NOT NULL,
	services   TEXT    NOT NULL CHECK (json_valid(services) AND json_type(services) = 'array'), -- JSON array of service codes
	purpose    TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	revoked_at INTEGER
) STRICT;

-- The carpeta lists a subject's consents newest first.
CREATE INDEX consents_subject ON consents (subject, created_at DESC, id DESC);

-- An objection to presumed consultation of a service, for one procedure or,
-- with an empty procedure, for every procedure. The unique constraint makes
-- creating the same objection twice answer the first one.
CREATE TABLE objections (
	id         TEXT    NOT NULL PRIMARY KEY,
	subject    TEXT    NOT NULL,
	service    TEXT    NOT NULL,
	procedure  TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	CONSTRAINT objections_subject_service_procedure UNIQUE (subject, service, procedure)
) STRICT;

-- The carpeta lists a subject's objections newest first; the unique
-- constraint's index serves FindObjection.
CREATE INDEX objections_subject ON objections (subject, created_at DESC, id DESC);
