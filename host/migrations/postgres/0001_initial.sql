-- The PostgreSQL schema: the SQLite schema's tables (see ../sqlite/), with
-- the reservation lease several replicas need. Times the replicas compare
-- (leases, heartbeats) are the database's own clock, so replicas' clocks
-- never have to agree; other times are milliseconds since the Unix epoch.

-- Users who signed in through a login route. `id` is App Connect's user id:
-- "<CRM user id>-<platform>". `credential` and `refresh_token` are sealed
-- with AES-256-GCM (`v1.<key id>.<data>`); NULL after /unAuthorize.
CREATE TABLE users (
    id                       TEXT PRIMARY KEY,
    platform                 TEXT NOT NULL,
    crm_user_id              TEXT NOT NULL,
    name                     TEXT NOT NULL,
    hostname                 TEXT NOT NULL,
    timezone                 TEXT,
    credential_kind          TEXT CHECK (credential_kind IN ('api-key', 'oauth')),
    credential               TEXT,
    refresh_token            TEXT,
    token_expires_at         BIGINT,
    platform_additional_info TEXT,
    created_at               BIGINT NOT NULL,
    updated_at               BIGINT NOT NULL,
    CHECK ((credential_kind IS NULL) = (credential IS NULL))
);

-- One row per logged call and user. A row is inserted `pending` before the
-- adapter is called (the reservation), held by one replica (`lease_owner`)
-- until `lease_expires_at`, which that replica keeps pushing forward while
-- the adapter call runs. It becomes `logged` with the CRM's id. A pending
-- row whose lease ran out belongs to a replica that died: any replica may
-- take it over.
CREATE TABLE call_logs (
    platform             TEXT NOT NULL,
    user_id              TEXT NOT NULL,
    session_id           TEXT NOT NULL,
    telephony_session_id TEXT,
    contact_id           TEXT,
    log_id               TEXT,
    state                TEXT NOT NULL CHECK (state IN ('pending', 'logged')),
    lease_owner          TEXT,
    lease_expires_at     TIMESTAMPTZ,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    PRIMARY KEY (platform, user_id, session_id),
    CHECK ((state = 'logged') = (log_id IS NOT NULL)),
    CHECK ((state = 'pending') = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL))
);

-- Key-value storage private to each adapter, keyed by its platform.
CREATE TABLE adapter_kv (
    platform   TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      BYTEA NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (platform, key)
);

-- The replicas serving from this database, for the fleet view. Each
-- refreshes `heartbeat_at` and `adapters` (a JSON array of what it serves)
-- periodically; a row whose heartbeat is old belongs to a replica gone.
-- `started_at` is the replica's own RFC 3339 time, shown as it reported it.
CREATE TABLE replicas (
    id           TEXT PRIMARY KEY,
    version      TEXT NOT NULL,
    listen       TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    heartbeat_at TIMESTAMPTZ NOT NULL,
    adapters     JSONB NOT NULL
);
