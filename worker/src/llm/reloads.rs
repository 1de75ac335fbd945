//! Model (re)loads as the LLM server reports them: Ollama says in every
//! answer how long it spent loading the model for it (`load_duration`). A
//! load after an endpoint's first answer means the model was reloaded:
//! seconds lost per reload, and every slot's prompt cache with it. Each one
//! is counted per endpoint (liveness → `status`) and logged with its likely
//! cause.

use protocol::liveness::Reload;
use std::time::{Duration, Instant};

/// A `load_duration` at or above this is a load, not the bookkeeping of a
/// loaded model (Ollama reports a few milliseconds then; loading even a small
/// model from the page cache takes longer).
pub const RELOAD_MS: u64 = 500;

/// Ollama unloads a model idle for `keep_alive` (podmine sends one hour).
const KEEP_ALIVE: Duration = Duration::from_secs(3600);

/// What one endpoint's answers said about loads.
#[derive(Debug, Default)]
pub struct LoadWatch {
    /// When the last answer came, and the context size it was asked with.
    last: Option<(Instant, u32)>,
    pub reloads: u64,
    pub last_reload: Option<(Reload, Instant)>,
}

impl LoadWatch {
    /// Notes an answer that took `load_ms` to load the model, asked with
    /// `num_ctx`; returns the reload it reveals, if any.
    pub fn observe(&mut self, load_ms: u64, num_ctx: u32, now: Instant) -> Option<Reload> {
        let previous = self.last.replace((now, num_ctx));
        let (at, previous_ctx) = previous?;
        if load_ms < RELOAD_MS {
            return None;
        }
        let cause = if previous_ctx != num_ctx {
            format!("this worker changed num_ctx from {previous_ctx} to {num_ctx} (the run's spec changed)")
        } else if now.duration_since(at) >= KEEP_ALIVE {
            "the model sat idle longer than keep_alive (1h) and was unloaded".to_owned()
        } else {
            "not this worker's settings: another client asked with other options (num_ctx, num_gpu, num_batch) \
             or another model, or the server unloaded it (OLLAMA_MAX_LOADED_MODELS, memory pressure)"
                .to_owned()
        };
        let reload = Reload { load_ms, cause, ago_s: 0 };
        self.reloads += 1;
        self.last_reload = Some((reload.clone(), now));
        Some(reload)
    }

    /// The last reload with its age, for the liveness record.
    pub fn last_reload(&self) -> Option<Reload> {
        self.last_reload.as_ref().map(|(reload, at)| Reload { ago_s: at.elapsed().as_secs(), ..reload.clone() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_load_is_not_a_reload_and_a_later_one_has_its_cause() {
        let mut watch = LoadWatch::default();
        let t0 = Instant::now();
        assert_eq!(watch.observe(4_000, 8_192, t0), None, "the first answer loads the model");
        assert_eq!(watch.observe(3, 8_192, t0 + Duration::from_secs(1)), None);
        let reload = watch.observe(2_500, 8_192, t0 + Duration::from_secs(2)).expect("a reload");
        assert!(reload.cause.contains("another client"), "{}", reload.cause);
        let reload = watch.observe(2_500, 10_240, t0 + Duration::from_secs(3)).expect("a reload");
        assert!(reload.cause.contains("from 8192 to 10240"), "{}", reload.cause);
        assert_eq!(watch.reloads, 2);
    }
}
