//! Calls into components built against an older contract (see `world`).
//!
//! A request goes down and an answer comes up through serde: every record
//! of each version derives `Serialize` and `Deserialize`, and a record keeps
//! its field and case names across versions. Fields a version adds are
//! dropped on the way down (0.1.0 has no `legs`, `ai-note`, attachments…);
//! answers have the same shape in every version, except the manifest, which
//! [`manifest`] converts by hand. The tests below convert one of every
//! request and answer, so a rename that breaks this fails them.

use super::bindings::{AdapterError, AdapterManifest, AuthType, OauthConfig, v0_1};
use super::world::WitVersion;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The same value in another version's type.
fn convert<A: Serialize, B: DeserializeOwned>(value: &A) -> wasmtime::Result<B> {
    serde_json::to_value(value)
        .and_then(serde_json::from_value)
        .map_err(|e| {
            wasmtime::format_err!(
                "converting {} to {}: {e}",
                std::any::type_name::<A>(),
                std::any::type_name::<B>()
            )
        })
}

/// Call a 0.1.0 export: `request` converted down, the answer converted up.
pub(super) async fn call_v0_1<Request, OldRequest, OldAnswer, Answer>(
    request: &Request,
    export: impl AsyncFnOnce(&OldRequest) -> wasmtime::Result<Result<OldAnswer, v0_1::AdapterError>>,
) -> wasmtime::Result<Result<Answer, AdapterError>>
where
    Request: Serialize,
    OldRequest: DeserializeOwned,
    OldAnswer: Serialize,
    Answer: DeserializeOwned,
{
    let old: OldRequest = convert(request)?;
    Ok(match export(&old).await? {
        Ok(answer) => Ok(convert(&answer)?),
        Err(error) => Err(convert(&error)?),
    })
}

/// A 0.1.0 manifest in today's terms: it implements every operation 0.1.0
/// has (a 0.1.0 component exports them all).
pub(super) fn manifest(old: v0_1::AdapterManifest) -> AdapterManifest {
    AdapterManifest {
        platform: old.platform,
        display_name: old.display_name,
        version: old.version,
        auth: match old.auth {
            v0_1::AuthType::ApiKey => AuthType::ApiKey,
            v0_1::AuthType::Oauth(oauth) => AuthType::Oauth(OauthConfig {
                authorize_url: oauth.authorize_url,
                token_url: oauth.token_url,
                scopes: oauth.scopes,
            }),
        },
        allowed_hosts: old.allowed_hosts,
        implements: WitVersion::V0_1.operations().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::bindings::*;

    fn user() -> UserContext {
        UserContext {
            user_id: "u1".into(),
            hostname: "h.example".into(),
            credential: Credential::ApiKey("k".into()),
            timezone: Some("Europe/Paris".into()),
        }
    }

    fn party(number: &str) -> Party {
        Party {
            phone_number: Some(number.into()),
            name: None,
        }
    }

    fn contact_ref() -> ContactRef {
        ContactRef {
            id: "c1".into(),
            contact_type: Some("person".into()),
            name: Some("Ann".into()),
        }
    }

    fn message() -> Message {
        Message {
            id: "m1".into(),
            conversation_id: "conv".into(),
            type_: MessageType::Voicemail,
            direction: Direction::Inbound,
            creation_time: 1,
            subject: Some("hi".into()),
            from: party("+1"),
            to: vec![party("+2")],
            attachments: vec![Attachment {
                id: "a1".into(),
                kind: AttachmentKind::AudioRecording,
                content_type: Some("audio/mpeg".into()),
                uri: "https://media.example/a1".into(),
                download_link: Some("https://media.example/a1?access_token=t".into()),
                duration_seconds: Some(5),
            }],
        }
    }

    /// Every request converts down with what 0.1.0 has of it intact.
    #[test]
    fn every_request_converts_down() {
        let call = Call {
            id: "1".into(),
            session_id: "s1".into(),
            telephony_session_id: None,
            direction: Direction::Outbound,
            start_time: 1_700_000_000_000,
            duration_seconds: 65,
            result: "Accepted".into(),
            from: party("+1"),
            to: party("+2"),
            recording_link: Some("https://r.example/1".into()),
            recording_download_link: Some("https://r.example/1?t".into()),
            custom_subject: None,
            legs: vec![CallLeg {
                leg_type: Some("Accept".into()),
                direction: Direction::Outbound,
                start_time: 1,
                duration_seconds: 2,
                from: party("+1"),
                to: party("+2"),
            }],
        };
        let create: v0_1::CreateCallLogRequest = convert(&CreateCallLogRequest {
            user: user(),
            call,
            contact: contact_ref(),
            note: Some("n".into()),
            ai_note: Some("ai".into()),
            transcript: Some("t".into()),
            additional_submission: None,
        })
        .expect("create-call-log");
        assert_eq!(create.call.session_id, "s1");
        assert_eq!(create.call.duration_seconds, 65);
        assert!(matches!(create.call.direction, v0_1::Direction::Outbound));
        assert!(matches!(create.user.credential, v0_1::Credential::ApiKey(ref k) if k == "k"));

        let update: v0_1::UpdateCallLogRequest = convert(&UpdateCallLogRequest {
            user: user(),
            log_id: "l1".into(),
            subject: Some("s".into()),
            note: None,
            recording_link: None,
            recording_download_link: None,
            ai_note: Some("ai".into()),
            transcript: None,
            start_time: Some(3),
            duration_seconds: None,
            result: None,
            additional_submission: None,
        })
        .expect("update-call-log");
        assert_eq!((update.log_id.as_str(), update.start_time), ("l1", Some(3)));

        let _: v0_1::LoginRequest = convert(&LoginRequest {
            credential: Credential::Authorization("Bearer x".into()),
            hostname: String::new(),
            additional_info: None,
        })
        .expect("get-user-info");
        let _: v0_1::FindContactRequest = convert(&FindContactRequest {
            user: user(),
            phone_number: "+1".into(),
        })
        .expect("find-contact");
        let _: v0_1::CreateContactRequest = convert(&CreateContactRequest {
            user: user(),
            phone_number: "+1".into(),
            name: "Ann".into(),
            contact_type: None,
        })
        .expect("create-contact");
        let _: v0_1::GetCallLogRequest = convert(&GetCallLogRequest {
            user: user(),
            log_id: "l1".into(),
        })
        .expect("get-call-log");
        let _: v0_1::UpsertCallDispositionRequest = convert(&UpsertCallDispositionRequest {
            user: user(),
            log_id: "l1".into(),
            dispositions: "{}".into(),
        })
        .expect("upsert-call-disposition");
        let created: v0_1::CreateMessageLogRequest = convert(&CreateMessageLogRequest {
            user: user(),
            contact: contact_ref(),
            conversation_log_id: "conv-2024-01-01".into(),
            message: message(),
            additional_submission: None,
        })
        .expect("create-message-log");
        assert_eq!(created.message.id, "m1");
        let _: v0_1::UpdateMessageLogRequest = convert(&UpdateMessageLogRequest {
            user: user(),
            log_id: "l1".into(),
            contact: contact_ref(),
            conversation_log_id: "conv-2024-01-01".into(),
            message: message(),
        })
        .expect("update-message-log");
    }

    /// Every answer and error converts up unchanged.
    #[test]
    fn every_answer_converts_up() {
        let info: UserInfo = convert(&v0_1::UserInfo {
            id: "u".into(),
            name: "U".into(),
            timezone: None,
            platform_additional_info: Some("{}".into()),
        })
        .expect("user-info");
        assert_eq!(info.id, "u");
        let contacts: Vec<Contact> = convert(&vec![v0_1::Contact {
            id: "c".into(),
            name: "C".into(),
            phone: None,
            organization: None,
            contact_type: None,
            additional_info: None,
        }])
        .expect("contacts");
        assert_eq!(contacts[0].id, "c");
        let details: CallLogDetails = convert(&v0_1::CallLogDetails {
            subject: "s".into(),
            note: "n".into(),
            full_body: None,
            contact_name: None,
            dispositions: None,
        })
        .expect("details");
        assert_eq!(details.note, "n");
        let _: CallLogCreated = convert(&v0_1::CallLogCreated { log_id: "1".into() }).expect("");
        let _: CallLogUpdated = convert(&v0_1::CallLogUpdated {
            updated_note: "n".into(),
        })
        .expect("updated");
        let _: MessageLogCreated =
            convert(&v0_1::MessageLogCreated { log_id: "1".into() }).expect("message log");
        for (old, ok) in [
            (v0_1::AdapterError::Unsupported("x".into()), "Unsupported"),
            (v0_1::AdapterError::Unauthorized("x".into()), "Unauthorized"),
            (v0_1::AdapterError::NotFound("x".into()), "NotFound"),
            (v0_1::AdapterError::InvalidInput("x".into()), "InvalidInput"),
            (
                v0_1::AdapterError::RateLimited(v0_1::RateLimit {
                    retry_after_seconds: Some(3),
                    message: "x".into(),
                }),
                "RateLimited",
            ),
            (
                v0_1::AdapterError::Upstream(v0_1::UpstreamError {
                    status: 502,
                    message: "x".into(),
                }),
                "Upstream",
            ),
            (v0_1::AdapterError::Internal("x".into()), "Internal"),
        ] {
            let new: AdapterError = convert(&old).expect(ok);
            let debug = format!("{new:?}");
            assert!(
                debug.starts_with(&format!("AdapterError::{ok}(")),
                "{debug}"
            );
        }
    }

    #[test]
    fn a_0_1_manifest_implements_every_0_1_operation() {
        let converted = manifest(v0_1::AdapterManifest {
            platform: "p".into(),
            display_name: "P".into(),
            version: "1".into(),
            auth: v0_1::AuthType::ApiKey,
            allowed_hosts: Vec::new(),
        });
        assert!(converted.implements.contains(&Operation::CreateMessageLog));
        assert!(!converted.implements.contains(&Operation::FindContactByName));
    }
}
