//! The HTTP API: App Connect's routes on axum, and the tower-http layers
//! around them (request ids, trace spans, body limit, timeout).
//!
//! This layer knows HTTP and App Connect's wire format; it hands typed
//! inputs to [`crate::service`] and renders its outcomes.

mod admin;
mod auth;
mod body_limit;
mod call_log;
mod contact;
mod contract;
pub mod error;
mod extract;
mod message_log;
mod openapi;
pub mod reply;
mod wire;

use crate::service::Service;
use crate::telemetry::{HttpMetrics, traces};
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use error::ApiError;
use std::sync::Arc;
use std::time::Duration;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

pub use admin::AdminToken;

/// What every handler can reach. Extractors clone it once or more per
/// request, so it is two reference counts.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The rules every route applies.
    pub service: Arc<Service>,
    /// `None`: the admin API is not mounted.
    pub admin_token: Option<Arc<AdminToken>>,
}

/// How every request is handled: its limits, and whether it is logged.
#[derive(Debug, Clone, Copy)]
pub struct HttpOptions {
    /// Largest request body accepted.
    pub body_bytes: usize,
    /// Largest adapter upload accepted (`PUT /admin/adapters/{name}`).
    pub upload_bytes: usize,
    /// Time limit for a whole request.
    pub request_timeout: Duration,
    /// One `info` line per answered request. Otherwise those lines are at
    /// `debug`; failures (5xx) are logged either way.
    pub access_log: bool,
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole API as a router.
pub fn router(state: AppState, limits: HttpOptions) -> Router {
    let mut routes = Router::new()
        .route("/apiKeyLogin", post(auth::api_key_login))
        .route("/unAuthorize", post(auth::unauthorize))
        .route(
            "/callLog",
            get(call_log::find)
                .post(call_log::create)
                .patch(call_log::update),
        )
        .route("/oauth-callback", get(auth::oauth_callback))
        .route("/contact", get(contact::find).post(contact::create))
        .route("/custom/contact/search", get(contact::search_by_name))
        .route("/isAlive", get(contract::is_alive))
        .route("/is-alive", get(contract::is_alive_hyphenated))
        .route("/serverVersionInfo", get(contract::server_version_info))
        .route("/hostname", get(contract::hostname))
        .route(
            "/implementedInterfaces",
            get(contract::implemented_interfaces),
        )
        .route("/authValidation", get(contract::auth_validation))
        .route("/callDisposition", put(call_log::disposition))
        .route("/messageLog", post(message_log::create))
        .route("/healthz", get(auth::healthz))
        .route("/openapi.json", get(openapi::document))
        .fallback(|| async { ApiError::from_status(StatusCode::NOT_FOUND) });
    if state.admin_token.is_some() {
        routes = routes
            .route("/admin/adapters", get(admin::list))
            .route(
                admin::ADAPTER_ROUTE,
                get(admin::one).put(admin::deploy).delete(admin::remove),
            )
            .route("/admin/replicas", get(admin::replicas));
    }
    let routes = routes.with_state(state.clone());

    // The span names the route and request id only: the query string may
    // carry a jwtToken and must never reach a log.
    let trace = TraceLayer::new_for_http()
        .make_span_with(|request: &Request| {
            let id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
            let span = tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id, trace_id = tracing::field::Empty);
            // With tracing on: the client's trace continued, and its id on
            // every log line of the request.
            traces::continue_trace(&span, request.headers());
            if let Some(trace_id) = traces::trace_id(&span) {
                span.record("trace_id", trace_id);
            }
            span
        })
        .on_response(DefaultOnResponse::new().level(if limits.access_log {
            tracing::Level::INFO
        } else {
            tracing::Level::DEBUG
        }));

    // Router::layer wraps everything added before it, so the last layer
    // here is the outermost.
    // An adapter upload has a body limit of its own, and its admin token is
    // checked before its body is read.
    let body_limit = body_limit::BodyLimit {
        default: limits.body_bytes,
        uploads: limits.upload_bytes,
    };
    routes
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(
            body_limit,
            body_limit::limit_body,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state,
            admin::uploads_need_the_token,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(axum::middleware::from_fn(extract::renew_token))
        .layer(axum::middleware::map_response(json_error_bodies))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(trace)
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(HttpMetrics::default()),
            record_request,
        ))
}

/// Count and time every request by its route template: layers added with
/// `Router::layer` run after routing, so the matched route is known here.
async fn record_request(
    State(metrics): State<Arc<HttpMetrics>>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let route = route.as_ref().map(MatchedPath::as_str);
    metrics.record(route, &method, status, started.elapsed());
    response
}

/// Give error answers that layers produce with a bare status (body limit,
/// timeout, method not allowed) App Connect's JSON shape.
async fn json_error_bodies(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if (status.is_client_error() || status.is_server_error()) && !is_json {
        return ApiError::from_status(status).into_response();
    }
    response
}
