//! The prompt and the output schema: defaults in the users' field names, or
//! files given with `--prompt` / `--schema`.
//!
//! The fixed instructions go first, in the system message, byte-identical for
//! every request, so the LLM server can reuse its KV cache for them; the
//! segment comes last, in the users' field names and layout (their
//! `SEGMENT TO ANALYZE:` and the segment as JSON indented by two). The default
//! schema has no `pattern` (Ollama fails with "unable to create sampling
//! context" on regexes); its array and string bounds are only a guard against
//! runaway output (the prompt asks for every supported item, as the users'
//! does): `--max-items` is the flag that caps arrays, for any schema.

use protocol::timestamp::format_hms;
use protocol::Task;
use serde_json::value::RawValue;
use serde_json::{json, Value};

/// Output tokens a reply may use; a reply that hits it is truncated, not a result.
pub const DEFAULT_NUM_PREDICT: u32 = 1024;

pub const DEFAULT_INSTRUCTIONS: &str = include_str!("miner.txt");

/// The fixed part of every request, encoded once (its hashes, in the work
/// key, are the run's spec's: `protocol::spec`).
#[derive(Clone, Debug)]
pub struct Prompt {
    pub instructions: String,
    pub schema: Value,
    /// The instructions and the schema as JSON, encoded once: every request
    /// sends both (~25 KB with the default prompt) and copies them as they are.
    instructions_json: Box<RawValue>,
    schema_json: Box<RawValue>,
}

impl Prompt {
    pub fn new(instructions: String, schema: Value) -> Self {
        let schema_text = schema.to_string();
        let instructions_json =
            RawValue::from_string(Value::from(instructions.as_str()).to_string()).expect("a JSON string is valid JSON");
        let schema_json = RawValue::from_string(schema_text).expect("a JSON value is valid JSON");
        Self { instructions, schema, instructions_json, schema_json }
    }

    /// The instructions as a JSON string, encoded once (the cacheable prefix of every request).
    pub fn instructions_json(&self) -> &RawValue {
        &self.instructions_json
    }

    /// The schema as JSON, encoded once.
    pub fn schema_json(&self) -> &RawValue {
        &self.schema_json
    }

    /// The variable part: `SEGMENT TO ANALYZE:` and the segment as JSON
    /// (indented by two, as theirs), in the users' miner-input field names.
    pub fn user_message(&self, task: &Task) -> String {
        user_message(task)
    }

    /// Characters of the fixed part every request sends: instructions and schema.
    pub fn fixed_chars(&self) -> usize {
        self.instructions.len() + self.schema_json.get().len()
    }

    /// A context size that holds the prompt, the segment and the whole output
    /// (see [`context_for`]). Ollama's default (2,048–4,096) would silently
    /// cut the users' 5,500-token prompt.
    pub fn num_ctx(&self, user_message: &str, num_predict: u32) -> u32 {
        context_for(self.fixed_chars(), user_message.len(), num_predict)
    }
}

/// The variable part of a request (the same whatever the prompt).
pub fn user_message(task: &Task) -> String {
    let segment = &task.segment;
    let input = json!({
        "segment_id": segment.segment_id(),
        "speaker": segment.speaker_or_unknown(),
        "timestamp_start": format_hms(segment.t0_ms),
        "timestamp_end": format_hms(segment.t1_ms),
        "text": segment.text,
        "episode_title": task.episode_title,
    });
    let input = serde_json::to_string_pretty(&input).unwrap_or_else(|_| input.to_string());
    format!("SEGMENT TO ANALYZE:\n{input}")
}

/// The context for `fixed_chars` of instructions and schema, a user message
/// of `user_chars` and `num_predict` output tokens: ~3 characters per token
/// (conservative for English), plus the output budget and a margin for the
/// chat template, rounded up to 1,024.
pub fn context_for(fixed_chars: usize, user_chars: usize, num_predict: u32) -> u32 {
    let needed = ((fixed_chars + user_chars) / 3) as u32 + num_predict + 256;
    needed.div_ceil(1024) * 1024
}

/// Items per array the default schema allows: a guard against a generation
/// that loops, far above what a 30-second segment supports.
pub const RUNAWAY_ITEMS: u64 = 40;

/// Caps every top-level array of `schema` at `max` items (`--max-items`).
pub fn cap_items(mut schema: Value, max: u64) -> Value {
    if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        for array in properties.values_mut().filter(|s| s.get("type") == Some(&"array".into())) {
            array["maxItems"] = max.into();
        }
    }
    schema
}

/// `miner_output v1`: four arrays, without `pattern`, bounded only against runaway output.
pub fn default_schema() -> Value {
    let text = |max: u32| json!({"type": "string", "maxLength": max});
    let timestamp = json!({"type": "string", "maxLength": 12, "description": "MM:SS or HH:MM:SS"});
    let runaway = RUNAWAY_ITEMS;
    json!({
        "type": "object",
        "properties": {
            "claims": {"type": "array", "maxItems": runaway, "items": {
                "type": "object",
                "properties": {
                    "claim_text": text(400),
                    "claim_type": {"type": "string", "enum": ["factual", "causal", "normative", "forecast", "definition"]},
                    "stance": {"type": "string", "enum": ["asserts", "questions", "opposes", "neutral"]},
                    "evidence_spans": {"type": "array", "maxItems": 3, "items": {
                        "type": "object",
                        "properties": {"quote": text(300), "t0": timestamp, "t1": timestamp},
                        "required": ["quote", "t0", "t1"]
                    }}
                },
                "required": ["claim_text", "claim_type", "stance", "evidence_spans"]
            }},
            "jargon": {"type": "array", "maxItems": runaway, "items": {
                "type": "object",
                "properties": {"term": text(80), "definition": text(300), "context_quote": text(300), "timestamp": timestamp},
                "required": ["term", "definition", "context_quote", "timestamp"]
            }},
            "people": {"type": "array", "maxItems": runaway, "items": {
                "type": "object",
                "properties": {"name": text(80), "role_or_description": text(200), "context_quote": text(300), "timestamp": timestamp},
                "required": ["name", "context_quote", "timestamp"]
            }},
            "mental_models": {"type": "array", "maxItems": runaway, "items": {
                "type": "object",
                "properties": {"name": text(80), "description": text(300), "context_quote": text(300), "timestamp": timestamp},
                "required": ["name", "description", "context_quote", "timestamp"]
            }}
        },
        "required": ["claims", "jargon", "people", "mental_models"]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_has_no_pattern_and_bounds_every_array() {
        let schema = default_schema().to_string();
        assert!(!schema.contains("pattern"));
        assert_eq!(schema.matches("\"type\":\"array\"").count(), schema.matches("maxItems").count());
    }

    #[test]
    fn max_items_caps_any_schema() {
        let theirs = json!({"type": "object", "properties": {"claims": {"type": "array", "items": {}}, "note": {"type": "string"}}});
        let capped = cap_items(theirs, 5);
        assert_eq!(capped["properties"]["claims"]["maxItems"], 5);
        assert!(capped["properties"]["note"].get("maxItems").is_none());
    }

    #[test]
    fn num_ctx_holds_prompt_and_output() {
        let prompt = Prompt::new("x".repeat(22_000), default_schema());
        let ctx = prompt.num_ctx(&"y".repeat(900), 1024);
        assert!(ctx >= 22_900 / 3 + 1024 && ctx.is_multiple_of(1024), "{ctx}");
    }
}
