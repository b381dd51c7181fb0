//! Users read back from memory. One process owns a SQLite file, and every
//! change to a user goes through this store, so the cache is exact: each
//! write forgets the user once committed, and a read that raced a write
//! does not put back what it read. A user is therefore read from the file
//! once, not on every request (which costs a read transaction and opening
//! the sealed credential).
//!
//! PostgreSQL has no such cache: another replica may change a user.

use crate::store::User;
use quick_cache::sync::Cache;
use std::sync::Mutex;

/// How many users are kept; past it, the least used are read again.
const CAPACITY: usize = 10_000;

/// Recently read users, by id.
#[derive(Debug)]
pub(super) struct UserCache {
    users: Cache<String, User>,
    /// Writes so far. A read fills the cache only if none happened while
    /// it read the file; checked and bumped under the lock, with the fill
    /// and the forget.
    writes: Mutex<u64>,
}

impl Default for UserCache {
    fn default() -> Self {
        Self {
            users: Cache::new(CAPACITY),
            writes: Mutex::new(0),
        }
    }
}

impl UserCache {
    /// The cached user, if any.
    pub(super) fn get(&self, id: &str) -> Option<User> {
        self.users.get(id)
    }

    /// Take before reading the file; hand to [`Self::fill`] after.
    pub(super) fn writes_so_far(&self) -> u64 {
        *self.writes.lock().expect("user cache lock")
    }

    /// Keep `user`, read from the file after `writes_so_far` answered
    /// `seen`, unless a write happened since.
    pub(super) fn fill(&self, seen: u64, user: &User) {
        let writes = self.writes.lock().expect("user cache lock");
        if *writes == seen {
            self.users.insert(user.id.clone(), user.clone());
        }
    }

    /// A write of `id` (or of every user, for `None`) has committed.
    pub(super) fn forget(&self, id: Option<&str>) {
        let mut writes = self.writes.lock().expect("user cache lock");
        *writes += 1;
        match id {
            Some(id) => {
                self.users.remove(id);
            }
            None => self.users.clear(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::UserCache;
    use crate::store::User;

    fn user(name: &str) -> User {
        User {
            id: "u".into(),
            platform: "p".into(),
            crm_user_id: "1".into(),
            name: name.into(),
            hostname: "h".into(),
            timezone: None,
            credential: None,
            platform_additional_info: None,
        }
    }

    #[test]
    fn a_read_that_raced_a_write_is_not_kept() {
        let cache = UserCache::default();
        let seen = cache.writes_so_far();
        // A write commits while the read is between the file and the cache.
        cache.forget(Some("u"));
        cache.fill(seen, &user("old"));
        assert_eq!(cache.get("u"), None);
        // A read that saw no write is kept until the next write.
        let seen = cache.writes_so_far();
        cache.fill(seen, &user("new"));
        assert_eq!(cache.get("u").map(|u| u.name), Some("new".into()));
        cache.forget(None);
        assert_eq!(cache.get("u"), None);
    }
}
