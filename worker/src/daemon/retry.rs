//! The worker's two retry policies, as [`runtime::Backoff`] constants.
//!
//! Short waits (a server restarting, a busy queue) are retried in place with
//! exponential backoff and jitter within a small budget; longer outages go back
//! to JetStream as a Nak with a delay, which survives a worker restart.

use runtime::Backoff;
use std::time::Duration;

/// A transient LLM error is retried in place: 0.5 s doubling to 8 s, ±50%,
/// for up to 30 s, then the task is handed back.
pub const IN_PLACE: Backoff = Backoff::exponential(Duration::from_millis(500), Duration::from_secs(8))
    .with_jitter(0.5)
    .with_budget(Duration::from_secs(30));

/// Delay before the server redelivers a task handed back: 15 s, 30 s, 60 s, …
/// capped at 5 minutes, by delivery.
pub const HANDED_BACK: Backoff = Backoff::exponential(Duration::from_secs(15), Duration::from_secs(300));

/// The redelivery delay of a task handed back after `delivery` attempts.
pub fn nak_delay(delivery: u64) -> Duration {
    HANDED_BACK.delay_for(delivery.min(u64::from(u32::MAX)) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nak_delays_double_and_cap() {
        assert_eq!(nak_delay(1), Duration::from_secs(15));
        assert_eq!(nak_delay(3), Duration::from_secs(60));
        assert_eq!(nak_delay(40), Duration::from_secs(300));
    }

    #[test]
    fn in_place_retries_start_short_with_jitter() {
        let first = IN_PLACE.delays().next().expect("a first delay");
        assert!(first >= Duration::from_millis(250) && first <= Duration::from_millis(750), "{first:?}");
    }
}
