//! How many calls one LLM endpoint gets at once: a fixed number
//! (`--concurrency N`), or found by measuring (`--concurrency auto`).
//!
//! Auto measures output tokens/s over windows of completed calls (calls that
//! started under an older limit are not counted) and climbs:
//! - slow start: from 1, double while a window beats the best by 5% (the
//!   rule `worker bench`'s sweep uses, so both stop at the same knee);
//! - then one step at a time: keep a step up only when it beats the best by
//!   5% without errors, else go back to the best and hold a while before
//!   probing again (servers drift: thermal limits, other users);
//! - a 429/503 (the server's own queue is full) cuts the limit by 30% and
//!   caps it there for a while: podmine waits in NATS, not in Ollama's queue;
//! - never above `--max-concurrency`.
//!
//! Pure logic on samples and instants, so it is tested without a server.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// One finished call, as the controller sees it.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub started: Instant,
    pub finished: Instant,
    pub output_tokens: u64,
    pub outcome: CallOutcome,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallOutcome {
    Answered,
    /// 429 or 503: the server refuses more work right now.
    Overloaded,
    /// Anything else that failed (timeouts, 5xx, dropped connections).
    Failed,
}

/// What one limit delivered.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Point {
    pub output_tokens_per_s: f64,
    pub calls_per_s: f64,
    pub p95_latency_ms: u64,
    pub windows: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    SlowStart,
    /// Probing `limit` (one above or below `best_limit`).
    Probe,
    /// At the best limit until the instant, then probe again.
    Hold(Instant),
}

/// A window must beat the best by this factor for a step up to stay (also
/// where `worker bench` stops its sweep). 10% for slow start stopped auto at
/// 1 on a real llama-server whose curve rose 6% from 1 to 2 and 30% from 2 to 4.
pub const GAIN: f64 = 1.05;

/// Holding at the best point before probing again.
const HOLD: Duration = Duration::from_secs(120);
/// A 429/503 caps the limit this long.
const CAP_FOR: Duration = Duration::from_secs(300);
/// A window needs at least this long and this many completions per slot.
const MIN_WINDOW: Duration = Duration::from_secs(2);
const CALLS_PER_SLOT: usize = 3;
const MIN_CALLS: usize = 6;

#[derive(Debug)]
pub struct Controller {
    auto: bool,
    limit: usize,
    max: usize,
    phase: Phase,
    best_limit: usize,
    best: f64,
    cap: Option<(usize, Instant)>,
    window_start: Instant,
    window: Vec<Sample>,
    curve: BTreeMap<usize, Point>,
}

impl Controller {
    pub fn fixed(limit: usize) -> Self {
        Self::new(false, limit.max(1), limit.max(1), Instant::now())
    }

    pub fn auto(max: usize, now: Instant) -> Self {
        Self::new(true, 1, max.max(1), now)
    }

    fn new(auto: bool, limit: usize, max: usize, now: Instant) -> Self {
        Self {
            auto,
            limit,
            max,
            phase: Phase::SlowStart,
            best_limit: limit,
            best: 0.0,
            cap: None,
            window_start: now,
            window: Vec::new(),
            curve: BTreeMap::new(),
        }
    }

    /// Calls this endpoint may have in flight now.
    pub fn limit(&self) -> usize {
        self.limit
    }

    pub fn is_auto(&self) -> bool {
        self.auto
    }

    /// Throughput measured at each limit tried (the curve `status` shows).
    pub fn curve(&self) -> &BTreeMap<usize, Point> {
        &self.curve
    }

    /// Takes a finished call; returns the new limit when it changes.
    pub fn record(&mut self, sample: Sample) -> Option<usize> {
        let now = sample.finished;
        if sample.outcome == CallOutcome::Overloaded {
            return self.overloaded(now);
        }
        if sample.started < self.window_start {
            return None; // started under another limit: not this window's
        }
        // The clock starts at the first completion under this limit, when
        // the pipeline is full: counting from the change would charge the
        // window with one call's latency of ramp-up.
        self.window.push(sample);
        let first = self.window[0].finished;
        let enough = self.window.len() > (CALLS_PER_SLOT * self.limit).max(MIN_CALLS);
        if !enough || now.duration_since(first) < MIN_WINDOW {
            return None;
        }
        let (point, calls, errors) = self.close_window(now);
        if !self.auto {
            return None;
        }
        self.decide(point.output_tokens_per_s, errors * 10 <= calls, now)
    }

    fn overloaded(&mut self, now: Instant) -> Option<usize> {
        if !self.auto {
            return None;
        }
        let cut = ((self.limit as f64) * 0.7).floor().max(1.0) as usize;
        self.cap = Some((cut, now + CAP_FOR));
        self.best_limit = self.best_limit.min(cut);
        self.phase = Phase::Hold(now + HOLD);
        self.set(cut, now)
    }

    /// Ends the window: its point (also merged into the curve), the calls it
    /// counted and how many of them failed.
    fn close_window(&mut self, now: Instant) -> (Point, usize, usize) {
        let seconds = now.duration_since(self.window[0].finished).as_secs_f64().max(1e-3);
        let counted = &self.window[1..];
        let answered: Vec<&Sample> = counted.iter().filter(|s| s.outcome == CallOutcome::Answered).collect();
        let tokens: u64 = answered.iter().map(|s| s.output_tokens).sum();
        let mut latencies: Vec<u64> =
            answered.iter().map(|s| s.finished.duration_since(s.started).as_millis() as u64).collect();
        latencies.sort_unstable();
        let p95 = latencies.get((latencies.len() * 95).div_ceil(100).saturating_sub(1)).copied().unwrap_or(0);
        let calls = counted.len();
        let errors = calls - answered.len();
        let measured = Point {
            output_tokens_per_s: tokens as f64 / seconds,
            calls_per_s: answered.len() as f64 / seconds,
            p95_latency_ms: p95,
            windows: 1,
        };
        let entry = self.curve.entry(self.limit).or_default();
        // Recent windows count most: the server may have changed since.
        *entry = match entry.windows {
            0 => measured,
            n => Point {
                output_tokens_per_s: (entry.output_tokens_per_s + measured.output_tokens_per_s) / 2.0,
                calls_per_s: (entry.calls_per_s + measured.calls_per_s) / 2.0,
                p95_latency_ms: measured.p95_latency_ms,
                windows: n + 1,
            },
        };
        self.window.clear();
        self.window_start = now;
        (measured, calls, errors)
    }

    fn decide(&mut self, throughput: f64, clean: bool, now: Instant) -> Option<usize> {
        match self.phase {
            Phase::SlowStart if clean && throughput > self.best * GAIN => {
                self.best = throughput;
                self.best_limit = self.limit;
                match self.allowed(self.limit * 2, now) {
                    up if up > self.limit => self.set(up, now),
                    _ => self.hold(now),
                }
            }
            Phase::SlowStart => {
                // Doubling gained nothing: search upwards from the best.
                self.phase = Phase::Probe;
                match self.best_limit + 1 {
                    up if up < self.limit => self.set(up, now),
                    _ => {
                        self.hold(now);
                        self.set(self.best_limit, now)
                    }
                }
            }
            Phase::Probe if self.limit > self.best_limit && clean && throughput > self.best * GAIN => {
                self.best = throughput;
                self.best_limit = self.limit;
                match self.allowed(self.limit + 1, now) {
                    up if up > self.limit => self.set(up, now),
                    _ => self.hold(now),
                }
            }
            Phase::Probe if self.limit < self.best_limit && clean && throughput >= self.best * 0.97 => {
                // As fast with fewer calls in flight: shorter latency for free.
                self.best = throughput;
                self.best_limit = self.limit;
                self.hold(now)
            }
            Phase::Probe => {
                self.hold(now);
                self.set(self.best_limit, now)
            }
            Phase::Hold(until) => {
                if self.limit == self.best_limit {
                    self.best = (self.best + throughput) / 2.0; // follow a drifting server
                }
                if now < until {
                    return None;
                }
                self.phase = Phase::Probe;
                match self.allowed(self.limit + 1, now) {
                    up if up > self.limit => self.set(up, now),
                    _ if self.limit > 1 => self.set(self.limit - 1, now),
                    _ => self.hold(now),
                }
            }
        }
    }

    fn hold(&mut self, now: Instant) -> Option<usize> {
        self.phase = Phase::Hold(now + HOLD);
        None
    }

    /// `wanted`, within `--max-concurrency` and any overload cap.
    fn allowed(&self, wanted: usize, now: Instant) -> usize {
        let cap = match self.cap {
            Some((cap, until)) if now < until => cap,
            _ => self.max,
        };
        wanted.min(self.max).min(cap).max(1)
    }

    fn set(&mut self, limit: usize, now: Instant) -> Option<usize> {
        let limit = limit.clamp(1, self.max);
        self.window.clear();
        self.window_start = now;
        (limit != std::mem::replace(&mut self.limit, limit)).then_some(limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batching server: `slots` parallel streams whose aggregate output
    /// grows as n^0.7; calls beyond the slots wait their turn (or get a 503
    /// past `queue`). Drives `controller` for `run` of simulated time and
    /// returns the output tokens/s it achieved.
    fn simulate(controller: &mut Controller, slots: usize, queue: usize, run: Duration) -> f64 {
        const TOKENS: u64 = 200;
        let start = Instant::now();
        let mut now = start;
        let mut in_flight: Vec<(Instant, Instant)> = Vec::new(); // (started, finishes)
        let mut tokens = 0u64;
        while now < start + run {
            while in_flight.len() < controller.limit() {
                let c = in_flight.len() + 1;
                if c > slots + queue {
                    let sample =
                        Sample { started: now, finished: now, output_tokens: 0, outcome: CallOutcome::Overloaded };
                    controller.record(sample);
                    break;
                }
                let streams = c.min(slots) as f64;
                let per_stream = 50.0 * streams.powf(-0.3); // tokens/s of one stream
                let seconds = TOKENS as f64 / per_stream * (c as f64 / streams);
                in_flight.push((now, now + Duration::from_secs_f64(seconds)));
            }
            let (i, &(started, finished)) =
                in_flight.iter().enumerate().min_by_key(|(_, (_, f))| *f).expect("a call in flight");
            in_flight.swap_remove(i);
            now = finished;
            tokens += TOKENS;
            controller.record(Sample { started, finished, output_tokens: TOKENS, outcome: CallOutcome::Answered });
        }
        tokens as f64 / run.as_secs_f64()
    }

    #[test]
    fn auto_finds_the_knee_of_a_batching_server() {
        let mut auto = Controller::auto(64, Instant::now());
        let achieved = simulate(&mut auto, 12, 1000, Duration::from_secs(3600));
        let best = simulate(&mut Controller::fixed(12), 12, 1000, Duration::from_secs(3600));
        println!(
            "auto settled at {}: {achieved:.0} tok/s vs {best:.0} at the knee; tried {:?}",
            auto.limit(),
            auto.curve().keys()
        );
        assert!((10..=16).contains(&auto.limit()), "settled at {} (curve {:?})", auto.limit(), auto.curve());
        assert!(achieved >= 0.9 * best, "auto {achieved:.0} tok/s vs best fixed {best:.0}");
        assert!(auto.curve().len() >= 4, "the curve shows what was tried: {:?}", auto.curve());
    }

    #[test]
    fn a_full_server_queue_cuts_the_limit_and_caps_it() {
        let mut auto = Controller::auto(64, Instant::now());
        simulate(&mut auto, 4, 2, Duration::from_secs(600));
        assert!(auto.limit() <= 6, "kept below the server's slots + queue: {}", auto.limit());
        assert!(auto.limit() >= 3, "but not starved: {}", auto.limit());
    }

    #[test]
    fn fixed_never_moves_and_max_is_respected() {
        let mut fixed = Controller::fixed(7);
        simulate(&mut fixed, 12, 1000, Duration::from_secs(600));
        assert_eq!(fixed.limit(), 7);
        let mut capped = Controller::auto(5, Instant::now());
        simulate(&mut capped, 12, 1000, Duration::from_secs(1800));
        assert!(capped.limit() <= 5);
    }
}
