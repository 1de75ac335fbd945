//! What workers publish: a mined [`SegmentResult`] or a [`FailureRecord`],
//! each with the [`WorkKey`] that says which prompt, schema and model made it.
//! A failure carries its [`FailureKind`] beside the detail text.
//!
//! A failure record with its kind is encoding version [`codec::FAILURE_KIND`];
//! one of version 1 (written before kinds) still decodes, with kind
//! [`FailureKind::Unknown`]: the FAILED stream and older stores keep them.

use crate::codec::{self, CodecError};
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
    /// What kind of failure: what `status` groups and `retry-failed --kind` selects by.
    pub kind: FailureKind,
    /// The detail, for people: what happened and what to do.
    pub reason: String,
    /// The last raw model output, when there was one.
    pub raw_output: Option<String>,
    pub provenance: Provenance,
}

/// A failure record as version 1 wrote it (no kind).
#[derive(Deserialize)]
pub struct FailureRecordV1 {
    task: Task,
    work_key: WorkKey,
    reason: String,
    raw_output: Option<String>,
    provenance: Provenance,
}

impl From<FailureRecordV1> for FailureRecord {
    fn from(v1: FailureRecordV1) -> Self {
        let FailureRecordV1 { task, work_key, reason, raw_output, provenance } = v1;
        Self { task, work_key, kind: FailureKind::Unknown, reason, raw_output, provenance }
    }
}

/// Why a segment failed, under a stable kebab-case name (`failed --json`,
/// `status --json`'s `failures_by_kind`, the dashboard, `retry-failed --kind`).
/// Names are never renamed or reused; a kind added later reads as `unknown`
/// on an older build (the record itself stays readable).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum, schemars::JsonSchema)]
#[schemars(rename_all = "kebab-case")]
pub enum FailureKind {
    /// Written before failures had kinds (or a kind this build does not know).
    #[default]
    Unknown,
    /// The segment does not fit the run's fixed `--num-ctx`: no LLM call was made.
    ContextTooSmall,
    /// Every ask gave an answer that is not JSON or breaks the schema.
    UnusableAnswer,
    /// Every ask stopped at the output limit (`num_predict`).
    OutputTruncated,
    /// The LLM server refused the request (HTTP 4xx other than a missing model).
    RefusedByServer,
    /// The LLM server stayed unavailable through the task's final delivery.
    LlmUnavailable,
    /// No worker settled the task in its deliveries (its worker died on the last one).
    MaxDeliveries,
}

impl FailureKind {
    pub const ALL: [FailureKind; 7] = [
        FailureKind::Unknown,
        FailureKind::ContextTooSmall,
        FailureKind::UnusableAnswer,
        FailureKind::OutputTruncated,
        FailureKind::RefusedByServer,
        FailureKind::LlmUnavailable,
        FailureKind::MaxDeliveries,
    ];

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Unknown => "unknown",
            FailureKind::ContextTooSmall => "context-too-small",
            FailureKind::UnusableAnswer => "unusable-answer",
            FailureKind::OutputTruncated => "output-truncated",
            FailureKind::RefusedByServer => "refused-by-server",
            FailureKind::LlmUnavailable => "llm-unavailable",
            FailureKind::MaxDeliveries => "max-deliveries",
        }
    }

    /// What the kind means and what to do about it, in a line.
    pub fn meaning(self) -> &'static str {
        match self {
            FailureKind::Unknown => "failed before failures had kinds: see each reason",
            FailureKind::ContextTooSmall => {
                "the segment does not fit the run's --num-ctx: raise it with `coordinator respec --num-ctx`"
            }
            FailureKind::UnusableAnswer => "the model's answers were not valid JSON for the schema, every ask",
            FailureKind::OutputTruncated => {
                "the model wrote until num_predict, every ask: raise it or use compact answers"
            }
            FailureKind::RefusedByServer => "the LLM server refused the request (HTTP 4xx): see the reason",
            FailureKind::LlmUnavailable => {
                "the LLM server did not answer through the final delivery: retry when it is back"
            }
            FailureKind::MaxDeliveries => "no worker settled the task in its deliveries (a worker died on the last)",
        }
    }

    /// The kind of a name; `unknown` for a name this build does not know.
    pub fn from_name(name: &str) -> Self {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name).unwrap_or_default()
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

// By name, in records and JSON alike, so a kind added later never makes a record unreadable.
impl Serialize for FailureKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FailureKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Ok(Self::from_name(&name))
    }
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
    /// The record for the FAILED stream (encoding version [`codec::FAILURE_KIND`]).
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        codec::encode_as(codec::FAILURE_KIND, self)
    }

    /// A record of this version, or of version 1 (kind `unknown`).
    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        codec::decode_evolved::<Self, FailureRecordV1>(bytes, codec::FAILURE_KIND)
    }

    pub fn message_id(&self) -> String {
        format!("failed:{}:d{}", self.work_key.0.short(), self.provenance.delivery)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EpisodeId, Segment};

    fn failure(kind: FailureKind) -> FailureRecord {
        let segment = Segment {
            episode: EpisodeId::parse("show/ep 1").unwrap_or_else(|e| panic!("{e}")),
            index: 3,
            t0_ms: 0,
            t1_ms: 30_000,
            speaker: None,
            text: "words".into(),
            times_estimated: false,
        };
        let task = Task {
            segment,
            episode_title: "Ep".into(),
            source_path: "show/ep 1.srt".into(),
            episode_segments: 4,
            generation: 0,
        };
        let spec =
            MiningSpec { prompt_hash: "p".into(), schema_hash: "s".into(), model: "m".into(), options: "{}".into() };
        FailureRecord {
            work_key: WorkKey(task.segment.content_hash()),
            task,
            kind,
            reason: "why".into(),
            raw_output: Some("{".into()),
            provenance: Provenance { spec, worker: "w".into(), attempts: 3, delivery: 1, usage: Usage::default() },
        }
    }

    #[test]
    fn a_failure_round_trips_with_its_kind_and_a_version_1_record_reads_as_unknown() {
        for kind in FailureKind::ALL {
            let bytes = failure(kind).encode().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(bytes[0], codec::FAILURE_KIND);
            assert_eq!(FailureRecord::decode(&bytes).ok(), Some(failure(kind)));
        }
        // What a build before kinds wrote: the same fields without `kind`, version 1.
        #[derive(Serialize)]
        struct V1<'a>(&'a Task, &'a WorkKey, &'a str, &'a Option<String>, &'a Provenance);
        let f = failure(FailureKind::UnusableAnswer);
        let v1 = codec::encode(&V1(&f.task, &f.work_key, &f.reason, &f.raw_output, &f.provenance))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v1[0], 1);
        assert_eq!(FailureRecord::decode(&v1).ok(), Some(failure(FailureKind::Unknown)));
    }

    #[test]
    fn kinds_have_stable_names_and_an_unknown_name_reads_as_unknown() {
        let names: Vec<&str> = FailureKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "unknown",
                "context-too-small",
                "unusable-answer",
                "output-truncated",
                "refused-by-server",
                "llm-unavailable",
                "max-deliveries"
            ]
        );
        for kind in FailureKind::ALL {
            use clap::ValueEnum;
            assert_eq!(kind.to_possible_value().map(|v| v.get_name().to_owned()), Some(kind.as_str().to_owned()));
            assert_eq!(serde_json::to_value(kind).ok(), Some(serde_json::Value::from(kind.as_str())));
        }
        assert_eq!(serde_json::from_str::<FailureKind>("\"a-kind-from-the-future\"").ok(), Some(FailureKind::Unknown));
    }
}
