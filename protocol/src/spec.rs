//! The run's mining spec: the one model, prompt, schema, generation options
//! and context size every worker of a run mines with.
//!
//! The coordinator records it ([`RunSpec`]) in the KV bucket [`BUCKET`] under
//! [`KEY`] (`spec_kv`) when it enqueues (and when `coordinator respec` changes it);
//! workers read it from there, so a Mac needs only the NATS address, a login
//! and its LLM server. The work key comes from it ([`RunSpec::mining_spec`]),
//! computed exactly as a worker of an older version computes it from the same
//! flags, so a fleet upgraded one Mac at a time agrees on what is done.
//!
//! The record is JSON with a format number: a reader that meets a newer
//! format refuses to mine with it and says to upgrade, rather than mine with
//! half of it. A spec of full answers is written in format 1, which every
//! version reads; one of compact answers ([`AnswerMode::Compact`]) in format
//! 2, so a worker that cannot mine compact answers refuses it.

use crate::ids::ContentHash;
use crate::result::MiningSpec;
use serde::{Deserialize, Serialize};

/// The KV bucket holding the spec (history kept: earlier revisions stay readable).
pub const BUCKET: &str = "podmine_spec";
/// The key of the run's current spec.
pub const KEY: &str = "current";

/// How often a worker looks for a new revision of the spec (`coordinator
/// respec` tells the user every worker picks it up within this).
pub const POLL: std::time::Duration = std::time::Duration::from_secs(5);

/// The newest spec format this build understands.
pub const FORMAT: u32 = 2;

/// How the model answers (`--answers`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AnswerMode {
    /// The full shape of the schema: the model writes quotes and times.
    #[default]
    Full,
    /// Content and cited sentence numbers under short keys; the worker writes
    /// the quotes and times from the transcript (see `mining::compact`).
    Compact,
}

impl AnswerMode {
    pub fn is_full(&self) -> bool {
        *self == AnswerMode::Full
    }

    /// The spec format a spec of this mode is written in (see the module docs).
    pub fn format(self) -> u32 {
        match self {
            AnswerMode::Full => 1,
            AnswerMode::Compact => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AnswerMode::Full => "full",
            AnswerMode::Compact => "compact",
        }
    }
}

impl std::fmt::Display for AnswerMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What every worker of the run mines with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// [`FORMAT`] of the writer; a reader refuses a newer one.
    pub format: u32,
    /// 1 for the first spec of a run, +1 for every change.
    pub revision: u64,
    /// Model name as the LLM server knows it.
    pub model: String,
    /// The system prompt, verbatim.
    pub instructions: String,
    /// The JSON Schema the answers follow (any `--max-items` cap already applied).
    pub schema: serde_json::Value,
    /// Output tokens per answer (Ollama `num_predict`, OpenAI `max_tokens`).
    pub num_predict: u32,
    pub temperature: f32,
    /// Full or compact answers (absent in a format-1 spec: full).
    #[serde(default, skip_serializing_if = "AnswerMode::is_full")]
    pub answers: AnswerMode,
    /// The context size every request carries: one value for the whole run,
    /// so Ollama never reloads the model for a request of another size.
    pub num_ctx: u32,
    /// True when `num_ctx` was given (`--num-ctx`): it is never raised for a
    /// longer segment; one that does not fit fails with its reason.
    #[serde(default)]
    pub num_ctx_fixed: bool,
    /// Characters of the longest user message (segment and its context)
    /// enqueued so far: what `num_ctx` is sized for.
    #[serde(default)]
    pub longest_user_chars: u32,
    /// Who set this revision and with which command, for `status`.
    #[serde(default)]
    pub set_by: String,
    /// When (unix milliseconds).
    #[serde(default)]
    pub set_at_ms: u64,
}

impl RunSpec {
    /// The hashes and names results carry, and the work key is derived from.
    pub fn mining_spec(&self) -> MiningSpec {
        MiningSpec {
            prompt_hash: prompt_hash(&self.instructions),
            schema_hash: schema_hash(&self.schema),
            model: self.model.clone(),
            options: options_fingerprint(self.num_predict, self.temperature, self.answers),
        }
    }

    /// Decodes a KV value, refusing a newer format with what to do.
    pub fn decode(bytes: &[u8]) -> Result<Self, SpecError> {
        let format = serde_json::from_slice::<FormatOnly>(bytes).map_err(|e| SpecError::Unreadable(e.to_string()))?;
        if format.format > FORMAT {
            return Err(SpecError::Newer(format.format));
        }
        serde_json::from_slice(bytes).map_err(|e| SpecError::Unreadable(e.to_string()))
    }

    /// The KV value, in the format its answer mode needs (see the module docs).
    pub fn encode(&self) -> Vec<u8> {
        let written = RunSpec { format: self.answers.format(), ..self.clone() };
        serde_json::to_vec(&written).expect("a spec is plain JSON")
    }

    /// One line for logs and `status`: revision, model, prompt and schema hashes, sizes.
    pub fn summary(&self) -> String {
        let spec = self.mining_spec();
        format!(
            "revision {}: model {}, prompt {}, schema {}, num_predict {}, temperature {}, num_ctx {}, {} answers",
            self.revision,
            self.model,
            spec.prompt_hash,
            spec.schema_hash,
            self.num_predict,
            self.temperature,
            self.num_ctx,
            self.answers
        )
    }
}

#[derive(Deserialize)]
struct FormatOnly {
    format: u32,
}

/// Why a recorded spec cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    #[error("the run's mining spec has format {0}, this build reads format {FORMAT}: upgrade podmine on this Mac")]
    Newer(u32),
    #[error("the run's mining spec is unreadable ({0}): set it again with `coordinator respec`")]
    Unreadable(String),
}

/// Hash of the instructions as results carry it.
pub fn prompt_hash(instructions: &str) -> String {
    ContentHash::of_bytes(instructions.as_bytes()).short()
}

/// Hash of the schema as results carry it (of its compact JSON).
pub fn schema_hash(schema: &serde_json::Value) -> String {
    ContentHash::of_bytes(schema.to_string().as_bytes()).short()
}

/// Canonical JSON of the generation options that change answers. Full
/// answers give the string older versions give (their work keys stay);
/// compact ones add `"answers":"compact"`, so the two modes never share a
/// work key.
pub fn options_fingerprint(num_predict: u32, temperature: f32, answers: AnswerMode) -> String {
    match answers {
        AnswerMode::Full => format!("{{\"num_predict\":{num_predict},\"temperature\":{temperature}}}"),
        AnswerMode::Compact => {
            format!("{{\"answers\":\"compact\",\"num_predict\":{num_predict},\"temperature\":{temperature}}}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> RunSpec {
        RunSpec {
            format: 1,
            revision: 3,
            model: "qwen2.5:7b-instruct".into(),
            instructions: "Mine.".into(),
            schema: serde_json::json!({"type": "object"}),
            num_predict: 1024,
            temperature: 0.3,
            answers: AnswerMode::Full,
            num_ctx: 10_240,
            num_ctx_fixed: false,
            longest_user_chars: 700,
            set_by: "enqueue on mac-studio".into(),
            set_at_ms: 1,
        }
    }

    #[test]
    fn a_spec_round_trips_and_a_newer_format_is_refused() {
        assert_eq!(RunSpec::decode(&spec().encode()).unwrap(), spec());
        let mut newer: serde_json::Value = serde_json::from_slice(&spec().encode()).unwrap();
        newer["format"] = (FORMAT + 1).into();
        newer["answers"] = "compact".into();
        let err = RunSpec::decode(newer.to_string().as_bytes()).unwrap_err();
        assert_eq!(err, SpecError::Newer(FORMAT + 1));
        assert!(err.to_string().contains("upgrade podmine"), "{err}");
    }

    #[test]
    fn a_compact_spec_is_format_2_and_a_full_one_stays_readable_by_older_workers() {
        let full: serde_json::Value = serde_json::from_slice(&spec().encode()).unwrap();
        assert_eq!(full["format"], 1, "what a worker before compact answers reads");
        assert!(full.get("answers").is_none());
        let compact = RunSpec { answers: AnswerMode::Compact, ..spec() };
        let written: serde_json::Value = serde_json::from_slice(&compact.encode()).unwrap();
        assert_eq!((written["format"].as_u64(), written["answers"].as_str()), (Some(2), Some("compact")));
        assert_eq!(RunSpec::decode(&compact.encode()).unwrap(), RunSpec { format: 2, ..compact });
    }

    #[test]
    fn the_work_key_differs_by_answer_mode() {
        let content = ContentHash::of_bytes(b"segment");
        let full = spec();
        let compact = RunSpec { answers: AnswerMode::Compact, ..spec() };
        assert_ne!(full.mining_spec(), compact.mining_spec());
        assert_ne!(
            crate::WorkKey::derive(&content, &full.mining_spec()),
            crate::WorkKey::derive(&content, &compact.mining_spec())
        );
    }

    #[test]
    fn the_mining_spec_is_what_an_older_worker_derives_from_the_same_settings() {
        // The strings older workers put in every result (their Prompt and Generation).
        let spec = spec().mining_spec();
        assert_eq!(spec.options, r#"{"num_predict":1024,"temperature":0.3}"#);
        assert_eq!(spec.prompt_hash, ContentHash::of_bytes(b"Mine.").short());
        assert_eq!(spec.schema_hash, ContentHash::of_bytes(br#"{"type":"object"}"#).short());
    }
}
