-- What a citizen manages from her carpeta: consents and objections. Not
-- partitioned: they are few per citizen, and revoking or deleting one must
-- find it by id alone. revoked_at is NULL until the consent is revoked.
--
-- ids are COLLATE "C" so that ties in the newest-first order break
-- bytewise, as in SQLite, not in the database's locale order.
CREATE TABLE consents (
	id         text COLLATE "C" NOT NULL PRIMARY KEY,
	subject    text        NOT NULL,
	requester  text        NOT NULL,
	procedure  text        NOT NULL,
	services   jsonb       NOT NULL CHECK (jsonb_typeof(services) = 'array'), -- array of service codes
	purpose    text        NOT NULL,
	created_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL,
	revoked_at timestamptz
);

-- The carpeta lists a subject's consents newest first.
CREATE INDEX consents_subject ON consents (subject, created_at DESC, id DESC);

-- An objection to presumed consultation of a service, for one procedure or,
-- with an empty procedure, for every procedure. The unique constraint makes
-- creating the same objection twice, even from two nodes at once, answer
-- the first one.
CREATE TABLE objections (
	id         text COLLATE "C" NOT NULL PRIMARY KEY,
	subject    text        NOT NULL,
	service    text        NOT NULL,
	procedure  text        NOT NULL,
	created_at timestamptz NOT NULL,
	CONSTRAINT objections_subject_service_procedure UNIQUE (subject, service, procedure)
);

-- The carpeta lists a subject's objections newest first; the unique
-- constraint's index serves FindObjection.
CREATE INDEX objections_subject ON objections (subject, created_at DESC, id DESC);
