-- The tamper-evident log (docs/transfer-log.md). Every record, a transfer
-- or an event, becomes a leaf of one Merkle tree once the sealer has sealed
-- it; the store keeps the records, which leaf each became, the tree's hash
-- tiles, every signed checkpoint and the sealer's position.

-- A record's salt: 16 random bytes, hashed with its personal fields into
-- its leaf. Two version-4 UUIDs give them without pgcrypto: bytes 1-6 and
-- 10-16 of a UUID are random (7 and 9 carry its version and variant bits).
CREATE FUNCTION pont_salt() RETURNS bytea LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
	SELECT substring(a FROM 1 FOR 6) || substring(a FROM 10 FOR 7) || substring(b FROM 1 FOR 3)
	FROM (SELECT uuid_send(gen_random_uuid()) AS a, uuid_send(gen_random_uuid()) AS b) AS u
$$;

-- salt is empty once the record is pruned, personal_sha256 empty until
-- then. xid is the writing transaction's id: the sealer takes records in
-- (xid, id) order, and only below the oldest transaction still running, so
-- that a transaction that commits late, with an older xid, is never passed
-- over. It is a column, not the system column xmin, so that moving a row
-- (to a new partition, to a pruned copy) keeps it. The volatile defaults
-- give every record written before this migration a salt of its own, and
-- the migration's xid.
ALTER TABLE transfers
	ADD COLUMN salt bytea NOT NULL DEFAULT pont_salt(),
	ADD COLUMN personal_sha256 text NOT NULL DEFAULT '',
	ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();

CREATE INDEX transfers_xid ON transfers (xid, id);

-- Events: the leaves that are not transfers (store.Event). Partitioned by
-- month on "at" like transfers, so that pruning swaps whole months.
CREATE TABLE log_events (
	id              text COLLATE "C" NOT NULL,
	at              timestamptz NOT NULL,
	node            text   NOT NULL DEFAULT '',
	kind            text   NOT NULL,
	ref             text   NOT NULL DEFAULT '',
	requester       text   NOT NULL DEFAULT '',
	procedure       text   NOT NULL DEFAULT '',
	purpose         text   NOT NULL DEFAULT '',
	service         text   NOT NULL DEFAULT '',
	services        jsonb  NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(services) = 'array'),
	expires_at      timestamptz,
	operation       text   NOT NULL DEFAULT '',
	count           bigint NOT NULL DEFAULT 0,
	before_at       timestamptz,
	subject         text   NOT NULL DEFAULT '',
	actor           text   NOT NULL DEFAULT '',
	query_filter    text   NOT NULL DEFAULT '',
	salt            bytea  NOT NULL DEFAULT pont_salt(),
	personal_sha256 text   NOT NULL DEFAULT '',
	xid             xid8   NOT NULL DEFAULT pg_current_xact_id(),
	PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);

CREATE TABLE log_events_default PARTITION OF log_events DEFAULT;

CREATE INDEX log_events_xid ON log_events (xid, id);

-- A citizen's consents and objections are events written by the database
-- itself, in the transaction that changes them, whoever changes them. A
-- consent's revocation counts once, when revoked_at is first set (a
-- consent stored revoked is created, then revoked); an objection created
-- twice is inserted once (CreateObjection's ON CONFLICT
-- updates, which fires no insert trigger).
CREATE FUNCTION pont_log_consent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		INSERT INTO log_events (id, at, kind, ref, requester, procedure, purpose, services, expires_at, subject)
		VALUES (NEW.id || ':consent_created', NEW.created_at, 'consent_created', NEW.id, NEW.requester,
			NEW.procedure, NEW.purpose, NEW.services, NEW.expires_at, NEW.subject);
	END IF;
	-- A consent stored revoked was revoked too, after it was created.
	IF NEW.revoked_at IS NOT NULL AND (TG_OP = 'INSERT' OR OLD.revoked_at IS NULL) THEN
		INSERT INTO log_events (id, at, kind, ref, requester, procedure, purpose, subject)
		VALUES (NEW.id || ':consent_revoked', NEW.revoked_at, 'consent_revoked', NEW.id, NEW.requester,
			NEW.procedure, NEW.purpose, NEW.subject);
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER consents_log AFTER INSERT OR UPDATE OF revoked_at ON consents
	FOR EACH ROW EXECUTE FUNCTION pont_log_consent();

CREATE FUNCTION pont_log_objection() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		INSERT INTO log_events (id, at, kind, ref, service, procedure, subject)
		VALUES (NEW.id || ':objection_recorded', NEW.created_at, 'objection_recorded', NEW.id,
			NEW.service, NEW.procedure, NEW.subject);
	ELSE
		INSERT INTO log_events (id, at, kind, ref, service, procedure, subject)
		VALUES (OLD.id || ':objection_withdrawn', now(), 'objection_withdrawn', OLD.id,
			OLD.service, OLD.procedure, OLD.subject);
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER objections_log AFTER INSERT OR DELETE ON objections
	FOR EACH ROW EXECUTE FUNCTION pont_log_objection();

-- The sealed tree. log_leaves says which record each leaf is (its id, and
-- its time and table, to find it in its partition); the record itself is
-- never copied, so that the tree cannot hide a record changed or deleted
-- under it.
CREATE TABLE log_leaves (
	leaf_index bigint NOT NULL PRIMARY KEY,
	record_id  text COLLATE "C" NOT NULL,
	record_at  timestamptz NOT NULL,
	source     text NOT NULL CHECK (source IN ('transfer', 'event'))
);

CREATE INDEX log_leaves_record ON log_leaves (record_id);

-- Hash tiles (C2SP tlog-tiles, height 8): a partial tile is replaced as it
-- grows.
CREATE TABLE log_tiles (
	level integer NOT NULL,
	idx   bigint  NOT NULL,
	data  bytea   NOT NULL,
	PRIMARY KEY (level, idx)
);

-- Every signed checkpoint, by tree size; witnesses' cosignatures are added
-- to it in place.
CREATE TABLE log_checkpoints (
	size       bigint      NOT NULL PRIMARY KEY,
	checkpoint bytea       NOT NULL,
	at         timestamptz NOT NULL DEFAULT now()
);

-- One row: the tree's size and root, the sealer's cursor (where its next
-- records start, see Sealer.Unsealed) and the time before which records
-- were pruned.
CREATE TABLE log_state (
	one           boolean     NOT NULL PRIMARY KEY DEFAULT true CHECK (one),
	size          bigint      NOT NULL,
	root          bytea       NOT NULL,
	seal_cursor   text        NOT NULL,
	pruned_before timestamptz
);

INSERT INTO log_state (size, root, seal_cursor) VALUES (0, '', '');

-- The monthly partitions that Prune swapped for a pruned copy with every
-- record sealed, so that later runs do not read them again.
CREATE TABLE log_pruned_partitions (
	name      text        NOT NULL PRIMARY KEY,
	pruned_at timestamptz NOT NULL DEFAULT now()
);
