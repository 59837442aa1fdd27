-- The SCSP v3 request a record answered (the SOAP door, docs/scsp.md):
-- scsp_request_id is the Peticion's Atributos/IdPeticion, scsp_solicitud_id
-- the Transmision/IdSolicitud of its SolicitudTransmision. Empty for a
-- request that did not come through the door and for every record written
-- before this migration. Not personal: they name a request, not a person,
-- and are kept when the record is pruned.
ALTER TABLE transfers ADD COLUMN scsp_request_id text NOT NULL DEFAULT '';
ALTER TABLE transfers ADD COLUMN scsp_solicitud_id text NOT NULL DEFAULT '';

-- An auditor, or the requester, looks up the records of one SCSP request
-- (store.Filter.SCSPRequestID); most records have none.
CREATE INDEX transfers_scsp_request ON transfers (scsp_request_id, at DESC, id DESC)
	WHERE scsp_request_id <> '';
