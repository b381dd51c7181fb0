//! Hearing of every change to a user, made by any replica, so that this
//! replica's user cache forgets it (see `store/user_cache.rs`). A trigger
//! on `users` sends the user's id on [`CHANNEL`] when the change commits
//! (migration `0002_user_changes.sql`).
//!
//! The cache is on only while this replica listens: it is turned on, empty,
//! once `LISTEN` has succeeded, and off when the listening connection fails
//! for any reason, since changes made meanwhile would go unheard. Listening
//! is tried again every [`RETRY`]; until then users are read from the
//! database. The listener has a connection of its own, beside the pool's.

use crate::store::user_cache::UserCache;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use std::sync::Arc;
use std::time::Duration;

/// The channel the trigger notifies.
const CHANNEL: &str = "switchboard_users";

/// How long to wait before listening again after a failure.
const RETRY: Duration = Duration::from_secs(1);

/// Keep `cache` in step with the database `connect` reaches, until `pool`
/// (the store's) is closed.
pub(super) fn follow(connect: PgConnectOptions, pool: PgPool, cache: Arc<UserCache>) {
    tokio::spawn(async move {
        let listening = cache.clone();
        while_open(connect, pool, async move |own| {
            keep_in_step(&own, &listening).await
        })
        .await;
        cache.set_on(false);
    });
}

/// Run `work` on a one-connection pool of its own, the listener's, until
/// `pool` (the store's) is closed.
pub(super) async fn while_open(
    connect: PgConnectOptions,
    pool: PgPool,
    work: impl AsyncFnOnce(PgPool),
) {
    let own = PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy_with(connect);
    tokio::select! {
        () = pool.close_event() => {}
        () = work(own.clone()) => {}
    }
    own.close().await;
}

/// Listen, and forget what changes, for ever; after each failure, turn the
/// cache off and listen again.
async fn keep_in_step(own: &PgPool, cache: &UserCache) {
    loop {
        match listen(own, CHANNEL).await {
            Ok(mut listener) => {
                cache.set_on(true);
                let why = forget_changed(&mut listener, cache).await;
                cache.set_on(false);
                tracing::warn!(
                    error = %why,
                    "stopped hearing of user changes; users are read from the database until listening again"
                );
            }
            Err(e) => tracing::debug!(error = %e, "cannot listen for user changes yet"),
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// A listener on `channel` that reports a lost connection instead of
/// reconnecting by itself.
pub(super) async fn listen(pool: &PgPool, channel: &str) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.eager_reconnect(false);
    listener.listen(channel).await?;
    Ok(listener)
}

/// Forget each user a notification names, until the connection fails;
/// then say why.
async fn forget_changed(listener: &mut PgListener, cache: &UserCache) -> String {
    loop {
        match listener.try_recv().await {
            Ok(Some(change)) => cache.forget(Some(change.payload())),
            Ok(None) => return "the connection was lost".to_owned(),
            Err(e) => return e.to_string(),
        }
    }
}
