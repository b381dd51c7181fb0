//! Users read back from memory, so that a request's user is not read from
//! the database each time (a read transaction, and opening the sealed
//! credential).
//!
//! A write of a user forgets it once committed, and a read that raced a
//! write does not put back what it read.
//! - **SQLite**: one process owns the file and every user write goes
//!   through it, so the cache is exact and always on.
//! - **PostgreSQL**: another replica may write a user. A trigger notifies
//!   every replica of each change (`LISTEN/NOTIFY`, see
//!   `postgres/user_changes.rs`); the cache is on only while this replica
//!   is listening, and emptied each time listening starts, so what it
//!   holds is at most one notification's delivery behind the database.
//!   Decisions that must see the latest row (the OAuth refresh under its
//!   lock) read the database directly.

use crate::store::{Result, User};
use quick_cache::sync::Cache;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// How many users are kept; past it, the least used are read again.
const CAPACITY: usize = 10_000;

/// Recently read users, by id.
#[derive(Debug)]
pub(super) struct UserCache {
    users: Cache<String, User>,
    /// Whether reads may use the cache (a relaxed copy of `state.on`).
    on: AtomicBool,
    state: Mutex<State>,
}

/// Checked and changed under the lock, with each fill and forget.
#[derive(Debug)]
struct State {
    /// Writes so far. A read fills the cache only if none happened while it
    /// read the database.
    writes: u64,
    on: bool,
}

impl UserCache {
    /// An empty cache, in use from the start or not.
    pub(super) fn new(on: bool) -> Self {
        Self {
            users: Cache::new(CAPACITY),
            on: AtomicBool::new(on),
            state: Mutex::new(State { writes: 0, on }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The cached user, if any.
    fn get(&self, id: &str) -> Option<User> {
        if !self.on.load(Ordering::Relaxed) {
            return None;
        }
        self.users.get(id)
    }

    /// The cached user, or the one `read` reads from the database, kept
    /// unless a write happened while it was read or the cache is off.
    pub(super) async fn read_through<Read>(
        &self,
        id: &str,
        read: impl FnOnce() -> Read,
    ) -> Result<Option<User>>
    where
        Read: Future<Output = Result<Option<User>>>,
    {
        if let Some(user) = self.get(id) {
            return Ok(Some(user));
        }
        let seen = self.writes_so_far();
        let user = read().await?;
        if let Some(user) = &user {
            self.fill(seen, user);
        }
        Ok(user)
    }

    /// Take before reading the database; hand to [`Self::fill`] after.
    fn writes_so_far(&self) -> u64 {
        self.state().writes
    }

    /// Keep `user`, read from the database after `writes_so_far` answered
    /// `seen`, unless a write happened since or the cache is off.
    fn fill(&self, seen: u64, user: &User) {
        let state = self.state();
        if state.on && state.writes == seen {
            self.users.insert(user.id.clone(), user.clone());
        }
    }

    /// A write of `id` (or of every user, for `None`) has committed.
    pub(super) fn forget(&self, id: Option<&str>) {
        let mut state = self.state();
        state.writes += 1;
        match id {
            Some(id) => {
                self.users.remove(id);
            }
            None => self.users.clear(),
        }
    }

    /// Turn the cache on or off; either way it starts empty.
    pub(super) fn set_on(&self, on: bool) {
        let mut state = self.state();
        state.writes += 1;
        state.on = on;
        self.on.store(on, Ordering::Relaxed);
        self.users.clear();
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
        let cache = UserCache::new(true);
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
        // Off, it keeps nothing; back on, it starts empty.
        cache.set_on(false);
        let seen = cache.writes_so_far();
        cache.fill(seen, &user("off"));
        assert_eq!(cache.get("u"), None);
        cache.set_on(true);
        assert_eq!(cache.get("u"), None);
    }
}
