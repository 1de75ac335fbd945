//! What workers publish: a mined [`SegmentResult`] or a [`FailureRecord`],
//! each with the [`WorkKey`] that says which prompt, schema and model made it.

use crate::ids::ContentHash;
use crate::task::Task;
use serde::{Deserialize, Serialize};

/// Identity of one unit of LLM work: the segment's content and everything that
/// shapes the answer (prompt, schema, model, generation options). Changing the
/// prompt or model re-mines; nothing else does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WorkKey(pub ContentHash);

impl WorkKey {
    pub fn derive(content: &ContentHash, spec: &MiningSpec) -> Self {
        Self(ContentHash::of_fields(&[
            &content.0,
            spec.prompt_hash.as_bytes(),
            spec.schema_hash.as_bytes(),
            spec.model.as_bytes(),
            spec.options.as_bytes(),
        ]))
    }
}

/// What shapes a model's answer, as hashes and names (kept in every result).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MiningSpec {
    pub prompt_hash: String,
    pub schema_hash: String,
    pub model: String,
    /// Generation options that change answers (temperature, num_predict, …), as canonical JSON.
    pub options: String,
}

/// The LLM server's own counters for one answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    /// Prompt tokens served from the server's prefix cache.
    pub cached_prompt_tokens: u64,
    pub output_tokens: u64,
    pub prefill_ms: u64,
    pub decode_ms: u64,
    /// Time the request waited on the server before its prefill started (or the
    /// part of the wall time the counters do not explain).
    pub queue_ms: u64,
    pub total_ms: u64,
}

impl Usage {
    /// Adds another attempt's counters (a segment asked twice costs both).
    pub fn add(&mut self, other: &Usage) {
        self.prompt_tokens += other.prompt_tokens;
        self.cached_prompt_tokens += other.cached_prompt_tokens;
        self.output_tokens += other.output_tokens;
        self.prefill_ms += other.prefill_ms;
        self.decode_ms += other.decode_ms;
        self.queue_ms += other.queue_ms;
        self.total_ms += other.total_ms;
    }
}

/// Where a result or failure came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    pub spec: MiningSpec,
    /// `host/pid` of the worker.
    pub worker: String,
    /// LLM calls made for this segment by this worker (asks plus re-asks).
    pub attempts: u32,
    /// JetStream delivery count of the task when it was settled.
    pub delivery: u64,
    pub usage: Usage,
}

/// A mined segment: the validated, repaired `miner_output v1` object as JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentResult {
    pub task: Task,
    pub work_key: WorkKey,
    /// The mined object (claims, jargon, people, mental_models) as JSON text.
    pub mined_json: String,
    /// What validation repaired or dropped, one line each.
    pub repairs: Vec<String>,
    pub provenance: Provenance,
}

/// A segment that could not be mined, with why and what the model said.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureRecord {
    pub task: Task,
    pub work_key: WorkKey,
    pub reason: String,
    /// The last raw model output, when there was one.
    pub raw_output: Option<String>,
    pub provenance: Provenance,
}

impl SegmentResult {
    /// `Nats-Msg-Id` of the result: one per work key.
    pub fn message_id(&self) -> String {
        Self::message_id_for(&self.work_key)
    }

    pub fn message_id_for(work_key: &WorkKey) -> String {
        format!("result:{}", work_key.0.short())
    }
}

impl FailureRecord {
    pub fn message_id(&self) -> String {
        format!("failed:{}:d{}", self.work_key.0.short(), self.provenance.delivery)
    }
}
