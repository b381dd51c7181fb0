//! Instances kept between calls, when the operator opts in with
//! `[runtime] reuse = "per-user"` in the adapter's `NAME.toml`.
//!
//! By default every call runs in a fresh instance (see `sandbox`). A JS or
//! Python adapter's fresh instance costs far more than a Rust one's: its
//! interpreter's memory is copied on write, page by page, as the call
//! touches it. So an operator may let such an adapter's instances serve
//! more than one call, under these rules (the README gives them to adapter
//! authors):
//! - an instance serves one user only, named by the request's
//!   `user-context` (`user-id` and `hostname`); sign-in has no user and
//!   always runs in a fresh instance;
//! - it is kept only after a call that succeeded: a trap, a timeout, any
//!   limit, an error answer or an oversize answer drops it;
//! - it is dropped after [`ReuseBounds::max_calls`] calls, or
//!   [`ReuseBounds::max_age`] after it was made (a sweeper drops idle ones
//!   on time), and with its adapter version when the file is reloaded;
//! - at most [`ReuseBounds::max_idle`] wait between calls, over all users,
//!   least recently used dropped first; each holds a slot of the instance
//!   pool, so a call refused `ADAPTER_BUSY` drops the adapter's idle ones;
//! - every call starts with its own CPU budget, egress count, output
//!   capture and kv writes (`HostState::begin_next_call`); kv stays the only
//!   state that outlives an instance.

use super::bindings::{
    CreateCallLogRequest, CreateContactRequest, CreateMessageLogRequest, FindContactByNameRequest,
    FindContactRequest, GetCallLogRequest, LoginRequest, UpdateCallLogRequest,
    UpdateMessageLogRequest, UpsertCallDispositionRequest,
};
use super::host::HostState;
use super::settings::ReuseBounds;
use super::world::WorldInstance;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;
use wasmtime::Store;

/// Whose calls an instance may serve: the CRM user and the host they signed
/// in to, as every request's `user-context` gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct UserKey {
    user_id: String,
    hostname: String,
}

/// A request, and the user it is made for (none for sign-in).
pub(super) trait ForUser {
    /// The user whose instance may serve this request.
    fn user(&self) -> Option<UserKey>;
}

impl ForUser for LoginRequest {
    fn user(&self) -> Option<UserKey> {
        None
    }
}

macro_rules! for_user {
    ($($request:ty),*) => {
        $(
            impl ForUser for $request {
                fn user(&self) -> Option<UserKey> {
                    Some(UserKey {
                        user_id: self.user.user_id.clone(),
                        hostname: self.user.hostname.clone(),
                    })
                }
            }
        )*
    };
}

for_user!(
    FindContactRequest,
    FindContactByNameRequest,
    CreateContactRequest,
    CreateCallLogRequest,
    GetCallLogRequest,
    UpdateCallLogRequest,
    UpsertCallDispositionRequest,
    CreateMessageLogRequest,
    UpdateMessageLogRequest
);

/// An instance with its store, waiting for its user's next call.
pub(super) struct Idle {
    user: UserKey,
    pub(super) store: Store<HostState>,
    pub(super) instance: WorldInstance,
}

/// One adapter version's idle instances.
pub(super) struct KeptInstances {
    bounds: ReuseBounds,
    /// Least recently used first.
    idle: Mutex<VecDeque<Idle>>,
}

impl KeptInstances {
    /// An empty set, with a task that drops instances as they expire for as
    /// long as the set lives.
    pub(super) fn new(bounds: ReuseBounds) -> Arc<Self> {
        let kept = Arc::new(Self {
            bounds,
            idle: Mutex::new(VecDeque::new()),
        });
        let every = (bounds.max_age / 4).clamp(Duration::from_millis(10), Duration::from_secs(5));
        tokio::spawn(sweep(Arc::downgrade(&kept), every));
        kept
    }

    /// The most recently used idle instance of `user`, if one has not
    /// expired.
    pub(super) fn take(&self, user: &UserKey) -> Option<Idle> {
        let found = {
            let mut idle = self.lock();
            let at = idle.iter().rposition(|i| &i.user == user)?;
            idle.remove(at)?
        };
        // Past its age it is dropped here, outside the lock.
        self.fresh(&found.store).then_some(found)
    }

    /// Keep an instance after a successful call of `user`, unless it has
    /// served its calls or its time.
    pub(super) fn keep(&self, user: UserKey, store: Store<HostState>, instance: WorldInstance) {
        if store.data().calls >= self.bounds.max_calls || !self.fresh(&store) {
            return;
        }
        let evicted = {
            let mut idle = self.lock();
            idle.push_back(Idle {
                user,
                store,
                instance,
            });
            (idle.len() > self.bounds.max_idle as usize)
                .then(|| idle.pop_front())
                .flatten()
        };
        drop(evicted);
    }

    /// Drop every idle instance (their pool slots are wanted).
    pub(super) fn clear(&self) {
        let all = std::mem::take(&mut *self.lock());
        drop(all);
    }

    /// How many instances wait between calls.
    pub(super) fn idle(&self) -> usize {
        self.lock().len()
    }

    fn fresh(&self, store: &Store<HostState>) -> bool {
        store.data().made.elapsed() < self.bounds.max_age
    }

    fn drop_expired(&self) {
        let expired: VecDeque<Idle> = {
            let mut idle = self.lock();
            let (fresh, expired) = std::mem::take(&mut *idle)
                .into_iter()
                .partition(|i| self.fresh(&i.store));
            *idle = fresh;
            expired
        };
        drop(expired);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Idle>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Drop expired instances every `every`, until the set is gone.
async fn sweep(kept: Weak<KeptInstances>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match kept.upgrade() {
            Some(kept) => kept.drop_expired(),
            None => return,
        }
    }
}
