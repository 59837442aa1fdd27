-- The SCSP v3 request a job runs, asynchronously, for the SOAP door
-- (docs/scsp.md). scsp_request_id is the Peticion's Atributos/IdPeticion,
-- scsp_solicitud_id an element's Transmision/IdSolicitud: empty for a job
-- that did not come through the door and for every job created before
-- this migration; not personal, they name a request, not a person.
-- scsp_peticion is the Peticion's SOAP Body, as verified, from which the
-- door writes the answer: NULL for a job without one. It holds personal
-- data, so it is set to NULL when the job's results are deleted, and no
-- statement that reads a job for its progress selects it.
ALTER TABLE jobs ADD COLUMN scsp_request_id TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN scsp_peticion BLOB;
ALTER TABLE job_elements ADD COLUMN scsp_solicitud_id TEXT NOT NULL DEFAULT '';
