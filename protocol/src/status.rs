//! [`Status`]: what `coordinator status --json` prints, the dashboard's
//! `/api/status` serves (with its `live` part beside it) and the collector's
//! snapshot holds. One type for the writer (the coordinator) and every
//! reader (the dashboard, tests, the users' scripts); the fields are
//! documented in docs/commands.md. Every field added later has a default, so a
//! reader of one version reads the snapshot of another.

use crate::grounding;
use crate::liveness::WorkerRecord;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Status {
    /// When these figures were computed (unix ms).
    pub as_of_unix_ms: u64,
    pub segments: SegmentCounts,
    pub episodes: EpisodeCounts,
    pub rate: Rate,
    /// Seconds until every segment is settled at the recent rate; null without a rate.
    pub eta_s: Option<f64>,
    /// The live workers' own records (see `protocol::liveness`).
    pub workers: Vec<WorkerRecord>,
    pub queue: Queue,
    /// Failures by reason (first 80 characters).
    pub failures: BTreeMap<String, u64>,
    /// Failures by kind (`unusable-answer`, …: see `protocol::FailureKind`).
    #[serde(default)]
    pub failures_by_kind: BTreeMap<crate::FailureKind, u64>,
    /// Average per settled segment: where its time went, and its prompt tokens.
    pub per_segment: PerSegment,
    /// While the collector replays outcomes its store has not applied yet
    /// (a new, deleted or restored store): messages still to replay.
    #[serde(default)]
    pub catching_up: Option<u64>,
    /// Per model: how grounded its answers are, and how many real-speech
    /// segments it mined empty (running totals).
    #[serde(default)]
    pub grounding: BTreeMap<String, Grounding>,
    /// The run's mining spec every worker mines with (null: none recorded).
    #[serde(default)]
    pub spec: Option<SpecSummary>,
    /// Model reloads the LLM servers reported to the live workers.
    #[serde(default)]
    pub reloads: u64,
}

/// The run's mining spec, as `status` shows it (the prompt and schema by hash).
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct SpecSummary {
    pub revision: u64,
    pub model: String,
    pub prompt_hash: String,
    pub schema_hash: String,
    pub num_predict: u32,
    pub temperature: f32,
    pub num_ctx: u32,
    /// `full` or `compact` (see README "Compact answers").
    #[serde(default)]
    pub answers: crate::spec::AnswerMode,
    pub set_by: String,
    pub set_at_unix_ms: u64,
}

impl SpecSummary {
    pub fn of(spec: &crate::spec::RunSpec) -> Self {
        let hashes = spec.mining_spec();
        Self {
            revision: spec.revision,
            model: spec.model.clone(),
            prompt_hash: hashes.prompt_hash,
            schema_hash: hashes.schema_hash,
            num_predict: spec.num_predict,
            temperature: spec.temperature,
            num_ctx: spec.num_ctx,
            answers: spec.answers,
            set_by: spec.set_by.clone(),
            set_at_unix_ms: spec.set_at_ms,
        }
    }
}

/// One model's grounding figures: the store's running totals and their share.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Grounding {
    #[serde(flatten)]
    pub figures: GroundingFigures,
    /// `ungrounded_items / items` (0 without items).
    pub ungrounded_share: f64,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct SegmentCounts {
    pub total: u64,
    pub done: u64,
    pub failed: u64,
    /// Enqueued and neither done nor failed (with the run's spec).
    pub pending: u64,
    /// Of the pending: settled with an earlier spec (after `respec`), queued
    /// again; their old outcomes stay in the output until replaced.
    #[serde(default)]
    pub superseded: u64,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct EpisodeCounts {
    pub total: u64,
    pub complete: u64,
}

/// Segments and output tokens per second over the last 1, 5 and 15 minutes;
/// the top-level figures are the 5-minute ones (a window counts from the
/// first segment settled in it, so a young run is not diluted).
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Rate {
    pub segments_per_s: f64,
    pub output_tokens_per_s: f64,
    pub segments_per_s_1m: f64,
    pub segments_per_s_5m: f64,
    pub segments_per_s_15m: f64,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct PerSegment {
    pub queue_ms: f64,
    pub prefill_ms: f64,
    pub decode_ms: f64,
    pub prompt_tokens: f64,
    pub cached_prompt_tokens: f64,
    pub output_tokens: f64,
}

/// The live view of the task queue; `reachable: false` when no server answered.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Queue {
    pub reachable: bool,
    /// Tasks waiting or in progress on the TASKS stream.
    pub tasks: Option<u64>,
}

/// Running grounding figures of one model's mined segments (the store keeps
/// them, as JSON, and `status` shows them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroundingFigures {
    pub mined: u64,
    /// Real speech mined with every array empty.
    pub empty: u64,
    pub items: u64,
    /// Items with a quote not in the segment or a time outside it.
    pub ungrounded_items: u64,
    pub quotes: u64,
    pub ungrounded_quotes: u64,
}

impl GroundingFigures {
    /// Counts one mined answer's findings.
    pub fn add(&mut self, grounding: &grounding::Grounding) {
        self.mined += 1;
        self.empty += u64::from(grounding.empty);
        self.items += u64::from(grounding.items);
        self.ungrounded_items += u64::from(grounding.ungrounded_items());
        self.quotes += u64::from(grounding.quotes);
        self.ungrounded_quotes += u64::from(grounding.ungrounded_quotes);
    }

    /// Takes out an answer that was replaced (by one of a newer spec).
    pub fn remove(&mut self, grounding: &grounding::Grounding) {
        self.mined = self.mined.saturating_sub(1);
        self.empty = self.empty.saturating_sub(u64::from(grounding.empty));
        self.items = self.items.saturating_sub(u64::from(grounding.items));
        self.ungrounded_items = self.ungrounded_items.saturating_sub(u64::from(grounding.ungrounded_items()));
        self.quotes = self.quotes.saturating_sub(u64::from(grounding.quotes));
        self.ungrounded_quotes = self.ungrounded_quotes.saturating_sub(u64::from(grounding.ungrounded_quotes));
    }
}

/// What the dashboard's `/api/status` serves: the status, and how live its
/// live parts are.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct DashboardStatus {
    #[serde(flatten)]
    pub status: Status,
    pub live: Live,
}

/// Whether NATS answered the dashboard, and how old the worker rows are.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Live {
    pub nats_reachable: bool,
    /// When the worker rows shown were read (the last time NATS answered).
    pub workers_as_of_unix_ms: u64,
    /// A worker row older than this is stale (the liveness record's TTL).
    pub worker_stale_after_s: u64,
}
