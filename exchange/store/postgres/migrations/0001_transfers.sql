-- The transfer log, partitioned by month on "at" (UTC). Monthly partitions
-- are created ahead by the store (EnsurePartitions); the default partition
-- catches anything outside them, so that an insert never fails for want of
-- a partition.
--
-- id is COLLATE "C": keyset paging breaks time ties by id, and the order must
-- be bytewise, as in SQLite, not the database's locale order.
-- The primary key must contain the partition key; ids are UUIDv7, which
-- carry their own time, so (id, at) is as unique as id.
CREATE TABLE transfers (
	id              text COLLATE "C" NOT NULL,
	at              timestamptz NOT NULL,
	node            text   NOT NULL,
	kind            text   NOT NULL,
	requester       text   NOT NULL,
	official_id     text   NOT NULL,
	official_name   text   NOT NULL,
	procedure_code  text   NOT NULL,
	procedure_name  text   NOT NULL,
	purpose         text   NOT NULL,
	legal_basis     text   NOT NULL,
	law_reference   text   NOT NULL,
	consent_id      text   NOT NULL,
	case_id         text   NOT NULL,
	subject_id_type text   NOT NULL,
	subject_id      text   NOT NULL,
	service         text   NOT NULL,
	adapter         text   NOT NULL,
	adapter_version text   NOT NULL,
	module_sha256   text   NOT NULL,
	decision        text   NOT NULL,
	reasons         jsonb  NOT NULL,
	policy_revision text   NOT NULL,
	outcome         text   NOT NULL,
	scsp_code       text   NOT NULL,
	latency_us      bigint NOT NULL,
	data_sha256     text   NOT NULL,
	PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);

CREATE TABLE transfers_default PARTITION OF transfers DEFAULT;

-- Keyset paging walks (at, id) newest first; the carpeta and the auditors'
-- most common searches start from a subject or a requester.
CREATE INDEX transfers_at ON transfers (at DESC, id DESC);
CREATE INDEX transfers_subject ON transfers (subject_id, at DESC, id DESC);
CREATE INDEX transfers_requester ON transfers (requester, at DESC, id DESC);
