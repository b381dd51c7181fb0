//! Message logs (SMS, MMS, fax, voicemail), App Connect's way: one CRM
//! record per conversation-day, each message logged once.
//!
//! A post names a conversation-day (`conversationLogId`) and its messages.
//! The host takes the conversation-day (as it reserves a call log's
//! session: in memory on SQLite, a lease on PostgreSQL), so concurrent
//! posts of it run one at a time; the others answer `LOG_IN_PROGRESS`. With
//! it held, the messages not yet logged are logged oldest first: the first
//! ever creates the record (`create-message-log`), each later one is
//! appended to it (`update-message-log`), and each is recorded as logged
//! right after its adapter call, together with that call's `kv` writes, so
//! a retry skips what went through.
//!
//! In a group conversation (more than one correspondent) the contact's id
//! is appended to the conversation-day and message ids, so each contact
//! has a record of their own.

use super::lease::holding_lease;
use super::model::{ContactRef, Message, Party};
use super::{Service, ServiceError};
use crate::runtime::{self, CreateMessageLogRequest, UpdateMessageLogRequest};
use crate::store::{ConversationKey, ConversationReservation, User};
use std::collections::HashSet;
use tracing::Instrument;

/// Messages to log.
#[derive(Debug, Clone)]
pub struct NewMessageLog {
    /// The client's id of the conversation-day.
    pub conversation_log_id: String,
    /// The messages, in any order.
    pub messages: Vec<Message>,
    /// Who the user is conversing with; more than one makes a group.
    pub correspondents: Vec<Party>,
    /// The contact to log them against.
    pub contact: ContactRef,
    /// What else the client submitted for the CRM (JSON).
    pub additional_submission: Option<String>,
}

/// What a message-log post did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageLogOutcome {
    /// These messages were logged now (ids as stored, oldest first); empty
    /// when every one was logged before.
    Logged {
        /// The message ids.
        message_ids: Vec<String>,
    },
    /// Another post of the conversation-day is logging messages now.
    InProgress {
        /// The conversation-day.
        conversation_log_id: String,
    },
}

impl Service {
    /// Log the messages of a conversation-day that are not logged yet.
    pub async fn create_message_log(
        &self,
        user: &User,
        log: NewMessageLog,
    ) -> Result<MessageLogOutcome, ServiceError> {
        // Fail fast, before reserving, when no adapter serves the platform.
        self.adapter(&user.platform)?;
        let group = log.correspondents.len() > 1;
        let contact_id = log.contact.id.clone();
        let own = move |id: &str| {
            if group {
                format!("{id}-{contact_id}")
            } else {
                id.to_owned()
            }
        };
        let key = ConversationKey {
            platform: user.platform.clone(),
            user_id: user.id.clone(),
            conversation_log_id: own(&log.conversation_log_id),
        };
        let mut messages: Vec<(String, runtime::Message)> = Vec::new();
        let mut seen = HashSet::new();
        for message in log.messages {
            let id = own(&message.id);
            if seen.insert(id.clone()) {
                messages.push((id, message.into()));
            }
        }
        messages.sort_by_key(|(_, message)| message.creation_time);

        let (service, user) = (self.clone(), user.clone());
        let contact: runtime::ContactRef = log.contact.into();
        let additional_submission = log.additional_submission;
        let logging = async move {
            let log_id = match service.store.reserve_conversation(&key).await? {
                ConversationReservation::InProgress => {
                    return Ok(MessageLogOutcome::InProgress {
                        conversation_log_id: key.conversation_log_id,
                    });
                }
                ConversationReservation::Reserved { log_id } => log_id,
            };
            let store = service.store.as_ref();
            let renew = || store.renew_conversation(&key);
            let work = service.log_messages(
                &user,
                &key,
                log_id,
                messages,
                &contact,
                additional_submission,
            );
            let logged = holding_lease(store, &key.conversation_log_id, renew, work).await;
            let released = store.release_conversation(&key).await;
            let message_ids = logged?;
            released?;
            Ok(MessageLogOutcome::Logged { message_ids })
        };
        tokio::spawn(logging.in_current_span())
            .await
            .map_err(|e| ServiceError::Internal(format!("message log task failed: {e}")))?
    }

    /// With `key` held: log each message not logged yet, oldest first, into
    /// the conversation-day's record `log_id` (created by the first).
    async fn log_messages(
        &self,
        user: &User,
        key: &ConversationKey,
        mut log_id: Option<String>,
        messages: Vec<(String, runtime::Message)>,
        contact: &runtime::ContactRef,
        additional_submission: Option<String>,
    ) -> Result<Vec<String>, ServiceError> {
        let ids: Vec<String> = messages.iter().map(|(id, _)| id.clone()).collect();
        let logged: HashSet<String> = self
            .store
            .logged_messages(&key.platform, &key.user_id, &ids)
            .await?
            .into_iter()
            .collect();
        let mut newly = Vec::new();
        for (id, message) in messages {
            if logged.contains(&id) {
                continue;
            }
            let (record, writes) = match &log_id {
                None => {
                    let (created, writes) = self
                        .call_as(user, |adapter, context| {
                            let request = CreateMessageLogRequest {
                                user: context,
                                contact: contact.clone(),
                                conversation_log_id: key.conversation_log_id.clone(),
                                message: message.clone(),
                                additional_submission: additional_submission.clone(),
                            };
                            async move { adapter.adapter.create_message_log(request).await }
                        })
                        .await?;
                    (created.log_id, writes)
                }
                Some(record) => {
                    let writes = self
                        .call_as(user, |adapter, context| {
                            let request = UpdateMessageLogRequest {
                                user: context,
                                log_id: record.clone(),
                                contact: contact.clone(),
                                conversation_log_id: key.conversation_log_id.clone(),
                                message: message.clone(),
                            };
                            async move { adapter.adapter.update_message_log(request).await }
                        })
                        .await?;
                    (record.clone(), writes)
                }
            };
            self.store
                .record_message(key, &id, &record, &writes)
                .await?;
            log_id = Some(record);
            newly.push(id);
        }
        Ok(newly)
    }
}
