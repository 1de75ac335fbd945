//! Retry delays, as pure functions (the only module that names `backoff`).
//!
//! Short waits (a server restarting, a busy queue) are retried in place with
//! exponential backoff and jitter within a small budget; longer outages go back
//! to JetStream as a Nak with a delay, which survives a worker restart.

use std::time::Duration;

/// Retries in place for a transient LLM error.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// Total time spent retrying one call before handing the task back.
    pub budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            budget: Duration::from_secs(30),
        }
    }
}

/// Successive delays with jitter; `None` once the budget is spent.
pub struct Delays(backoff::ExponentialBackoff);

impl RetryPolicy {
    pub fn delays(&self) -> Delays {
        Delays(backoff::ExponentialBackoff {
            current_interval: self.first_delay,
            initial_interval: self.first_delay,
            randomization_factor: 0.5,
            multiplier: 2.0,
            max_interval: self.max_delay,
            max_elapsed_time: Some(self.budget),
            ..Default::default()
        })
    }
}

impl Iterator for Delays {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        backoff::backoff::Backoff::next_backoff(&mut self.0)
    }
}

/// Delay before the server redelivers a task handed back after `delivery`
/// attempts: 15 s, 30 s, 60 s, … capped at 5 minutes.
pub fn nak_delay(delivery: u64) -> Duration {
    let exponent = delivery.saturating_sub(1).min(16) as u32;
    Duration::from_secs(15u64.saturating_mul(1 << exponent)).min(Duration::from_secs(300))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_with_jitter_and_stop_at_the_budget() {
        let policy = RetryPolicy {
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            budget: Duration::from_secs(60),
        };
        let delays: Vec<Duration> = policy.delays().take(6).collect();
        assert_eq!(delays.len(), 6);
        assert!(delays[0] >= Duration::from_millis(50) && delays[0] <= Duration::from_millis(150), "{delays:?}");
        assert!(delays.iter().all(|d| *d <= Duration::from_millis(1500)), "{delays:?}");
        let spent = RetryPolicy { budget: Duration::ZERO, ..policy };
        let mut none = spent.delays();
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(none.next(), None);
    }

    #[test]
    fn nak_delays_double_and_cap() {
        assert_eq!(nak_delay(1), Duration::from_secs(15));
        assert_eq!(nak_delay(3), Duration::from_secs(60));
        assert_eq!(nak_delay(40), Duration::from_secs(300));
    }
}
