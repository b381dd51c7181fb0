-- Adapters deployed through the admin API (`switchboard deploy`), shared by
-- every replica: each writes them into its own plugins directory. A removed
-- one stays as a row without a component, so that replicas that missed the
-- removal (or start later) remove it too. Every change is announced on
-- `switchboard_adapters` when it commits; replicas also look every few
-- seconds, in case they missed a notification.
CREATE TABLE deployed_adapters (
    name TEXT PRIMARY KEY,
    sha256 TEXT,
    component BYTEA,
    config TEXT,
    changed_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    CHECK ((sha256 IS NULL) = (component IS NULL))
);

CREATE FUNCTION switchboard_adapter_deployed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('switchboard_adapters', NEW.name);
    RETURN NULL;
END
$$;

CREATE TRIGGER deployed_adapters_changed AFTER INSERT OR UPDATE ON deployed_adapters
    FOR EACH ROW EXECUTE FUNCTION switchboard_adapter_deployed();
