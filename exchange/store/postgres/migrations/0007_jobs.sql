-- Asynchronous jobs (store.Jobs): one request about many subjects, each
-- subject an element run on its own, each element's call to its source a
-- transfer record like a synchronous query's.

-- The job a record is an element of; empty for a synchronous request and
-- for every record written before this migration. Not personal: it names
-- a request, not a person, and is kept when the record is pruned.
ALTER TABLE transfers ADD COLUMN job_id text NOT NULL DEFAULT '';
