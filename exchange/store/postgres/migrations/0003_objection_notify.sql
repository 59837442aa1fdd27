-- Every node keeps in memory the subjects that have objections, so that
-- the presumed-basis queries about everyone else (nearly every query) need
-- no round trip to find none. Each change to an objection tells the nodes
-- which subject to look up from then on.
CREATE FUNCTION pont_objections_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		PERFORM pg_notify('pont_objections', OLD.subject);
	ELSE
		PERFORM pg_notify('pont_objections', NEW.subject);
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER objections_notify AFTER INSERT OR UPDATE OR DELETE ON objections
	FOR EACH ROW EXECUTE FUNCTION pont_objections_notify();
