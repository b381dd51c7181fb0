//! App Connect's request bodies, as the client sends them, and their
//! conversion to service inputs. Unknown fields are ignored.

use super::error::ApiError;
use crate::service::model::{Call, CallLeg, ContactRef, Direction, Party};
use crate::service::{CallLogUpdate, NewCallLog};
use secrecy::SecretString;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use std::fmt;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type,
};
use utoipa::{PartialSchema, ToSchema};

/// Longest session id accepted.
pub(super) const MAX_SESSION_ID_LEN: usize = 128;

/// An id that arrives as a JSON string or an integer (`contactId`, `sessionId`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Id(pub String);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl Visitor<'_> for IdVisitor {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or integer id")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Id, E> {
                Ok(Id(v.trim().to_owned()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Id, E> {
                Ok(Id(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Id, E> {
                Ok(Id(v.to_string()))
            }
        }
        deserializer.deserialize_any(IdVisitor)
    }
}

/// A string or an integer, in the OpenAPI document.
fn string_or_integer(description: &str, format: Option<KnownFormat>) -> RefOr<Schema> {
    let string = ObjectBuilder::new().schema_type(Type::String);
    let string = match format {
        Some(format) => string.format(Some(SchemaFormat::KnownFormat(format))),
        None => string,
    };
    OneOfBuilder::new()
        .item(string)
        .item(ObjectBuilder::new().schema_type(Type::Integer))
        .description(Some(description))
        .into()
}

impl PartialSchema for Id {
    fn schema() -> RefOr<Schema> {
        string_or_integer("An id, as a string or an integer", None)
    }
}

impl ToSchema for Id {}

/// A time that arrives as an ISO 8601 / RFC 3339 string or as epoch
/// milliseconds; held as epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct EpochMillis(pub i64);

impl<'de> Deserialize<'de> for EpochMillis {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TimeVisitor;
        impl Visitor<'_> for TimeVisitor {
            type Value = EpochMillis;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an ISO 8601 time or epoch milliseconds")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<EpochMillis, E> {
                let parsed =
                    time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
                        .map_err(|_| E::custom(format!("{v:?} is not an ISO 8601 time")))?;
                Ok(EpochMillis(
                    (parsed.unix_timestamp_nanos() / 1_000_000) as i64,
                ))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<EpochMillis, E> {
                i64::try_from(v)
                    .map(EpochMillis)
                    .map_err(|_| E::custom("time out of range"))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<EpochMillis, E> {
                Ok(EpochMillis(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<EpochMillis, E> {
                if v.is_finite() && v.abs() < 9.0e15 {
                    Ok(EpochMillis(v as i64))
                } else {
                    Err(E::custom("time out of range"))
                }
            }
        }
        deserializer.deserialize_any(TimeVisitor)
    }
}

impl PartialSchema for EpochMillis {
    fn schema() -> RefOr<Schema> {
        string_or_integer(
            "An ISO 8601 time, or milliseconds since the Unix epoch",
            Some(KnownFormat::DateTime),
        )
    }
}

impl ToSchema for EpochMillis {}

/// `POST /apiKeyLogin`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct ApiKeyLogin {
    pub platform: String,
    #[schema(value_type = String)]
    pub api_key: SecretString,
    pub hostname: String,
    pub additional_info: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
pub(super) enum WireDirection {
    Inbound,
    Outbound,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireParty {
    pub phone_number: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub(super) struct Recording {
    pub link: Option<String>,
}

/// One of `logInfo.legs`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireLeg {
    pub leg_type: Option<String>,
    pub direction: WireDirection,
    pub start_time: EpochMillis,
    /// Seconds.
    #[serde(default)]
    pub duration: u32,
    #[serde(default)]
    pub from: WireParty,
    #[serde(default)]
    pub to: WireParty,
}

/// `logInfo`: the RingCentral call-log record.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct LogInfo {
    pub id: Option<Id>,
    pub session_id: Id,
    pub telephony_session_id: Option<String>,
    pub direction: WireDirection,
    pub start_time: EpochMillis,
    /// Seconds.
    #[serde(default)]
    pub duration: u32,
    #[serde(default)]
    pub result: String,
    #[serde(default)]
    pub from: WireParty,
    #[serde(default)]
    pub to: WireParty,
    pub recording: Option<Recording>,
    pub custom_subject: Option<String>,
    #[serde(default)]
    pub legs: Vec<WireLeg>,
}

/// `POST /callLog`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateCallLog {
    pub log_info: LogInfo,
    pub contact_id: Option<Id>,
    pub contact_type: Option<String>,
    pub contact_name: Option<String>,
    pub note: Option<String>,
    pub ai_note: Option<String>,
    pub transcript: Option<String>,
    #[schema(value_type = Option<String>)]
    pub recording_download_link: Option<SecretString>,
    pub additional_submission: Option<serde_json::Value>,
}

/// `POST /contact`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateContact {
    pub phone_number: String,
    pub new_contact_name: String,
    pub new_contact_type: Option<String>,
}

impl CreateContact {
    pub(super) fn validated(mut self) -> Result<Self, ApiError> {
        self.phone_number = self.phone_number.trim().to_owned();
        check_phone_number("phoneNumber", &self.phone_number)?;
        self.new_contact_name = self.new_contact_name.trim().to_owned();
        if self.new_contact_name.is_empty() {
            return Err(ApiError::bad_request("newContactName is empty"));
        }
        if self.new_contact_name.chars().count() > MAX_NAME_LEN {
            return Err(ApiError::bad_request(format!(
                "newContactName is longer than {MAX_NAME_LEN} characters"
            )));
        }
        self.new_contact_type = non_empty(self.new_contact_type);
        Ok(self)
    }
}

/// `PUT /callDisposition`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct CallDisposition {
    pub session_id: Id,
    #[schema(value_type = Object)]
    pub dispositions: serde_json::Map<String, serde_json::Value>,
}

impl CallDisposition {
    /// The session id and the dispositions as a JSON string.
    pub(super) fn into_parts(self) -> Result<(String, String), ApiError> {
        check_session_id("sessionId", &self.session_id.0)?;
        Ok((
            self.session_id.0,
            serde_json::Value::Object(self.dispositions).to_string(),
        ))
    }
}

/// Longest contact name accepted.
const MAX_NAME_LEN: usize = 256;

/// A phone number: 1 to 32 characters, digits with `+`, spaces, dashes,
/// dots and parentheses, at least one digit.
pub(super) fn check_phone_number(field: &str, number: &str) -> Result<(), ApiError> {
    let allowed = |c: char| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '.' | '(' | ')');
    if number.is_empty()
        || number.len() > 32
        || !number.chars().all(allowed)
        || !number.chars().any(|c| c.is_ascii_digit())
    {
        return Err(ApiError::bad_request(format!(
            "{field} must be a phone number (digits, +, spaces, dashes; at most 32 characters)"
        )));
    }
    Ok(())
}

/// `PATCH /callLog`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct UpdateCallLog {
    pub session_id: Id,
    pub subject: Option<String>,
    pub note: Option<String>,
    pub recording_link: Option<String>,
    #[schema(value_type = Option<String>)]
    pub recording_download_link: Option<SecretString>,
    pub ai_note: Option<String>,
    pub transcript: Option<String>,
    pub start_time: Option<EpochMillis>,
    pub duration: Option<u32>,
    pub result: Option<String>,
    pub additional_submission: Option<serde_json::Value>,
}

pub(super) fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

pub(super) fn non_empty_secret(value: Option<SecretString>) -> Option<SecretString> {
    use secrecy::ExposeSecret;
    value.filter(|v| !v.expose_secret().trim().is_empty())
}

impl From<WireDirection> for Direction {
    fn from(direction: WireDirection) -> Self {
        match direction {
            WireDirection::Inbound => Self::Inbound,
            WireDirection::Outbound => Self::Outbound,
        }
    }
}

/// A free-form JSON value passed to adapters as a string; `null` is absent.
pub(super) fn json_string(value: Option<serde_json::Value>) -> Option<String> {
    value.filter(|v| !v.is_null()).map(|v| v.to_string())
}

/// Ids are stored as text; no store keeps a NUL character in text.
pub(super) fn check_no_nul(field: &str, value: &str) -> Result<(), ApiError> {
    if value.contains('\0') {
        return Err(ApiError::bad_request(format!(
            "{field} contains a NUL character"
        )));
    }
    Ok(())
}

fn check_session_id(field: &str, id: &str) -> Result<(), ApiError> {
    if id.is_empty() {
        return Err(ApiError::bad_request(format!("{field} is empty")));
    }
    check_no_nul(field, id)?;
    if id.len() > MAX_SESSION_ID_LEN {
        return Err(ApiError::bad_request(format!(
            "{field} is longer than {MAX_SESSION_ID_LEN} characters"
        )));
    }
    Ok(())
}

impl CreateCallLog {
    pub(super) fn into_new_call_log(self) -> Result<NewCallLog, ApiError> {
        let info = self.log_info;
        check_session_id("logInfo.sessionId", &info.session_id.0)?;
        if let Some(id) = &info.telephony_session_id {
            check_no_nul("logInfo.telephonySessionId", id)?;
        }
        if let Some(id) = &self.contact_id {
            check_no_nul("contactId", &id.0)?;
        }
        let party = |p: WireParty| Party {
            phone_number: non_empty(p.phone_number),
            name: non_empty(p.name),
        };
        let call = Call {
            id: info.id.map(|id| id.0).unwrap_or_default(),
            session_id: info.session_id.0,
            telephony_session_id: non_empty(info.telephony_session_id),
            direction: info.direction.into(),
            start_time: info.start_time.0,
            duration_seconds: info.duration,
            result: info.result,
            from: party(info.from),
            to: party(info.to),
            recording_link: non_empty(info.recording.and_then(|r| r.link)),
            recording_download_link: non_empty_secret(self.recording_download_link),
            custom_subject: non_empty(info.custom_subject),
            legs: info
                .legs
                .into_iter()
                .map(|leg| CallLeg {
                    leg_type: non_empty(leg.leg_type),
                    direction: leg.direction.into(),
                    start_time: leg.start_time.0,
                    duration_seconds: leg.duration,
                    from: party(leg.from),
                    to: party(leg.to),
                })
                .collect(),
        };
        let contact = self
            .contact_id
            .filter(|id| !id.0.is_empty())
            .map(|id| ContactRef {
                id: id.0,
                contact_type: non_empty(self.contact_type),
                name: non_empty(self.contact_name),
            });
        Ok(NewCallLog {
            call,
            contact,
            note: self.note,
            ai_note: non_empty(self.ai_note),
            transcript: non_empty(self.transcript),
            additional_submission: json_string(self.additional_submission),
        })
    }
}

/// App Connect's client may send `recordingLink` URL-encoded
/// (`https%3A%2F%2F…`); decode it when it is.
fn decode_recording_link(link: String) -> String {
    let lower = link.to_ascii_lowercase();
    if !(lower.contains("%3a") || lower.contains("%2f")) {
        return link;
    }
    percent_encoding::percent_decode_str(&link)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .unwrap_or(link)
}

impl UpdateCallLog {
    pub(super) fn into_update(self) -> Result<CallLogUpdate, ApiError> {
        check_session_id("sessionId", &self.session_id.0)?;
        Ok(CallLogUpdate {
            session_id: self.session_id.0,
            subject: self.subject,
            note: self.note,
            recording_link: self.recording_link.map(decode_recording_link),
            recording_download_link: non_empty_secret(self.recording_download_link),
            ai_note: non_empty(self.ai_note),
            transcript: non_empty(self.transcript),
            start_time: self.start_time.map(|t| t.0),
            duration_seconds: self.duration,
            result: self.result,
            additional_submission: json_string(self.additional_submission),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::extract::parse_json;

    const EXAMPLE: &str = include_str!("../../../tests/data/ringcentral-call-log.json");

    #[test]
    fn parses_the_reference_record() {
        let info: LogInfo = parse_json(EXAMPLE.as_bytes()).expect("reference record parses");
        assert_eq!(info.session_id.0, "4503991004");
        assert_eq!(info.start_time.0, 1_536_672_249_000);
        assert_eq!(info.duration, 7);
        assert_eq!(info.from.phone_number.as_deref(), Some("+16504445566"));
        assert_eq!(
            info.recording.and_then(|r| r.link).as_deref(),
            Some("https://app.ringcentral.com/recordings/1001")
        );
    }

    #[test]
    fn times_arrive_as_iso_or_millis() {
        let t: EpochMillis = parse_json(b"1536672249000").expect("millis");
        assert_eq!(t.0, 1_536_672_249_000);
        let t: EpochMillis = parse_json(br#""2018-09-11T13:24:09.000Z""#).expect("iso");
        assert_eq!(t.0, 1_536_672_249_000);
        assert!(parse_json::<EpochMillis>(br#""yesterday""#).is_err());
        assert!(parse_json::<EpochMillis>(b"true").is_err());
    }

    #[test]
    fn ids_arrive_as_strings_or_numbers() {
        assert_eq!(parse_json::<Id>(b"42").expect("number").0, "42");
        assert_eq!(parse_json::<Id>(br#"" 42 ""#).expect("string").0, "42");
        assert!(parse_json::<Id>(b"4.2").is_err());
        assert!(parse_json::<Id>(b"{}").is_err());
    }

    #[test]
    fn recording_links_are_decoded_only_when_encoded() {
        assert_eq!(
            decode_recording_link("https%3A%2F%2Fr.example%2F1%3Fa%3Db".into()),
            "https://r.example/1?a=b"
        );
        assert_eq!(
            decode_recording_link("https://r.example/a%20b".into()),
            "https://r.example/a%20b"
        );
    }
}
