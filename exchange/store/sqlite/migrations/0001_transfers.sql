-- The transfer log. "at" is Unix microseconds (UTC): integers order and
-- compare exactly, where SQLite's date texts would depend on their format.
CREATE TABLE transfers (
	id              TEXT    NOT NULL PRIMARY KEY,
	at              INTEGER NOT NULL,
	node            TEXT    NOT NULL,
	kind            TEXT    NOT NULL,
	requester       TEXT    NOT NULL,
	official_id     TEXT    NOT NULL,
	official_name   TEXT    NOT NULL,
	procedure_code  TEXT    NOT NULL,
	procedure_name  TEXT    NOT NULL,
	purpose         TEXT    NOT NULL,
	legal_basis     TEXT    NOT NULL,
	law_reference   TEXT    NOT NULL,
	consent_id      TEXT    NOT NULL,
	case_id         TEXT    NOT NULL,
	subject_id_type TEXT    NOT NULL,
	subject_id      TEXT    NOT NULL,
	service         TEXT    NOT NULL,
	adapter         TEXT    NOT NULL,
	adapter_version TEXT    NOT NULL,
	module_sha256   TEXT    NOT NULL,
	decision        TEXT    NOT NULL,
	reasons         TEXT    NOT NULL, -- JSON array of {code, message}
	policy_revision TEXT    NOT NULL,
	outcome         TEXT    NOT NULL,
	scsp_code       TEXT    NOT NULL,
	latency_us      INTEGER NOT NULL,
	data_sha256     TEXT    NOT NULL
) STRICT;

-- Keyset paging walks (at, id) newest first; the citizen's carpeta and the
-- auditors' most common searches start from a subject or a requester.
CREATE INDEX transfers_at ON transfers (at DESC, id DESC);
CREATE INDEX transfers_subject ON transfers (subject_id, at DESC, id DESC);
CREATE INDEX transfers_requester ON transfers (requester, at DESC, id DESC);
