//! Completed call logs remembered in memory: `(platform, user, session) →
//! logId`, bounded, least recently used out first.
//!
//! A logId never changes once its create completed (the row is never
//! updated or deleted afterwards), so a remembered mapping is true on every
//! replica forever, and needs no invalidation. Only completed mappings are
//! kept: a pending or missing session always goes to the store.

use quick_cache::sync::Cache;

/// The remembered mappings.
#[derive(Debug)]
pub(super) struct LoggedIds {
    cache: Option<Cache<String, String>>,
}

/// The key of a session: platform, user and session, NUL-separated (none of
/// them may contain a NUL).
fn key(platform: &str, user_id: &str, session_id: &str) -> String {
    let mut key = String::with_capacity(platform.len() + user_id.len() + session_id.len() + 2);
    for (i, part) in [platform, user_id, session_id].into_iter().enumerate() {
        if i > 0 {
            key.push('\0');
        }
        key.push_str(part);
    }
    key
}

impl LoggedIds {
    /// Room for `entries` mappings; 0 remembers nothing.
    pub(super) fn new(entries: usize) -> Self {
        Self {
            cache: (entries > 0).then(|| Cache::new(entries)),
        }
    }

    /// The logId of a completed session, when remembered.
    pub(super) fn get(&self, platform: &str, user_id: &str, session_id: &str) -> Option<String> {
        self.cache
            .as_ref()?
            .get(&key(platform, user_id, session_id))
    }

    /// Remember a completed session's logId.
    pub(super) fn insert(&self, platform: &str, user_id: &str, session_id: &str, log_id: &str) {
        if let Some(cache) = &self.cache {
            cache.insert(key(platform, user_id, session_id), log_id.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_per_platform_user_and_session() {
        let logged = LoggedIds::new(16);
        logged.insert("p", "u", "s", "1");
        assert_eq!(logged.get("p", "u", "s").as_deref(), Some("1"));
        assert_eq!(logged.get("q", "u", "s"), None);
        assert_eq!(logged.get("p", "v", "s"), None);
        // The separator keeps parts apart.
        logged.insert("p", "u\u{1}", "s", "2");
        assert_eq!(logged.get("p", "u", "\u{1}s"), None);
        assert_eq!(LoggedIds::new(0).get("p", "u", "s"), None);
    }
}
