//! Waiting for something to become true: polled every few milliseconds
//! until a deadline, never a fixed sleep.

use std::time::{Duration, Instant};

/// How long a test waits for something that should take moments.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// How often a condition is checked.
const INTERVAL: Duration = Duration::from_millis(10);

/// Check `ready` every 10 ms until it gives `Ok`, and return that. When
/// `deadline` passes first, panic with its last `Err`, which says what was
/// awaited and what was seen.
pub async fn wait_until<T>(
    deadline: Duration,
    mut ready: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let until = Instant::now() + deadline;
    loop {
        match ready().await {
            Ok(value) => return value,
            Err(seen) => assert!(Instant::now() < until, "waited {deadline:?}: {seen}"),
        }
        tokio::time::sleep(INTERVAL).await;
    }
}
