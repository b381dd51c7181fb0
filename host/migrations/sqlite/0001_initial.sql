-- Users who signed in through a login route. `id` is App Connect's user id:
-- "<CRM user id>-<platform>". `credential` is NULL after /unAuthorize.
CREATE TABLE users (
    id                       TEXT PRIMARY KEY NOT NULL,
    platform                 TEXT NOT NULL,
    crm_user_id              TEXT NOT NULL,
    name                     TEXT NOT NULL,
    hostname                 TEXT NOT NULL,
    timezone                 TEXT,
    credential_kind          TEXT CHECK (credential_kind IN ('api-key', 'authorization')),
    credential               TEXT,
    platform_additional_info TEXT,
    created_at               INTEGER NOT NULL,
    updated_at               INTEGER NOT NULL
);

-- One row per logged call and user. A row is inserted `pending` before the
-- adapter is called (the reservation) and becomes `logged` with the CRM's id.
CREATE TABLE call_logs (
    platform             TEXT NOT NULL,
    user_id              TEXT NOT NULL,
    session_id           TEXT NOT NULL,
    telephony_session_id TEXT,
    contact_id           TEXT,
    log_id               TEXT,
    state                TEXT NOT NULL CHECK (state IN ('pending', 'logged')),
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    PRIMARY KEY (platform, user_id, session_id),
    CHECK ((state = 'logged') = (log_id IS NOT NULL))
);

-- Key-value storage private to each adapter, keyed by its platform.
CREATE TABLE adapter_kv (
    platform   TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      BLOB NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (platform, key)
);
