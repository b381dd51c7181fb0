//! Durable key-value storage private to this adapter.
//!
//! Values survive restarts and reloads. Keys are scoped to the adapter's
//! platform, so two adapters never see each other's data.
//!
//! A call's `set`s and `delete`s commit together when the call ends (a
//! `create-call-log`'s together with the call log the host records): the
//! call reads its own writes at once, other calls see them once it has
//! ended. `increment` is atomic and immediate.

use crate::__bindings::switchboard::adapter::kv as raw;
use crate::AdapterError;
use serde::{Serialize, de::DeserializeOwned};
use std::fmt;

/// A storage operation failed on the host side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvError(pub String);

impl fmt::Display for KvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key-value storage: {}", self.0)
    }
}

impl std::error::Error for KvError {}

impl From<KvError> for AdapterError {
    fn from(err: KvError) -> Self {
        AdapterError::Internal(err.to_string())
    }
}

/// Read a value.
pub fn get(key: &str) -> Result<Option<Vec<u8>>, KvError> {
    raw::get(key).map_err(KvError)
}

/// Write a value, replacing any previous one.
pub fn set(key: &str, value: &[u8]) -> Result<(), KvError> {
    raw::set(key, value).map_err(KvError)
}

/// Remove a value. Removing a missing key is not an error.
pub fn delete(key: &str) -> Result<(), KvError> {
    raw::delete(key).map_err(KvError)
}

/// Atomically add `delta` to the integer at `key` (0 when absent) and return
/// the new value.
pub fn increment(key: &str, delta: i64) -> Result<i64, KvError> {
    raw::increment(key, delta).map_err(KvError)
}

/// Read a JSON value. A value that does not parse as `T` is an error.
pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>, KvError> {
    get(key)?
        .map(|bytes| serde_json::from_slice(&bytes))
        .transpose()
        .map_err(|e| KvError(format!("value at {key:?} is not the expected JSON: {e}")))
}

/// Write a value as JSON.
pub fn set_json<T: Serialize>(key: &str, value: &T) -> Result<(), KvError> {
    let bytes = serde_json::to_vec(value)
        .map_err(|e| KvError(format!("cannot encode value for {key:?}: {e}")))?;
    set(key, &bytes)
}
