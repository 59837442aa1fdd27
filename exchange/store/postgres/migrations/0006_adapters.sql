-- The adapter registry: every version of an adapter that its owner
-- published, and the history of which version each adapter serves from.
-- Both are append-only, and each row is a leaf of the log, written by a
-- trigger in the same transaction (as consents' and objections' are), so
-- that no module can serve a query without the log saying who put it
-- there.

-- The adapter events' members (docs/transfer-log.md); none is personal:
-- the publisher is the event's actor.
ALTER TABLE log_events
	ADD COLUMN owner         text NOT NULL DEFAULT '',
	ADD COLUMN adapter       text NOT NULL DEFAULT '',
	ADD COLUMN version       text NOT NULL DEFAULT '',
	ADD COLUMN scope         text NOT NULL DEFAULT '',
	ADD COLUMN module_sha256 text NOT NULL DEFAULT '',
	ADD COLUMN key_id        text NOT NULL DEFAULT '',
	ADD COLUMN signature     text NOT NULL DEFAULT '';

-- A published version, immutable. seq orders an adapter's versions
-- published at the same time. Names and versions are COLLATE "C" so that
-- listings sort bytewise, as in SQLite.
CREATE TABLE adapter_versions (
	name          text COLLATE "C" NOT NULL,
	version       text COLLATE "C" NOT NULL,
	owner         text        NOT NULL,
	services      jsonb       NOT NULL CHECK (jsonb_typeof(services) = 'array'),
	scope         text        NOT NULL,
	module_sha256 text        NOT NULL,
	key_id        text        NOT NULL,
	signature     text        NOT NULL,
	module        bytea       NOT NULL,
	published_at  timestamptz NOT NULL,
	published_by  text        NOT NULL,
	seq           bigint      NOT NULL GENERATED ALWAYS AS IDENTITY,
	PRIMARY KEY (name, version)
);

-- Every activation and rollback, in the order they committed for each
-- adapter (the store serialises an adapter's changes under a lock). version
-- is the version served from after the change: the latest row of an
-- adapter is the one it serves from.
CREATE TABLE adapter_activations (
	seq     bigint      NOT NULL GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name    text COLLATE "C" NOT NULL,
	version text COLLATE "C" NOT NULL,
	kind    text        NOT NULL CHECK (kind IN ('activate', 'rollback')),
	at      timestamptz NOT NULL,
	actor   text        NOT NULL,
	FOREIGN KEY (name, version) REFERENCES adapter_versions (name, version)
);

CREATE INDEX adapter_activations_name ON adapter_activations (name, seq);

-- Neither table changes once written: a version is what its owner signed,
-- and the history is what the log sealed.
CREATE FUNCTION pont_adapters_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
END
$$;

CREATE TRIGGER adapter_versions_append_only BEFORE UPDATE OR DELETE ON adapter_versions
	FOR EACH ROW EXECUTE FUNCTION pont_adapters_append_only();
CREATE TRIGGER adapter_activations_append_only BEFORE UPDATE OR DELETE ON adapter_activations
	FOR EACH ROW EXECUTE FUNCTION pont_adapters_append_only();

-- Each change is a leaf of the log, and a notification on pont_adapters
-- (payload: the adapter's name), which PostgreSQL sends when the
-- transaction commits, so that every node reloads the active versions.
CREATE FUNCTION pont_log_adapter_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO log_events (id, at, kind, ref, owner, adapter, version, services, scope,
		module_sha256, key_id, signature, actor)
	VALUES (NEW.name || '@' || NEW.version || ':adapter_published', NEW.published_at, 'adapter_published',
		NEW.name || '@' || NEW.version, NEW.owner, NEW.name, NEW.version, NEW.services, NEW.scope,
		NEW.module_sha256, NEW.key_id, NEW.signature, NEW.published_by);
	PERFORM pg_notify('pont_adapters', NEW.name);
	RETURN NULL;
END
$$;

CREATE TRIGGER adapter_versions_log AFTER INSERT ON adapter_versions
	FOR EACH ROW EXECUTE FUNCTION pont_log_adapter_version();

CREATE FUNCTION pont_log_adapter_activation() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	k text := CASE NEW.kind WHEN 'activate' THEN 'adapter_activated' ELSE 'adapter_rolled_back' END;
BEGIN
	INSERT INTO log_events (id, at, kind, ref, owner, adapter, version, module_sha256, actor)
	SELECT NEW.name || ':' || NEW.seq || ':' || k, NEW.at, k, NEW.name || '@' || NEW.version,
		v.owner, NEW.name, NEW.version, v.module_sha256, NEW.actor
	FROM adapter_versions v WHERE v.name = NEW.name AND v.version = NEW.version;
	PERFORM pg_notify('pont_adapters', NEW.name);
	RETURN NULL;
END
$$;

CREATE TRIGGER adapter_activations_log AFTER INSERT ON adapter_activations
	FOR EACH ROW EXECUTE FUNCTION pont_log_adapter_activation();
