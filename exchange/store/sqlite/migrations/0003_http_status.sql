-- Every record says how its request was answered over HTTP, beside the
-- SCSP code; records written before this migration read 0 (not recorded).
ALTER TABLE transfers ADD COLUMN http_status INTEGER NOT NULL DEFAULT 0;
