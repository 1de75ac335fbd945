//! NATS going away for a while (a restart, a cluster electing a new leader,
//! a Mac waking up): callers wait and carry on, and the log says so once,
//! then every 30 s, then when it is back, instead of a line per attempt.
//! Used by the worker's loop and by the coordinator's collector.

use crate::backoff::{Backoff, Delays};
use std::time::{Duration, Instant};

/// Pause after a failed attempt: 250 ms, doubling up to 5 s.
pub const PAUSES: Backoff = Backoff::exponential(Duration::from_millis(250), Duration::from_secs(5));
/// How often a continuing outage is mentioned again.
const REMIND_EVERY: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct Outage {
    /// What is waiting, for the log ("pulling tasks", "collecting").
    what: &'static str,
    since: Option<Instant>,
    last_said: Option<Instant>,
    pauses: Delays,
}

impl Outage {
    pub fn new(what: &'static str) -> Self {
        Self { what, since: None, last_said: None, pauses: PAUSES.delays() }
    }

    /// Records a failed attempt, says so if due, and waits before the next one.
    pub async fn failed(&mut self, error: &str) {
        let since = *self.since.get_or_insert_with(Instant::now);
        if self.last_said.is_none_or(|t| t.elapsed() >= REMIND_EVERY) {
            self.last_said = Some(Instant::now());
            tracing::warn!(
                "NATS is not answering while {} ({error}), for {} s so far: retrying, nothing is lost. \
                 If this lasts, check that nats-server runs and is reachable (README.md \"Set-up\")",
                self.what,
                since.elapsed().as_secs()
            );
        }
        tokio::time::sleep(self.pauses.next().unwrap_or(PAUSES.max)).await;
    }

    /// An attempt worked: ends the outage, if there was one.
    pub fn recovered(&mut self) {
        if let Some(since) = self.since.take() {
            tracing::info!("NATS answers again after {} s: {}", since.elapsed().as_secs(), self.what);
            self.last_said = None;
            self.pauses.reset();
        }
    }

    pub fn ongoing(&self) -> bool {
        self.since.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pauses_grow_to_a_cap_and_reset_on_recovery() {
        let mut outage = Outage::new("testing");
        let started = tokio::time::Instant::now();
        for _ in 0..8 {
            outage.failed("down").await;
        }
        // 0.25 + 0.5 + 1 + 2 + 4 + 5 + 5 + 5
        assert_eq!(started.elapsed(), Duration::from_millis(22_750));
        assert!(outage.ongoing());
        outage.recovered();
        assert!(!outage.ongoing());
        let again = tokio::time::Instant::now();
        outage.failed("down").await;
        assert_eq!(again.elapsed(), PAUSES.first);
    }
}
