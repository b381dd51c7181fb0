//! The adapters' durable key-value storage, as a contract between the layer
//! that serves it to wasm ([`crate::runtime`]) and the layer that keeps it
//! ([`crate::store`]). Neither knows the other: both depend on this trait.
//!
//! An adapter call's `set`s and `delete`s are not written one by one: the
//! runtime collects them in [`KvWrites`] (the call reads its own writes
//! back from there) and they commit together when the call ends, in one
//! transaction. A create's writes commit in the same transaction as the
//! call log's completion ([`crate::store::Store::complete_call_log`]), so a
//! logged call and the adapter data it made are stored together or not at
//! all. `increment` cannot wait, since it answers with the new value: it is
//! atomic on its own, after any pending write of its key.

use async_trait::async_trait;
use std::collections::BTreeMap;

/// Durable key-value storage for adapters, scoped by platform: one
/// platform's keys are invisible to every other.
#[async_trait]
pub trait AdapterKv: Send + Sync + 'static {
    /// The value at `key`, if any.
    async fn get(&self, platform: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>>;
    /// Add `delta` to the decimal integer at `key` (0 when absent), atomically;
    /// return the result.
    async fn increment(&self, platform: &str, key: &str, delta: i64) -> anyhow::Result<i64>;
    /// Write `writes` in one transaction: all of them or none. Empty writes
    /// are a no-op that touches no database, so callers need not check.
    async fn apply(&self, writes: &KvWrites) -> anyhow::Result<()>;
}

/// Storage that refuses every operation, for a runtime that only reads
/// manifests (`switchboard check`): a manifest must not use it.
#[derive(Debug, Clone, Copy)]
pub struct NoKv;

#[async_trait]
impl AdapterKv for NoKv {
    async fn get(&self, _: &str, _: &str) -> anyhow::Result<Option<Vec<u8>>> {
        anyhow::bail!("key-value storage is not available while reading the manifest")
    }
    async fn increment(&self, _: &str, _: &str, _: i64) -> anyhow::Result<i64> {
        anyhow::bail!("key-value storage is not available while reading the manifest")
    }
    async fn apply(&self, _: &KvWrites) -> anyhow::Result<()> {
        anyhow::bail!("key-value storage is not available while reading the manifest")
    }
}

/// The `set`s and `delete`s of one platform not yet committed, the last per
/// key. Sets and deletes therefore never name the same key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KvWrites {
    platform: String,
    /// Key → new value, or `None` for a delete.
    entries: BTreeMap<String, Option<Vec<u8>>>,
    /// Bytes of keys and values held.
    bytes: usize,
}

impl KvWrites {
    /// No writes yet, for `platform`.
    pub fn new(platform: impl Into<String>) -> Self {
        Self {
            platform: platform.into(),
            ..Self::default()
        }
    }

    /// The platform whose keys these are.
    pub fn platform(&self) -> &str {
        &self.platform
    }

    /// Store `value` at `key`, replacing an earlier write of it.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<Vec<u8>>) {
        self.put(key.into(), Some(value.into()));
    }

    /// Remove `key`, replacing an earlier write of it.
    pub fn delete(&mut self, key: impl Into<String>) {
        self.put(key.into(), None);
    }

    fn put(&mut self, key: String, value: Option<Vec<u8>>) {
        let size = |value: &Option<Vec<u8>>| key.len() + value.as_ref().map_or(0, Vec::len);
        self.bytes += size(&value);
        let before = self.entries.get(&key).map(size);
        self.bytes -= before.unwrap_or(0);
        self.entries.insert(key, value);
    }

    /// What these writes say about `key`: `None` when they do not name it,
    /// `Some(None)` when they delete it.
    pub fn get(&self, key: &str) -> Option<Option<&[u8]>> {
        self.entries.get(key).map(Option::as_deref)
    }

    /// Whether nothing is written.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of keys and values held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The keys set, with their values, in key order.
    pub fn sets(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.entries
            .iter()
            .filter_map(|(k, v)| v.as_deref().map(|v| (k.as_str(), v)))
    }

    /// The keys deleted, in key order.
    pub fn deletes(&self) -> impl Iterator<Item = &str> {
        self.entries
            .iter()
            .filter(|(_, v)| v.is_none())
            .map(|(k, _)| k.as_str())
    }

    /// Hand the writes over, leaving none.
    pub fn take(&mut self) -> Self {
        let platform = self.platform.clone();
        std::mem::replace(self, Self::new(platform))
    }
}

#[cfg(test)]
mod tests {
    use super::KvWrites;

    #[test]
    fn the_last_write_of_a_key_wins_and_sizes_follow() {
        let mut writes = KvWrites::new("p");
        writes.set("a", b"12345".to_vec());
        writes.set("b", b"x".to_vec());
        assert_eq!(writes.bytes(), 1 + 5 + 1 + 1);
        writes.set("a", b"1".to_vec());
        assert_eq!(writes.bytes(), 1 + 1 + 1 + 1);
        writes.delete("b");
        assert_eq!(writes.bytes(), 1 + 1 + 1);
        assert_eq!(writes.get("a"), Some(Some(&b"1"[..])));
        assert_eq!(writes.get("b"), Some(None));
        assert_eq!(writes.get("c"), None);
        assert_eq!(writes.sets().collect::<Vec<_>>(), [("a", &b"1"[..])]);
        assert_eq!(writes.deletes().collect::<Vec<_>>(), ["b"]);
        let taken = writes.take();
        assert!(writes.is_empty() && writes.bytes() == 0);
        assert_eq!(writes.platform(), "p");
        assert_eq!(taken.platform(), "p");
        assert!(!taken.is_empty());
    }
}
