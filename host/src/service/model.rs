//! The service's own vocabulary: what a call, a contact and a logged call
//! are, as the API hands them in and gets them back. The runtime's
//! (generated) types stay behind this module: it converts both ways.

use crate::runtime;
use secrecy::{ExposeSecret, SecretString};

/// Which way a call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The contact called the user.
    Inbound,
    /// The user called the contact.
    Outbound,
}

/// One end of a call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Party {
    /// The number, as RingCentral gave it.
    pub phone_number: Option<String>,
    /// The name, when RingCentral knew it.
    pub name: Option<String>,
}

/// A call to log: RingCentral's call-log record, as far as adapters use it.
#[derive(Debug, Clone)]
pub struct Call {
    /// RingCentral's call-log id.
    pub id: String,
    /// RingCentral's session id: the unit a call is logged once per.
    pub session_id: String,
    /// RingCentral's telephony session id, when sent.
    pub telephony_session_id: Option<String>,
    /// Which way the call went.
    pub direction: Direction,
    /// When the call started, in milliseconds since the Unix epoch.
    pub start_time: i64,
    /// How long it lasted.
    pub duration_seconds: u32,
    /// RingCentral's result (`Accepted`, `Missed`, …).
    pub result: String,
    /// Who called.
    pub from: Party,
    /// Who was called.
    pub to: Party,
    /// The recording, when there is one.
    pub recording_link: Option<String>,
    /// A link that downloads the recording; it may carry a RingCentral
    /// token, so it is never logged or stored.
    pub recording_download_link: Option<SecretString>,
    /// A subject the user typed, replacing the adapter's default.
    pub custom_subject: Option<String>,
    /// The call's legs, oldest first.
    pub legs: Vec<CallLeg>,
}

/// One leg of a call (a transfer, a forward).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallLeg {
    /// RingCentral's leg type (`Accept`, `FindMe`, …).
    pub leg_type: Option<String>,
    /// Which way the leg went.
    pub direction: Direction,
    /// When the leg started, in milliseconds since the Unix epoch.
    pub start_time: i64,
    /// How long it lasted.
    pub duration_seconds: u32,
    /// Who called.
    pub from: Party,
    /// Who was called.
    pub to: Party,
}

impl Call {
    /// The other party's number: the caller of an inbound call, the callee
    /// of an outbound one.
    pub fn contact_number(&self) -> Option<&str> {
        match self.direction {
            Direction::Inbound => self.from.phone_number.as_deref(),
            Direction::Outbound => self.to.phone_number.as_deref(),
        }
    }
}

/// The CRM contact a call is logged against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRef {
    /// The CRM's id of the contact.
    pub id: String,
    /// The CRM's kind of contact (`person`, `lead`, …), when the client said.
    pub contact_type: Option<String>,
    /// The contact's name, when the client said.
    pub name: Option<String>,
}

/// A contact as the CRM holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// The CRM's id.
    pub id: String,
    /// The contact's name.
    pub name: String,
    /// The matching number, as the CRM stores it.
    pub phone: Option<String>,
    /// The contact's organisation.
    pub organization: Option<String>,
    /// The CRM's kind of contact.
    pub contact_type: Option<String>,
    /// What else the CRM says (JSON).
    pub additional_info: Option<String>,
}

/// A logged call as the CRM holds it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallLogDetails {
    /// The record's subject.
    pub subject: String,
    /// The agent's note.
    pub note: String,
    /// The whole body, when the CRM composes one.
    pub full_body: Option<String>,
    /// The contact's name.
    pub contact_name: Option<String>,
    /// The dispositions (JSON).
    pub dispositions: Option<String>,
}

impl From<Direction> for runtime::Direction {
    fn from(direction: Direction) -> Self {
        match direction {
            Direction::Inbound => Self::Inbound,
            Direction::Outbound => Self::Outbound,
        }
    }
}

impl From<Party> for runtime::Party {
    fn from(party: Party) -> Self {
        Self {
            phone_number: party.phone_number,
            name: party.name,
        }
    }
}

impl From<Call> for runtime::Call {
    fn from(call: Call) -> Self {
        Self {
            id: call.id,
            session_id: call.session_id,
            telephony_session_id: call.telephony_session_id,
            direction: call.direction.into(),
            start_time: call.start_time,
            duration_seconds: call.duration_seconds,
            result: call.result,
            from: call.from.into(),
            to: call.to.into(),
            recording_link: call.recording_link,
            recording_download_link: expose(call.recording_download_link),
            custom_subject: call.custom_subject,
            legs: call.legs.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<CallLeg> for runtime::CallLeg {
    fn from(leg: CallLeg) -> Self {
        Self {
            leg_type: leg.leg_type,
            direction: leg.direction.into(),
            start_time: leg.start_time,
            duration_seconds: leg.duration_seconds,
            from: leg.from.into(),
            to: leg.to.into(),
        }
    }
}

/// A secret handed to the adapter, the one place it is let out.
pub(crate) fn expose(secret: Option<SecretString>) -> Option<String> {
    secret.map(|s| s.expose_secret().to_owned())
}

impl From<ContactRef> for runtime::ContactRef {
    fn from(contact: ContactRef) -> Self {
        Self {
            id: contact.id,
            contact_type: contact.contact_type,
            name: contact.name,
        }
    }
}

impl From<runtime::Contact> for Contact {
    fn from(contact: runtime::Contact) -> Self {
        Self {
            id: contact.id,
            name: contact.name,
            phone: contact.phone,
            organization: contact.organization,
            contact_type: contact.contact_type,
            additional_info: contact.additional_info,
        }
    }
}

impl From<runtime::CallLogDetails> for CallLogDetails {
    fn from(details: runtime::CallLogDetails) -> Self {
        Self {
            subject: details.subject,
            note: details.note,
            full_body: details.full_body,
            contact_name: details.contact_name,
            dispositions: details.dispositions,
        }
    }
}

/// What kind of message a RingCentral message record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// SMS or MMS.
    Sms,
    /// A fax.
    Fax,
    /// A voicemail.
    Voicemail,
    /// A pager message.
    Pager,
    /// A text (RingCentral's `Text`).
    Text,
}

/// What an attachment holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachmentKind {
    /// A voicemail's audio.
    AudioRecording,
    /// A voicemail's transcription.
    AudioTranscription,
    /// A fax, as a document.
    RenderedDocument,
    /// An MMS picture or file.
    MmsAttachment,
    /// The text of a message.
    Text,
    /// Anything else.
    Other,
}

/// A file attached to a message.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// RingCentral's attachment id.
    pub id: String,
    /// What it holds.
    pub kind: AttachmentKind,
    /// MIME type, when sent.
    pub content_type: Option<String>,
    /// RingCentral's API URI of the content.
    pub uri: String,
    /// The URI with the client's RingCentral access token: never logged or
    /// stored, only handed to the adapter.
    pub download_link: Option<SecretString>,
    /// A voicemail's length.
    pub duration_seconds: Option<u32>,
}

/// One message to log.
#[derive(Debug, Clone)]
pub struct Message {
    /// RingCentral's message id.
    pub id: String,
    /// The conversation it belongs to.
    pub conversation_id: String,
    /// What kind it is.
    pub message_type: MessageType,
    /// Which way it went.
    pub direction: Direction,
    /// When it was sent, in milliseconds since the Unix epoch.
    pub creation_time: i64,
    /// Its text.
    pub subject: Option<String>,
    /// Who sent it.
    pub from: Party,
    /// Who it went to.
    pub to: Vec<Party>,
    /// What came with it.
    pub attachments: Vec<Attachment>,
}

impl From<Message> for runtime::Message {
    fn from(message: Message) -> Self {
        Self {
            id: message.id,
            conversation_id: message.conversation_id,
            type_: match message.message_type {
                MessageType::Sms => runtime::MessageType::Sms,
                MessageType::Fax => runtime::MessageType::Fax,
                MessageType::Voicemail => runtime::MessageType::Voicemail,
                MessageType::Pager => runtime::MessageType::Pager,
                MessageType::Text => runtime::MessageType::Text,
            },
            direction: message.direction.into(),
            creation_time: message.creation_time,
            subject: message.subject,
            from: message.from.into(),
            to: message.to.into_iter().map(Into::into).collect(),
            attachments: message.attachments.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<Attachment> for runtime::Attachment {
    fn from(attachment: Attachment) -> Self {
        use runtime::AttachmentKind as Kind;
        Self {
            id: attachment.id,
            kind: match attachment.kind {
                AttachmentKind::AudioRecording => Kind::AudioRecording,
                AttachmentKind::AudioTranscription => Kind::AudioTranscription,
                AttachmentKind::RenderedDocument => Kind::RenderedDocument,
                AttachmentKind::MmsAttachment => Kind::MmsAttachment,
                AttachmentKind::Text => Kind::Text,
                AttachmentKind::Other => Kind::Other,
            },
            content_type: attachment.content_type,
            uri: attachment.uri,
            download_link: expose(attachment.download_link),
            duration_seconds: attachment.duration_seconds,
        }
    }
}
