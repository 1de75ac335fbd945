//! The output users parse: `out/<episode id>.json` ([`EpisodeFile`]) and the
//! lines of `coordinator export --jsonl` ([`ExportLine`]). One type each for
//! the writer (the coordinator) and every reader (tests, the users' tools);
//! the JSON Schema generated from them is published as
//! `deploy/schemas/episode-file.schema.json` and `export-line.schema.json`.
//!
//! The mined object keeps the shape of the schema in use (podmine's default,
//! or the users' `miner_output.v1`): it is carried as JSON, not re-typed here.
//! Grounding findings sit beside it, not inside it.
//!
//! [`FORMAT_VERSION`] names the shape; it changes when a field changes meaning
//! or type (fields are only ever added within a version).

use crate::grounding::Grounding;
use crate::result::{FailureKind, FailureRecord, Provenance, SegmentResult};
use crate::timestamp::format_hms;
use crate::Task;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The output format's version. 2: `segment_id`, `speaker` always a string,
/// episode `metadata` and `counts`, `grounding` beside each mined answer.
pub const FORMAT_VERSION: u32 = 2;

/// One finished episode: every segment, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EpisodeFile {
    /// [`FORMAT_VERSION`] of this file's shape.
    pub format_version: u32,
    pub episode: EpisodeInfo,
    pub counts: EpisodeCounts,
    /// Every segment of the episode, by index from 0, each once.
    pub segments: Vec<SegmentEntry>,
}

/// How the episode's segments ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EpisodeCounts {
    pub segments: u32,
    pub mined: u32,
    pub failed: u32,
    /// Mined segments of real speech with every array empty.
    pub empty: u32,
    /// Items (claims, terms, people, models) and those with an ungrounded quote or time.
    pub items: u32,
    pub ungrounded_items: u32,
}

impl EpisodeCounts {
    pub fn of(segments: &[SegmentEntry]) -> Self {
        let mut counts = Self { segments: segments.len() as u32, ..Self::default() };
        for entry in segments {
            match &entry.outcome {
                SegmentOutcome::Mined { grounding, .. } => {
                    counts.mined += 1;
                    counts.empty += u32::from(grounding.empty);
                    counts.items += grounding.items;
                    counts.ungrounded_items += grounding.ungrounded_items();
                }
                SegmentOutcome::Failed { .. } => counts.failed += 1,
            }
        }
        counts
    }
}

/// Which episode, and where it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EpisodeInfo {
    /// The episode id: the transcript's path relative to the corpus root, without extension.
    pub id: String,
    /// The transcript file used, relative to the corpus root.
    pub source_path: String,
    pub title: String,
    /// The transcript format it was read as (e.g. `srt`, `whisper-json`).
    pub format: String,
    /// The transcript's own scalar fields (front-matter or JSON): `video_id`,
    /// `source`, `uploader`, `upload_date`, `title`, … as the file has them.
    pub metadata: Map<String, Value>,
}

/// One segment and what became of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SegmentEntry {
    /// Stable across runs and machines; the `segment_id` the prompt sent.
    pub segment_id: String,
    /// Position in the episode, from 0.
    pub index: u32,
    /// Start, `HH:MM:SS`.
    pub t0: String,
    /// End, `HH:MM:SS`.
    pub t1: String,
    /// The transcript had no (or sparse) times: these were estimated.
    pub times_estimated: bool,
    /// Who speaks first; `Unknown` when the transcript does not say.
    pub speaker: String,
    pub text: String,
    #[serde(flatten)]
    pub outcome: SegmentOutcome,
    pub provenance: ProvenanceInfo,
}

/// `status` says which: a mined object, or a failure with its reason.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum SegmentOutcome {
    Mined {
        /// The validated, repaired answer in the shape of the schema in use.
        mined: serde_json::Value,
        /// What validation repaired or dropped, one line each.
        repairs: Vec<String>,
        /// Which items quote text not in the segment or give a time outside it.
        grounding: Grounding,
    },
    Failed {
        failure: FailureInfo,
    },
}

/// Why a segment could not be mined.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FailureInfo {
    /// The kind of failure, by its stable name (`unusable-answer`, …; `unknown`
    /// for a failure recorded before kinds). Absent in files written before it.
    #[serde(default)]
    pub kind: FailureKind,
    pub reason: String,
    /// The model's last answer, when there was one.
    pub raw_output: Option<String>,
}

/// Who mined it, with what, and what it cost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProvenanceInfo {
    pub model: String,
    pub prompt_hash: String,
    pub schema_hash: String,
    /// `host/pid` of the worker (`coordinator` for a give-up the server reported).
    pub worker: String,
    /// LLM calls made for the segment (asks plus re-asks).
    pub attempts: u32,
    /// The task's delivery count when it was settled.
    pub delivery: u64,
    pub prompt_tokens: u64,
    pub cached_prompt_tokens: u64,
    pub output_tokens: u64,
    pub prefill_ms: u64,
    pub decode_ms: u64,
    pub queue_ms: u64,
    pub total_ms: u64,
}

/// One line of `export --jsonl`: a segment entry and its episode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExportLine {
    #[serde(flatten)]
    pub segment: SegmentEntry,
    pub episode: EpisodeRef,
}

/// The episode a line belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EpisodeRef {
    pub id: String,
    pub source_path: String,
    pub title: String,
    /// As in [`EpisodeInfo::metadata`].
    pub metadata: Map<String, Value>,
}

/// What the output does with ungrounded items (`--drop-ungrounded`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UngroundedItems {
    /// Keep them, listed in `grounding` (the default).
    #[default]
    Keep,
    /// Remove them from the answer (still listed in `grounding`).
    Drop,
}

impl SegmentEntry {
    /// A mined segment as the output shows it: its answer (`mined`, ungrounded
    /// items already dropped if asked), what was repaired, and its grounding.
    /// `mining::grounding::entry` builds all three from a result.
    pub fn mined(result: &SegmentResult, mined: Value, repairs: Vec<String>, grounding: Grounding) -> Self {
        let outcome = SegmentOutcome::Mined { mined, repairs, grounding };
        Self::of(&result.task, outcome, &result.provenance)
    }

    pub fn failed(failure: &FailureRecord) -> Self {
        let outcome = SegmentOutcome::Failed {
            failure: FailureInfo {
                kind: failure.kind,
                reason: failure.reason.clone(),
                raw_output: failure.raw_output.clone(),
            },
        };
        Self::of(&failure.task, outcome, &failure.provenance)
    }

    fn of(task: &Task, outcome: SegmentOutcome, provenance: &Provenance) -> Self {
        let segment = &task.segment;
        Self {
            segment_id: segment.segment_id(),
            index: segment.index,
            t0: format_hms(segment.t0_ms),
            t1: format_hms(segment.t1_ms),
            times_estimated: segment.times_estimated,
            speaker: segment.speaker_or_unknown(),
            text: segment.text.clone(),
            outcome,
            provenance: ProvenanceInfo::from(provenance),
        }
    }
}

/// The mined answer as JSON. Workers publish validated JSON; anything else
/// would be a bug, shown as null.
pub fn mined_value(result: &SegmentResult) -> Value {
    serde_json::from_str(&result.mined_json).unwrap_or(Value::Null)
}

impl From<&Provenance> for ProvenanceInfo {
    fn from(p: &Provenance) -> Self {
        Self {
            model: p.spec.model.clone(),
            prompt_hash: p.spec.prompt_hash.clone(),
            schema_hash: p.spec.schema_hash.clone(),
            worker: p.worker.clone(),
            attempts: p.attempts,
            delivery: p.delivery,
            prompt_tokens: p.usage.prompt_tokens,
            cached_prompt_tokens: p.usage.cached_prompt_tokens,
            output_tokens: p.usage.output_tokens,
            prefill_ms: p.usage.prefill_ms,
            decode_ms: p.usage.decode_ms,
            queue_ms: p.usage.queue_ms,
            total_ms: p.usage.total_ms,
        }
    }
}

/// The published JSON Schemas, by file name under `deploy/schemas/`.
pub fn schemas() -> [(&'static str, serde_json::Value); 2] {
    [
        ("episode-file.schema.json", schemars::schema_for!(EpisodeFile).to_value()),
        ("export-line.schema.json", schemars::schema_for!(ExportLine).to_value()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::{MiningSpec, Usage, WorkKey};
    use crate::{ContentHash, EpisodeId, Segment};

    fn task() -> Task {
        Task {
            segment: Segment {
                episode: EpisodeId::parse("show/ep-1").expect("id"),
                index: 3,
                t0_ms: 61_000,
                t1_ms: 92_500,
                speaker: Some("Jerod Santo".into()),
                text: "Git push deploys are back.".into(),
                times_estimated: false,
            },
            episode_title: "Ep 1".into(),
            source_path: "show/ep-1.md".into(),
            episode_segments: 10,
            generation: 0,
        }
    }

    fn provenance() -> Provenance {
        Provenance {
            spec: MiningSpec {
                prompt_hash: "p".into(),
                schema_hash: "s".into(),
                model: "m".into(),
                options: "{}".into(),
            },
            worker: "mac/1".into(),
            attempts: 2,
            delivery: 1,
            usage: Usage { prompt_tokens: 900, output_tokens: 120, decode_ms: 1500, ..Usage::default() },
        }
    }

    fn entries() -> [SegmentEntry; 2] {
        let mined = SegmentResult {
            task: task(),
            work_key: WorkKey(ContentHash::of_bytes(b"w")),
            mined_json: r#"{"claims":[{"claim":"deploys are back"}],"jargon":[],"people":[],"mental_models":[]}"#
                .into(),
            repairs: vec!["filled a missing timestamp".into()],
            provenance: provenance(),
        };
        let failed = FailureRecord {
            task: task(),
            work_key: WorkKey(ContentHash::of_bytes(b"w")),
            kind: FailureKind::UnusableAnswer,
            reason: "unusable output after 3 asks".into(),
            raw_output: Some("{not json".into()),
            provenance: provenance(),
        };
        let mined_entry = SegmentEntry::mined(
            &mined,
            mined_value(&mined),
            mined.repairs.clone(),
            Grounding { items: 1, ..Grounding::default() },
        );
        [mined_entry, SegmentEntry::failed(&failed)]
    }

    #[test]
    fn an_episode_file_round_trips_through_its_json() {
        let segments = entries().to_vec();
        let file = EpisodeFile {
            format_version: FORMAT_VERSION,
            episode: EpisodeInfo {
                id: "show/ep-1".into(),
                source_path: "show/ep-1.md".into(),
                title: "Ep 1".into(),
                format: "markdown".into(),
                metadata: serde_json::json!({"video_id": "abc", "view_count": 3})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            },
            counts: EpisodeCounts::of(&segments),
            segments,
        };
        let json = serde_json::to_string_pretty(&file).expect("encode");
        assert_eq!(serde_json::from_str::<EpisodeFile>(&json).expect("decode"), file);
        // The shape users parse: flat segment fields, `status` beside them.
        let value: serde_json::Value = serde_json::from_str(&json).expect("json");
        let first = &value["segments"][0];
        assert_eq!((first["status"].as_str(), first["t0"].as_str()), (Some("mined"), Some("00:01:01")));
        assert_eq!(first["mined"]["claims"][0]["claim"], "deploys are back");
        assert_eq!(value["segments"][1]["failure"]["raw_output"], "{not json");
        assert_eq!(value["segments"][1]["failure"]["kind"], "unusable-answer");
        assert_eq!(first["provenance"]["output_tokens"], 120);
        assert_eq!(
            value["counts"],
            serde_json::json!({"segments": 2, "mined": 1, "failed": 1, "empty": 0, "items": 1, "ungrounded_items": 0})
        );
        assert_eq!(value["episode"]["metadata"]["video_id"], "abc");
        assert_eq!(first["segment_id"], value["segments"][1]["segment_id"]);
        assert_eq!(first["speaker"], "Jerod Santo");
    }

    #[test]
    fn an_export_line_round_trips_through_its_json() {
        for segment in entries() {
            let line = ExportLine {
                segment,
                episode: EpisodeRef {
                    id: "show/ep-1".into(),
                    source_path: "show/ep-1.md".into(),
                    title: "Ep 1".into(),
                    metadata: Map::new(),
                },
            };
            let json = serde_json::to_string(&line).expect("encode");
            assert!(!json.contains('\n'), "one line: {json}");
            assert_eq!(serde_json::from_str::<ExportLine>(&json).expect("decode"), line);
        }
    }
}
