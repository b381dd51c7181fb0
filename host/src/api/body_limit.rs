//! The request body limit. The body is read in full before the handler
//! runs, up to the limit; a larger one is answered 413 in App Connect's JSON
//! shape.
//!
//! The 413 is sent only after the rest of the oversized body has been read
//! and thrown away (up to [`DRAIN_FACTOR`] times the limit, and within the
//! request timeout). A client that writes its whole body before it reads
//! (no `Expect: 100-continue`, as Python's urllib does) would otherwise see
//! its connection reset mid-write and never read the answer.

use super::error::ApiError;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::Body as _;
use http_body_util::BodyExt;

/// How much of an oversized body is read and discarded, as a multiple of the
/// limit, before the connection is given up on.
pub(super) const DRAIN_FACTOR: usize = 16;

/// Largest accepted bodies, in bytes.
#[derive(Debug, Clone, Copy)]
pub(super) struct BodyLimit {
    /// Of every request but an adapter upload.
    pub(super) default: usize,
    /// Of an adapter upload (`PUT /admin/adapters/{name}`).
    pub(super) uploads: usize,
}

/// Middleware: buffer the body within the limit, or answer 413.
pub(super) async fn limit_body(
    State(limits): State<BodyLimit>,
    request: Request,
    next: Next,
) -> Response {
    let limit = if super::admin::is_upload(&request) {
        limits.uploads
    } else {
        limits.default
    };
    let (parts, mut body) = request.into_parts();
    if body.is_end_stream() {
        // No body (most GETs): nothing to read or limit.
        return next.run(Request::from_parts(parts, body)).await;
    }
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large(body, limit).await;
    }
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return ApiError::bad_request("The request body could not be read").into_response();
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        seen += data.len();
        if seen > limit {
            return too_large(body, limit).await;
        }
        chunks.push(data);
    }
    let bytes = match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.swap_remove(0),
        _ => chunks.concat().into(),
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Read and drop what is left of `body` (bounded), then answer 413.
async fn too_large(mut body: Body, limit: usize) -> Response {
    let mut budget = limit.saturating_mul(DRAIN_FACTOR);
    while let Some(Ok(frame)) = body.frame().await {
        let len = frame.data_ref().map_or(0, Bytes::len);
        match budget.checked_sub(len) {
            Some(left) => budget = left,
            None => break,
        }
    }
    ApiError::from_status(StatusCode::PAYLOAD_TOO_LARGE).into_response()
}
