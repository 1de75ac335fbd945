//! [`Backoff`]: the one retry policy of podmine. Every loop that waits and
//! tries again (an LLM call retried in place, a task handed back with a
//! delay, NATS outages, an LLM endpoint skipped while it is down, replicated
//! streams waiting for their peers) names its policy as a `Backoff` constant
//! and takes its delays from [`Backoff::delays`] or [`Backoff::delay_for`].
//!
//! The only module that names the `backoff` crate (marked unmaintained): it
//! is used for its delay maths, never for its loops.

use std::time::Duration;

/// How long to wait between attempts: `first`, then × `factor` each time up
/// to `max`, each drawn from ±`jitter` of that, until `budget` is spent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    /// Growth per attempt: 2 doubles, 1 keeps the delay constant.
    pub factor: f64,
    /// Each delay is drawn from `delay × (1 ± jitter)`, so many waiters do not retry in step.
    pub jitter: f64,
    /// Time spent retrying after which [`Delays`] ends; `None`: never.
    pub budget: Option<Duration>,
}

impl Backoff {
    /// Doubling from `first` to `max`, no jitter, no end.
    pub const fn exponential(first: Duration, max: Duration) -> Self {
        Self { first, max, factor: 2.0, jitter: 0.0, budget: None }
    }

    /// The same delay every time.
    pub const fn constant(every: Duration) -> Self {
        Self { first: every, max: every, factor: 1.0, jitter: 0.0, budget: None }
    }

    pub const fn with_jitter(self, jitter: f64) -> Self {
        Self { jitter, ..self }
    }

    pub const fn with_budget(self, budget: Duration) -> Self {
        Self { budget: Some(budget), ..self }
    }

    /// Successive delays from now; the iterator ends once the budget is spent.
    pub fn delays(&self) -> Delays {
        Delays(backoff::ExponentialBackoff {
            current_interval: self.first,
            initial_interval: self.first,
            randomization_factor: self.jitter,
            multiplier: self.factor,
            max_interval: self.max,
            max_elapsed_time: self.budget,
            ..Default::default()
        })
    }

    /// The delay before attempt `attempt + 1` (the first retry is attempt 1),
    /// without jitter: for delays a server keeps (a Nak's redelivery delay).
    pub fn delay_for(&self, attempt: u32) -> Duration {
        let grown = self.first.as_secs_f64() * self.factor.powi(attempt.saturating_sub(1).min(64) as i32);
        Duration::from_secs_f64(grown.min(self.max.as_secs_f64()))
    }
}

/// The delays of one run of attempts; [`Delays::reset`] starts over after a success.
#[derive(Debug)]
pub struct Delays(backoff::ExponentialBackoff);

impl Delays {
    /// Back to the first delay and a fresh budget.
    pub fn reset(&mut self) {
        backoff::backoff::Backoff::reset(&mut self.0);
    }
}

impl Iterator for Delays {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        backoff::backoff::Backoff::next_backoff(&mut self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_delays_double_to_the_cap() {
        let delays: Vec<_> =
            Backoff::exponential(Duration::from_millis(250), Duration::from_secs(5)).delays().take(8).collect();
        let millis: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(millis, [250, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
    }

    #[test]
    fn jittered_delays_stay_in_their_band_and_stop_at_the_budget() {
        let policy = Backoff::exponential(Duration::from_millis(100), Duration::from_secs(1))
            .with_jitter(0.5)
            .with_budget(Duration::from_secs(60));
        let delays: Vec<Duration> = policy.delays().take(6).collect();
        assert_eq!(delays.len(), 6);
        assert!(delays[0] >= Duration::from_millis(50) && delays[0] <= Duration::from_millis(150), "{delays:?}");
        assert!(delays.iter().all(|d| *d <= Duration::from_millis(1500)), "{delays:?}");
        let spent = policy.with_budget(Duration::ZERO);
        let mut none = spent.delays();
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(none.next(), None);
    }

    #[test]
    fn constant_delays_repeat_and_reset_starts_over() {
        let mut delays = Backoff::constant(Duration::from_secs(1)).delays();
        assert_eq!(delays.by_ref().take(3).map(|d| d.as_millis()).collect::<Vec<_>>(), [1000, 1000, 1000]);
        let mut growing = Backoff::exponential(Duration::from_secs(1), Duration::from_secs(60)).delays();
        growing.by_ref().take(4).for_each(drop);
        growing.reset();
        assert_eq!(growing.next().map(|d| d.as_millis()), Some(1000));
    }

    #[test]
    fn delay_for_an_attempt_doubles_and_caps() {
        let nak = Backoff::exponential(Duration::from_secs(15), Duration::from_secs(300));
        assert_eq!(nak.delay_for(1), Duration::from_secs(15));
        assert_eq!(nak.delay_for(3), Duration::from_secs(60));
        assert_eq!(nak.delay_for(40), Duration::from_secs(300));
    }
}
