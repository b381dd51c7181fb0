//! The `conversation_logs` and `message_logs` tables: each conversation-day's
//! CRM record and each message logged into it. As with call logs, one
//! process owns the file, so the hold on a conversation-day while its
//! messages are logged lives in memory ([`Conversations`]).

use super::SqliteStore;
use crate::clock::now_ms;
use crate::kv::KvWrites;
use crate::store::{ConversationKey, ConversationReservation, Result};
use rusqlite::{OptionalExtension as _, params, params_from_iter};
use std::collections::HashSet;
use std::sync::Mutex;

/// The conversation-days this process is logging messages into.
#[derive(Debug, Default)]
pub(super) struct Conversations(Mutex<HashSet<ConversationKey>>);

impl Conversations {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<ConversationKey>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl SqliteStore {
    /// Hold `key` in memory, unless held; its record's id when it has one.
    pub(super) fn reserve_conversation_in_memory(
        &self,
        key: &ConversationKey,
    ) -> Result<ConversationReservation> {
        let mut held = self.conversations.lock();
        if held.contains(key) {
            return Ok(ConversationReservation::InProgress);
        }
        let log_id = self.readers.read(|c| {
            c.prepare_cached(
                "SELECT log_id FROM conversation_logs
                 WHERE platform = ?1 AND user_id = ?2 AND conversation_log_id = ?3",
            )?
            .query_row(
                params![key.platform, key.user_id, key.conversation_log_id],
                |row| row.get::<_, String>(0),
            )
            .optional()
        })?;
        held.insert(key.clone());
        Ok(ConversationReservation::Reserved { log_id })
    }

    /// Let `key` go.
    pub(super) fn release_conversation_in_memory(&self, key: &ConversationKey) {
        self.conversations.lock().remove(key);
    }

    /// Record a logged message, its adapter call's kv writes, and the
    /// conversation-day's record if new, in one writer job.
    pub(super) async fn write_message(
        &self,
        key: &ConversationKey,
        message_id: &str,
        log_id: &str,
        writes: &KvWrites,
    ) -> Result<()> {
        let (key, message_id, log_id) = (key.clone(), message_id.to_owned(), log_id.to_owned());
        let writes = writes.clone();
        self.writer
            .write(move |c| {
                super::kv::write_kv(c, &writes)?;
                let now = now_ms();
                c.prepare_cached(
                    "INSERT INTO conversation_logs
                        (platform, user_id, conversation_log_id, log_id, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                     ON CONFLICT (platform, user_id, conversation_log_id)
                     DO UPDATE SET updated_at = excluded.updated_at",
                )?
                .execute(params![
                    key.platform,
                    key.user_id,
                    key.conversation_log_id,
                    log_id,
                    now
                ])?;
                c.prepare_cached(
                    "INSERT INTO message_logs
                        (platform, user_id, message_id, conversation_log_id, log_id, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (platform, user_id, message_id) DO NOTHING",
                )?
                .execute(params![
                    key.platform,
                    key.user_id,
                    message_id,
                    key.conversation_log_id,
                    log_id,
                    now
                ])
            })
            .await?;
        Ok(())
    }

    /// Which of `message_ids` this user has logged.
    pub(super) fn read_logged_messages(
        &self,
        platform: &str,
        user_id: &str,
        message_ids: &[String],
    ) -> Result<Vec<String>> {
        if message_ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders = vec!["?"; message_ids.len()].join(", ");
        let sql = format!(
            "SELECT message_id FROM message_logs
             WHERE platform = ? AND user_id = ? AND message_id IN ({placeholders})"
        );
        let values = [platform, user_id]
            .into_iter()
            .chain(message_ids.iter().map(String::as_str));
        self.readers.read(|c| {
            c.prepare(&sql)?
                .query_map(params_from_iter(values), |row| row.get(0))?
                .collect()
        })
    }
}
