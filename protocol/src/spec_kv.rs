//! The run's mining spec in its NATS KV bucket: the coordinator records it
//! ([`record`]), workers read it ([`fetch`]). The record itself is
//! [`crate::spec::RunSpec`].

use crate::spec::{RunSpec, SpecError, BUCKET, KEY};
use async_nats::jetstream;

/// Revisions of the spec the bucket keeps.
const HISTORY: i64 = 32;

/// The bucket's settings, for whoever creates it first (the coordinator;
/// async-nats creates KV buckets with direct gets, which workers may use).
pub fn bucket_config(replicas: usize) -> jetstream::kv::Config {
    jetstream::kv::Config { bucket: BUCKET.into(), history: HISTORY, num_replicas: replicas, ..Default::default() }
}

/// Why the spec could not be read from (or written to) NATS.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("cannot read the run's mining spec from NATS: {0}")]
    Nats(String),
    #[error("cannot record the run's mining spec in NATS: {0}")]
    Record(String),
}

/// The run's spec, `None` when none is recorded (a coordinator older than
/// this worker, or no `enqueue` yet).
pub async fn fetch(js: &jetstream::Context) -> Result<Option<RunSpec>, KvError> {
    let store = match js.get_key_value(BUCKET).await {
        Ok(store) => store,
        Err(err) if err.kind() == jetstream::context::KeyValueErrorKind::GetBucket && bucket_missing(&err) => {
            return Ok(None)
        }
        Err(err) => return Err(KvError::Nats(err.to_string())),
    };
    match store.entry(KEY).await {
        Ok(Some(entry)) if entry.operation == jetstream::kv::Operation::Put => Ok(Some(RunSpec::decode(&entry.value)?)),
        Ok(_) => Ok(None),
        Err(err) => Err(KvError::Nats(err.to_string())),
    }
}

fn bucket_missing(err: &jetstream::context::KeyValueError) -> bool {
    let text = format!("{err:?}");
    text.contains("stream not found") || text.contains("StreamNotFound") || text.contains("10059")
}

/// Records `spec` as the run's (the coordinator's side).
pub async fn record(js: &jetstream::Context, spec: &RunSpec, replicas: usize) -> Result<(), KvError> {
    let store = match js.get_key_value(BUCKET).await {
        Ok(store) => store,
        Err(_) => js
            .create_key_value(bucket_config(replicas))
            .await
            .map_err(|e| KvError::Record(format!("cannot create its bucket: {e}")))?,
    };
    store.put(KEY, spec.encode().into()).await.map_err(|e| KvError::Record(e.to_string()))?;
    Ok(())
}
