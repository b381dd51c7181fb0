//! Keeping a reservation's lease alive while its work runs.

use crate::store::{Result, Store};

/// Run `work` while renewing this caller's lease with `renew`, a third of
/// the lease at a time, when the store has leases. A failed renewal is
/// logged and retried at the next tick: the work is never abandoned
/// halfway, since its outcome at the CRM would be unknown. `what` names the
/// reservation in logs.
pub(super) async fn holding_lease<T, Renewal>(
    store: &dyn Store,
    what: &str,
    renew: impl Fn() -> Renewal,
    work: impl Future<Output = T>,
) -> T
where
    Renewal: Future<Output = Result<bool>>,
{
    let Some(lease) = store.lease() else {
        return work.await;
    };
    let mut ticks = tokio::time::interval(lease / 3);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // The first tick is now; the lease was just taken.
    let mut work = std::pin::pin!(work);
    loop {
        tokio::select! {
            done = &mut work => return done,
            _ = ticks.tick() => match renew().await {
                Ok(true) => {}
                Ok(false) => tracing::error!(
                    reservation = what,
                    "lost the reservation's lease while working; another replica may do the same work"
                ),
                Err(e) => tracing::warn!(reservation = what, error = %e, "renewing a reservation's lease"),
            },
        }
    }
}
