//! Waiting on state with bounded polling.

use std::time::{Duration, Instant};

/// Polls `check` every 20 ms until it is true; panics naming `what` after `limit`.
pub fn until(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
