-- OAuth users: an access token with its expiry and a refresh token.
-- `credential` and `refresh_token` hold values sealed with AES-256-GCM
-- (`v1.<key id>.<data>`); API keys stored before sealing existed are sealed
-- in place when the server starts. The old 'authorization' kind was never
-- written by any login and is dropped.
CREATE TABLE users_v2 (
    id                       TEXT PRIMARY KEY NOT NULL,
    platform                 TEXT NOT NULL,
    crm_user_id              TEXT NOT NULL,
    name                     TEXT NOT NULL,
    hostname                 TEXT NOT NULL,
    timezone                 TEXT,
    credential_kind          TEXT CHECK (credential_kind IN ('api-key', 'oauth')),
    credential               TEXT,
    refresh_token            TEXT,
    token_expires_at         INTEGER,
    platform_additional_info TEXT,
    created_at               INTEGER NOT NULL,
    updated_at               INTEGER NOT NULL,
    CHECK ((credential_kind IS NULL) = (credential IS NULL))
);

INSERT INTO users_v2 (id, platform, crm_user_id, name, hostname, timezone,
                      credential_kind, credential, platform_additional_info,
                      created_at, updated_at)
SELECT id, platform, crm_user_id, name, hostname, timezone,
       CASE WHEN credential_kind = 'api-key' AND credential IS NOT NULL THEN 'api-key' END,
       CASE WHEN credential_kind = 'api-key' THEN credential END,
       platform_additional_info, created_at, updated_at
FROM users;

DROP TABLE users;
ALTER TABLE users_v2 RENAME TO users;
