//! Outbound HTTP to the CRM, over the standard `wasi:http/outgoing-handler`.
//!
//! The host allows only the hosts the adapter's manifest declares (and the
//! operator permits). A request anywhere else fails with [`HttpError::Denied`],
//! never with a transport error.
//!
//! ```no_run
//! # use switchboard_adapter::http::{Request, HttpError};
//! # fn demo() -> Result<(), HttpError> {
//! let response = Request::get("https://api.example.com/v1/users/me")
//!     .header("authorization", "Bearer …")
//!     .send()?
//!     .error_for_status()?;
//! let me: serde_json::Value = response.json()?;
//! # Ok(()) }
//! ```

use crate::__bindings::wasi::http::outgoing_handler;
use crate::__bindings::wasi::http::types::{
    ErrorCode, Fields, IncomingBody, Method as RawMethod, OutgoingBody, OutgoingRequest,
    Scheme as RawScheme,
};
use crate::__bindings::wasi::io::streams::StreamError;
use crate::{AdapterError, Credential, RateLimit, UpstreamError};
use serde::{Serialize, de::DeserializeOwned};
use std::fmt;

/// The largest response body the SDK reads, to keep a runaway CRM response
/// from exhausting the adapter's memory.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// Bytes written to the request body stream per call (the host's minimum
/// guaranteed write size).
const WRITE_CHUNK: usize = 4096;

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
}

/// Why an outbound request failed. Every variant names the `url`; `reason`
/// says what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs, reason = "the fields are described on the enum")]
pub enum HttpError {
    /// The host's egress policy refused the request: the host is not in the
    /// manifest's `allowed-hosts`, or the operator's policy forbids it.
    Denied { url: String },
    /// The URL could not be parsed.
    InvalidUrl { url: String, reason: String },
    /// The request could not be completed (DNS, connect, TLS, timeout, …).
    Transport { url: String, reason: String },
    /// The response body was larger than [`MAX_RESPONSE_BYTES`].
    ResponseTooLarge { url: String },
    /// The response body was not the JSON expected.
    InvalidJson { url: String, reason: String },
    /// The CRM answered with a non-success status
    /// (from [`Response::error_for_status`]).
    Status {
        url: String,
        /// The HTTP status.
        status: u16,
        /// The response body, as text.
        body: String,
        /// `Retry-After` (or the CRM's rate-limit reset), in seconds.
        retry_after: Option<u32>,
    },
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Denied { url } => {
                write!(f, "request to {url} denied by the host's egress policy")
            }
            Self::InvalidUrl { url, reason } => write!(f, "invalid URL {url:?}: {reason}"),
            Self::Transport { url, reason } => write!(f, "request to {url} failed: {reason}"),
            Self::ResponseTooLarge { url } => {
                write!(
                    f,
                    "response from {url} is larger than {MAX_RESPONSE_BYTES} bytes"
                )
            }
            Self::InvalidJson { url, reason } => {
                write!(f, "response from {url} is not the expected JSON: {reason}")
            }
            Self::Status { url, status, .. } => write!(f, "{url} answered HTTP {status}"),
        }
    }
}

impl std::error::Error for HttpError {}

impl From<HttpError> for AdapterError {
    /// A 401 becomes `unauthorized`, a 429 `rate-limited`, other statuses
    /// `upstream`; everything else is `internal`.
    fn from(err: HttpError) -> Self {
        match err {
            HttpError::Status {
                status: 401, body, ..
            } => AdapterError::Unauthorized(body),
            HttpError::Status {
                status: 429,
                body,
                retry_after,
                ..
            } => AdapterError::RateLimited(RateLimit {
                retry_after_seconds: retry_after,
                message: body,
            }),
            HttpError::Status { status, body, .. } => AdapterError::Upstream(UpstreamError {
                status,
                message: body,
            }),
            other => AdapterError::Internal(other.to_string()),
        }
    }
}

/// An outbound request, built then [sent](Request::send).
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    /// A request with the given method and absolute URL.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A `GET` request.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::Get, url)
    }

    /// A `POST` request.
    pub fn post(url: impl Into<String>) -> Self {
        Self::new(Method::Post, url)
    }

    /// A `PATCH` request.
    pub fn patch(url: impl Into<String>) -> Self {
        Self::new(Method::Patch, url)
    }

    /// Add a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Authenticate with the user's credential: a ready `Authorization`
    /// value goes in `Authorization`; an API key goes in `api_key_header`
    /// (the header the CRM expects it in, e.g. `x-api-token`).
    pub fn credential(self, credential: &Credential, api_key_header: &str) -> Self {
        match credential {
            Credential::Authorization(value) => self.header("authorization", value.clone()),
            Credential::ApiKey(key) => self.header(api_key_header, key.clone()),
        }
    }

    /// Set a raw body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Set a JSON body and its `content-type`.
    pub fn json<T: Serialize + ?Sized>(self, value: &T) -> Result<Self, HttpError> {
        let body = serde_json::to_vec(value).map_err(|e| HttpError::InvalidJson {
            url: self.url.clone(),
            reason: e.to_string(),
        })?;
        Ok(self.header("content-type", "application/json").body(body))
    }

    /// Send the request and read the whole response.
    pub fn send(self) -> Result<Response, HttpError> {
        let url = self.url.clone();
        send(self).map_err(|failure| match failure {
            Failure::Code(ErrorCode::HttpRequestDenied) => HttpError::Denied { url },
            Failure::Code(code) => HttpError::Transport {
                url,
                reason: format!("{code:?}"),
            },
            Failure::Invalid(reason) => HttpError::InvalidUrl { url, reason },
            Failure::Stream(reason) => HttpError::Transport { url, reason },
            Failure::TooLarge => HttpError::ResponseTooLarge { url },
        })
    }
}

/// A whole response.
#[derive(Debug, Clone)]
pub struct Response {
    /// The URL requested.
    pub url: String,
    /// The HTTP status.
    pub status: u16,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of a header (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, HttpError> {
        serde_json::from_slice(&self.body).map_err(|e| HttpError::InvalidJson {
            url: self.url.clone(),
            reason: e.to_string(),
        })
    }

    /// `Ok(self)` for a 2xx status, otherwise [`HttpError::Status`] with the
    /// body and any `Retry-After`.
    pub fn error_for_status(self) -> Result<Self, HttpError> {
        if (200..300).contains(&self.status) {
            return Ok(self);
        }
        Err(HttpError::Status {
            retry_after: self
                .header("retry-after")
                .and_then(|v| v.trim().parse().ok()),
            body: self.text(),
            status: self.status,
            url: self.url,
        })
    }
}

enum Failure {
    Code(ErrorCode),
    Invalid(String),
    Stream(String),
    TooLarge,
}

struct ParsedUrl<'a> {
    scheme: RawScheme,
    authority: &'a str,
    path_and_query: String,
}

fn parse_url(url: &str) -> Result<ParsedUrl<'_>, Failure> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| Failure::Invalid("missing scheme".into()))?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "https" => RawScheme::Https,
        "http" => RawScheme::Http,
        other => return Err(Failure::Invalid(format!("unsupported scheme {other:?}"))),
    };
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    if authority.is_empty() {
        return Err(Failure::Invalid("missing host".into()));
    }
    let path_and_query = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    Ok(ParsedUrl {
        scheme,
        authority,
        path_and_query,
    })
}

fn send(request: Request) -> Result<Response, Failure> {
    let url = parse_url(&request.url)?;
    let entries: Vec<(String, Vec<u8>)> = request
        .headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.clone().into_bytes()))
        .collect();
    let headers = Fields::from_list(&entries)
        .map_err(|e| Failure::Invalid(format!("invalid header: {e:?}")))?;
    let outgoing = OutgoingRequest::new(headers);
    let method = match request.method {
        Method::Get => RawMethod::Get,
        Method::Post => RawMethod::Post,
        Method::Put => RawMethod::Put,
        Method::Patch => RawMethod::Patch,
        Method::Delete => RawMethod::Delete,
    };
    let invalid = |what: &str| Failure::Invalid(format!("invalid {what}"));
    outgoing
        .set_method(&method)
        .map_err(|()| invalid("method"))?;
    outgoing
        .set_scheme(Some(&url.scheme))
        .map_err(|()| invalid("scheme"))?;
    outgoing
        .set_authority(Some(url.authority))
        .map_err(|()| invalid("host"))?;
    outgoing
        .set_path_with_query(Some(&url.path_and_query))
        .map_err(|()| invalid("path"))?;

    let body = outgoing
        .body()
        .map_err(|()| Failure::Stream("request body unavailable".into()))?;
    let future = outgoing_handler::handle(outgoing, None).map_err(Failure::Code)?;
    write_body(&body, &request.body)?;
    OutgoingBody::finish(body, None).map_err(Failure::Code)?;

    future.subscribe().block();
    let incoming = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(Failure::Code(code)),
        Some(Err(())) | None => return Err(Failure::Stream("response already taken".into())),
    };
    let status = incoming.status();
    let headers = incoming
        .headers()
        .entries()
        .into_iter()
        .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
        .collect();
    let body = incoming
        .consume()
        .map_err(|()| Failure::Stream("response body unavailable".into()))?;
    let bytes = read_body(&body)?;
    drop(IncomingBody::finish(body));
    Ok(Response {
        url: request.url,
        status,
        headers,
        body: bytes,
    })
}

fn write_body(body: &OutgoingBody, bytes: &[u8]) -> Result<(), Failure> {
    if bytes.is_empty() {
        return Ok(());
    }
    let stream = body
        .write()
        .map_err(|()| Failure::Stream("request body stream unavailable".into()))?;
    for chunk in bytes.chunks(WRITE_CHUNK) {
        stream
            .blocking_write_and_flush(chunk)
            .map_err(stream_failure)?;
    }
    Ok(())
}

fn read_body(body: &IncomingBody) -> Result<Vec<u8>, Failure> {
    let stream = body
        .stream()
        .map_err(|()| Failure::Stream("response body stream unavailable".into()))?;
    let mut bytes = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => {
                if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(Failure::TooLarge);
                }
                bytes.extend_from_slice(&chunk);
            }
            Err(StreamError::Closed) => return Ok(bytes),
            Err(err) => return Err(stream_failure(err)),
        }
    }
}

fn stream_failure(err: StreamError) -> Failure {
    match err {
        StreamError::Closed => Failure::Stream("stream closed".into()),
        StreamError::LastOperationFailed(e) => Failure::Stream(e.to_debug_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls_into_parts() {
        let url = parse_url("https://api.example.com/v1/x?y=1")
            .ok()
            .expect("parses");
        assert_eq!(url.authority, "api.example.com");
        assert_eq!(url.path_and_query, "/v1/x?y=1");
        let url = parse_url("http://127.0.0.1:8080").ok().expect("parses");
        assert_eq!(url.authority, "127.0.0.1:8080");
        assert_eq!(url.path_and_query, "/");
        let url = parse_url("https://h.example?q=1").ok().expect("parses");
        assert_eq!(url.path_and_query, "/?q=1");
        assert!(parse_url("ftp://x/").is_err());
        assert!(parse_url("no-scheme").is_err());
        assert!(parse_url("https:///path").is_err());
    }
}
