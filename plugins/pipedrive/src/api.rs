//! Pipedrive's REST API as this adapter uses it: where a user's API lives,
//! how requests authenticate, and how Pipedrive's answers become adapter
//! results.
//!
//! Pipedrive answers `{"success": true, "data": …}`, and errors as
//! `{"success": false, "error": "…", "error_info": "…"}`. A 401 is
//! `unauthorized`, a 429 is `rate-limited` (with `Retry-After` or
//! `x-ratelimit-reset`), and any other non-2xx is `upstream` with the status
//! and Pipedrive's `error`.

use serde_json::Value;
use switchboard_adapter::http::{Method, Request, Response};
use switchboard_adapter::{AdapterError, Credential, RateLimit, UpstreamError};

/// The API host when the user gave none.
pub(crate) const DEFAULT_HOST: &str = "api.pipedrive.com";

/// A user's Pipedrive API.
pub(crate) struct Api<'a> {
    base: String,
    credential: &'a Credential,
}

impl<'a> Api<'a> {
    /// `hostname` is the company domain (`acme.pipedrive.com`) or, for OAuth
    /// users, the host of the token response's `api_domain`.
    pub(crate) fn new(hostname: &str, credential: &'a Credential) -> Self {
        let host = hostname
            .trim()
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/');
        let host = if host.is_empty() { DEFAULT_HOST } else { host };
        Self {
            base: format!("https://{host}"),
            credential,
        }
    }

    /// The host requests go to, for cache keys.
    pub(crate) fn host(&self) -> &str {
        self.base.trim_start_matches("https://")
    }

    /// `GET path`; the `data` of the answer.
    pub(crate) fn get(&self, path: &str) -> Result<Value, AdapterError> {
        self.send(Method::Get, path, None)
    }

    /// `POST path` with a JSON body; the `data` of the answer.
    pub(crate) fn post(&self, path: &str, body: &Value) -> Result<Value, AdapterError> {
        self.send(Method::Post, path, Some(body))
    }

    /// `PATCH path` with a JSON body; the `data` of the answer.
    pub(crate) fn patch(&self, path: &str, body: &Value) -> Result<Value, AdapterError> {
        self.send(Method::Patch, path, Some(body))
    }

    fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, AdapterError> {
        // API tokens go in `x-api-token`; OAuth users have a ready
        // `Authorization: Bearer …`.
        let mut request = Request::new(method, format!("{}{path}", self.base))
            .credential(self.credential, "x-api-token")
            .header("accept", "application/json");
        if let Some(body) = body {
            request = request.json(body)?;
        }
        answer(request.send()?)
    }
}

/// The `data` of a 2xx answer, or the error it stands for.
pub(crate) fn answer(response: Response) -> Result<Value, AdapterError> {
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    if (200..300).contains(&response.status) {
        if body.is_null() {
            return Err(AdapterError::Upstream(UpstreamError {
                status: response.status,
                message: "Pipedrive answered with a body that is not JSON".into(),
            }));
        }
        return Ok(body.get("data").cloned().unwrap_or(Value::Null));
    }
    let message = body
        .get("error")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("HTTP {}", response.status));
    Err(match response.status {
        401 => AdapterError::Unauthorized(message),
        429 => AdapterError::RateLimited(RateLimit {
            retry_after_seconds: ["retry-after", "x-ratelimit-reset"]
                .iter()
                .find_map(|h| response.header(h).and_then(|v| v.trim().parse().ok())),
            message,
        }),
        status => AdapterError::Upstream(UpstreamError { status, message }),
    })
}

/// A Pipedrive id from the client (a number, or digits in a string).
pub(crate) fn numeric_id(what: &str, id: &str) -> Result<u64, AdapterError> {
    id.trim()
        .parse()
        .map_err(|_| AdapterError::InvalidInput(format!("{what} {id:?} is not a Pipedrive id")))
}

/// A JSON value that holds an id as a number or a numeric string.
pub(crate) fn id_value(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Percent-encode a query value (everything but unreserved characters).
pub(crate) fn encode_query(value: &str) -> String {
    let mut out = String::new();
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response {
            url: "https://x".into(),
            status,
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn answers_become_results() {
        let ok = answer(response(200, &[], r#"{"success":true,"data":{"id":7}}"#)).expect("ok");
        assert_eq!(ok["id"], 7);
        let err = |status, headers: &[(&str, &str)]| {
            answer(response(
                status,
                headers,
                r#"{"success":false,"error":"nope","error_info":"i"}"#,
            ))
            .expect_err("error")
        };
        assert!(matches!(err(401, &[]), AdapterError::Unauthorized(m) if m == "nope"));
        assert!(matches!(
            err(429, &[("x-ratelimit-reset", "12")]),
            AdapterError::RateLimited(RateLimit {
                retry_after_seconds: Some(12),
                ..
            })
        ));
        assert!(matches!(
            err(429, &[("Retry-After", "30"), ("x-ratelimit-reset", "12")]),
            AdapterError::RateLimited(RateLimit {
                retry_after_seconds: Some(30),
                ..
            })
        ));
        assert!(matches!(
            err(400, &[]),
            AdapterError::Upstream(UpstreamError { status: 400, ref message }) if message == "nope"
        ));
    }

    #[test]
    fn ids_and_queries() {
        assert_eq!(numeric_id("contactId", " 42 ").ok(), Some(42));
        assert!(numeric_id("contactId", "abc").is_err());
        assert_eq!(id_value(&serde_json::json!("12")), Some(12));
        assert_eq!(id_value(&serde_json::json!(12)), Some(12));
        assert_eq!(id_value(&serde_json::json!(null)), None);
        assert_eq!(encode_query("+1 650"), "%2B1%20650");
        assert_eq!(
            Api::new("", &Credential::ApiKey(String::new())).host(),
            DEFAULT_HOST
        );
        assert_eq!(
            Api::new(
                "https://acme.pipedrive.com/",
                &Credential::ApiKey(String::new())
            )
            .host(),
            "acme.pipedrive.com"
        );
    }
}
