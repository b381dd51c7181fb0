//! The adapters' durable key-value storage, as a contract between the layer
//! that serves it to wasm ([`crate::runtime`]) and the layer that keeps it
//! ([`crate::store`]). Neither knows the other: both depend on this trait.

use async_trait::async_trait;

/// Durable key-value storage for adapters, scoped by platform: one
/// platform's keys are invisible to every other.
#[async_trait]
pub trait AdapterKv: Send + Sync + 'static {
    /// The value at `key`, if any.
    async fn get(&self, platform: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>>;
    /// Store `value` at `key`, replacing what was there.
    async fn set(&self, platform: &str, key: &str, value: &[u8]) -> anyhow::Result<()>;
    /// Remove `key`; removing a missing key is not an error.
    async fn delete(&self, platform: &str, key: &str) -> anyhow::Result<()>;
    /// Add `delta` to the decimal integer at `key` (0 when absent), atomically;
    /// return the result.
    async fn increment(&self, platform: &str, key: &str, delta: i64) -> anyhow::Result<i64>;
}
