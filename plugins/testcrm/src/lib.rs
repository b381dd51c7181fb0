//! testCRM: the reference Switchboard adapter.
//!
//! It behaves like App Connect's testCRM, but has no network at all: every
//! record lives in the host's key-value store, so records survive restarts
//! and tests can inspect them.
//!
//! - Login takes any non-empty API key. The CRM user id is derived from the
//!   key, so two keys are two users. Every user is called "Test User".
//! - A call log is stored under `calllog/<log id>` as JSON, with the owning
//!   user's id, the session id, the subject, the agent note, the composed
//!   note body and the call details. Log ids come from the `next-log-id`
//!   counter.
//! - Creates are idempotent per user and session: `session/<user>/<session>`
//!   holds the session's log id, written before the record. A create that
//!   finds it returns that log (writing the record if a crash lost it), so a
//!   create retried after the host died makes no second record.
//! - The note body follows App Connect's testCRM:
//!   `- Agent note: …`, `- Result: …`, `- Duration: 1 minute, 5 seconds`,
//!   `- Call recording link: …`, one line each, then `- AI note: …` and
//!   `- Transcript: …` when the client sent them.
//!
//! - Contacts ([`contacts`]) and message logs ([`messages`]) live in `kv`
//!   too.
//!
//! The call-log logic is written against [`Storage`], so the dispatch benchmark can
//! run exactly this code natively (over a map) as the floor the sandboxed
//! call is measured against.

pub mod contacts;
pub mod messages;

use serde::{Deserialize, Serialize};
use switchboard_adapter::{
    Adapter, AdapterError, AdapterManifest, AuthType, CallLogCreated, CallLogDetails,
    CallLogUpdated, Contact, CreateCallLogRequest, CreateContactRequest, CreateMessageLogRequest,
    Credential, Direction, FindContactByNameRequest, FindContactRequest, GetCallLogRequest,
    LoginRequest, MessageLogCreated, Operation, UpdateCallLogRequest, UpdateMessageLogRequest,
    UpsertCallDispositionRequest, UserContext, UserInfo,
    kv::{self, KvError},
};

/// The platform name this adapter serves.
pub const PLATFORM: &str = "testCRM";

/// Key of the counter that numbers call and message logs.
const LOG_ID_COUNTER: &str = "next-log-id";

/// The adapter.
#[derive(Debug)]
pub struct TestCrm;

/// One call log, as stored under `calllog/<log id>`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CallLogRecord {
    /// The record's id (from the `next-log-id` counter).
    pub log_id: String,
    /// The CRM user who logged it.
    pub user_id: String,
    /// RingCentral's session id of the call.
    pub session_id: String,
    /// The subject: the user's, or App Connect's default.
    pub subject: String,
    /// The agent's note alone.
    pub agent_note: Option<String>,
    /// The composed body (`- Agent note: …` lines).
    pub note: String,
    /// The contact it is attached to.
    pub contact: ContactRecord,
    /// `Inbound` or `Outbound`.
    pub direction: String,
    /// Milliseconds since the Unix epoch.
    pub start_time: i64,
    /// How long the call lasted.
    pub duration_seconds: u32,
    /// RingCentral's result (`Accepted`, `Missed`, …).
    pub result: String,
    /// The recording, when there is one.
    pub recording_link: Option<String>,
    /// RingCentral AI's summary, when the client sent one.
    #[serde(default)]
    pub ai_note: Option<String>,
    /// The call's transcript, when the client sent one.
    #[serde(default)]
    pub transcript: Option<String>,
    /// What else the client submitted (JSON).
    pub additional_submission: Option<String>,
    /// The dispositions set on it (JSON).
    pub dispositions: Option<String>,
}

/// The contact a call log is attached to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ContactRecord {
    /// The contact's id.
    pub id: String,
    /// The contact's name, when the client sent it.
    pub name: Option<String>,
    /// The kind of contact, when the client sent it.
    pub contact_type: Option<String>,
}

impl CallLogRecord {
    fn compose_note(&mut self) {
        self.note = compose_note(&NoteParts {
            agent_note: self.agent_note.as_deref(),
            result: &self.result,
            duration_seconds: self.duration_seconds,
            recording_link: self.recording_link.as_deref(),
            ai_note: self.ai_note.as_deref(),
            transcript: self.transcript.as_deref(),
        });
    }
}

impl Adapter for TestCrm {
    fn manifest() -> AdapterManifest {
        AdapterManifest {
            platform: PLATFORM.into(),
            display_name: "Test CRM".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            auth: AuthType::ApiKey,
            allowed_hosts: Vec::new(),
            implements: vec![
                Operation::GetUserInfo,
                Operation::FindContact,
                Operation::FindContactByName,
                Operation::CreateContact,
                Operation::CreateCallLog,
                Operation::GetCallLog,
                Operation::UpdateCallLog,
                Operation::UpsertCallDisposition,
                Operation::CreateMessageLog,
                Operation::UpdateMessageLog,
            ],
        }
    }

    fn get_user_info(request: LoginRequest) -> Result<UserInfo, AdapterError> {
        let Credential::ApiKey(key) = &request.credential else {
            return Err(AdapterError::InvalidInput(
                "testCRM signs in with an API key".into(),
            ));
        };
        if key.trim().is_empty() {
            return Err(AdapterError::Unauthorized("API key is empty".into()));
        }
        Ok(UserInfo {
            id: user_id_for_key(key),
            name: "Test User".into(),
            timezone: None,
            platform_additional_info: None,
        })
    }

    fn find_contact(request: FindContactRequest) -> Result<Vec<Contact>, AdapterError> {
        contacts::find(request)
    }

    fn find_contact_by_name(
        request: FindContactByNameRequest,
    ) -> Result<Vec<Contact>, AdapterError> {
        contacts::find_by_name(request)
    }

    fn create_contact(request: CreateContactRequest) -> Result<Contact, AdapterError> {
        contacts::create(request)
    }

    fn create_call_log(request: CreateCallLogRequest) -> Result<CallLogCreated, AdapterError> {
        create_call_log(&HostKv, request)
    }

    fn create_message_log(
        request: CreateMessageLogRequest,
    ) -> Result<MessageLogCreated, AdapterError> {
        messages::create(request)
    }

    fn update_message_log(request: UpdateMessageLogRequest) -> Result<(), AdapterError> {
        messages::update(request)
    }

    fn get_call_log(request: GetCallLogRequest) -> Result<CallLogDetails, AdapterError> {
        let record = load(&request.user, &request.log_id)?;
        Ok(CallLogDetails {
            subject: record.subject,
            note: record.agent_note.unwrap_or_default(),
            full_body: Some(record.note),
            contact_name: record.contact.name,
            dispositions: record.dispositions,
        })
    }

    fn update_call_log(request: UpdateCallLogRequest) -> Result<CallLogUpdated, AdapterError> {
        let mut record = load(&request.user, &request.log_id)?;
        if let Some(subject) = request.subject {
            record.subject = subject;
        }
        if let Some(note) = request.note {
            record.agent_note = Some(note).filter(|n| !n.is_empty());
        }
        if let Some(link) = request.recording_link {
            record.recording_link = Some(link).filter(|l| !l.is_empty());
        }
        if let Some(ai_note) = request.ai_note {
            record.ai_note = Some(ai_note).filter(|n| !n.is_empty());
        }
        if let Some(transcript) = request.transcript {
            record.transcript = Some(transcript).filter(|t| !t.is_empty());
        }
        if let Some(start_time) = request.start_time {
            record.start_time = start_time;
        }
        if let Some(duration) = request.duration_seconds {
            record.duration_seconds = duration;
        }
        if let Some(result) = request.result {
            record.result = result;
        }
        if request.additional_submission.is_some() {
            record.additional_submission = request.additional_submission;
        }
        record.compose_note();
        kv::set_json(&record_key(&record.log_id), &record)?;
        Ok(CallLogUpdated {
            updated_note: record.note,
        })
    }

    fn upsert_call_disposition(request: UpsertCallDispositionRequest) -> Result<(), AdapterError> {
        let mut record = load(&request.user, &request.log_id)?;
        record.dispositions = Some(request.dispositions);
        kv::set_json(&record_key(&record.log_id), &record)?;
        Ok(())
    }
}

// Exported only in the component: a native build (the dispatch benchmark's
// floor) links as an ordinary library.
#[cfg(target_family = "wasm")]
switchboard_adapter::export!(TestCrm);

/// Where testCRM keeps its records: the host's `kv` in the component, a map
/// in the native benchmark.
pub trait Storage {
    /// The value at `key`.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    /// Store `value` at `key`.
    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError>;
    /// Add `delta` to the counter at `key`; the new value.
    fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError>;
}

/// The host's key-value storage, through the `kv` import.
#[derive(Debug)]
pub struct HostKv;

impl Storage for HostKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        kv::get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        kv::set(key, value)
    }
    fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        kv::increment(key, delta)
    }
}

/// Create the record for a call, or return the one this user's session
/// already has.
pub fn create_call_log(
    storage: &impl Storage,
    request: CreateCallLogRequest,
) -> Result<CallLogCreated, AdapterError> {
    let call = request.call;
    let index = session_key(&request.user.user_id, &call.session_id);
    let log_id = match storage.get(&index)? {
        Some(id) => {
            let id = String::from_utf8_lossy(&id).into_owned();
            if storage.get(&record_key(&id))?.is_some() {
                return Ok(CallLogCreated { log_id: id });
            }
            id
        }
        None => {
            let id = storage.increment(LOG_ID_COUNTER, 1)?.to_string();
            storage.set(&index, id.as_bytes())?;
            id
        }
    };
    let contact_name = request.contact.name.clone().unwrap_or_default();
    let subject = call.subject(&contact_name);
    let mut record = CallLogRecord {
        log_id: log_id.clone(),
        user_id: request.user.user_id,
        session_id: call.session_id,
        subject,
        agent_note: request.note.filter(|n| !n.is_empty()),
        note: String::new(),
        contact: ContactRecord {
            id: request.contact.id,
            name: request.contact.name,
            contact_type: request.contact.contact_type,
        },
        direction: match call.direction {
            Direction::Inbound => "Inbound".into(),
            Direction::Outbound => "Outbound".into(),
        },
        start_time: call.start_time,
        duration_seconds: call.duration_seconds,
        result: call.result,
        recording_link: call.recording_link,
        ai_note: request.ai_note.filter(|n| !n.is_empty()),
        transcript: request.transcript.filter(|t| !t.is_empty()),
        additional_submission: request.additional_submission,
        dispositions: None,
    };
    record.compose_note();
    storage.set(&record_key(&log_id), &encode(&record)?)?;
    Ok(CallLogCreated { log_id })
}

fn encode(record: &CallLogRecord) -> Result<Vec<u8>, AdapterError> {
    serde_json::to_vec(record)
        .map_err(|e| AdapterError::Internal(format!("cannot encode call log: {e}")))
}

/// The key a call log is stored under.
pub fn record_key(log_id: &str) -> String {
    format!("calllog/{log_id}")
}

/// The key of a session's log id.
pub fn session_key(user_id: &str, session_id: &str) -> String {
    format!("session/{user_id}/{session_id}")
}

/// Load a call log that belongs to `user`. Another user's log is "not found".
fn load(user: &UserContext, log_id: &str) -> Result<CallLogRecord, AdapterError> {
    kv::get_json::<CallLogRecord>(&record_key(log_id))?
        .filter(|record| record.user_id == user.user_id)
        .ok_or_else(|| AdapterError::NotFound(format!("no call log {log_id}")))
}

/// A stable CRM user id for an API key (FNV-1a, 64 bits), so that two keys
/// are two users without the key itself appearing anywhere.
pub fn user_id_for_key(key: &str) -> String {
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("test-{hash:016x}")
}

/// What a note body is composed of.
#[derive(Debug, Default)]
pub struct NoteParts<'a> {
    /// The agent's note.
    pub agent_note: Option<&'a str>,
    /// RingCentral's result.
    pub result: &'a str,
    /// How long the call lasted.
    pub duration_seconds: u32,
    /// The recording.
    pub recording_link: Option<&'a str>,
    /// RingCentral AI's summary.
    pub ai_note: Option<&'a str>,
    /// The transcript.
    pub transcript: Option<&'a str>,
}

/// The note body, App Connect testCRM style.
pub fn compose_note(parts: &NoteParts<'_>) -> String {
    let mut body = String::new();
    if let Some(note) = parts.agent_note {
        body.push_str(&format!("- Agent note: {note}\n"));
    }
    body.push_str(&format!("- Result: {}\n", parts.result));
    body.push_str(&format!(
        "- Duration: {}\n",
        format_duration(parts.duration_seconds)
    ));
    if let Some(link) = parts.recording_link {
        body.push_str(&format!("- Call recording link: {link}\n"));
    }
    if let Some(ai_note) = parts.ai_note {
        body.push_str(&format!("- AI note: {ai_note}\n"));
    }
    if let Some(transcript) = parts.transcript {
        body.push_str(&format!("- Transcript: {transcript}\n"));
    }
    body
}

/// `65` → `1 minute, 5 seconds`; `0` → `0 seconds` (App Connect's wording).
pub fn format_duration(seconds: u32) -> String {
    let unit = |n: u32, one: &str, many: &str| match n {
        0 => None,
        1 => Some(format!("1 {one}")),
        n => Some(format!("{n} {many}")),
    };
    let parts: Vec<String> = [
        unit(seconds / 3600, "hour", "hours"),
        unit(seconds % 3600 / 60, "minute", "minutes"),
        unit(seconds % 60, "second", "seconds"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if parts.is_empty() {
        "0 seconds".into()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_app_connect() {
        assert_eq!(format_duration(0), "0 seconds");
        assert_eq!(format_duration(1), "1 second");
        assert_eq!(format_duration(65), "1 minute, 5 seconds");
        assert_eq!(format_duration(3600), "1 hour");
        assert_eq!(format_duration(7322), "2 hours, 2 minutes, 2 seconds");
    }

    #[test]
    fn note_has_one_line_per_part() {
        let note = compose_note(&NoteParts {
            agent_note: Some("called back"),
            result: "Accepted",
            duration_seconds: 65,
            recording_link: Some("https://r/1"),
            ai_note: Some("asked for a quote"),
            transcript: Some("Ann: hi"),
        });
        assert_eq!(
            note,
            "- Agent note: called back\n- Result: Accepted\n- Duration: 1 minute, 5 seconds\n- Call recording link: https://r/1\n- AI note: asked for a quote\n- Transcript: Ann: hi\n"
        );
        assert_eq!(
            compose_note(&NoteParts {
                result: "Missed",
                ..NoteParts::default()
            }),
            "- Result: Missed\n- Duration: 0 seconds\n"
        );
    }

    #[test]
    fn user_ids_differ_by_key_and_hide_it() {
        let a = user_id_for_key("key-a");
        assert_eq!(a, user_id_for_key("key-a"));
        assert_ne!(a, user_id_for_key("key-b"));
        assert!(!a.contains("key-a"));
    }
}
