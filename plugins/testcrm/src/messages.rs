//! testCRM's message logs: one record per conversation-day under
//! `messagelog/<log id>` as JSON, holding the conversation's messages in
//! order. Log ids come from the `next-log-id` counter call logs use. A
//! message already in the record is not added again. Attachments keep
//! their kind and RingCentral URI; the download link, which carries a
//! RingCentral token, is never stored.

use crate::ContactRecord;
use serde::{Deserialize, Serialize};
use switchboard_adapter::{
    AdapterError, CreateMessageLogRequest, Message, MessageLogCreated, UpdateMessageLogRequest, kv,
};

/// One conversation-day's record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MessageLogRecord {
    /// The record's id.
    pub log_id: String,
    /// The CRM user who logged it.
    pub user_id: String,
    /// The client's id of the conversation-day.
    pub conversation_log_id: String,
    /// The subject, App Connect style.
    pub subject: String,
    /// The contact it is attached to.
    pub contact: ContactRecord,
    /// The messages, in the order they were logged.
    pub messages: Vec<MessageEntry>,
}

/// One message in a record.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MessageEntry {
    /// RingCentral's message id.
    pub id: String,
    /// `SMS`, `Fax`, `Voicemail`, …
    pub kind: String,
    /// Milliseconds since the Unix epoch.
    pub creation_time: i64,
    /// The line App Connect would write for it.
    pub line: String,
    /// `<kind>: <uri>` of each attachment, with ` (download link given)`
    /// when the host passed one (the link itself is not kept).
    pub attachments: Vec<String>,
}

impl From<&Message> for MessageEntry {
    fn from(message: &Message) -> Self {
        Self {
            id: message.id.clone(),
            kind: message.kind().to_owned(),
            creation_time: message.creation_time,
            line: message.note_line(),
            attachments: message
                .attachments
                .iter()
                .map(|a| {
                    let given = if a.download_link.is_some() {
                        " (download link given)"
                    } else {
                        ""
                    };
                    format!("{}: {}{given}", a.kind.name(), a.uri)
                })
                .collect(),
        }
    }
}

/// The key a message log is stored under.
pub fn record_key(log_id: &str) -> String {
    format!("messagelog/{log_id}")
}

/// Start a conversation-day's record with its first message.
pub fn create(request: CreateMessageLogRequest) -> Result<MessageLogCreated, AdapterError> {
    let log_id = kv::increment(crate::LOG_ID_COUNTER, 1)?.to_string();
    let contact_name = request.contact.name.clone().unwrap_or_default();
    let record = MessageLogRecord {
        log_id: log_id.clone(),
        user_id: request.user.user_id,
        conversation_log_id: request.conversation_log_id,
        subject: request.message.conversation_subject(&contact_name),
        contact: ContactRecord {
            id: request.contact.id,
            name: request.contact.name,
            contact_type: request.contact.contact_type,
        },
        messages: vec![MessageEntry::from(&request.message)],
    };
    kv::set_json(&record_key(&log_id), &record)?;
    Ok(MessageLogCreated { log_id })
}

/// Append a message to a record of this user's.
pub fn update(request: UpdateMessageLogRequest) -> Result<(), AdapterError> {
    let key = record_key(&request.log_id);
    let mut record = kv::get_json::<MessageLogRecord>(&key)?
        .filter(|r| r.user_id == request.user.user_id)
        .ok_or_else(|| AdapterError::NotFound(format!("no message log {}", request.log_id)))?;
    if record.messages.iter().any(|m| m.id == request.message.id) {
        return Ok(());
    }
    record.messages.push(MessageEntry::from(&request.message));
    kv::set_json(&key, &record)?;
    Ok(())
}
