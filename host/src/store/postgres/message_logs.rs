//! The `conversation_logs` and `message_logs` tables on PostgreSQL. A
//! conversation-day's row is also the lease of the replica logging messages
//! into it, taken and checked like a call log's (see `call_logs`): one
//! statement takes it when nobody holds it or the holder's lease ran out.

use super::PgStore;
use super::kv::{WRITE_KV, bind_writes};
use crate::clock::now_ms;
use crate::kv::KvWrites;
use crate::store::{ConversationKey, ConversationReservation, Result};
use sqlx::Row as _;

impl PgStore {
    /// Take `key` for this replica, unless a live lease holds it.
    pub(super) async fn take_conversation(
        &self,
        key: &ConversationKey,
    ) -> Result<ConversationReservation> {
        let taken = sqlx::query(
            "INSERT INTO conversation_logs (platform, user_id, conversation_log_id, log_id,
                                            lease_owner, lease_expires_at, created_at, updated_at)
             VALUES ($1, $2, $3, NULL, $4, clock_timestamp() + make_interval(secs => $5), $6, $6)
             ON CONFLICT (platform, user_id, conversation_log_id) DO UPDATE SET
                lease_owner = excluded.lease_owner,
                lease_expires_at = excluded.lease_expires_at,
                updated_at = excluded.updated_at
             WHERE conversation_logs.lease_owner IS NULL
                OR conversation_logs.lease_expires_at < clock_timestamp()
             RETURNING log_id",
        )
        .bind(&key.platform)
        .bind(&key.user_id)
        .bind(&key.conversation_log_id)
        .bind(&self.replica)
        .bind(self.lease.as_secs_f64())
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        Ok(match taken {
            Some(row) => ConversationReservation::Reserved {
                log_id: row.try_get(0)?,
            },
            None => ConversationReservation::InProgress,
        })
    }

    /// Push this replica's lease on `key` forward; whether it still holds it.
    pub(super) async fn renew_conversation_lease(&self, key: &ConversationKey) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE conversation_logs
             SET lease_expires_at = clock_timestamp() + make_interval(secs => $5)
             WHERE platform = $1 AND user_id = $2 AND conversation_log_id = $3
               AND lease_owner = $4",
        )
        .bind(&key.platform)
        .bind(&key.user_id)
        .bind(&key.conversation_log_id)
        .bind(&self.replica)
        .bind(self.lease.as_secs_f64())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Record a logged message, its adapter call's kv writes and, when the
    /// conversation-day had none, its record's id: one statement, so one
    /// transaction.
    pub(super) async fn insert_message(
        &self,
        key: &ConversationKey,
        message_id: &str,
        log_id: &str,
        writes: &KvWrites,
    ) -> Result<()> {
        let sql = format!(
            "{WRITE_KV}, conversation AS (
                UPDATE conversation_logs SET log_id = COALESCE(log_id, $10), updated_at = $2
                WHERE platform = $6 AND user_id = $7 AND conversation_log_id = $8
             )
             INSERT INTO message_logs
                (platform, user_id, message_id, conversation_log_id, log_id, created_at)
             VALUES ($6, $7, $9, $8, $10, $2)
             ON CONFLICT (platform, user_id, message_id) DO NOTHING"
        );
        bind_writes(sqlx::query(&sql), writes)
            .bind(&key.platform)
            .bind(&key.user_id)
            .bind(&key.conversation_log_id)
            .bind(message_id)
            .bind(log_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Drop this replica's lease on `key` (the row and its record stay).
    pub(super) async fn drop_conversation_lease(&self, key: &ConversationKey) -> Result<()> {
        sqlx::query(
            "UPDATE conversation_logs SET lease_owner = NULL, lease_expires_at = NULL
             WHERE platform = $1 AND user_id = $2 AND conversation_log_id = $3
               AND lease_owner = $4",
        )
        .bind(&key.platform)
        .bind(&key.user_id)
        .bind(&key.conversation_log_id)
        .bind(&self.replica)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Which of `message_ids` this user has logged.
    pub(super) async fn select_logged_messages(
        &self,
        platform: &str,
        user_id: &str,
        message_ids: &[String],
    ) -> Result<Vec<String>> {
        if message_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT message_id FROM message_logs
             WHERE platform = $1 AND user_id = $2 AND message_id = ANY($3)",
        )
        .bind(platform)
        .bind(user_id)
        .bind(message_ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| row.try_get(0))
            .collect::<sqlx::Result<_>>()?)
    }
}
