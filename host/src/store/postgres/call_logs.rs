//! The `call_logs` table on PostgreSQL, with reservation leases.
//!
//! A create reserves its session with one statement: insert a `pending`
//! row owned by this replica with a lease, or, when a row exists, take it
//! over only if it is `pending` and its lease has run out. PostgreSQL
//! serialises concurrent upserts of one key and re-checks the takeover
//! condition on the newest row, so exactly one replica holds a live lease
//! at any time. Renewing, completing and releasing all require that this
//! replica still owns the lease: a replica that lost its lease (it stalled
//! past the expiry) cannot overwrite the one that took over.

use super::PgStore;
use super::kv::{WRITE_KV, bind_writes};
use crate::clock::now_ms;
use crate::kv::KvWrites;
use crate::store::{CallLogKey, CallLogRow, CallLogState, Reservation, Result};
use sqlx::Row as _;
use sqlx::postgres::PgRow;

/// The columns of `call_logs` a [`CallLogRow`] is read from.
const CALL_LOG_COLUMNS: &str = "session_id, telephony_session_id, contact_id, log_id";

fn call_log_row(row: &PgRow) -> sqlx::Result<CallLogRow> {
    let log_id: Option<String> = row.try_get(3)?;
    Ok(CallLogRow {
        session_id: row.try_get(0)?,
        telephony_session_id: row.try_get(1)?,
        contact_id: row.try_get(2)?,
        state: match log_id {
            Some(log_id) => CallLogState::Logged { log_id },
            None => CallLogState::Pending,
        },
    })
}

impl PgStore {
    /// Reserve `key` for this replica, or return the row that holds it.
    pub(super) async fn reserve(
        &self,
        key: &CallLogKey,
        telephony_session_id: Option<&str>,
        contact_id: Option<&str>,
    ) -> Result<Reservation> {
        loop {
            let taken = sqlx::query(
                "INSERT INTO call_logs (platform, user_id, session_id, telephony_session_id,
                                        contact_id, state, lease_owner, lease_expires_at,
                                        created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, 'pending', $6,
                         clock_timestamp() + make_interval(secs => $7), $8, $8)
                 ON CONFLICT (platform, user_id, session_id) DO UPDATE SET
                    telephony_session_id = excluded.telephony_session_id,
                    contact_id = excluded.contact_id,
                    lease_owner = excluded.lease_owner,
                    lease_expires_at = excluded.lease_expires_at,
                    updated_at = excluded.updated_at
                 WHERE call_logs.state = 'pending'
                   AND call_logs.lease_expires_at < clock_timestamp()
                 RETURNING (xmax <> 0) AS took_over",
            )
            .bind(&key.platform)
            .bind(&key.user_id)
            .bind(&key.session_id)
            .bind(telephony_session_id)
            .bind(contact_id)
            .bind(&self.replica)
            .bind(self.lease.as_secs_f64())
            .bind(now_ms())
            .fetch_optional(&self.pool)
            .await?;
            if let Some(row) = taken {
                if row.try_get::<bool, _>(0)? {
                    tracing::warn!(
                        platform = %key.platform,
                        user = %key.user_id,
                        session = %key.session_id,
                        "took over a create whose replica stopped renewing its lease; \
                         the adapter is called again"
                    );
                }
                return Ok(Reservation::Reserved);
            }
            let existing = sqlx::query(&format!(
                "SELECT {CALL_LOG_COLUMNS} FROM call_logs
                 WHERE platform = $1 AND user_id = $2 AND session_id = $3"
            ))
            .bind(&key.platform)
            .bind(&key.user_id)
            .bind(&key.session_id)
            .fetch_optional(&self.pool)
            .await?;
            // None: the holder released it between the two statements; try
            // again to reserve it.
            if let Some(row) = existing {
                return Ok(Reservation::Exists(call_log_row(&row)?));
            }
        }
    }

    /// Push this replica's lease on `key` forward; whether it still holds it.
    pub(super) async fn renew(&self, key: &CallLogKey) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE call_logs
             SET lease_expires_at = clock_timestamp() + make_interval(secs => $5)
             WHERE platform = $1 AND user_id = $2 AND session_id = $3
               AND state = 'pending' AND lease_owner = $4",
        )
        .bind(&key.platform)
        .bind(&key.user_id)
        .bind(&key.session_id)
        .bind(&self.replica)
        .bind(self.lease.as_secs_f64())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Turn this replica's reservation into a logged row with the CRM's id,
    /// and commit the adapter call's `kv` writes: one statement, so one
    /// transaction and one round trip. The writes are kept even when the
    /// lease was lost: they describe what the adapter did.
    pub(super) async fn complete(
        &self,
        key: &CallLogKey,
        log_id: &str,
        writes: &KvWrites,
    ) -> Result<()> {
        let sql = format!(
            "{WRITE_KV}
             UPDATE call_logs
             SET state = 'logged', log_id = $10, lease_owner = NULL, lease_expires_at = NULL,
                 updated_at = $2
             WHERE platform = $6 AND user_id = $7 AND session_id = $8
               AND state = 'pending' AND lease_owner = $9"
        );
        let done = bind_writes(sqlx::query(&sql), writes)
            .bind(&key.platform)
            .bind(&key.user_id)
            .bind(&key.session_id)
            .bind(&self.replica)
            .bind(log_id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            tracing::error!(
                platform = %key.platform,
                user = %key.user_id,
                session = %key.session_id,
                log_id,
                "this replica's lease ran out before its create finished and another \
                 replica took the session over; the CRM may hold two records for it"
            );
        }
        Ok(())
    }

    /// Drop this replica's reservation (never a logged row).
    pub(super) async fn release(&self, key: &CallLogKey) -> Result<()> {
        sqlx::query(
            "DELETE FROM call_logs
             WHERE platform = $1 AND user_id = $2 AND session_id = $3
               AND state = 'pending' AND lease_owner = $4",
        )
        .bind(&key.platform)
        .bind(&key.user_id)
        .bind(&key.session_id)
        .bind(&self.replica)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The rows of some sessions of one user.
    pub(super) async fn read_call_logs(
        &self,
        platform: &str,
        user_id: &str,
        session_ids: &[String],
    ) -> Result<Vec<CallLogRow>> {
        if session_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(&format!(
            "SELECT {CALL_LOG_COLUMNS} FROM call_logs
             WHERE platform = $1 AND user_id = $2 AND session_id = ANY($3)"
        ))
        .bind(platform)
        .bind(user_id)
        .bind(session_ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(call_log_row).collect::<sqlx::Result<_>>()?)
    }
}
