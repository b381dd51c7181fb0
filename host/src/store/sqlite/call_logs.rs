//! The `call_logs` table: one row per logged (platform, user, session),
//! with the CRM's id; and the reservations of creates in flight.
//!
//! One process owns a SQLite file, so a reservation lives in this process's
//! memory ([`InFlight`]) rather than in a `pending` row: taking it costs no
//! durable write, and a crash forgets it, exactly as start-up used to
//! release every pending row. The create's own durable write is then one:
//! its logged row.

use super::SqliteStore;
use crate::clock::now_ms;
use crate::kv::KvWrites;
use crate::store::{CallLogKey, CallLogRow, CallLogState, Reservation, Result};
use rusqlite::{params, params_from_iter};
use std::collections::HashMap;
use std::sync::Mutex;

/// What a reservation will be logged with: the telephony session and the
/// contact.
type Details = (Option<String>, Option<String>);

/// The reservations of this process's creates in flight.
#[derive(Debug, Default)]
pub(super) struct InFlight(Mutex<HashMap<CallLogKey, Details>>);

impl InFlight {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CallLogKey, Details>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

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
    /// Release every `pending` row, returning their keys. Versions before
    /// 0.2 kept reservations as `pending` rows; one found at start-up
    /// belongs to a create that died with the previous process: whether the
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

    /// Reserve `key` in memory, or return what holds it: a create in flight
    /// or the logged row.
    pub(super) fn reserve(
        &self,
        key: &CallLogKey,
        telephony_session_id: Option<&str>,
        contact_id: Option<&str>,
    ) -> Result<Reservation> {
        // Held across the read: a create completes by writing its row
        // before it leaves the map, so each reserve sees one or the other.
        let mut in_flight = self.in_flight.lock();
        if let Some((telephony_session_id, contact_id)) = in_flight.get(key) {
            return Ok(Reservation::Exists(CallLogRow {
                session_id: key.session_id.clone(),
                telephony_session_id: telephony_session_id.clone(),
                contact_id: contact_id.clone(),
                state: CallLogState::Pending,
            }));
        }
        let logged = self.read_call_logs(
            &key.platform,
            &key.user_id,
            std::slice::from_ref(&key.session_id),
        )?;
        if let Some(row) = logged.into_iter().next() {
            return Ok(Reservation::Exists(row));
        }
        let details = (
            telephony_session_id.map(str::to_owned),
            contact_id.map(str::to_owned),
        );
        in_flight.insert(key.clone(), details);
        Ok(Reservation::Reserved)
    }

    /// Write the logged row of a reservation with the CRM's id, and the
    /// adapter call's `kv` writes, in one transaction; then let the
    /// reservation go.
    pub(super) async fn complete(
        &self,
        key: &CallLogKey,
        log_id: &str,
        writes: &KvWrites,
    ) -> Result<()> {
        let details = self.in_flight.lock().get(key).cloned();
        let (telephony_session_id, contact_id) = details.unwrap_or_default();
        let (row_key, log_id, writes) = (key.clone(), log_id.to_owned(), writes.clone());
        let written = self
            .writer
            .write(move |c| {
                super::kv::write_kv(c, &writes)?;
                let now = now_ms();
                c.prepare_cached(
                    "INSERT INTO call_logs (platform, user_id, session_id, telephony_session_id,
                                            contact_id, log_id, state, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'logged', ?7, ?7)
                     ON CONFLICT (platform, user_id, session_id) DO NOTHING",
                )?
                .execute(params![
                    row_key.platform,
                    row_key.user_id,
                    row_key.session_id,
                    telephony_session_id,
                    contact_id,
                    log_id,
                    now
                ])
            })
            .await;
        self.in_flight.lock().remove(key);
        written?;
        Ok(())
    }

    /// Let a reservation go (a logged row stays).
    pub(super) fn release(&self, key: &CallLogKey) {
        self.in_flight.lock().remove(key);
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
            .complete_call_log(&key("s1"), "L1", &crate::kv::KvWrites::new("p"))
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
        // Start-up releases what an older version left pending, and only that.
        store
            .writer
            .write(|c| {
                c.execute(
                    "INSERT INTO call_logs (platform, user_id, session_id, state, created_at, updated_at)
                     VALUES ('p', 'u', 's3', 'pending', 0, 0)",
                    [],
                )
            })
            .await
            .expect("an old pending row");
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
