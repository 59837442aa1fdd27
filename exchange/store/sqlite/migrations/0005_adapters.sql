-- The adapter registry: every version of an adapter that its owner
-- published, and the history of which version each adapter serves from.
-- Both are append-only, and each row is a leaf of the log, written by a
-- trigger in the same transaction (as consents' and objections' are), so
-- that no module can serve a query without the log saying who put it
-- there.

-- The adapter events' members (docs/transfer-log.md); none is personal:
-- the publisher is the event's actor.
ALTER TABLE log_events ADD COLUMN owner         TEXT NOT NULL DEFAULT '';
ALTER TABLE log_events ADD COLUMN adapter       TEXT NOT NULL DEFAULT '';
ALTER TABLE log_events ADD COLUMN version       TEXT NOT NULL DEFAULT '';
ALTER TABLE log_events ADD COLUMN scope         TEXT NOT NULL DEFAULT '';
ALTER TABLE log_events ADD COLUMN module_sha256 TEXT NOT NULL DEFAULT '';
ALTER TABLE log_events ADD COLUMN key_id        TEXT NOT NULL DEFAULT '';
ALTER TABLE log_events ADD COLUMN signature     TEXT NOT NULL DEFAULT '';

-- A published version, immutable; its rowid orders an adapter's versions
-- published at the same time. Times are Unix microseconds.
CREATE TABLE adapter_versions (
	name          TEXT    NOT NULL,
	version       TEXT    NOT NULL,
	owner         TEXT    NOT NULL,
	services      TEXT    NOT NULL CHECK (json_valid(services) AND json_type(services) = 'array'),
	scope         TEXT    NOT NULL,
	module_sha256 TEXT    NOT NULL,
	key_id        TEXT    NOT NULL,
	signature     TEXT    NOT NULL,
	module        BLOB    NOT NULL,
	published_at  INTEGER NOT NULL,
	published_by  TEXT    NOT NULL,
	PRIMARY KEY (name, version)
) STRICT;

-- Every activation and rollback, in the order they committed (one writer).
-- version is the version served from after the change: the latest row of
-- an adapter is the one it serves from. AUTOINCREMENT: a seq is never
-- given twice, as it names the change's leaf.
CREATE TABLE adapter_activations (
	seq     INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	name    TEXT    NOT NULL,
	version TEXT    NOT NULL,
	kind    TEXT    NOT NULL CHECK (kind IN ('activate', 'rollback')),
	at      INTEGER NOT NULL,
	actor   TEXT    NOT NULL,
	FOREIGN KEY (name, version) REFERENCES adapter_versions (name, version)
) STRICT;

CREATE INDEX adapter_activations_name ON adapter_activations (name, seq);

-- Neither table changes once written: a version is what its owner signed,
-- and the history is what the log sealed.
CREATE TRIGGER adapter_versions_no_update BEFORE UPDATE ON adapter_versions
BEGIN
	SELECT RAISE(ABORT, 'adapter_versions is append-only: UPDATE refused');
END;
CREATE TRIGGER adapter_versions_no_delete BEFORE DELETE ON adapter_versions
BEGIN
	SELECT RAISE(ABORT, 'adapter_versions is append-only: DELETE refused');
END;
CREATE TRIGGER adapter_activations_no_update BEFORE UPDATE ON adapter_activations
BEGIN
	SELECT RAISE(ABORT, 'adapter_activations is append-only: UPDATE refused');
END;
CREATE TRIGGER adapter_activations_no_delete BEFORE DELETE ON adapter_activations
BEGIN
	SELECT RAISE(ABORT, 'adapter_activations is append-only: DELETE refused');
END;

-- Each change is a leaf of the log. The store signals its watchers itself
-- once the transaction commits (one node).
CREATE TRIGGER adapter_versions_log AFTER INSERT ON adapter_versions
BEGIN
	INSERT INTO log_events (id, at, kind, ref, owner, adapter, version, services, scope,
		module_sha256, key_id, signature, actor, salt, after_transfer)
	VALUES (NEW.name || '@' || NEW.version || ':adapter_published', NEW.published_at, 'adapter_published',
		NEW.name || '@' || NEW.version, NEW.owner, NEW.name, NEW.version, NEW.services, NEW.scope,
		NEW.module_sha256, NEW.key_id, NEW.signature, NEW.published_by, randomblob(16),
		(SELECT COALESCE(max(rowid), 0) FROM transfers));
END;

CREATE TRIGGER adapter_activations_log AFTER INSERT ON adapter_activations
BEGIN
	INSERT INTO log_events (id, at, kind, ref, owner, adapter, version, module_sha256, actor, salt, after_transfer)
	SELECT NEW.name || ':' || NEW.seq || ':' || k.kind, NEW.at, k.kind, NEW.name || '@' || NEW.version,
		v.owner, NEW.name, NEW.version, v.module_sha256, NEW.actor, randomblob(16),
		(SELECT COALESCE(max(rowid), 0) FROM transfers)
	FROM adapter_versions v,
		(SELECT CASE NEW.kind WHEN 'activate' THEN 'adapter_activated' ELSE 'adapter_rolled_back' END AS kind) k
	WHERE v.name = NEW.name AND v.version = NEW.version;
END;
