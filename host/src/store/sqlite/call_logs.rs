//! The `call_logs` table: one row per (platform, user, session), `pending`
//! while its create is in flight, then the CRM's id.

use super::SqliteStore;
use crate::clock::now_ms;
use crate::store::{CallLogKey, CallLogRow, CallLogState, Reservation, Result};
use rusqlite::{params, params_from_iter};

/// The columns of `call_logs` a [`CallLogRow`] is read from.
const CALL_LOG_COLUMNS: &str = "session_id, telephony_session_id, contact_id, log_id";

fn call_log_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<CallLogRow> {
    let log_id: Option<String> = row.get(3)?;
    Ok(CallLogRow {
        session_id: row.get(0)?,
        telephony_session_id: row.get(1)?,
        contact_id: row.get(2)?,
        state: match log_id {
            Some(log_id) => CallLogState::Logged { log_id },
            None => CallLogState::Pending,
        },
    })
}

impl SqliteStore {
    /// Release every `pending` reservation, returning their keys. A SQLite
    /// database serves one process, so at start-up a pending row can only
    /// belong to a create that died with the previous process: whether the
    /// CRM record was made is unknown, and the next create of the session
    /// calls the adapter again (adapters dedupe by session where their CRM
    /// allows; testCRM does).
    pub async fn release_stale_reservations(&self) -> anyhow::Result<Vec<CallLogKey>> {
        let keys = self
            .writer
            .write(|c| {
                c.prepare(
                    "DELETE FROM call_logs WHERE state = 'pending'
                     RETURNING platform, user_id, session_id",
                )?
                .query_map([], |row| {
                    Ok(CallLogKey {
                        platform: row.get(0)?,
                        user_id: row.get(1)?,
                        session_id: row.get(2)?,
                    })
                })?
                .collect()
            })
            .await?;
        Ok(keys)
    }

    /// Insert a `pending` row for `key`, or return the row already there.
    pub(super) async fn reserve(
        &self,
        key: &CallLogKey,
        telephony_session_id: Option<&str>,
        contact_id: Option<&str>,
    ) -> Result<Reservation> {
        let key = key.clone();
        let telephony_session_id = telephony_session_id.map(str::to_owned);
        let contact_id = contact_id.map(str::to_owned);
        // The insert, or the row that is already there, in one write: no
        // other write can come between them.
        let reservation = self
            .writer
            .write(move |c| {
                let inserted = c
                    .prepare_cached(
                        "INSERT INTO call_logs (platform, user_id, session_id, telephony_session_id,
                                                contact_id, state, created_at, updated_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?6)
                         ON CONFLICT (platform, user_id, session_id) DO NOTHING",
                    )?
                    .execute(params![
                        key.platform,
                        key.user_id,
                        key.session_id,
                        telephony_session_id,
                        contact_id,
                        now_ms()
                    ])?;
                if inserted == 1 {
                    return Ok(Reservation::Reserved);
                }
                c.prepare_cached(&format!(
                    "SELECT {CALL_LOG_COLUMNS} FROM call_logs
                     WHERE platform = ?1 AND user_id = ?2 AND session_id = ?3"
                ))?
                .query_row(
                    params![key.platform, key.user_id, key.session_id],
                    call_log_row,
                )
                .map(Reservation::Exists)
            })
            .await?;
        Ok(reservation)
    }

    /// Turn a reservation into a logged row with the CRM's id.
    pub(super) async fn complete(&self, key: &CallLogKey, log_id: &str) -> Result<()> {
        let (key, log_id) = (key.clone(), log_id.to_owned());
        self.writer
            .write(move |c| {
                c.prepare_cached(
                    "UPDATE call_logs SET state = 'logged', log_id = ?4, updated_at = ?5
                     WHERE platform = ?1 AND user_id = ?2 AND session_id = ?3 AND state = 'pending'",
                )?
                .execute(params![
                    key.platform,
                    key.user_id,
                    key.session_id,
                    log_id,
                    now_ms()
                ])
            })
            .await?;
        Ok(())
    }

    /// Drop a reservation (never a logged row).
    pub(super) async fn release(&self, key: &CallLogKey) -> Result<()> {
        let key = key.clone();
        self.writer
            .write(move |c| {
                c.prepare_cached(
                    "DELETE FROM call_logs
                     WHERE platform = ?1 AND user_id = ?2 AND session_id = ?3 AND state = 'pending'",
                )?
                .execute(params![key.platform, key.user_id, key.session_id])
            })
            .await?;
        Ok(())
    }

    /// The rows of some sessions of one user.
    pub(super) fn read_call_logs(
        &self,
        platform: &str,
        user_id: &str,
        session_ids: &[String],
    ) -> Result<Vec<CallLogRow>> {
        if session_ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders = vec!["?"; session_ids.len()].join(", ");
        let sql = format!(
            "SELECT {CALL_LOG_COLUMNS} FROM call_logs
             WHERE platform = ? AND user_id = ? AND session_id IN ({placeholders})"
        );
        let values = [platform, user_id]
            .into_iter()
            .chain(session_ids.iter().map(String::as_str));
        let rows = |statement: &mut rusqlite::Statement<'_>| {
            statement
                .query_map(params_from_iter(values), call_log_row)?
                .collect()
        };
        self.readers.read(|c| {
            // Cached only for short lists: every length is another statement.
            if session_ids.len() <= 8 {
                rows(&mut *c.prepare_cached(&sql)?)
            } else {
                rows(&mut c.prepare(&sql)?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::open;
    use crate::store::{CallLogKey, CallLogState, Reservation, Store};

    fn key(session: &str) -> CallLogKey {
        CallLogKey {
            platform: "p".into(),
            user_id: "u".into(),
            session_id: session.into(),
        }
    }

    #[tokio::test]
    async fn reserve_complete_release() {
        let (_dir, store) = open().await;
        assert_eq!(
            store
                .reserve_call_log(&key("s1"), None, Some("c"))
                .await
                .ok(),
            Some(Reservation::Reserved)
        );
        let Ok(Reservation::Exists(row)) = store.reserve_call_log(&key("s1"), None, None).await
        else {
            panic!("second reservation must see the first");
        };
        assert_eq!(row.state, CallLogState::Pending);
        store
            .complete_call_log(&key("s1"), "L1")
            .await
            .expect("completes");
        let rows = store
            .call_logs("p", "u", &["s1".into(), "s2".into()])
            .await
            .expect("reads");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].log_id(), Some("L1"));
        assert_eq!(rows[0].contact_id.as_deref(), Some("c"));

        store
            .reserve_call_log(&key("s2"), None, None)
            .await
            .expect("reserves");
        store.release_call_log(&key("s2")).await.expect("releases");
        assert!(
            store
                .call_logs("p", "u", &["s2".into()])
                .await
                .expect("reads")
                .is_empty()
        );
        // Releasing never drops a logged row.
        store.release_call_log(&key("s1")).await.expect("no-op");
        // Start-up releases what a dead process left pending, and only that.
        store
            .reserve_call_log(&key("s3"), None, None)
            .await
            .expect("reserves");
        let released = store.release_stale_reservations().await.expect("releases");
        assert_eq!(released, [key("s3")]);
        assert_eq!(
            store
                .call_logs("p", "u", &["s1".into(), "s3".into()])
                .await
                .expect("reads")
                .len(),
            1
        );
    }
}
