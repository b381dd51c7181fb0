//! A mock HubSpot: an axum server on 127.0.0.1 with HubSpot's real paths,
//! status codes, bodies and rate-limit headers, enough for the TypeScript
//! HubSpot adapter (`examples/hubspot`) and the host's OAuth flow.
//!
//! - CRM objects are `{"id": "…", "properties": {…}, "createdAt", …}`, every
//!   property value a string, as HubSpot's v3 API answers them. Errors are
//!   `{"status": "error", "message", "correlationId", "category"}`.
//! - `POST /crm/v3/objects/calls` validates as HubSpot does: `hs_timestamp`
//!   is required, enumerations and numbers are checked, and every
//!   association must name an existing contact with the call-to-contact
//!   type (194).
//! - `POST /crm/v3/objects/contacts/search` takes `filterGroups` (OR of
//!   ANDs) with `EQ` on `phone`, `mobilephone` and the digits-only
//!   `hs_searchable_calculated_*` properties, or a free-text `query`.
//! - Every API answer carries the `X-HubSpot-RateLimit-*` headers of a
//!   ten-second rolling window per token; past the window's maximum the
//!   answer is HubSpot's 429 (`TEN_SECONDLY_ROLLING`). Search answers carry
//!   none, as HubSpot's do not.
//! - Bodies are sent chunked.
//! - `POST /oauth/v1/token` wants `client_secret_post` (the id and secret in
//!   the form) and answers HubSpot's `BAD_AUTH_CODE`/`BAD_REFRESH_TOKEN`.
//!
//! Point the server at it with `--egress-override api.hubapi.com=<url>`.

use crate::mock_http::{Journal, journaled};
pub use crate::mock_http::{Misbehaviour, Recorded};
use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The OAuth client the test servers are configured with.
pub const CLIENT_ID: &str = "hubspot-client-id-5d1c";
/// Its secret.
pub const CLIENT_SECRET: &str = "hubspot-client-secret-9a0b";
/// The only authorization code the mock accepts.
pub const GOOD_CODE: &str = "hubspot-good-code";
/// A private app's access token, accepted as an API key.
pub const PRIVATE_APP_TOKEN: &str = "pat-na1-11111111-2222-3333-4444-555555555555";
/// The signed-in user's HubSpot user id.
pub const USER_ID: u64 = 8899;
/// The account (portal) id.
pub const HUB_ID: u64 = 4455;
/// The owner id of the signed-in user (`/crm/v3/owners`).
pub const OWNER_ID: &str = "77";
/// `associationTypeId` of HubSpot's call-to-contact association.
pub const CALL_TO_CONTACT: u64 = 194;
/// HubSpot's default call outcomes (`hs_call_disposition`).
pub const OUTCOMES: [&str; 6] = [
    "9d9162e7-6cf3-4944-bf63-4dff82258764", // Busy
    "f240bbac-87c9-4f6e-bf70-924b57d47db7", // Connected
    "a4c4c377-d246-4b32-a13b-75a56a4cd0ff", // Left live message
    "b2cf5968-551e-4856-9783-52b3da59a7d0", // Left voicemail
    "73a0d17f-1163-4015-bdd5-ec830791da20", // No answer
    "17b47fee-58de-441e-a44c-c6300d46f273", // Wrong number
];

const WINDOW: Duration = Duration::from_secs(10);
const DAILY: u64 = 250_000;
const CREATED_AT: &str = "2024-01-01T00:00:00.000Z";

#[derive(Debug)]
struct State {
    contacts: BTreeMap<u64, Map<String, Value>>,
    calls: BTreeMap<u64, (Map<String, Value>, Vec<u64>)>,
    next_id: u64,
    access_tokens: HashSet<String>,
    refresh_tokens: HashSet<String>,
    tokens_issued: u64,
    /// Requests each token may make per ten-second window.
    window_max: u64,
    /// Per token: when its window began, and how many requests it holds.
    windows: HashMap<String, (Instant, u64)>,
    daily_used: u64,
}

/// A running mock HubSpot.
#[derive(Debug, Clone)]
pub struct MockHubSpot {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    state: Arc<Mutex<State>>,
    journal: Journal,
}

impl MockHubSpot {
    /// Start with three contacts: John Smith (`phone` +1 (650) 444-5566, at
    /// Acme Corp), Joan Smith (`mobilephone` 650-444-5566) and Ann Other
    /// (`phone` +442071234567).
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mut contacts = BTreeMap::new();
        for (id, first, last, field, phone, company) in [
            (
                101,
                "John",
                "Smith",
                "phone",
                "+1 (650) 444-5566",
                "Acme Corp",
            ),
            (102, "Joan", "Smith", "mobilephone", "650-444-5566", ""),
            (103, "Ann", "Other", "phone", "+442071234567", ""),
        ] {
            let mut properties = Map::new();
            properties.insert("firstname".into(), json!(first));
            properties.insert("lastname".into(), json!(last));
            properties.insert(field.into(), json!(phone));
            if !company.is_empty() {
                properties.insert("company".into(), json!(company));
            }
            contacts.insert(id, properties);
        }
        let state = Arc::new(Mutex::new(State {
            contacts,
            calls: BTreeMap::new(),
            next_id: 5000,
            access_tokens: HashSet::new(),
            refresh_tokens: HashSet::new(),
            tokens_issued: 0,
            window_max: 190,
            windows: HashMap::new(),
            daily_used: 0,
        }));
        let (shared, journal) = (state.clone(), Journal::default());
        let app = journaled(journal.clone(), move |request| {
            let state = shared.clone();
            async move { handle(&state, &request) }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url,
            state,
            journal,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// The calls HubSpot holds now: `(id, properties, associated contact ids)`.
    pub fn calls(&self) -> Vec<(String, Value, Vec<u64>)> {
        self.lock()
            .calls
            .iter()
            .map(|(id, (properties, contacts))| {
                (
                    id.to_string(),
                    Value::Object(properties.clone()),
                    contacts.clone(),
                )
            })
            .collect()
    }

    /// The contacts HubSpot holds now, by id.
    pub fn contacts(&self) -> BTreeMap<u64, Value> {
        let s = self.lock();
        s.contacts
            .iter()
            .map(|(id, p)| (*id, Value::Object(p.clone())))
            .collect()
    }

    /// Each token may make this many requests per ten-second window.
    pub fn set_rate_limit(&self, per_ten_seconds: u64) {
        self.lock().window_max = per_ten_seconds;
    }

    /// The access token stops working (HubSpot's tokens last 30 minutes).
    pub fn expire_access_token(&self, token: &str) {
        self.lock().access_tokens.remove(token);
    }
}

/// HubSpot's error body.
fn error(status: StatusCode, category: &str, message: &str) -> Response {
    let body = json!({
        "status": "error",
        "message": message,
        "correlationId": "9c8b7a65-4321-4fed-cba9-876543210fed",
        "category": category,
    });
    (status, axum::Json(body)).into_response()
}

/// A JSON answer, sent chunked in two pieces as HubSpot's edge does.
fn chunked(status: StatusCode, value: &Value) -> Response {
    let text = value.to_string().into_bytes();
    let half = text.len() / 2;
    let (head, tail) = (
        Bytes::from(text[..half].to_vec()),
        Bytes::from(text[half..].to_vec()),
    );
    let stream = futures::stream::iter([Ok::<_, std::io::Error>(head), Ok(tail)]);
    (
        status,
        [(
            axum::http::header::CONTENT_TYPE,
            "application/json;charset=utf-8",
        )],
        Body::from_stream(stream),
    )
        .into_response()
}

fn object(id: u64, properties: &Map<String, Value>) -> Value {
    let mut properties = properties.clone();
    properties.insert("hs_object_id".into(), json!(id.to_string()));
    properties.insert("createdate".into(), json!(CREATED_AT));
    json!({
        "id": id.to_string(),
        "properties": properties,
        "createdAt": CREATED_AT,
        "updatedAt": CREATED_AT,
        "archived": false,
    })
}

fn digits(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

/// HubSpot's `hs_searchable_calculated_*`: the digits without a North
/// American country code.
fn searchable(phone: &str) -> String {
    let digits = digits(phone);
    match digits.strip_prefix('1') {
        Some(national) if digits.len() == 11 => national.to_owned(),
        _ => digits,
    }
}

fn property<'a>(properties: &'a Map<String, Value>, name: &str) -> &'a str {
    properties.get(name).and_then(Value::as_str).unwrap_or("")
}

fn matches_filter(properties: &Map<String, Value>, filter: &Value) -> Result<bool, String> {
    let name = filter["propertyName"].as_str().unwrap_or("");
    let value = filter["value"].as_str().unwrap_or("");
    if filter["operator"] != "EQ" {
        return Err(format!(
            "operator {} is not supported here",
            filter["operator"]
        ));
    }
    Ok(match name {
        "hs_searchable_calculated_phone_number" => {
            !value.is_empty() && searchable(property(properties, "phone")) == value
        }
        "hs_searchable_calculated_mobile_number" => {
            !value.is_empty() && searchable(property(properties, "mobilephone")) == value
        }
        _ => property(properties, name).eq_ignore_ascii_case(value),
    })
}

fn search(s: &State, body: &Value) -> Response {
    let groups = body["filterGroups"].as_array().cloned().unwrap_or_default();
    if groups.len() > 5 {
        return error(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "Too many filter groups: at most 5 are allowed",
        );
    }
    let query = body["query"].as_str().unwrap_or("").to_lowercase();
    let mut results = Vec::new();
    for (id, properties) in &s.contacts {
        let hit = if groups.is_empty() {
            !query.is_empty()
                && ["firstname", "lastname", "email", "phone", "company"]
                    .iter()
                    .any(|p| property(properties, p).to_lowercase().contains(&query))
        } else {
            let mut any = false;
            for group in &groups {
                let filters = group["filters"].as_array().cloned().unwrap_or_default();
                let mut all = !filters.is_empty();
                for filter in &filters {
                    match matches_filter(properties, filter) {
                        Ok(hit) => all &= hit,
                        Err(message) => {
                            return error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", &message);
                        }
                    }
                }
                any |= all;
            }
            any
        };
        if hit {
            results.push(object(*id, properties));
        }
    }
    chunked(
        StatusCode::OK,
        &json!({"total": results.len(), "results": results}),
    )
}

/// The checks HubSpot makes on a call's properties.
fn validate_call(properties: &Map<String, Value>, create: bool) -> Result<(), String> {
    let invalid = |name: &str, why: &str| {
        Err(format!(
            "Property values were not valid: [{{\"isValid\":false,\"message\":\"{why}\",\"error\":\"INVALID_OPTION\",\"name\":\"{name}\"}}]"
        ))
    };
    if create && !properties.contains_key("hs_timestamp") {
        return invalid("hs_timestamp", "hs_timestamp is required");
    }
    for (name, value) in properties {
        let Some(text) = value.as_str() else {
            return invalid(name, "property values must be strings");
        };
        let ok = match name.as_str() {
            "hs_call_direction" => ["INBOUND", "OUTBOUND"].contains(&text),
            "hs_call_status" => [
                "BUSY",
                "CALLING_CRM_USER",
                "CANCELED",
                "COMPLETED",
                "CONNECTING",
                "FAILED",
                "IN_PROGRESS",
                "MISSED",
                "NO_ANSWER",
                "QUEUED",
                "RINGING",
            ]
            .contains(&text),
            "hs_call_duration" => text.parse::<u64>().is_ok(),
            "hs_call_disposition" => OUTCOMES.contains(&text),
            "hubspot_owner_id" => text == OWNER_ID,
            "hs_timestamp" => {
                text.parse::<u64>().is_ok() || (text.len() == 24 && text.ends_with('Z'))
            }
            _ => true,
        };
        if !ok {
            return invalid(name, &format!("{text} was not a valid value for {name}"));
        }
    }
    Ok(())
}

fn create_call(s: &mut State, body: &Value) -> Response {
    let properties = body["properties"].as_object().cloned().unwrap_or_default();
    if let Err(message) = validate_call(&properties, true) {
        return error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", &message);
    }
    let mut contacts = Vec::new();
    for association in body["associations"].as_array().into_iter().flatten() {
        let to = association["to"]["id"]
            .as_str()
            .and_then(|id| id.parse::<u64>().ok())
            .or_else(|| association["to"]["id"].as_u64());
        let kinds = association["types"].as_array().cloned().unwrap_or_default();
        let typed = kinds.iter().any(|t| {
            t["associationCategory"] == "HUBSPOT_DEFINED"
                && t["associationTypeId"] == json!(CALL_TO_CONTACT)
        });
        match to {
            Some(id) if typed && s.contacts.contains_key(&id) => contacts.push(id),
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "VALIDATION_ERROR",
                    &format!("Invalid association: {association}"),
                );
            }
        }
    }
    s.next_id += 1;
    let id = s.next_id;
    let answer = object(id, &properties);
    s.calls.insert(id, (properties, contacts));
    chunked(StatusCode::CREATED, &answer)
}

/// `GET …/calls/{id}` or `…/contacts/{id}`: the properties asked for, and
/// the associations asked for.
fn read(
    properties: &Map<String, Value>,
    id: u64,
    request: &Recorded,
    contacts: Option<&[u64]>,
) -> Response {
    let wanted = request.param("properties").unwrap_or_default();
    let chosen: Map<String, Value> = wanted
        .split(',')
        .filter(|name| !name.is_empty())
        .map(|name| {
            let value = properties.get(name).cloned().unwrap_or(Value::Null);
            (name.to_owned(), value)
        })
        .collect();
    let mut answer = object(id, &chosen);
    if let (Some(contacts), Some("contacts")) = (contacts, request.param("associations").as_deref())
    {
        let results: Vec<Value> = contacts
            .iter()
            .map(|c| json!({"id": c.to_string(), "type": "call_to_contact"}))
            .collect();
        answer["associations"] = json!({"contacts": {"results": results}});
    }
    chunked(StatusCode::OK, &answer)
}

/// HubSpot's 429 for the ten-second rolling limit.
fn too_many_requests() -> Response {
    let body = json!({
        "status": "error",
        "message": "You have reached your ten_secondly_rolling limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": "1d2e3f40-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
        "policyName": "TEN_SECONDLY_ROLLING",
        "groupName": "publicapi:oauth:4455",
    });
    (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response()
}

/// Count a request against its token's window: whether it may go ahead,
/// and the rate-limit headers to send either way.
fn rate_limit(s: &mut State, token: &str) -> (bool, Vec<(&'static str, String)>) {
    let now = Instant::now();
    let max = s.window_max;
    let window = s.windows.entry(token.to_owned()).or_insert((now, 0));
    if now.duration_since(window.0) >= WINDOW {
        *window = (now, 0);
    }
    let allowed = window.1 < max;
    if allowed {
        window.1 += 1;
        s.daily_used += 1;
    }
    let remaining = max - window.1;
    let headers = vec![
        ("x-hubspot-ratelimit-daily", DAILY.to_string()),
        (
            "x-hubspot-ratelimit-daily-remaining",
            (DAILY - s.daily_used).to_string(),
        ),
        (
            "x-hubspot-ratelimit-interval-milliseconds",
            WINDOW.as_millis().to_string(),
        ),
        ("x-hubspot-ratelimit-max", max.to_string()),
        ("x-hubspot-ratelimit-remaining", remaining.to_string()),
    ];
    (allowed, headers)
}

fn handle(state: &Mutex<State>, request: &Recorded) -> Response {
    let segments: Vec<&str> = request.path.trim_matches('/').split('/').collect();
    let mut s = state.lock().unwrap();
    let method = request.method.as_str();
    match (method, segments.as_slice()) {
        ("POST", ["oauth", "v1", "token"]) => return token(&mut s, request),
        ("GET", ["oauth", "v1", "access-tokens", token]) => {
            return if s.access_tokens.contains(*token) {
                chunked(
                    StatusCode::OK,
                    &json!({
                        "token": token, "user": "pat@testco.example",
                        "hub_domain": "testco.example", "scopes": ["oauth", "crm.objects.contacts.read", "crm.objects.contacts.write"],
                        "hub_id": HUB_ID, "app_id": 99, "expires_in": 1700,
                        "user_id": USER_ID, "token_type": "access",
                    }),
                )
            } else {
                error(StatusCode::NOT_FOUND, "OBJECT_NOT_FOUND", "Token not found")
            };
        }
        _ => {}
    }
    let bearer = request
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .filter(|t| *t == PRIVATE_APP_TOKEN || s.access_tokens.contains(*t))
        .map(str::to_owned);
    let Some(token) = bearer else {
        return error(
            StatusCode::UNAUTHORIZED,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
        );
    };
    let is_search = segments.last() == Some(&"search");
    let (allowed, limits) = if is_search {
        (true, Vec::new())
    } else {
        rate_limit(&mut s, &token)
    };
    let not_found = || {
        error(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            "resource not found",
        )
    };
    let id = |text: &str| text.parse::<u64>().ok();
    let mut response = match (method, segments.as_slice()) {
        _ if !allowed => too_many_requests(),
        ("GET", ["account-info", "v3", "details"]) => chunked(
            StatusCode::OK,
            &json!({
                "portalId": HUB_ID, "accountType": "STANDARD", "timeZone": "America/New_York",
                "companyCurrency": "USD", "additionalCurrencies": [], "utcOffset": "-05:00",
                "utcOffsetMilliseconds": -18_000_000, "uiDomain": "app.hubspot.com",
                "dataHostingLocation": "na1",
            }),
        ),
        ("GET", ["crm", "v3", "owners"]) => {
            let owners = if request.param("email").as_deref() == Some("pat@testco.example") {
                vec![json!({
                    "id": OWNER_ID, "email": "pat@testco.example", "type": "PERSON",
                    "firstName": "Pat", "lastName": "Hubspot", "userId": USER_ID,
                    "createdAt": CREATED_AT, "updatedAt": CREATED_AT, "archived": false,
                })]
            } else {
                Vec::new()
            };
            chunked(StatusCode::OK, &json!({"results": owners}))
        }
        ("POST", ["crm", "v3", "objects", "contacts", "search"]) => search(&s, &request.body),
        ("POST", ["crm", "v3", "objects", "contacts"]) => {
            let properties = request.body["properties"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            s.next_id += 1;
            let id = s.next_id;
            let answer = object(id, &properties);
            s.contacts.insert(id, properties);
            chunked(StatusCode::CREATED, &answer)
        }
        ("GET", ["crm", "v3", "objects", "contacts", contact]) => {
            match id(contact).and_then(|id| s.contacts.get(&id).map(|p| (id, p))) {
                Some((id, properties)) => read(properties, id, request, None),
                None => not_found(),
            }
        }
        ("POST", ["crm", "v3", "objects", "calls"]) => create_call(&mut s, &request.body),
        ("GET", ["crm", "v3", "objects", "calls", call]) => {
            match id(call).and_then(|id| s.calls.get(&id).map(|c| (id, c))) {
                Some((id, (properties, contacts))) => read(properties, id, request, Some(contacts)),
                None => not_found(),
            }
        }
        ("PATCH", ["crm", "v3", "objects", "calls", call]) => {
            let changes = request.body["properties"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            if let Err(message) = validate_call(&changes, false) {
                error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", &message)
            } else {
                match id(call).and_then(|id| s.calls.get_mut(&id).map(|c| (id, c))) {
                    Some((id, (properties, _))) => {
                        properties.extend(changes);
                        chunked(StatusCode::OK, &object(id, properties))
                    }
                    None => not_found(),
                }
            }
        }
        _ => not_found(),
    };
    for (name, value) in limits {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

/// `POST /oauth/v1/token`, `client_secret_post` only.
fn token(s: &mut State, request: &Recorded) -> Response {
    let fail = |status: &str, message: &str| {
        let body = json!({"status": status, "message": message, "correlationId": "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"});
        (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
    };
    if request.form("client_id").as_deref() != Some(CLIENT_ID) {
        return fail("BAD_CLIENT_ID", "missing or unknown client id");
    }
    if request.form("client_secret").as_deref() != Some(CLIENT_SECRET) {
        return fail("BAD_CLIENT_SECRET", "missing or invalid client secret");
    }
    match request.form("grant_type").as_deref() {
        Some("authorization_code") if request.form("code").as_deref() == Some(GOOD_CODE) => {}
        Some("authorization_code") => return fail("BAD_AUTH_CODE", "missing or invalid auth code"),
        Some("refresh_token") => {
            let presented = request.form("refresh_token").unwrap_or_default();
            if !s.refresh_tokens.contains(&presented) {
                return fail("BAD_REFRESH_TOKEN", "missing or unknown refresh token");
            }
        }
        _ => return fail("BAD_GRANT_TYPE", "missing or invalid grant type"),
    }
    s.tokens_issued += 1;
    let n = s.tokens_issued;
    let access = format!("hs-access-{n}");
    s.access_tokens.insert(access.clone());
    // HubSpot's refresh tokens do not rotate.
    let refresh = "hs-refresh-1".to_owned();
    s.refresh_tokens.insert(refresh.clone());
    chunked(
        StatusCode::OK,
        &json!({"token_type": "bearer", "refresh_token": refresh, "access_token": access, "expires_in": 1800}),
    )
}

impl std::ops::Deref for MockHubSpot {
    type Target = Journal;

    fn deref(&self) -> &Journal {
        &self.journal
    }
}
