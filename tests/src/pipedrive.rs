//! A mock Pipedrive: an axum server on 127.0.0.1 with Pipedrive's real
//! paths, status codes and body shapes, enough for the Pipedrive adapter and
//! the host's OAuth flow.
//!
//! - API answers are `{"success": true, "data": …}`; errors are
//!   `{"success": false, "error": "…", "error_info": "…"}`.
//! - `/api/v2/activities` validates types strictly, as Pipedrive v2 does:
//!   ids are numbers, `done` is a boolean, dates and times are formatted.
//! - `POST /oauth/token` speaks RFC 6749 (`client_secret_basic`), answering
//!   `invalid_grant` for bad codes and revoked refresh tokens.
//! - Every request is recorded, and every TCP connection counted.
//! - Tests script failures ([`MockPipedrive::fail_next`]) and revocations.
//!
//! Point the server at it with `--egress-override *.pipedrive.com=<url>`.

use crate::mock_http::{Journal, journaled};
pub use crate::mock_http::{Misbehaviour, Recorded};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use base64::Engine;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The OAuth client the test servers are configured with.
pub const CLIENT_ID: &str = "switchboard-client-id";
/// Its secret.
pub const CLIENT_SECRET: &str = "switchboard-client-secret-1f2e";
/// The only authorization code the mock accepts.
pub const GOOD_CODE: &str = "good-code";
/// The API token the mock accepts for API-key login.
pub const API_TOKEN: &str = "pd-api-token-7c1a";
/// The mock user's id, as Pipedrive's `/v1/users/me` answers it.
pub const USER_ID: u64 = 123;
/// The `api_domain` token responses carry.
pub const API_DOMAIN: &str = "https://testco.pipedrive.com";

const ERROR_INFO: &str =
    "Please check developers.pipedrive.com for more information about Pipedrive API.";

#[derive(Debug)]
struct State {
    persons: BTreeMap<u64, Value>,
    activities: BTreeMap<u64, Value>,
    next_id: u64,
    access_tokens: HashSet<String>,
    refresh_tokens: HashSet<String>,
    tokens_issued: u64,
    /// `expires_in` of tokens from an authorization code.
    login_expires_in: u64,
    /// How long the token endpoint takes to answer a refresh.
    refresh_delay: Duration,
    /// How long every API request (not the token endpoint) takes to answer.
    api_delay: Duration,
}

/// A running mock Pipedrive.
#[derive(Debug, Clone)]
pub struct MockPipedrive {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    state: Arc<Mutex<State>>,
    journal: Journal,
    connections: Arc<AtomicUsize>,
}

impl MockPipedrive {
    /// Start with two persons who share a number (+1 650 444 5566), one in
    /// an organisation, and a third with another number.
    pub async fn start() -> Self {
        // Room for a burst of connections (the slow-CRM benchmark opens
        // thousands at once); `TcpListener::bind` queues only 1024.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(([127, 0, 0, 1], 0).into()).unwrap();
        let listener = socket.listen(4096).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mut persons = BTreeMap::new();
        let org = json!({"id": 5, "name": "Acme Corp", "address": null});
        for (id, name, phone, org) in [
            (1, "John Smith", "+1 (650) 444-5566", org.clone()),
            (2, "Joan Smith", "650-444-5566", Value::Null),
            (3, "Ann Other", "+44 20 7123 4567", Value::Null),
        ] {
            persons.insert(id, person(id, name, phone, &org));
        }
        let state = Arc::new(Mutex::new(State {
            persons,
            activities: BTreeMap::new(),
            next_id: 1000,
            access_tokens: HashSet::new(),
            refresh_tokens: HashSet::new(),
            tokens_issued: 0,
            login_expires_in: 3600,
            refresh_delay: Duration::ZERO,
            api_delay: Duration::ZERO,
        }));
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        let listener = listener.tap_io(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let (shared, journal) = (state.clone(), Journal::default());
        let app = journaled(journal.clone(), move |request| {
            handle(shared.clone(), request)
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url,
            state,
            journal,
            connections,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Token requests with this `grant_type`.
    pub fn token_requests(&self, grant_type: &str) -> Vec<Recorded> {
        self.requests_to("POST", "/oauth/token")
            .into_iter()
            .filter(|r| r.form("grant_type").as_deref() == Some(grant_type))
            .collect()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// The activities Pipedrive holds now.
    pub fn activities(&self) -> Vec<Value> {
        self.lock().activities.values().cloned().collect()
    }

    /// Access tokens from an authorization code expire after this many seconds.
    pub fn set_login_expires_in(&self, seconds: u64) {
        self.lock().login_expires_in = seconds;
    }

    /// The token endpoint takes this long to answer a refresh.
    pub fn set_refresh_delay(&self, delay: Duration) {
        self.lock().refresh_delay = delay;
    }

    /// Every API request takes this long to answer: a slow CRM.
    pub fn set_api_delay(&self, delay: Duration) {
        self.lock().api_delay = delay;
    }

    /// The access token stops working (as when Pipedrive revokes it early).
    pub fn revoke_access_token(&self, token: &str) {
        self.lock().access_tokens.remove(token);
    }

    /// Every refresh token stops working (the user removed the app).
    pub fn revoke_refresh_tokens(&self) {
        self.lock().refresh_tokens.clear();
    }
}

fn person(id: u64, name: &str, phone: &str, org: &Value) -> Value {
    json!({
        "id": id,
        "name": name,
        "owner_id": USER_ID,
        "org_id": org.get("id").cloned().unwrap_or(Value::Null),
        "organization": org,
        "phones": [{"value": phone, "primary": true, "label": "work"}],
        "emails": [],
        "visible_to": 3,
        "add_time": "2024-01-01T00:00:00Z",
    })
}

fn ok(data: Value) -> Response {
    axum::Json(json!({"success": true, "data": data})).into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    let mut body = json!({"success": false, "error": message, "error_info": ERROR_INFO, "data": null, "additional_data": null});
    if status == StatusCode::UNAUTHORIZED {
        body["errorCode"] = json!(401);
    }
    (status, axum::Json(body)).into_response()
}

fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": code, "error_description": description})),
    )
        .into_response()
}

fn digits(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

async fn handle(state: Arc<Mutex<State>>, recorded: Recorded) -> Response {
    let parsed = recorded.body.clone();
    let api_delay = state.lock().unwrap().api_delay;
    if recorded.path == "/oauth/token" && recorded.method == "POST" {
        return token(&state, &recorded).await;
    }
    // A zero sleep still waits for the timer wheel's next millisecond tick.
    if !api_delay.is_zero() {
        tokio::time::sleep(api_delay).await;
    }
    if !authorized(&state, &recorded) {
        return error(StatusCode::UNAUTHORIZED, "unauthorized access");
    }
    let segments: Vec<&str> = recorded.path.trim_matches('/').split('/').collect();
    let mut s = state.lock().unwrap();
    match (recorded.method.as_str(), segments.as_slice()) {
        ("GET", ["v1", "users", "me"]) => ok(json!({
            "id": USER_ID, "name": "Pat Pipedrive", "email": "pat@testco.example",
            "timezone_name": "Europe/Berlin", "company_id": 77, "company_domain": "testco",
        })),
        ("GET", ["v1", "activityTypes"]) => ok(json!([
            {"id": 1, "order_nr": 1, "name": "Call", "key_string": "call", "icon_key": "call", "active_flag": true, "is_custom_flag": false},
            {"id": 2, "order_nr": 2, "name": "Meeting", "key_string": "meeting", "icon_key": "meeting", "active_flag": true, "is_custom_flag": false},
        ])),
        ("GET", ["api", "v2", "persons", "search"]) => {
            let term = recorded.param("term").unwrap_or_default();
            let by_name = match recorded.param("fields").as_deref() {
                Some("phone") if digits(&term).len() >= 2 => false,
                Some("name") if term.trim().chars().count() >= 2 => true,
                _ => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "Search term must be at least 2 characters long",
                    );
                }
            };
            let wanted = if by_name {
                term.to_lowercase()
            } else {
                digits(&term)
            };
            let items: Vec<Value> = s
                .persons
                .values()
                .filter(|p| {
                    if by_name {
                        return p["name"].as_str().unwrap_or_default().to_lowercase().contains(&wanted);
                    }
                    p["phones"].as_array().into_iter().flatten().any(|ph| {
                        digits(ph["value"].as_str().unwrap_or_default()).contains(&wanted)
                    })
                })
                .map(|p| {
                    json!({"result_score": 0.5, "item": {
                        "id": p["id"], "type": "person", "name": p["name"],
                        "phones": p["phones"].as_array().unwrap().iter().map(|ph| ph["value"].clone()).collect::<Vec<_>>(),
                        "emails": [], "visible_to": 3, "owner": {"id": USER_ID},
                        "organization": p["organization"], "custom_fields": [], "notes": [],
                    }})
                })
                .collect();
            (StatusCode::OK, axum::Json(json!({"success": true, "data": {"items": items}, "additional_data": {"next_cursor": null}}))).into_response()
        }
        ("GET", ["api", "v2", "persons", id]) => {
            match id.parse().ok().and_then(|id: u64| s.persons.get(&id)) {
                Some(p) => ok(p.clone()),
                None => error(StatusCode::NOT_FOUND, "Person not found"),
            }
        }
        ("POST", ["v1", "persons"]) => {
            let Some(name) = parsed["name"].as_str().filter(|n| !n.is_empty()) else {
                return error(StatusCode::BAD_REQUEST, "Name must be given.");
            };
            let phone = parsed["phone"][0]["value"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            s.next_id += 1;
            let id = s.next_id;
            s.persons.insert(id, person(id, name, &phone, &Value::Null));
            ok(
                json!({"id": id, "name": name, "phone": [{"value": phone, "primary": true, "label": "work"}], "org_id": null, "owner_id": {"id": USER_ID}}),
            )
        }
        ("POST", ["api", "v2", "activities"]) => {
            if let Err(problem) = validate_activity(&parsed, true) {
                return error(StatusCode::BAD_REQUEST, &problem);
            }
            s.next_id += 1;
            let id = s.next_id;
            let mut activity = json!({"id": id, "deal_id": null, "lead_id": null, "org_id": null, "add_time": "2024-01-01T00:00:00Z"});
            for (k, v) in parsed.as_object().unwrap() {
                activity[k] = v.clone();
            }
            s.activities.insert(id, activity.clone());
            ok(activity)
        }
        ("GET", ["api", "v2", "activities", id]) => {
            match id.parse().ok().and_then(|id: u64| s.activities.get(&id)) {
                Some(a) => ok(a.clone()),
                None => error(StatusCode::NOT_FOUND, "Activity not found"),
            }
        }
        ("PATCH", ["api", "v2", "activities", id]) => {
            if let Err(problem) = validate_activity(&parsed, false) {
                return error(StatusCode::BAD_REQUEST, &problem);
            }
            let Some(activity) = id
                .parse()
                .ok()
                .and_then(|id: u64| s.activities.get_mut(&id))
            else {
                return error(StatusCode::NOT_FOUND, "Activity not found");
            };
            for (k, v) in parsed.as_object().unwrap() {
                activity[k] = v.clone();
            }
            ok(activity.clone())
        }
        _ => error(StatusCode::NOT_FOUND, "Unknown method ."),
    }
}

fn authorized(state: &Mutex<State>, request: &Recorded) -> bool {
    if request.header("x-api-token") == Some(API_TOKEN) {
        return true;
    }
    let s = state.lock().unwrap();
    request
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|token| s.access_tokens.contains(token))
}

/// Pipedrive v2's strict types.
fn validate_activity(body: &Value, create: bool) -> Result<(), String> {
    let Some(fields) = body.as_object() else {
        return Err("Request body must be a JSON object".into());
    };
    if create && !fields.contains_key("subject") {
        return Err("Validation failed: subject: Parameter 'subject' is required".into());
    }
    let fmt = |s: &str, shape: &str| {
        s.len() == shape.len()
            && s.chars()
                .zip(shape.chars())
                .all(|(c, p)| if p == 'd' { c.is_ascii_digit() } else { c == p })
    };
    for (key, value) in fields {
        let ok = match key.as_str() {
            "subject" | "type" | "note" | "lead_id" => {
                value.is_string() || (key == "lead_id" && value.is_null())
            }
            "owner_id" => value.is_u64(),
            "org_id" | "deal_id" | "person_id" => value.is_u64() || value.is_null(),
            "done" => value.is_boolean(),
            "due_date" => value.as_str().is_some_and(|v| fmt(v, "dddd-dd-dd")),
            "due_time" | "duration" => value.as_str().is_some_and(|v| fmt(v, "dd:dd")),
            "participants" => value.as_array().is_some_and(|ps| {
                ps.iter()
                    .all(|p| p["person_id"].is_u64() && p["primary"].is_boolean())
            }),
            other => return Err(format!("Validation failed: {other}: Unknown parameter")),
        };
        if !ok {
            return Err(format!(
                "Validation failed: {key}: Parameter '{key}' has an invalid type or format"
            ));
        }
    }
    Ok(())
}

async fn token(state: &Mutex<State>, request: &Recorded) -> Response {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    if request.header("authorization") != Some(expected.as_str()) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Invalid client credentials",
        );
    }
    let grant = request.form("grant_type").unwrap_or_default();
    let delay = {
        let s = state.lock().unwrap();
        if grant == "refresh_token" {
            s.refresh_delay
        } else {
            Duration::ZERO
        }
    };
    tokio::time::sleep(delay).await;
    let mut s = state.lock().unwrap();
    let expires_in = match grant.as_str() {
        "authorization_code" => {
            if request.form("code").as_deref() != Some(GOOD_CODE) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Invalid authorization code",
                );
            }
            s.login_expires_in
        }
        "refresh_token" => {
            let presented = request.form("refresh_token").unwrap_or_default();
            if !s.refresh_tokens.remove(&presented) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Invalid refresh token",
                );
            }
            3600
        }
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Unsupported grant type",
            );
        }
    };
    s.tokens_issued += 1;
    let n = s.tokens_issued;
    let (access, refresh) = (format!("access-{n}"), format!("refresh-{n}"));
    s.access_tokens.insert(access.clone());
    s.refresh_tokens.insert(refresh.clone());
    axum::Json(json!({
        "access_token": access,
        "token_type": "Bearer",
        "refresh_token": refresh,
        "scope": "base,contacts:full,activities:full",
        "expires_in": expires_in,
        "api_domain": API_DOMAIN,
    }))
    .into_response()
}

impl std::ops::Deref for MockPipedrive {
    type Target = Journal;

    fn deref(&self) -> &Journal {
        &self.journal
    }
}
