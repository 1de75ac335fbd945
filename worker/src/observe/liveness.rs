//! Keeps this worker's [`WorkerRecord`] fresh in the liveness bucket (see
//! `protocol::liveness`): written every beat, deleted on a clean exit.

use super::Counters;
use crate::llm::endpoints::Endpoints;
use protocol::liveness::{self, Identity, WorkerRecord};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The record as of now.
pub fn record(identity: &Identity, counters: &Counters, endpoints: Option<&Endpoints>) -> WorkerRecord {
    let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    WorkerRecord {
        identity: identity.clone(),
        in_flight: counters.in_flight.load(Ordering::Relaxed) as u64,
        concurrency_limit: endpoints.map_or(0, |e| e.capacity() as u64),
        endpoints: endpoints.map(Endpoints::status).unwrap_or_default(),
        mined: load(&counters.mined),
        failed: load(&counters.failed),
        retried: load(&counters.retried),
        output_tokens: load(&counters.output_tokens),
        prompt_tokens: load(&counters.prompt_tokens),
        cached_prompt_tokens: load(&counters.cached_prompt_tokens),
        llm_errors: load(&counters.llm_errors),
        llm_backoff: counters.llm_backoff(),
        unix_time: runtime::clock::unix_now_s(),
        spec_revision: load(&counters.spec_revision),
        refused: counters.refused(),
    }
}

/// Refreshes this worker's key until `cancel` fires, then deletes it
/// (without endpoints while the worker refuses to mine).
pub async fn beat(
    js: async_nats::jetstream::Context,
    identity: Identity,
    counters: Arc<Counters>,
    endpoints: Option<Arc<Endpoints>>,
    cancel: CancellationToken,
) {
    let store = match js.create_key_value(liveness::bucket_config()).await {
        Ok(store) => store,
        Err(err) => return tracing::warn!(error = %err, "no liveness bucket: status will not list this worker"),
    };
    let key = liveness::key_for(&identity.worker);
    loop {
        let record = record(&identity, &counters, endpoints.as_deref());
        match serde_json::to_vec(&record) {
            Ok(bytes) => {
                if let Err(err) = store.put(&key, bytes.into()).await {
                    tracing::debug!(error = %err, "liveness update failed");
                }
            }
            Err(err) => tracing::warn!(error = %err, "cannot encode the liveness record"),
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(liveness::BEAT) => {}
        }
    }
    // Bounded: a worker stopping while NATS is away must still exit.
    let _ = tokio::time::timeout(Duration::from_secs(2), store.delete(&key)).await;
}
