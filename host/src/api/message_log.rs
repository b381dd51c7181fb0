//! `POST /messageLog`: log a conversation-day's SMS, MMS, fax and voicemail
//! messages, each once, into one CRM record (see
//! [`crate::service::NewMessageLog`]).

use super::AppState;
use super::error::ApiError;
use super::extract::{AuthUser, JsonBody};
use super::openapi::{Failure, MessageLogReply};
use super::reply::{ReturnMessage, unsuccessful};
use super::wire::{
    EpochMillis, Id, WireDirection, WireParty, check_no_nul, json_string, non_empty,
    non_empty_secret,
};
use crate::service::model::{Attachment, AttachmentKind, ContactRef, Message, MessageType, Party};
use crate::service::{MessageLogOutcome, NewMessageLog};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

/// Longest id accepted (conversation, conversation-day, message, contact).
const MAX_ID_LEN: usize = 256;
/// Most messages one post may carry.
const MAX_MESSAGES: usize = 500;

/// `POST /messageLog`'s body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateMessageLog {
    log_info: LogInfo,
    contact_id: Id,
    contact_type: Option<String>,
    contact_name: Option<String>,
    additional_submission: Option<Value>,
}

/// `logInfo`: the conversation-day and its messages.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct LogInfo {
    conversation_id: Id,
    conversation_log_id: String,
    messages: Vec<WireMessage>,
    #[serde(default)]
    correspondents: Vec<WireParty>,
    /// The client's RingCentral token, to build attachment download links.
    #[schema(value_type = Option<String>)]
    rc_access_token: Option<SecretString>,
}

/// A RingCentral message record.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct WireMessage {
    id: Id,
    #[serde(rename = "type")]
    message_type: WireMessageType,
    direction: WireDirection,
    creation_time: EpochMillis,
    subject: Option<String>,
    #[serde(default)]
    from: WireParty,
    #[serde(default)]
    to: Vec<WireParty>,
    #[serde(default)]
    attachments: Vec<WireAttachment>,
}

/// RingCentral's message types.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
enum WireMessageType {
    #[serde(rename = "SMS")]
    Sms,
    Fax,
    VoiceMail,
    Pager,
    Text,
}

/// A RingCentral message attachment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct WireAttachment {
    id: Id,
    #[serde(rename = "type", default)]
    kind: String,
    uri: String,
    content_type: Option<String>,
    vm_duration: Option<u32>,
}

impl CreateMessageLog {
    /// The service's input, checked; `rcAccessToken` goes only into the
    /// download links of recordings, faxes and MMS files.
    fn into_new_message_log(self) -> Result<NewMessageLog, ApiError> {
        let info = self.log_info;
        check_id("contactId", &self.contact_id.0)?;
        check_id("logInfo.conversationId", &info.conversation_id.0)?;
        check_id("logInfo.conversationLogId", &info.conversation_log_id)?;
        if info.messages.len() > MAX_MESSAGES {
            return Err(ApiError::bad_request(format!(
                "logInfo.messages has more than {MAX_MESSAGES} messages"
            )));
        }
        let token = non_empty_secret(info.rc_access_token);
        let party = |p: WireParty| Party {
            phone_number: non_empty(p.phone_number),
            name: non_empty(p.name),
        };
        let mut messages = Vec::with_capacity(info.messages.len());
        for (i, m) in info.messages.into_iter().enumerate() {
            check_id(&format!("logInfo.messages[{i}].id"), &m.id.0)?;
            let mut attachments = Vec::with_capacity(m.attachments.len());
            for (j, a) in m.attachments.into_iter().enumerate() {
                let field = format!("logInfo.messages[{i}].attachments[{j}]");
                check_id(&format!("{field}.id"), &a.id.0)?;
                check_no_nul(&format!("{field}.uri"), &a.uri)?;
                let kind = attachment_kind(&a.kind);
                let downloadable = matches!(
                    kind,
                    AttachmentKind::AudioRecording
                        | AttachmentKind::RenderedDocument
                        | AttachmentKind::MmsAttachment
                );
                let download_link = match &token {
                    Some(token) if downloadable => Some(download_link(&a.uri, token)),
                    _ => None,
                };
                attachments.push(Attachment {
                    id: a.id.0,
                    kind,
                    content_type: non_empty(a.content_type),
                    uri: a.uri,
                    download_link,
                    duration_seconds: a.vm_duration,
                });
            }
            messages.push(Message {
                id: m.id.0,
                conversation_id: info.conversation_id.0.clone(),
                message_type: match m.message_type {
                    WireMessageType::Sms => MessageType::Sms,
                    WireMessageType::Fax => MessageType::Fax,
                    WireMessageType::VoiceMail => MessageType::Voicemail,
                    WireMessageType::Pager => MessageType::Pager,
                    WireMessageType::Text => MessageType::Text,
                },
                direction: m.direction.into(),
                creation_time: m.creation_time.0,
                subject: m.subject,
                from: party(m.from),
                to: m.to.into_iter().map(party).collect(),
                attachments,
            });
        }
        Ok(NewMessageLog {
            conversation_log_id: info.conversation_log_id,
            messages,
            correspondents: info.correspondents.into_iter().map(party).collect(),
            contact: ContactRef {
                id: self.contact_id.0,
                contact_type: non_empty(self.contact_type),
                name: non_empty(self.contact_name),
            },
            additional_submission: json_string(self.additional_submission),
        })
    }
}

fn check_id(field: &str, id: &str) -> Result<(), ApiError> {
    if id.trim().is_empty() {
        return Err(ApiError::bad_request(format!("{field} is empty")));
    }
    if id.len() > MAX_ID_LEN {
        return Err(ApiError::bad_request(format!(
            "{field} is longer than {MAX_ID_LEN} characters"
        )));
    }
    check_no_nul(field, id)
}

fn attachment_kind(kind: &str) -> AttachmentKind {
    match kind {
        "AudioRecording" => AttachmentKind::AudioRecording,
        "AudioTranscription" => AttachmentKind::AudioTranscription,
        "RenderedDocument" => AttachmentKind::RenderedDocument,
        "MmsAttachment" => AttachmentKind::MmsAttachment,
        "Text" => AttachmentKind::Text,
        _ => AttachmentKind::Other,
    }
}

/// App Connect's download link: the content URI with the access token.
fn download_link(uri: &str, token: &SecretString) -> SecretString {
    let separator = if uri.contains('?') { '&' } else { '?' };
    let token: String = form_urlencoded::byte_serialize(token.expose_secret().as_bytes()).collect();
    SecretString::from(format!("{uri}{separator}access_token={token}"))
}

/// `POST /messageLog`
#[utoipa::path(
    post,
    path = "/messageLog",
    request_body = CreateMessageLog,
    responses(
        (status = 200, description = "Done, or App Connect's `successful: false` with an `errorCode`", body = MessageLogReply),
        (status = 400, description = "The request is malformed; the message names the field", body = Failure),
        (status = 401, description = "No valid jwtToken", body = Failure),
        (status = 413, description = "The body is too large", body = Failure),
        (status = 503, description = "The database cannot be reached", body = Failure),
    ),
    security(("jwtQuery" = []), ("jwtBearer" = []))
)]
pub(super) async fn create(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    JsonBody(body): JsonBody<CreateMessageLog>,
) -> Result<Json<Value>, ApiError> {
    let log = body.into_new_message_log()?;
    if log.messages.is_empty() {
        let mut reply = unsuccessful("No messages to log");
        reply["logIds"] = json!([]);
        return Ok(Json(reply));
    }
    match state.service.create_message_log(&user, log).await? {
        MessageLogOutcome::Logged { message_ids } if message_ids.is_empty() => Ok(Json(json!({
            "successful": true,
            "logIds": [],
            "returnMessage": null,
        }))),
        MessageLogOutcome::Logged { message_ids } => {
            let count = message_ids.len();
            Ok(Json(json!({
                "successful": true,
                "logIds": message_ids,
                "returnMessage": ReturnMessage::success(format!("{count} message(s) logged")),
            })))
        }
        MessageLogOutcome::InProgress {
            conversation_log_id,
        } => Err(ApiError::new(
            StatusCode::OK,
            "LOG_IN_PROGRESS",
            format!(
                "Messages of conversation {conversation_log_id} are being logged; try again shortly"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::extract::parse_json;

    fn body(messages: Value, correspondents: Value) -> Value {
        json!({
            "logInfo": {
                "conversationId": 123,
                "conversationLogId": "123-2024-02-29",
                "messages": messages,
                "correspondents": correspondents,
                "rcAccessToken": "rc token/+",
            },
            "contactId": 7,
            "contactName": "Ann",
        })
    }

    fn message(id: &str, kind: &str, attachment: &str) -> Value {
        json!({
            "id": id, "type": kind, "direction": "Inbound",
            "creationTime": "2024-02-29T13:05:00.000Z", "subject": "hi",
            "from": {"phoneNumber": "+16505550100", "name": "Ann"},
            "to": [{"phoneNumber": "+16505550101"}],
            "attachments": [{"id": 9, "type": attachment, "uri": "https://media.ringcentral.com/a/9", "contentType": "audio/mpeg", "vmDuration": 12}],
        })
    }

    fn parse(value: &Value) -> Result<NewMessageLog, ApiError> {
        parse_json::<CreateMessageLog>(value.to_string().as_bytes())?.into_new_message_log()
    }

    #[test]
    fn a_voicemail_reaches_the_service_with_its_download_link() {
        let log = parse(&body(
            json!([message("m1", "VoiceMail", "AudioRecording")]),
            json!([]),
        ))
        .expect("parses");
        let m = &log.messages[0];
        assert_eq!(m.message_type, MessageType::Voicemail);
        assert_eq!(m.creation_time, 1_709_211_900_000);
        let a = &m.attachments[0];
        assert_eq!(a.kind, AttachmentKind::AudioRecording);
        assert_eq!(a.duration_seconds, Some(12));
        assert_eq!(
            a.download_link
                .as_ref()
                .map(|l| l.expose_secret().to_owned())
                .as_deref(),
            Some("https://media.ringcentral.com/a/9?access_token=rc+token%2F%2B")
        );
        assert!(
            !format!("{log:?}").contains("rc token"),
            "the token never shows in Debug"
        );
        // A text attachment gets no link.
        let text = parse(&body(json!([message("m1", "SMS", "Text")]), json!([]))).expect("sms");
        assert!(text.messages[0].attachments[0].download_link.is_none());
    }

    #[test]
    fn bad_bodies_name_the_field() {
        let msg = |v: Value| parse(&v).expect_err("bad").message;
        assert!(
            msg(body(json!([message("", "SMS", "Text")]), json!([])))
                .contains("logInfo.messages[0].id is empty")
        );
        assert!(
            msg(body(
                json!([message("m1", "Carrier pigeon", "Text")]),
                json!([])
            ))
            .contains("type")
        );
        let mut no_log_id = body(json!([]), json!([]));
        no_log_id["logInfo"]["conversationLogId"] = json!("");
        assert!(msg(no_log_id).contains("logInfo.conversationLogId is empty"));
        let mut no_contact = body(json!([]), json!([]));
        no_contact
            .as_object_mut()
            .expect("an object")
            .remove("contactId");
        assert!(msg(no_contact).contains("contactId"));
    }
}
