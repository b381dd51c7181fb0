//! App Connect's `returnMessage`: the message the client shows the user
//! after each request, with its type and how long it stays (`ttl`, ms).
//! Every answer, success or error, builds it here.

use serde::Serialize;
use serde_json::{Value, json};

/// How the client styles the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageType {
    /// It worked.
    Success,
    /// It did not, or not fully.
    Warning,
}

/// `{"message": …, "messageType": …, "ttl": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReturnMessage {
    message: String,
    message_type: MessageType,
    ttl: u32,
}

impl ReturnMessage {
    /// A success, shown for 2 s.
    pub fn success(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            message_type: MessageType::Success,
            ttl: 2000,
        }
    }

    /// A warning, shown for 3 s.
    pub fn warning(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            message_type: MessageType::Warning,
            ttl: 3000,
        }
    }

    /// The same message, shown for `ttl_ms` instead.
    pub fn ttl(self, ttl_ms: u32) -> Self {
        Self {
            ttl: ttl_ms,
            ..self
        }
    }

    /// The text.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// `{"successful": false, "returnMessage": <warning>}`: a request that was
/// understood but did nothing (no contact, no log for that session, …).
pub(super) fn unsuccessful(message: impl Into<String>) -> Value {
    json!({
        "successful": false,
        "returnMessage": ReturnMessage::warning(message),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_app_connects_shape() {
        assert_eq!(
            serde_json::to_value(ReturnMessage::success("Call logged")).expect("serializes"),
            json!({"message": "Call logged", "messageType": "success", "ttl": 2000})
        );
        assert_eq!(
            serde_json::to_value(ReturnMessage::warning("No").ttl(1000)).expect("serializes"),
            json!({"message": "No", "messageType": "warning", "ttl": 1000})
        );
        assert_eq!(unsuccessful("x")["successful"], false);
    }
}
