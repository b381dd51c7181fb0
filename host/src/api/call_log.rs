//! `/callLog`: create (POST), find (GET) and update (PATCH).

use super::AppState;
use super::error::ApiError;
use super::extract::{AuthUser, JsonBody};
use super::openapi::{CallLogFindReply, CallLogReply, CallLogUpdateReply, Failure};
use super::reply::{ReturnMessage, unsuccessful};
use super::wire::{self, CallDisposition, CreateCallLog, UpdateCallLog};
use crate::service::{CreateOutcome, UpdateOutcome};
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

/// Most session ids one `GET /callLog` may ask for.
pub(super) const MAX_SESSION_IDS: usize = 100;

/// `POST /callLog`
#[utoipa::path(
    post,
    path = "/callLog",
    request_body = CreateCallLog,
    responses(
        (status = 200, description = "Done, or App Connect's `successful: false` with an `errorCode`", body = CallLogReply),
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
    JsonBody(body): JsonBody<CreateCallLog>,
) -> Result<Json<Value>, ApiError> {
    let log = body.into_new_call_log()?;
    Ok(match state.service.create_call_log(&user, log).await? {
        CreateOutcome::Logged { log_id } => Json(json!({
            "successful": true,
            "logId": log_id,
            "returnMessage": ReturnMessage::success("Call logged"),
        })),
        CreateOutcome::Existing { session_id } => Json(unsuccessful(format!(
            "Existing log for session {session_id}"
        ))),
        CreateOutcome::InProgress { session_id } => {
            return Err(ApiError::new(
                StatusCode::OK,
                "LOG_IN_PROGRESS",
                format!("The call of session {session_id} is being logged; try again shortly"),
            ));
        }
        CreateOutcome::ContactNotFound { number } => Json(unsuccessful(format!(
            "Contact not found for number {number}"
        ))),
    })
}

/// The parsed query of `GET /callLog`.
#[derive(Debug, PartialEq, Eq)]
struct FindQuery {
    session_ids: Vec<String>,
    require_details: bool,
}

fn parse_find_query(query: &str) -> Result<FindQuery, ApiError> {
    let mut session_ids = None;
    let mut require_details = None;
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        let slot = match name.as_ref() {
            "sessionIds" => &mut session_ids,
            "requireDetails" => &mut require_details,
            _ => continue,
        };
        if slot.replace(value.into_owned()).is_some() {
            return Err(ApiError::bad_request(format!(
                "{name} is given more than once"
            )));
        }
    }
    let require_details = match require_details.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "requireDetails must be true or false, not {other:?}"
            )));
        }
    };
    let raw = session_ids.ok_or_else(|| ApiError::bad_request("sessionIds is required"))?;
    let mut ids: Vec<String> = Vec::new();
    for id in raw.split(',').map(str::trim).filter(|id| !id.is_empty()) {
        if id.len() > wire::MAX_SESSION_ID_LEN {
            return Err(ApiError::bad_request(format!(
                "session ids must be at most {} characters",
                wire::MAX_SESSION_ID_LEN
            )));
        }
        wire::check_no_nul("sessionIds", id)?;
        if !ids.iter().any(|seen| seen == id) {
            ids.push(id.to_owned());
        }
        if ids.len() > MAX_SESSION_IDS {
            return Err(ApiError::bad_request(format!(
                "at most {MAX_SESSION_IDS} sessionIds per request"
            )));
        }
    }
    if ids.is_empty() {
        return Err(ApiError::bad_request("sessionIds has no session id"));
    }
    Ok(FindQuery {
        session_ids: ids,
        require_details,
    })
}

/// `GET /callLog?sessionIds=a,b[&requireDetails=true]`
#[utoipa::path(
    get,
    path = "/callLog",
    params(("sessionIds" = String, Query, description = "Up to 100 comma-separated session ids"), ("requireDetails" = Option<bool>, Query, description = "Read each logged call back from the CRM")),
    responses(
        (status = 200, description = "Done, or App Connect's `successful: false` with an `errorCode`", body = CallLogFindReply),
        (status = 400, description = "The request is malformed; the message names the field", body = Failure),
        (status = 401, description = "No valid jwtToken", body = Failure),
        (status = 413, description = "The body is too large", body = Failure),
        (status = 503, description = "The database cannot be reached", body = Failure),
    ),
    security(("jwtQuery" = []), ("jwtBearer" = []))
)]
pub(super) async fn find(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let query = parse_find_query(query.as_deref().unwrap_or_default())?;
    let lookups = state
        .service
        .find_call_logs(&user, &query.session_ids, query.require_details)
        .await?;
    let logs: Vec<Value> = lookups
        .into_iter()
        .map(|lookup| {
            let Some(log_id) = lookup.log_id else {
                return json!({ "sessionId": lookup.session_id, "matched": false });
            };
            let mut log =
                json!({ "sessionId": lookup.session_id, "matched": true, "logId": log_id });
            if let Some(details) = lookup.details {
                let mut data = json!({ "subject": details.subject, "note": details.note });
                if let Some(body) = details.full_body {
                    data["fullBody"] = body.into();
                }
                if let Some(name) = details.contact_name {
                    data["contactName"] = name.into();
                }
                if let Some(dispositions) = details.dispositions {
                    data["dispositions"] =
                        serde_json::from_str(&dispositions).unwrap_or(Value::String(dispositions));
                }
                log["logData"] = data;
            }
            log
        })
        .collect();
    Ok(Json(json!({
        "successful": true,
        "logs": logs,
        "returnMessage": ReturnMessage::success("Call logs fetched").ttl(1000),
    })))
}

/// `PATCH /callLog`
#[utoipa::path(
    patch,
    path = "/callLog",
    request_body = UpdateCallLog,
    responses(
        (status = 200, description = "Done, or App Connect's `successful: false` with an `errorCode`", body = CallLogUpdateReply),
        (status = 400, description = "The request is malformed; the message names the field", body = Failure),
        (status = 401, description = "No valid jwtToken", body = Failure),
        (status = 413, description = "The body is too large", body = Failure),
        (status = 503, description = "The database cannot be reached", body = Failure),
    ),
    security(("jwtQuery" = []), ("jwtBearer" = []))
)]
pub(super) async fn update(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    JsonBody(body): JsonBody<UpdateCallLog>,
) -> Result<Json<Value>, ApiError> {
    let update = body.into_update()?;
    Ok(match state.service.update_call_log(&user, update).await? {
        UpdateOutcome::Updated {
            log_id,
            updated_note,
        } => Json(json!({
            "successful": true,
            "logId": log_id,
            "updatedNote": updated_note,
            "returnMessage": ReturnMessage::success("Call log updated"),
        })),
        UpdateOutcome::NotFound { session_id } => Json(unsuccessful(format!(
            "No call log found for session {session_id}"
        ))),
    })
}

/// `PUT /callDisposition`
#[utoipa::path(
    put,
    path = "/callDisposition",
    request_body = CallDisposition,
    responses(
        (status = 200, description = "Done, or App Connect's `successful: false` with an `errorCode`", body = CallLogReply),
        (status = 400, description = "The request is malformed; the message names the field", body = Failure),
        (status = 401, description = "No valid jwtToken", body = Failure),
        (status = 413, description = "The body is too large", body = Failure),
        (status = 503, description = "The database cannot be reached", body = Failure),
    ),
    security(("jwtQuery" = []), ("jwtBearer" = []))
)]
pub(super) async fn disposition(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    JsonBody(body): JsonBody<CallDisposition>,
) -> Result<Json<Value>, ApiError> {
    let (session_id, dispositions) = body.into_parts()?;
    let updated = state
        .service
        .upsert_call_disposition(&user, &session_id, dispositions)
        .await?;
    Ok(match updated {
        Some(log_id) => Json(json!({
            "successful": true,
            "logId": log_id,
            "returnMessage": ReturnMessage::success("Call disposition updated"),
        })),
        None => Json(unsuccessful(format!(
            "No call log found for session {session_id}"
        ))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_trimmed_deduplicated_and_ordered() {
        let q = parse_find_query("jwtToken=x&sessionIds=%20b%20,a,,b,c&requireDetails=true")
            .expect("parses");
        assert_eq!(q.session_ids, ["b", "a", "c"]);
        assert!(q.require_details);
    }

    #[test]
    fn bad_queries_say_what_is_wrong() {
        let msg = |q: &str| parse_find_query(q).expect_err(q).message;
        assert!(msg("").contains("sessionIds is required"));
        assert!(msg("sessionIds=,,").contains("no session id"));
        assert!(msg("sessionIds=a&sessionIds=b").contains("more than once"));
        assert!(msg("sessionIds=a&requireDetails=yes").contains("requireDetails"));
        let many: Vec<String> = (0..=MAX_SESSION_IDS).map(|i| i.to_string()).collect();
        assert!(msg(&format!("sessionIds={}", many.join(","))).contains("at most 100"));
        let exactly: Vec<String> = (0..MAX_SESSION_IDS).map(|i| i.to_string()).collect();
        assert!(parse_find_query(&format!("sessionIds={}", exactly.join(","))).is_ok());
    }
}
