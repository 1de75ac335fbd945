//! The worker's liveness record: what each worker says about itself every
//! [`BEAT`] in the KV bucket [`BUCKET`], and what `coordinator status` reads
//! back. A worker that dies disappears after [`TTL`].
//!
//! One type for writer and reader. Every field has a default, so a reader
//! of one version reads the record of another (a fleet is upgraded one Mac
//! at a time): a field it does not know is ignored, a field missing is zero.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// The KV bucket, one key per worker.
pub const BUCKET: &str = "podmine_workers";
/// How often a worker refreshes its record.
pub const BEAT: Duration = Duration::from_secs(10);
/// How long a record outlives its last refresh (three missed beats).
pub const TTL: Duration = Duration::from_secs(30);

/// The bucket's settings, for whoever creates it first.
#[cfg(feature = "nats")]
pub fn bucket_config() -> async_nats::jetstream::kv::Config {
    async_nats::jetstream::kv::Config { bucket: BUCKET.into(), max_age: TTL, history: 1, ..Default::default() }
}

/// The key of a worker's record: its id with everything but `[A-Za-z0-9_-]` as `_`.
pub fn key_for(worker: &str) -> String {
    worker.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// One worker's record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerRecord {
    pub identity: Identity,
    /// Tasks pulled and not yet settled.
    pub in_flight: u64,
    /// Calls all its endpoints allow in flight now.
    pub concurrency_limit: u64,
    pub endpoints: Vec<EndpointRecord>,
    pub mined: u64,
    pub failed: u64,
    /// Tasks handed back to the queue (LLM unavailable).
    pub retried: u64,
    pub output_tokens: u64,
    pub prompt_tokens: u64,
    pub cached_prompt_tokens: u64,
    /// LLM calls that failed with a transient error (each retried).
    pub llm_errors: u64,
    /// While LLM calls are failing: why, and for how long.
    pub llm_backoff: Option<LlmBackoff>,
    /// When the record was written (unix seconds).
    pub unix_time: u64,
    /// The revision of the run's mining spec it mines with (0: none recorded).
    pub spec_revision: u64,
    /// Why it does not pull, while it does not (its own settings disagree
    /// with the run's spec, or the spec is of a newer format).
    pub refused: Option<String>,
}

/// The fixed part of a record: who and what the worker is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Identity {
    /// `host/pid`.
    pub worker: String,
    pub host: String,
    /// The LLM server URLs, comma-separated.
    pub endpoint: String,
    pub model: String,
    /// `--concurrency` as given: a number, or `auto (max N)`.
    pub concurrency: String,
}

/// One LLM server of a worker.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointRecord {
    pub url: String,
    /// Limit found by `--concurrency auto` (else fixed).
    pub auto: bool,
    /// Calls allowed in flight now.
    pub limit: u64,
    /// Calls in flight now.
    pub outstanding: u64,
    /// The last call could not connect; cleared by the next answer.
    pub unreachable: bool,
    /// What each limit tried delivered (auto's measured curve), by calls in flight.
    pub curve: BTreeMap<u64, CurvePoint>,
    /// Model loads the server reported after its first answer to this worker.
    pub reloads: u64,
    pub last_reload: Option<Reload>,
}

/// A model reload an LLM server reported (Ollama's `load_duration`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Reload {
    pub load_ms: u64,
    /// Its likely cause, as the worker sees it.
    pub cause: String,
    /// How long ago (seconds, when the record was written).
    pub ago_s: u64,
}

/// What one concurrency limit delivered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CurvePoint {
    pub output_tokens_per_s: f64,
    pub calls_per_s: f64,
    pub p95_latency_ms: u64,
    /// Measurement windows behind the figures.
    pub windows: u32,
}

/// LLM calls failing: the last reason and how long it has lasted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LlmBackoff {
    pub reason: String,
    pub for_s: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_only_safe_characters() {
        assert_eq!(key_for("mac-mini.local/4242"), "mac-mini_local_4242");
    }

    #[test]
    fn a_record_from_an_older_or_newer_worker_still_reads() {
        let older = r#"{"identity":{"worker":"a/1"},"mined":3}"#;
        let record: WorkerRecord = serde_json::from_str(older).expect("older record");
        assert_eq!((record.identity.worker.as_str(), record.mined, record.llm_backoff), ("a/1", 3, None));
        let newer = r#"{"identity":{"worker":"b/2","gpu":"M2"},"mined":1,"reloads":4}"#;
        let record: WorkerRecord = serde_json::from_str(newer).expect("newer record");
        assert_eq!(record.identity.worker, "b/2");
    }

    #[test]
    fn a_worker_record_round_trips_through_its_json() {
        let record = WorkerRecord {
            identity: Identity {
                worker: "mac-studio/812".into(),
                host: "mac-studio".into(),
                endpoint: "http://127.0.0.1:11434".into(),
                model: "qwen2.5:7b-instruct".into(),
                concurrency: "auto (max 32)".into(),
            },
            in_flight: 7,
            concurrency_limit: 8,
            endpoints: vec![EndpointRecord {
                url: "http://127.0.0.1:11434".into(),
                auto: true,
                limit: 8,
                outstanding: 7,
                unreachable: false,
                curve: BTreeMap::from([(
                    4,
                    CurvePoint { output_tokens_per_s: 210.5, calls_per_s: 0.4, p95_latency_ms: 9_800, windows: 3 },
                )]),
                reloads: 1,
                last_reload: Some(Reload { load_ms: 4_200, cause: "another client".into(), ago_s: 30 }),
            }],
            mined: 1_200,
            failed: 3,
            retried: 1,
            output_tokens: 540_000,
            prompt_tokens: 6_600_000,
            cached_prompt_tokens: 6_000_000,
            llm_errors: 2,
            llm_backoff: Some(LlmBackoff { reason: "HTTP 503: busy".into(), for_s: 12 }),
            unix_time: 1_790_000_000,
            spec_revision: 2,
            refused: None,
        };
        let json = serde_json::to_string(&record).expect("encode");
        assert_eq!(serde_json::from_str::<WorkerRecord>(&json).expect("decode"), record);
        let value: serde_json::Value = serde_json::from_str(&json).expect("json");
        assert_eq!(value["endpoints"][0]["curve"]["4"]["output_tokens_per_s"], 210.5);
    }
}
