//! The Pipedrive adapter: logs calls as Pipedrive "call" activities.
//!
//! - Sign-in: OAuth, run by the host (this adapter never sees the client
//!   secret or the refresh token; it gets `Authorization: Bearer …` and, as
//!   its hostname, the token response's `api_domain`), or an API token sent
//!   as `x-api-token` to the company domain the user entered.
//! - Contacts: persons, found by phone (`/api/v2/persons/search`, as given
//!   and in national form) and created with `POST /v1/persons`.
//! - Call logs: `POST /api/v2/activities` of the company's call activity
//!   type (looked up once per company and kept in key-value storage), done,
//!   with the person as primary participant, their organisation, the deal
//!   when one was chosen, and an HTML note ([`note`]).
//! - Contacts by name: `/api/v2/persons/search` over names.
//! - Message logs: one activity per conversation-day ([`messages`]).

mod api;
pub mod messages;
pub mod note;
pub mod phone;

use api::{Api, encode_query, id_value, numeric_id};
use serde_json::{Map, Value, json};
use switchboard_adapter::{
    Adapter, AdapterError, AdapterManifest, AuthType, CallLogCreated, CallLogDetails,
    CallLogUpdated, Contact, CreateCallLogRequest, CreateContactRequest, CreateMessageLogRequest,
    FindContactByNameRequest, FindContactRequest, GetCallLogRequest, LoginRequest,
    MessageLogCreated, OauthConfig, Operation, UpdateCallLogRequest, UpdateMessageLogRequest,
    UpsertCallDispositionRequest, UserInfo, export, kv,
};

/// The platform name this adapter serves.
pub const PLATFORM: &str = "pipedrive";

/// The adapter.
#[derive(Debug)]
pub struct Pipedrive;

impl Adapter for Pipedrive {
    fn manifest() -> AdapterManifest {
        AdapterManifest {
            platform: PLATFORM.into(),
            display_name: "Pipedrive".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            auth: AuthType::Oauth(OauthConfig {
                authorize_url: "https://oauth.pipedrive.com/oauth/authorize".into(),
                token_url: "https://oauth.pipedrive.com/oauth/token".into(),
                scopes: [
                    "base",
                    "contacts:full",
                    "activities:full",
                    "deals:read",
                    "leads:read",
                ]
                .map(String::from)
                .to_vec(),
            }),
            allowed_hosts: vec!["*.pipedrive.com".into(), "oauth.pipedrive.com".into()],
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
        let api = Api::new(&request.hostname, &request.credential);
        let me = api.get("/v1/users/me")?;
        let id = id_value(&me["id"])
            .ok_or_else(|| AdapterError::Internal("/v1/users/me has no user id".into()))?;
        Ok(UserInfo {
            id: id.to_string(),
            name: text(&me["name"]),
            timezone: me["timezone_name"].as_str().map(str::to_owned),
            platform_additional_info: Some(
                json!({ "companyId": me["company_id"], "companyDomain": me["company_domain"] })
                    .to_string(),
            ),
        })
    }

    fn find_contact(request: FindContactRequest) -> Result<Vec<Contact>, AdapterError> {
        let api = Api::new(&request.user.hostname, &request.user.credential);
        let mut found: Vec<Contact> = Vec::new();
        for term in phone::search_terms(&request.phone_number) {
            let path = format!(
                "/api/v2/persons/search?term={}&fields=phone&limit=50",
                encode_query(&term)
            );
            add_persons(&mut found, &api.get(&path)?, Some(&term));
        }
        Ok(found)
    }

    fn find_contact_by_name(
        request: FindContactByNameRequest,
    ) -> Result<Vec<Contact>, AdapterError> {
        let api = Api::new(&request.user.hostname, &request.user.credential);
        let path = format!(
            "/api/v2/persons/search?term={}&fields=name&limit=50",
            encode_query(&request.name)
        );
        let mut found = Vec::new();
        add_persons(&mut found, &api.get(&path)?, None);
        Ok(found)
    }

    fn create_contact(request: CreateContactRequest) -> Result<Contact, AdapterError> {
        let api = Api::new(&request.user.hostname, &request.user.credential);
        let body = json!({
            "name": request.name,
            "phone": [{ "value": request.phone_number, "primary": true, "label": "work" }],
        });
        let person = api.post("/v1/persons", &body)?;
        let id = id_value(&person["id"])
            .ok_or_else(|| AdapterError::Internal("POST /v1/persons returned no id".into()))?;
        Ok(Contact {
            id: id.to_string(),
            name: text(&person["name"]),
            phone: Some(request.phone_number),
            organization: None,
            contact_type: Some("person".into()),
            additional_info: None,
        })
    }

    fn create_call_log(request: CreateCallLogRequest) -> Result<CallLogCreated, AdapterError> {
        let user = &request.user;
        let api = Api::new(&user.hostname, &user.credential);
        let person_id = numeric_id("contactId", &request.contact.id)?;
        let owner_id = numeric_id("user id", &user.user_id)?;
        let person = api.get(&format!("/api/v2/persons/{person_id}"))?;
        let activity_type = call_activity_type(&api)?;

        let call = &request.call;
        let contact_name = request
            .contact
            .name
            .clone()
            .or_else(|| person["name"].as_str().map(str::to_owned))
            .unwrap_or_else(|| {
                call.contact_party()
                    .phone_number
                    .clone()
                    .unwrap_or_default()
            });
        let subject = call.subject(&contact_name);
        let (due_date, due_time) = utc_date_time(call.start_time);
        let mut body = Map::new();
        body.insert("subject".into(), json!(subject));
        body.insert("type".into(), json!(activity_type));
        body.insert("owner_id".into(), json!(owner_id));
        body.insert(
            "participants".into(),
            json!([{ "person_id": person_id, "primary": true }]),
        );
        if let Some(org_id) = id_value(&person["org_id"]) {
            body.insert("org_id".into(), json!(org_id));
        }
        if let Some(deal_id) = submitted_deal(request.additional_submission.as_deref()) {
            body.insert("deal_id".into(), json!(deal_id));
        }
        body.insert("done".into(), json!(true));
        body.insert("due_date".into(), json!(due_date));
        body.insert("due_time".into(), json!(due_time));
        body.insert(
            "duration".into(),
            json!(hours_minutes(call.duration_seconds)),
        );
        let mut html = note::compose(
            request.note.as_deref(),
            &details(
                call.start_time,
                call.duration_seconds,
                &call.result,
                call.recording_link.as_deref(),
            ),
        );
        for (head, text) in [
            (note::AI_NOTE_HEAD, &request.ai_note),
            (note::TRANSCRIPT_HEAD, &request.transcript),
        ] {
            if let Some(text) = text {
                html = note::set_section(&html, head, text, note::Place::Last);
            }
        }
        body.insert("note".into(), json!(html));
        let activity = api.post("/api/v2/activities", &Value::Object(body))?;
        let id = id_value(&activity["id"]).ok_or_else(|| {
            AdapterError::Internal("POST /api/v2/activities returned no id".into())
        })?;
        Ok(CallLogCreated {
            log_id: id.to_string(),
        })
    }

    fn get_call_log(request: GetCallLogRequest) -> Result<CallLogDetails, AdapterError> {
        let api = Api::new(&request.user.hostname, &request.user.credential);
        let id = numeric_id("log id", &request.log_id)?;
        let activity = api.get(&format!("/api/v2/activities/{id}"))?;
        let body = text(&activity["note"]);
        let primary = activity["participants"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["primary"] == true)
            .and_then(|p| id_value(&p["person_id"]));
        // The contact's name is a courtesy: a person deleted since is no error.
        let contact_name = primary
            .and_then(|pid| api.get(&format!("/api/v2/persons/{pid}")).ok())
            .and_then(|person| person["name"].as_str().map(str::to_owned));
        let mut dispositions = Map::new();
        if let Some(deal) = id_value(&activity["deal_id"]) {
            dispositions.insert("deals".into(), json!(deal));
        }
        if let Some(lead) = activity["lead_id"].as_str() {
            dispositions.insert("leads".into(), json!(lead));
        }
        Ok(CallLogDetails {
            subject: text(&activity["subject"]),
            note: note::agent_note(&body),
            full_body: Some(body),
            contact_name,
            dispositions: (!dispositions.is_empty())
                .then(|| Value::Object(dispositions).to_string()),
        })
    }

    fn update_call_log(request: UpdateCallLogRequest) -> Result<CallLogUpdated, AdapterError> {
        let api = Api::new(&request.user.hostname, &request.user.credential);
        let id = numeric_id("log id", &request.log_id)?;
        let activity = api.get(&format!("/api/v2/activities/{id}"))?;
        let mut html = text(&activity["note"]);
        let mut body = Map::new();
        if let Some(agent_note) = &request.note {
            html = note::set_agent_note(&html, agent_note);
        }
        if let Some(link) = &request.recording_link {
            html = note::set_entry(
                &html,
                note::RECORDING,
                Some(link).filter(|l| !l.is_empty()).map(String::as_str),
            );
        }
        for (head, text) in [
            (note::AI_NOTE_HEAD, &request.ai_note),
            (note::TRANSCRIPT_HEAD, &request.transcript),
        ] {
            if let Some(text) = text {
                html = note::set_section(&html, head, text, note::Place::Last);
            }
        }
        if let Some(seconds) = request.duration_seconds {
            html = note::set_entry(&html, note::DURATION, Some(&hours_minutes_seconds(seconds)));
            body.insert("duration".into(), json!(hours_minutes(seconds)));
        }
        if let Some(result) = &request.result {
            html = note::set_entry(&html, note::RESULT, Some(result));
        }
        if let Some(start) = request.start_time {
            html = note::set_entry(&html, note::DATE_TIME, Some(&display_time(start)));
            let (due_date, due_time) = utc_date_time(start);
            body.insert("due_date".into(), json!(due_date));
            body.insert("due_time".into(), json!(due_time));
        }
        if let Some(subject) = request.subject.filter(|s| !s.trim().is_empty()) {
            body.insert("subject".into(), json!(subject));
        }
        body.insert("note".into(), json!(html));
        api.patch(&format!("/api/v2/activities/{id}"), &Value::Object(body))?;
        Ok(CallLogUpdated { updated_note: html })
    }

    fn create_message_log(
        request: CreateMessageLogRequest,
    ) -> Result<MessageLogCreated, AdapterError> {
        messages::create(request)
    }

    fn update_message_log(request: UpdateMessageLogRequest) -> Result<(), AdapterError> {
        messages::update(request)
    }

    fn upsert_call_disposition(request: UpsertCallDispositionRequest) -> Result<(), AdapterError> {
        let api = Api::new(&request.user.hostname, &request.user.credential);
        let id = numeric_id("log id", &request.log_id)?;
        let dispositions: Value = serde_json::from_str(&request.dispositions)
            .map_err(|e| AdapterError::InvalidInput(format!("dispositions are not JSON: {e}")))?;
        let mut body = Map::new();
        match dispositions.get("deals") {
            None => {}
            Some(Value::Null) => {
                body.insert("deal_id".into(), Value::Null);
            }
            Some(deal) => {
                let deal = id_value(deal).ok_or_else(|| {
                    AdapterError::InvalidInput(format!("deals {deal} is not a Pipedrive deal id"))
                })?;
                body.insert("deal_id".into(), json!(deal));
            }
        }
        match dispositions.get("leads") {
            None => {}
            Some(Value::Null) => {
                body.insert("lead_id".into(), Value::Null);
            }
            Some(Value::String(lead)) => {
                body.insert("lead_id".into(), json!(lead));
            }
            Some(other) => {
                return Err(AdapterError::InvalidInput(format!(
                    "leads {other} is not a Pipedrive lead id"
                )));
            }
        }
        if body.is_empty() {
            return Ok(());
        }
        api.patch(&format!("/api/v2/activities/{id}"), &Value::Object(body))?;
        Ok(())
    }
}

export!(Pipedrive);

/// The persons of a `/api/v2/persons/search` answer not in `found` yet.
/// `term`: the number searched for, the phone to show when a person has none.
fn add_persons(found: &mut Vec<Contact>, data: &Value, term: Option<&str>) {
    for item in data["items"].as_array().into_iter().flatten() {
        let person = &item["item"];
        let Some(id) = id_value(&person["id"]) else {
            continue;
        };
        let id = id.to_string();
        if found.iter().any(|c| c.id == id) {
            continue;
        }
        found.push(Contact {
            id,
            name: text(&person["name"]),
            phone: first_phone(&person["phones"]).or_else(|| term.map(str::to_owned)),
            organization: person["organization"]["name"].as_str().map(str::to_owned),
            contact_type: Some("person".into()),
            additional_info: None,
        });
    }
}

/// The company's call activity type.
fn call_activity_type(api: &Api<'_>) -> Result<String, AdapterError> {
    activity_type(api, "call", "call")
}

/// The company's activity type whose `key_string` (or icon) is `wanted`,
/// else `fallback`; from key-value storage or, the first time, from
/// `GET /v1/activityTypes`. Cached per company: companies may rename or
/// replace their types.
pub(crate) fn activity_type(
    api: &Api<'_>,
    wanted: &str,
    fallback: &str,
) -> Result<String, AdapterError> {
    let key = match wanted {
        // The key calls have always been cached under.
        "call" => format!("activity-type/{}", api.host()),
        _ => format!("activity-type/{wanted}/{}", api.host()),
    };
    if let Some(cached) = kv::get(&key)? {
        return Ok(String::from_utf8_lossy(&cached).into_owned());
    }
    let types = api.get("/v1/activityTypes")?;
    let all = types.as_array().map(Vec::as_slice).unwrap_or_default();
    let active = |t: &&Value| t["active_flag"] != false;
    let chosen = all
        .iter()
        .filter(active)
        .find(|t| t["key_string"] == wanted)
        .or_else(|| all.iter().filter(active).find(|t| t["icon_key"] == wanted))
        .and_then(|t| t["key_string"].as_str())
        .unwrap_or(fallback)
        .to_owned();
    kv::set(&key, chosen.as_bytes())?;
    Ok(chosen)
}

/// `additionalSubmission.deals`, when the user picked a deal.
fn submitted_deal(additional_submission: Option<&str>) -> Option<u64> {
    let submission: Value = serde_json::from_str(additional_submission?).ok()?;
    id_value(&submission["deals"])
}

/// The call-details entries of a new note.
fn details(
    start: i64,
    seconds: u32,
    result: &str,
    recording: Option<&str>,
) -> Vec<(&'static str, String)> {
    let mut entries = vec![
        (note::DATE_TIME, display_time(start)),
        (note::DURATION, hours_minutes_seconds(seconds)),
        (note::RESULT, result.to_owned()),
    ];
    if let Some(link) = recording {
        entries.push((note::RECORDING, link.to_owned()));
    }
    entries
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

fn first_phone(phones: &Value) -> Option<String> {
    let first = phones.as_array()?.first()?;
    first
        .as_str()
        .or_else(|| first["value"].as_str())
        .map(str::to_owned)
}

/// Pipedrive's `HH:MM` duration. A started minute counts: 7 seconds is `00:01`.
pub fn hours_minutes(seconds: u32) -> String {
    let minutes = seconds.div_ceil(60);
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// `HH:MM:SS`, for the note.
pub fn hours_minutes_seconds(seconds: u32) -> String {
    format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60
    )
}

/// `due_date` (`YYYY-MM-DD`) and `due_time` (`HH:MM`) in UTC.
pub fn utc_date_time(epoch_ms: i64) -> (String, String) {
    let (y, m, d, hh, mm, _) = civil(epoch_ms);
    (format!("{y:04}-{m:02}-{d:02}"), format!("{hh:02}:{mm:02}"))
}

/// `YYYY-MM-DD HH:MM:SS UTC`, for the note.
pub fn display_time(epoch_ms: i64) -> String {
    let (y, m, d, hh, mm, ss) = civil(epoch_ms);
    format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}:{ss:02} UTC")
}

/// Calendar date and time of day (UTC) of epoch milliseconds
/// (Howard Hinnant's `civil_from_days`).
fn civil(epoch_ms: i64) -> (i64, u32, u32, u32, u32, u32) {
    let secs = epoch_ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400) as u32);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations_in_pipedrive_formats() {
        assert_eq!(
            utc_date_time(1_536_672_249_000),
            ("2018-09-11".to_owned(), "13:24".to_owned())
        );
        assert_eq!(display_time(1_536_672_249_000), "2018-09-11 13:24:09 UTC");
        assert_eq!(
            utc_date_time(0),
            ("1970-01-01".to_owned(), "00:00".to_owned())
        );
        assert_eq!(utc_date_time(951_782_400_000).0, "2000-02-29");
        assert_eq!(hours_minutes(0), "00:00");
        assert_eq!(hours_minutes(7), "00:01");
        assert_eq!(hours_minutes(65), "00:02");
        assert_eq!(hours_minutes(3600), "01:00");
        assert_eq!(hours_minutes_seconds(3725), "01:02:05");
    }

    #[test]
    fn deals_arrive_as_numbers_or_strings() {
        assert_eq!(submitted_deal(Some(r#"{"deals": 12}"#)), Some(12));
        assert_eq!(submitted_deal(Some(r#"{"deals": "12"}"#)), Some(12));
        assert_eq!(
            submitted_deal(Some(r#"{"isAssociatedToDeal": false}"#)),
            None
        );
        assert_eq!(submitted_deal(None), None);
    }
}
