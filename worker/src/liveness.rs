//! Worker liveness and counters in a JetStream KV bucket with a short TTL: one
//! key per worker, refreshed every [`BEAT`]; a worker that dies disappears
//! after [`TTL`]. `coordinator status` reads it.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const BUCKET: &str = "podmine_workers";
pub const BEAT: Duration = Duration::from_secs(10);
pub const TTL: Duration = Duration::from_secs(30);

/// What a worker has done since it started.
#[derive(Debug, Default)]
pub struct Counters {
    pub in_flight: AtomicUsize,
    pub mined: AtomicU64,
    pub failed: AtomicU64,
    pub retried: AtomicU64,
    pub output_tokens: AtomicU64,
    pub prompt_tokens: AtomicU64,
    pub cached_prompt_tokens: AtomicU64,
    /// LLM calls that failed with a transient error (each is retried).
    pub llm_errors: AtomicU64,
    /// While LLM calls fail: the last reason, and since when.
    pub llm_trouble: std::sync::Mutex<Option<(String, std::time::Instant)>>,
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
        let mut trouble = self.llm_trouble.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let since = trouble.as_ref().map_or_else(std::time::Instant::now, |(_, since)| *since);
        *trouble = Some((reason.to_owned(), since));
    }

    /// An LLM call answered: any backoff is over.
    pub fn llm_answered(&self) {
        *self.llm_trouble.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// `{"reason", "for_s"}` while LLM calls are failing, else null.
    fn llm_backoff(&self) -> serde_json::Value {
        let trouble = self.llm_trouble.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match trouble.as_ref() {
            Some((reason, since)) => serde_json::json!({"reason": reason, "for_s": since.elapsed().as_secs()}),
            None => serde_json::Value::Null,
        }
    }
}

/// The fixed part of a worker's liveness record.
#[derive(Clone, Debug, Serialize)]
pub struct Identity {
    pub worker: String,
    pub host: String,
    pub endpoint: String,
    pub model: String,
    /// `--concurrency` as given: a number, or `auto (max N)`.
    pub concurrency: String,
}

/// Refreshes this worker's key until `cancel` fires, then deletes it.
pub async fn beat(
    js: async_nats::jetstream::Context,
    identity: Identity,
    counters: Arc<Counters>,
    endpoints: Arc<crate::endpoints::Endpoints>,
    cancel: CancellationToken,
) {
    let config =
        async_nats::jetstream::kv::Config { bucket: BUCKET.into(), max_age: TTL, history: 1, ..Default::default() };
    let store = match js.create_key_value(config).await {
        Ok(store) => store,
        Err(err) => return tracing::warn!(error = %err, "no liveness bucket: status will not list this worker"),
    };
    let key: String = identity
        .worker
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    loop {
        let record = serde_json::json!({
            "identity": identity,
            "in_flight": counters.in_flight.load(Ordering::Relaxed),
            "concurrency_limit": endpoints.capacity(),
            "endpoints": endpoints.status(),
            "mined": counters.mined.load(Ordering::Relaxed),
            "failed": counters.failed.load(Ordering::Relaxed),
            "retried": counters.retried.load(Ordering::Relaxed),
            "output_tokens": counters.output_tokens.load(Ordering::Relaxed),
            "prompt_tokens": counters.prompt_tokens.load(Ordering::Relaxed),
            "cached_prompt_tokens": counters.cached_prompt_tokens.load(Ordering::Relaxed),
            "llm_errors": counters.llm_errors.load(Ordering::Relaxed),
            "llm_backoff": counters.llm_backoff(),
            "unix_time": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        });
        if let Err(err) = store.put(&key, record.to_string().into()).await {
            tracing::debug!(error = %err, "liveness update failed");
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(BEAT) => {}
        }
    }
    // Bounded: a worker stopping while NATS is away must still exit.
    let _ = tokio::time::timeout(Duration::from_secs(2), store.delete(&key)).await;
}
