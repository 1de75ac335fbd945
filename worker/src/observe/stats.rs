//! [`Counters`]: what a worker has done since it started, updated by the
//! consume loop and the mining step, read by the liveness record and the
//! metrics.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// What a worker has done since it started.
#[derive(Debug, Default)]
pub struct Counters {
    /// Tasks pulled and not yet settled.
    pub in_flight: AtomicUsize,
    pub mined: AtomicU64,
    pub failed: AtomicU64,
    /// Tasks handed back to the queue (LLM unavailable).
    pub retried: AtomicU64,
    pub output_tokens: AtomicU64,
    pub prompt_tokens: AtomicU64,
    pub cached_prompt_tokens: AtomicU64,
    /// LLM calls that failed with a transient error (each is retried).
    pub llm_errors: AtomicU64,
    /// While LLM calls fail: the last reason, and since when.
    llm_trouble: Mutex<Option<(String, Instant)>>,
    /// The revision of the run's mining spec being mined with.
    pub spec_revision: AtomicU64,
    /// Why this worker does not pull, while it does not.
    refused: Mutex<Option<String>>,
}

impl Counters {
    pub fn add_mined(&self, usage: &protocol::Usage) {
        self.mined.fetch_add(1, Ordering::Relaxed);
        self.output_tokens.fetch_add(usage.output_tokens, Ordering::Relaxed);
        self.prompt_tokens.fetch_add(usage.prompt_tokens, Ordering::Relaxed);
        self.cached_prompt_tokens.fetch_add(usage.cached_prompt_tokens, Ordering::Relaxed);
    }

    /// An LLM call failed and will be retried after a backoff.
    pub fn llm_failed(&self, reason: &str) {
        self.llm_errors.fetch_add(1, Ordering::Relaxed);
        let mut trouble = self.llm_trouble.lock().unwrap_or_else(PoisonError::into_inner);
        let since = trouble.as_ref().map_or_else(Instant::now, |(_, since)| *since);
        *trouble = Some((reason.to_owned(), since));
    }

    /// An LLM call answered: any backoff is over.
    pub fn llm_answered(&self) {
        *self.llm_trouble.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Says why this worker does not pull (`None`: it does).
    pub fn set_refused(&self, why: Option<String>) {
        *self.refused.lock().unwrap_or_else(PoisonError::into_inner) = why;
    }

    pub fn refused(&self) -> Option<String> {
        self.refused.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// While LLM calls are failing: the last reason and for how long.
    pub fn llm_backoff(&self) -> Option<protocol::liveness::LlmBackoff> {
        let trouble = self.llm_trouble.lock().unwrap_or_else(PoisonError::into_inner);
        trouble.as_ref().map(|(reason, since)| protocol::liveness::LlmBackoff {
            reason: reason.clone(),
            for_s: since.elapsed().as_secs(),
        })
    }
}
