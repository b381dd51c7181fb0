-- Message logs (POST /messageLog). A conversation-day (`conversation_log_id`,
-- `<conversation id>-<YYYY-MM-DD>`, with `-<contact id>` for a group) has one
-- CRM record per user; each message logged into it has a row, so a message
-- is logged once however often it is posted.
CREATE TABLE conversation_logs (
    platform            TEXT NOT NULL,
    user_id             TEXT NOT NULL,
    conversation_log_id TEXT NOT NULL,
    log_id              TEXT NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    PRIMARY KEY (platform, user_id, conversation_log_id)
) WITHOUT ROWID;

CREATE TABLE message_logs (
    platform            TEXT NOT NULL,
    user_id             TEXT NOT NULL,
    message_id          TEXT NOT NULL,
    conversation_log_id TEXT NOT NULL,
    log_id              TEXT NOT NULL,
    created_at          INTEGER NOT NULL,
    PRIMARY KEY (platform, user_id, message_id)
) WITHOUT ROWID;
