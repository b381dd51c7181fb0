-- Message logs (POST /messageLog). A conversation-day (`conversation_log_id`,
-- `<conversation id>-<YYYY-MM-DD>`, with `-<contact id>` for a group) has one
-- CRM record per user. Its row is also the reservation of the replica
-- logging messages into it: `lease_owner` holds it until `lease_expires_at`
-- (database clock), pushed forward while the adapter calls run; NULL when
-- nobody does. `log_id` is NULL until the record is created.
CREATE TABLE conversation_logs (
    platform            TEXT NOT NULL,
    user_id             TEXT NOT NULL,
    conversation_log_id TEXT NOT NULL,
    log_id              TEXT,
    lease_owner         TEXT,
    lease_expires_at    TIMESTAMPTZ,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    PRIMARY KEY (platform, user_id, conversation_log_id),
    CHECK ((lease_owner IS NULL) = (lease_expires_at IS NULL))
);

-- One row per message logged, so a message is logged once however often it
-- is posted.
CREATE TABLE message_logs (
    platform            TEXT NOT NULL,
    user_id             TEXT NOT NULL,
    message_id          TEXT NOT NULL,
    conversation_log_id TEXT NOT NULL,
    log_id              TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    PRIMARY KEY (platform, user_id, message_id)
);
