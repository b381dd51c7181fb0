//! The guest SDK for Switchboard CRM adapters.
//!
//! An adapter is a WebAssembly component that logs calls into one CRM. Write a
//! type, implement [`Adapter`] for the operations your CRM supports (every
//! other operation answers [`AdapterError::Unsupported`]), export it with
//! [`export!`], and build it as a `cdylib` for `wasm32-wasip2`:
//! `cargo build --target wasm32-wasip2 --release`. Check it with
//! `switchboard check target/wasm32-wasip2/release/acme.wasm`, then drop the
//! `.wasm` into the server's plugins directory: it serves.
//!
//! The host runs every operation in a fresh instance with CPU, wall-clock and
//! memory limits. Keep state in [`kv`], read operator settings with
//! [`config`], reach your CRM with [`http`] (only hosts your manifest lists),
//! and log with [`log`]. Errors are [`AdapterError`]s, made with its
//! constructors (`AdapterError::upstream(502, "…")`); the host turns each into
//! App Connect's `errorCode`.
//!
//! # A complete adapter
//!
//! A CRM with an API-key login and a JSON call-log endpoint. `Cargo.toml`:
//!
//! ```toml
//! [package]
//! name = "acme"
//! edition = "2024"
//!
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! switchboard-adapter = { path = "../sdk" }
//! serde_json = "1"
//! ```
//!
//! `src/lib.rs`:
//!
//! ```no_run
//! use switchboard_adapter::{
//!     Adapter, AdapterError, AdapterManifest, AuthType, CallLogCreated, CreateCallLogRequest,
//!     LoginRequest, Operation, Result, UserInfo, export, http, log,
//! };
//!
//! struct Acme;
//!
//! impl Adapter for Acme {
//!     fn manifest() -> AdapterManifest {
//!         AdapterManifest {
//!             platform: "acme".into(),
//!             display_name: "Acme CRM".into(),
//!             version: env!("CARGO_PKG_VERSION").into(),
//!             auth: AuthType::ApiKey,
//!             allowed_hosts: vec!["api.acme.example".into()],
//!             implements: vec![Operation::GetUserInfo, Operation::CreateCallLog],
//!         }
//!     }
//!
//!     fn get_user_info(request: LoginRequest) -> Result<UserInfo> {
//!         let me: serde_json::Value = http::Request::get("https://api.acme.example/me")
//!             .credential(&request.credential, "x-api-key")
//!             .send()?
//!             .error_for_status()?
//!             .json()?;
//!         let id = me["id"].as_u64().ok_or_else(|| AdapterError::internal("no user id"))?;
//!         Ok(UserInfo {
//!             id: id.to_string(),
//!             name: me["name"].as_str().unwrap_or_default().into(),
//!             timezone: None,
//!             platform_additional_info: None,
//!         })
//!     }
//!
//!     fn create_call_log(request: CreateCallLogRequest) -> Result<CallLogCreated> {
//!         let contact_name = request.contact.name.clone().unwrap_or_default();
//!         let body = serde_json::json!({
//!             "contact": request.contact.id,
//!             "subject": request.call.subject(&contact_name),
//!             "note": request.note,
//!         });
//!         let created: serde_json::Value = http::Request::post("https://api.acme.example/calls")
//!             .credential(&request.user.credential, "x-api-key")
//!             .json(&body)?
//!             .send()?
//!             .error_for_status()?
//!             .json()?;
//!         let Some(id) = created["id"].as_u64() else {
//!             return Err(AdapterError::upstream(502, "Acme answered without an id"));
//!         };
//!         log::info(&format!("logged session {} as {id}", request.call.session_id));
//!         Ok(CallLogCreated { log_id: id.to_string() })
//!     }
//! }
//!
//! export!(Acme);
//! # fn main() {}
//! ```

pub mod config;
pub mod http;
pub mod kv;
pub mod log;

/// Generated from the WIT package `switchboard:adapter`. Not part of the
/// SDK's API: [`export!`] expands to paths in it, so it must be public. Use
/// the items re-exported at the crate root.
#[doc(hidden)]
#[allow(
    unsafe_code,
    missing_docs,
    unreachable_pub,
    missing_debug_implementations
)]
#[allow(clippy::all)]
pub mod __bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "switchboard:adapter/adapter-world",
        generate_all,
        pub_export_macro: true,
        export_macro_name: "__export_adapter_world",
        default_bindings_module: "switchboard_adapter::__bindings",
    });
}

pub use __bindings::switchboard::adapter::crm_types::{
    AdapterError, AdapterManifest, Attachment, AttachmentKind, AuthType, Call, CallLeg,
    CallLogCreated, CallLogDetails, CallLogUpdated, Contact, ContactRef, CreateCallLogRequest,
    CreateContactRequest, CreateMessageLogRequest, Credential, Direction, FindContactByNameRequest,
    FindContactRequest, GetCallLogRequest, LoginRequest, Message, MessageLogCreated, MessageType,
    OauthConfig, Operation, Party, RateLimit, UpdateCallLogRequest, UpdateMessageLogRequest,
    UpsertCallDispositionRequest, UpstreamError, UserContext, UserInfo,
};

/// What every operation returns.
pub type Result<T, E = AdapterError> = std::result::Result<T, E>;

impl AdapterError {
    /// The adapter does not implement this (App Connect's `UNSUPPORTED`).
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::Unsupported(message.into())
    }

    /// The CRM refused the user's credential; the host may refresh an OAuth
    /// token and retry once (`CRM_UNAUTHORIZED`).
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::Unauthorized(message.into())
    }

    /// The CRM has no such record (`NOT_FOUND`).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }

    /// The CRM cannot accept this input (`INVALID_INPUT`).
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::InvalidInput(message.into())
    }

    /// The CRM is rate limiting; `retry_after_seconds` when it said
    /// (`RATE_LIMITED`).
    pub fn rate_limited(retry_after_seconds: Option<u32>, message: impl Into<String>) -> Self {
        Self::RateLimited(RateLimit {
            retry_after_seconds,
            message: message.into(),
        })
    }

    /// The CRM answered HTTP `status` with an error (`CRM_ERROR`).
    pub fn upstream(status: u16, message: impl Into<String>) -> Self {
        Self::Upstream(UpstreamError {
            status,
            message: message.into(),
        })
    }

    /// The adapter itself failed (`ADAPTER_ERROR`).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal(message.into())
    }
}

impl Call {
    /// The other party: the caller of an inbound call, the callee of an
    /// outbound one.
    pub fn contact_party(&self) -> &Party {
        match self.direction {
            Direction::Inbound => &self.from,
            Direction::Outbound => &self.to,
        }
    }

    /// App Connect's default subject: `Inbound call from <contact>` or
    /// `Outbound call to <contact>`.
    pub fn default_subject(&self, contact_name: &str) -> String {
        match self.direction {
            Direction::Inbound => format!("Inbound call from {contact_name}"),
            Direction::Outbound => format!("Outbound call to {contact_name}"),
        }
    }

    /// The subject to log: the user's `custom-subject`, or the default one.
    pub fn subject(&self, contact_name: &str) -> String {
        self.custom_subject
            .clone()
            .unwrap_or_else(|| self.default_subject(contact_name))
    }
}

impl Message {
    /// The contact's side of the message: the sender of an inbound one, the
    /// first recipient of an outbound one.
    pub fn contact_party(&self) -> Option<&Party> {
        match self.direction {
            Direction::Inbound => Some(&self.from),
            Direction::Outbound => self.to.first(),
        }
    }

    /// What kind of message this is, in words: `SMS`, `Fax`, `Voicemail`,
    /// `Pager`, `Text`.
    pub fn kind(&self) -> &'static str {
        match self.type_ {
            MessageType::Sms => "SMS",
            MessageType::Fax => "Fax",
            MessageType::Voicemail => "Voicemail",
            MessageType::Pager => "Pager",
            MessageType::Text => "Text",
        }
    }

    /// App Connect's subject for a conversation-day's record:
    /// `SMS conversation with <contact> - <YYYY-MM-DD>` (or `Fax`, …).
    pub fn conversation_subject(&self, contact_name: &str) -> String {
        let what = match self.type_ {
            MessageType::Fax => "Fax",
            MessageType::Voicemail => "Voicemail",
            _ => "SMS conversation",
        };
        let day = date(self.creation_time);
        match self.type_ {
            MessageType::Fax | MessageType::Voicemail => {
                format!("{what} from {contact_name} - {day}")
            }
            _ => format!("{what} with {contact_name} - {day}"),
        }
    }

    /// One line for a record's note listing the conversation's messages:
    /// `<HH:MM> UTC <sender>: <text>`, then the links of its attachments.
    /// The download links are left out: they carry a RingCentral token.
    pub fn note_line(&self) -> String {
        let sender = self
            .from
            .name
            .as_deref()
            .or(self.from.phone_number.as_deref())
            .unwrap_or("unknown");
        let mut line = format!("{} UTC {sender}:", time_of_day(self.creation_time));
        if let Some(text) = self.subject.as_deref().filter(|t| !t.is_empty()) {
            line.push(' ');
            line.push_str(text);
        }
        for attachment in &self.attachments {
            line.push_str(&format!(
                " [{}: {}]",
                attachment.kind.name(),
                attachment.uri
            ));
        }
        line
    }
}

impl AttachmentKind {
    /// RingCentral's name of the kind: `AudioRecording`, `RenderedDocument`, …
    pub fn name(self) -> &'static str {
        match self {
            Self::AudioRecording => "AudioRecording",
            Self::AudioTranscription => "AudioTranscription",
            Self::RenderedDocument => "RenderedDocument",
            Self::MmsAttachment => "MmsAttachment",
            Self::Text => "Text",
            Self::Other => "Other",
        }
    }
}

/// `YYYY-MM-DD` of epoch milliseconds, in UTC.
fn date(epoch_millis: i64) -> String {
    let days = epoch_millis.div_euclid(86_400_000);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// `HH:MM` of epoch milliseconds, in UTC.
fn time_of_day(epoch_millis: i64) -> String {
    let minutes = epoch_millis.div_euclid(60_000).rem_euclid(1440);
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// A CRM adapter. Implement [`Adapter::manifest`] and the operations your CRM
/// supports; the others answer [`AdapterError::Unsupported`]. List those you
/// implement in the manifest's `implements`: the host calls no other.
///
/// Every method is an associated function: the host makes a fresh instance
/// for each call, so there is no `self` to keep state in. Use [`kv`].
pub trait Adapter {
    /// Describe the adapter. Called once at load; must not use the network or `kv`.
    fn manifest() -> AdapterManifest;

    /// Check a credential and say whose it is.
    fn get_user_info(request: LoginRequest) -> Result<UserInfo> {
        let _ = request;
        Err(unsupported("get-user-info"))
    }

    /// Find the contacts that have a phone number.
    fn find_contact(request: FindContactRequest) -> Result<Vec<Contact>> {
        let _ = request;
        Err(unsupported("find-contact"))
    }

    /// Find the contacts whose name matches.
    fn find_contact_by_name(request: FindContactByNameRequest) -> Result<Vec<Contact>> {
        let _ = request;
        Err(unsupported("find-contact-by-name"))
    }

    /// Create a contact.
    fn create_contact(request: CreateContactRequest) -> Result<Contact> {
        let _ = request;
        Err(unsupported("create-contact"))
    }

    /// Create the CRM record for a call.
    fn create_call_log(request: CreateCallLogRequest) -> Result<CallLogCreated> {
        let _ = request;
        Err(unsupported("create-call-log"))
    }

    /// Read a call log back.
    fn get_call_log(request: GetCallLogRequest) -> Result<CallLogDetails> {
        let _ = request;
        Err(unsupported("get-call-log"))
    }

    /// Update a call log.
    fn update_call_log(request: UpdateCallLogRequest) -> Result<CallLogUpdated> {
        let _ = request;
        Err(unsupported("update-call-log"))
    }

    /// Set a call log's dispositions.
    fn upsert_call_disposition(request: UpsertCallDispositionRequest) -> Result<()> {
        let _ = request;
        Err(unsupported("upsert-call-disposition"))
    }

    /// Create a message log.
    fn create_message_log(request: CreateMessageLogRequest) -> Result<MessageLogCreated> {
        let _ = request;
        Err(unsupported("create-message-log"))
    }

    /// Add a message to a message log.
    fn update_message_log(request: UpdateMessageLogRequest) -> Result<()> {
        let _ = request;
        Err(unsupported("update-message-log"))
    }
}

fn unsupported(operation: &str) -> AdapterError {
    AdapterError::unsupported(format!("this adapter does not implement {operation}"))
}

/// Export a type that implements [`Adapter`] as this component's adapter.
///
/// Use it once, at the crate root of a `cdylib` crate.
#[macro_export]
macro_rules! export {
    ($adapter:ty) => {
        #[allow(unsafe_code)]
        const _: () = {
            type SwitchboardAdapterExport = $crate::__private::Exported<$adapter>;
            $crate::__bindings::__export_adapter_world!(
                SwitchboardAdapterExport with_types_in $crate::__bindings
            );
        };
    };
}

#[doc(hidden)]
pub mod __private {
    use super::*;
    use crate::__bindings::exports::switchboard::adapter::adapter::Guest;
    use std::marker::PhantomData;

    /// Bridges an [`Adapter`] to the generated export trait.
    #[allow(missing_debug_implementations)]
    pub struct Exported<T>(PhantomData<T>);

    impl<T: Adapter> Guest for Exported<T> {
        fn manifest() -> AdapterManifest {
            T::manifest()
        }
        fn get_user_info(request: LoginRequest) -> Result<UserInfo> {
            T::get_user_info(request)
        }
        fn find_contact(request: FindContactRequest) -> Result<Vec<Contact>> {
            T::find_contact(request)
        }
        fn find_contact_by_name(request: FindContactByNameRequest) -> Result<Vec<Contact>> {
            T::find_contact_by_name(request)
        }
        fn create_contact(request: CreateContactRequest) -> Result<Contact> {
            T::create_contact(request)
        }
        fn create_call_log(request: CreateCallLogRequest) -> Result<CallLogCreated> {
            T::create_call_log(request)
        }
        fn get_call_log(request: GetCallLogRequest) -> Result<CallLogDetails> {
            T::get_call_log(request)
        }
        fn update_call_log(request: UpdateCallLogRequest) -> Result<CallLogUpdated> {
            T::update_call_log(request)
        }
        fn upsert_call_disposition(request: UpsertCallDispositionRequest) -> Result<()> {
            T::upsert_call_disposition(request)
        }
        fn create_message_log(request: CreateMessageLogRequest) -> Result<MessageLogCreated> {
            T::create_message_log(request)
        }
        fn update_message_log(request: UpdateMessageLogRequest) -> Result<()> {
            T::update_message_log(request)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(direction: Direction, custom_subject: Option<&str>) -> Call {
        Call {
            id: "1".into(),
            session_id: "s".into(),
            telephony_session_id: None,
            direction,
            start_time: 0,
            duration_seconds: 0,
            result: String::new(),
            from: Party {
                phone_number: Some("+1".into()),
                name: None,
            },
            to: Party {
                phone_number: Some("+2".into()),
                name: None,
            },
            recording_link: None,
            recording_download_link: None,
            custom_subject: custom_subject.map(str::to_owned),
            legs: Vec::new(),
        }
    }

    #[test]
    fn subjects_follow_app_connect() {
        let inbound = call(Direction::Inbound, None);
        assert_eq!(inbound.subject("Ann"), "Inbound call from Ann");
        assert_eq!(inbound.contact_party().phone_number.as_deref(), Some("+1"));
        let outbound = call(Direction::Outbound, None);
        assert_eq!(outbound.subject("Ann"), "Outbound call to Ann");
        assert_eq!(outbound.contact_party().phone_number.as_deref(), Some("+2"));
        assert_eq!(
            call(Direction::Inbound, Some("Mine")).subject("Ann"),
            "Mine"
        );
    }

    #[test]
    fn message_subjects_and_lines_follow_app_connect() {
        let message = Message {
            id: "m1".into(),
            conversation_id: "c1".into(),
            type_: MessageType::Sms,
            direction: Direction::Inbound,
            // 2024-02-29T13:05:00Z
            creation_time: 1_709_211_900_000,
            subject: Some("hello".into()),
            from: Party {
                phone_number: Some("+1".into()),
                name: Some("Ann".into()),
            },
            to: vec![Party {
                phone_number: Some("+2".into()),
                name: None,
            }],
            attachments: Vec::new(),
        };
        assert_eq!(
            message.conversation_subject("Ann"),
            "SMS conversation with Ann - 2024-02-29"
        );
        assert_eq!(message.note_line(), "13:05 UTC Ann: hello");
        assert_eq!(
            message.contact_party().and_then(|p| p.name.as_deref()),
            Some("Ann")
        );
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(-1), "1969-12-31");
    }

    #[test]
    fn constructors_build_the_variants() {
        assert!(matches!(
            AdapterError::upstream(502, "bad"),
            AdapterError::Upstream(UpstreamError { status: 502, .. })
        ));
        assert!(matches!(
            AdapterError::rate_limited(Some(3), "slow"),
            AdapterError::RateLimited(RateLimit {
                retry_after_seconds: Some(3),
                ..
            })
        ));
        assert!(matches!(
            AdapterError::not_found("x"),
            AdapterError::NotFound(_)
        ));
    }
}
