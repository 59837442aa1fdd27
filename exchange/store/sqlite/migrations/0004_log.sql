-- The tamper-evident log (docs/transfer-log.md). Every record, a transfer
-- or an event, becomes a leaf of one Merkle tree once the sealer has sealed
-- it; the store keeps the records, which leaf each became, the tree's hash
-- tiles, every signed checkpoint and the sealer's position.

-- salt is 16 random bytes hashed with the record's personal fields into its
-- leaf, empty once the record is pruned; personal_sha256 is empty until
-- then. Records written before this migration each get a salt of their own
-- (ADD COLUMN takes only a constant default).
ALTER TABLE transfers ADD COLUMN salt BLOB NOT NULL DEFAULT x'';
ALTER TABLE transfers ADD COLUMN personal_sha256 TEXT NOT NULL DEFAULT '';
UPDATE transfers SET salt = randomblob(16);

-- Events: the leaves that are not transfers (store.Event). The sealer takes
-- each table in rowid order (one writer: rowids only grow); after_transfer
-- is the last transfer's rowid when the event was written, which places it
-- among the transfers in the order they committed.
CREATE TABLE log_events (
	id              TEXT    NOT NULL PRIMARY KEY,
	at              INTEGER NOT NULL,
	node            TEXT    NOT NULL DEFAULT '',
	kind            TEXT    NOT NULL,
	ref             TEXT    NOT NULL DEFAULT '',
	requester       TEXT    NOT NULL DEFAULT '',
	procedure       TEXT    NOT NULL DEFAULT '',
	purpose         TEXT    NOT NULL DEFAULT '',
	service         TEXT    NOT NULL DEFAULT '',
	services        TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(services) AND json_type(services) = 'array'),
	expires_at      INTEGER,
	operation       TEXT    NOT NULL DEFAULT '',
	count           INTEGER NOT NULL DEFAULT 0,
	before_at       INTEGER,
	subject         TEXT    NOT NULL DEFAULT '',
	actor           TEXT    NOT NULL DEFAULT '',
	query_filter    TEXT    NOT NULL DEFAULT '',
	salt            BLOB    NOT NULL,
	personal_sha256 TEXT    NOT NULL DEFAULT '',
	after_transfer  INTEGER NOT NULL
) STRICT;

-- A citizen's consents and objections are events written by the database
-- itself, in the transaction that changes them. A consent's revocation
-- counts once, when revoked_at is first set (a consent stored revoked is
-- created, then revoked); an objection created twice is
-- inserted once (CreateObjection's ON CONFLICT updates, which fires no
-- insert trigger). Times are Unix microseconds; SQLite's clock has
-- milliseconds.
CREATE TRIGGER consents_log_created AFTER INSERT ON consents
BEGIN
	INSERT INTO log_events (id, at, kind, ref, requester, procedure, purpose, services, expires_at, subject, salt, after_transfer)
	VALUES (NEW.id || ':consent_created', NEW.created_at, 'consent_created', NEW.id, NEW.requester,
		NEW.procedure, NEW.purpose, NEW.services, NEW.expires_at, NEW.subject, randomblob(16),
		(SELECT COALESCE(max(rowid), 0) FROM transfers));
	-- A consent stored revoked was revoked too, after it was created.
	INSERT INTO log_events (id, at, kind, ref, requester, procedure, purpose, subject, salt, after_transfer)
	SELECT NEW.id || ':consent_revoked', NEW.revoked_at, 'consent_revoked', NEW.id, NEW.requester,
		NEW.procedure, NEW.purpose, NEW.subject, randomblob(16),
		(SELECT COALESCE(max(rowid), 0) FROM transfers)
	WHERE NEW.revoked_at IS NOT NULL;
END;

CREATE TRIGGER consents_log_revoked AFTER UPDATE OF revoked_at ON consents
	WHEN OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL
BEGIN
	INSERT INTO log_events (id, at, kind, ref, requester, procedure, purpose, subject, salt, after_transfer)
	VALUES (NEW.id || ':consent_revoked', NEW.revoked_at, 'consent_revoked', NEW.id, NEW.requester,
		NEW.procedure, NEW.purpose, NEW.subject, randomblob(16),
		(SELECT COALESCE(max(rowid), 0) FROM transfers));
END;

CREATE TRIGGER objections_log_recorded AFTER INSERT ON objections
BEGIN
	INSERT INTO log_events (id, at, kind, ref, service, procedure, subject, salt, after_transfer)
	VALUES (NEW.id || ':objection_recorded', NEW.created_at, 'objection_recorded', NEW.id,
		NEW.service, NEW.procedure, NEW.subject, randomblob(16),
		(SELECT COALESCE(max(rowid), 0) FROM transfers));
END;

CREATE TRIGGER objections_log_withdrawn AFTER DELETE ON objections
BEGIN
	INSERT INTO log_events (id, at, kind, ref, service, procedure, subject, salt, after_transfer)
	VALUES (OLD.id || ':objection_withdrawn',
		CAST(strftime('%s', 'now') AS INTEGER) * 1000000 + CAST(substr(strftime('%f', 'now'), 4) AS INTEGER) * 1000,
		'objection_withdrawn', OLD.id, OLD.service, OLD.procedure, OLD.subject, randomblob(16),
		(SELECT COALESCE(max(rowid), 0) FROM transfers));
END;

-- The sealed tree. log_leaves says which record each leaf is; the record
-- itself is never copied, so that the tree cannot hide a record changed or
-- deleted under it.
CREATE TABLE log_leaves (
	leaf_index INTEGER NOT NULL PRIMARY KEY,
	record_id  TEXT    NOT NULL,
	record_at  INTEGER NOT NULL,
	source     TEXT    NOT NULL CHECK (source IN ('transfer', 'event'))
) STRICT;

CREATE INDEX log_leaves_record ON log_leaves (record_id);

-- Hash tiles (C2SP tlog-tiles, height 8): a partial tile is replaced as it
-- grows.
CREATE TABLE log_tiles (
	level INTEGER NOT NULL,
	idx   INTEGER NOT NULL,
	data  BLOB    NOT NULL,
	PRIMARY KEY (level, idx)
) STRICT, WITHOUT ROWID;

-- Every signed checkpoint, by tree size; witnesses' cosignatures are added
-- to it in place.
CREATE TABLE log_checkpoints (
	size       INTEGER NOT NULL PRIMARY KEY,
	checkpoint BLOB    NOT NULL,
	at         INTEGER NOT NULL
) STRICT;

-- One row: the tree's size and root, the sealer's cursor (the last transfer
-- and event rowids sealed) and the time before which records were pruned.
CREATE TABLE log_state (
	one           INTEGER NOT NULL PRIMARY KEY CHECK (one = 1),
	size          INTEGER NOT NULL,
	root          BLOB    NOT NULL,
	seal_cursor   TEXT    NOT NULL,
	pruned_before INTEGER
) STRICT;

INSERT INTO log_state (one, size, root, seal_cursor) VALUES (1, 0, x'', '');
