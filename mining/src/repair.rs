//! Validation and repair of a model's answer, following the schema in use
//! (podmine's default or the users' `miner_output.v1`).
//!
//! Every field the schema defines for an item is kept, optional fields stay
//! optional, and the answer is never narrowed below the schema. Repairs, each
//! listed in the result's `repairs`:
//! - the users' validator's: a reply wrapped in a list → its first element;
//!   missing arrays → `[]`; stance and claim-type synonyms mapped as theirs
//!   (`denies→opposes`, `asks`/`inquires→questions`, `ambiguous`/`uncertain→
//!   neutral`, unknown stance → `neutral`; `analytical→causal`,
//!   `assumption→normative`, unknown type → `factual`); a missing required
//!   `context_quote` → the name or term;
//! - times normalised to `HH:MM:SS` (an offset such as `00:12` in a segment
//!   starting at 00:10:00 is read as 00:10:12); a required time that is
//!   missing is the segment's start; a time outside the segment is kept and
//!   flagged (grounding lists the item), never silently clamped;
//! - `evidence_spans` given where the schema has `evidence_quote` /
//!   `evidence_timestamp` instead: its first span moved into them;
//! - keys the schema does not define dropped; items missing a required field
//!   (or shorter than its `minLength`) dropped; arrays beyond `maxItems` cut.
//!
//! A field of the wrong kind for a whole array, or an object with none of the
//! arrays, is invalid rather than repaired: that would fake an empty result.
//! Output that is not JSON is an error too: the caller asks again.

use crate::grounding::{outside, TIME_FIELDS};
use crate::rejected::{Rejected, RejectedKind};
use protocol::timestamp::{format_hms, parse_clock};
use serde_json::{Map, Value};

/// What validation did to an answer.
#[derive(Debug, Default, PartialEq)]
pub struct Repaired {
    pub output: Value,
    pub repairs: Vec<String>,
}

/// The arrays of `miner_output v1`, used when a schema does not name its own.
pub const ARRAYS: [&str; 4] = ["claims", "jargon", "people", "mental_models"];

/// Validates and repairs `raw` against `schema` for a segment spanning `t0_ms..=t1_ms`.
pub fn repair(raw: &str, schema: &Value, t0_ms: u64, t1_ms: u64) -> Result<Repaired, Rejected> {
    let mut repairs = Vec::new();
    let value = match parse_lenient(raw)? {
        Value::Array(mut items) if items.first().is_some_and(Value::is_object) => {
            repairs.push(format!("reply wrapped in a list of {}: its first element taken", items.len()));
            items.swap_remove(0)
        }
        value => value,
    };
    let Value::Object(mut object) = value else { return Err(Rejected::new(RejectedKind::NotObject, "")) };
    let arrays = top_arrays(schema);
    if !arrays.iter().any(|(name, _)| object.contains_key(*name)) {
        let names: Vec<&str> = arrays.iter().map(|(name, _)| *name).collect();
        // Not a miner_output at all: repairing it would fake an empty result.
        return Err(Rejected::new(RejectedKind::SchemaViolation, format!("none of {names:?} is present")));
    }
    let span = Span { t0_ms, t1_ms };
    let mut output = Map::new();
    for (name, array_schema) in arrays {
        let items = match object.remove(name) {
            Some(Value::Array(items)) => items,
            Some(Value::Null) | None => {
                repairs.push(format!("{name}: missing, set to []"));
                Vec::new()
            }
            Some(other) => {
                return Err(Rejected::new(RejectedKind::SchemaViolation, format!("{name} is {other}, not an array")))
            }
        };
        let item_schema = array_schema.get("items").unwrap_or(&Value::Null);
        let kept = repair_array(name, items, array_schema, item_schema, &span, &mut repairs);
        output.insert(name.to_owned(), Value::Array(kept));
    }
    for key in object.keys() {
        repairs.push(format!("{key}: not in the schema, dropped"));
    }
    Ok(Repaired { output: Value::Object(output), repairs })
}

/// The schema's top-level arrays, in its order (the four of `miner_output`
/// when the schema does not say).
fn top_arrays(schema: &Value) -> Vec<(&str, &Value)> {
    let declared: Vec<(&str, &Value)> = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.iter().filter(|(_, s)| s.get("type") == Some(&"array".into())).map(|(k, s)| (k.as_str(), s)))
        .into_iter()
        .flatten()
        .collect();
    if declared.is_empty() {
        ARRAYS.iter().map(|name| (*name, &Value::Null)).collect()
    } else {
        declared
    }
}

fn repair_array(
    path: &str,
    items: Vec<Value>,
    array_schema: &Value,
    item_schema: &Value,
    span: &Span,
    repairs: &mut Vec<String>,
) -> Vec<Value> {
    let before = items.len();
    let mut kept: Vec<Value> = items
        .into_iter()
        .enumerate()
        .filter_map(|(i, item)| repair_item(&format!("{path}[{i}]"), item, item_schema, span, repairs))
        .collect();
    if kept.len() < before {
        repairs.push(format!("{path}: {} item(s) dropped for missing required fields", before - kept.len()));
    }
    if let Some(max) = array_schema.get("maxItems").and_then(Value::as_u64) {
        if kept.len() as u64 > max {
            repairs.push(format!("{path}: {} item(s) beyond maxItems {max} cut", kept.len() as u64 - max));
            kept.truncate(max as usize);
        }
    }
    kept
}

/// One item: its fields repaired by their schemas; `None` when unusable.
fn repair_item(path: &str, item: Value, schema: &Value, span: &Span, repairs: &mut Vec<String>) -> Option<Value> {
    let Value::Object(mut item) = item else { return None };
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return Some(Value::Object(item)); // An item schema that says nothing: kept as it is.
    };
    let required: Vec<&str> =
        schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    move_first_span(path, &mut item, properties, repairs);
    let mut out = Map::new();
    for (key, value) in item {
        let Some(field_schema) = properties.get(&key) else {
            repairs.push(format!("{path}.{key}: not in the schema, dropped"));
            continue;
        };
        let field_path = format!("{path}.{key}");
        if let Some(value) = repair_field(&field_path, &key, value, field_schema, span, repairs) {
            out.insert(key, value);
        }
    }
    for field in required {
        if out.contains_key(field) {
            continue;
        }
        if TIME_FIELDS.contains(&field) {
            out.insert(field.to_owned(), format_hms(span.t0_ms).into());
            repairs.push(format!("{path}.{field}: missing, set to the segment's start"));
        } else if field == "context_quote" {
            let name = ["term", "name"].iter().find_map(|f| out.get(*f)?.as_str().map(str::to_owned))?;
            repairs.push(format!("{path}.context_quote: missing, set to {name:?}"));
            out.insert(field.to_owned(), name.into());
        } else {
            return None;
        }
    }
    Some(Value::Object(out))
}

/// `evidence_spans: [{quote, t0, t1}]` where the schema wants `evidence_quote`
/// and `evidence_timestamp` (the users' prompt asks for spans, their schema
/// has the flat fields): the first span moves into them.
fn move_first_span(
    path: &str,
    item: &mut Map<String, Value>,
    properties: &Map<String, Value>,
    repairs: &mut Vec<String>,
) {
    if properties.contains_key("evidence_spans") || !properties.contains_key("evidence_quote") {
        return;
    }
    let Some(Value::Array(spans)) = item.get("evidence_spans") else { return };
    let count = spans.len();
    let Some(first) = spans.first().and_then(Value::as_object).cloned() else { return };
    if !item.contains_key("evidence_quote") {
        if let Some(quote) = first.get("quote") {
            item.insert("evidence_quote".into(), quote.clone());
        }
        if let Some(t0) = first.get("t0") {
            item.entry("evidence_timestamp").or_insert_with(|| t0.clone());
        }
        repairs.push(format!("{path}.evidence_spans: the first of {count} moved to evidence_quote/evidence_timestamp"));
    }
}

/// One field by its schema; `None` when nothing usable is left of it.
fn repair_field(
    path: &str,
    name: &str,
    value: Value,
    schema: &Value,
    span: &Span,
    repairs: &mut Vec<String>,
) -> Option<Value> {
    match schema.get("type").and_then(Value::as_str) {
        Some("string") => {
            let text = match value {
                Value::String(text) => text.trim().to_owned(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return None,
            };
            if let Some(options) = schema.get("enum").and_then(Value::as_array) {
                return Some(enum_value(path, name, &text, options, repairs).into());
            }
            if TIME_FIELDS.contains(&name) {
                return Some(span.normalise(path, &text, repairs).into());
            }
            let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(1);
            (text.chars().count() as u64 >= min).then_some(Value::String(text))
        }
        Some("array") => {
            let Value::Array(items) = value else { return None };
            let item_schema = schema.get("items").unwrap_or(&Value::Null);
            Some(Value::Array(repair_array(path, items, schema, item_schema, span, repairs)))
        }
        Some("object") => repair_item(path, value, schema, span, repairs),
        _ => Some(value),
    }
}

/// An enum field: as given, a synonym the users' validator maps, or its default.
fn enum_value(path: &str, name: &str, given: &str, options: &[Value], repairs: &mut Vec<String>) -> String {
    let allowed = |v: &str| options.iter().any(|o| o.as_str() == Some(v));
    let lower = given.to_ascii_lowercase();
    if allowed(given) {
        return given.to_owned();
    }
    let mapped = match name {
        "stance" => stance(&lower),
        "claim_type" => claim_type(&lower),
        _ => None,
    };
    let (value, how) = match mapped.filter(|v| allowed(v)).or_else(|| allowed(&lower).then_some(lower.as_str())) {
        Some(value) => (value.to_owned(), "mapped to"),
        None => {
            let default = match name {
                "stance" => "neutral",
                "claim_type" => "factual",
                _ => "",
            };
            let default =
                if allowed(default) { default } else { options.first().and_then(Value::as_str).unwrap_or("") };
            (default.to_owned(), "unknown, set to")
        }
    };
    repairs.push(format!("{path}: {given:?} {how} {value:?}"));
    value
}

fn claim_type(value: &str) -> Option<&'static str> {
    Some(match value {
        "fact" | "assertion" | "empirical" | "descriptive" => "factual",
        "analytical" | "cause" | "causation" | "explanatory" => "causal",
        "assumption" | "opinion" | "evaluative" | "prescriptive" | "value" | "recommendation" => "normative",
        "predictive" | "prediction" | "future" => "forecast",
        "definitional" | "define" => "definition",
        _ => return None,
    })
}

fn stance(value: &str) -> Option<&'static str> {
    Some(match value {
        "assert" | "supports" | "agrees" | "affirms" | "claims" | "positive" => "asserts",
        "asks" | "inquires" | "question" | "doubts" | "skeptical" => "questions",
        "denies" | "oppose" | "disagrees" | "rejects" | "refutes" | "negative" => "opposes",
        "ambiguous" | "uncertain" | "none" | "mixed" => "neutral",
        _ => return None,
    })
}

struct Span {
    t0_ms: u64,
    t1_ms: u64,
}

impl Span {
    /// A time as `HH:MM:SS`: an offset inside the segment is read as one; a
    /// time outside the segment is kept (grounding flags it) and listed.
    fn normalise(&self, path: &str, given: &str, repairs: &mut Vec<String>) -> String {
        let Some(ms) = parse_clock(given) else {
            repairs.push(format!("{path}: {given:?} is not a time, set to the segment's start"));
            return format_hms(self.t0_ms);
        };
        let length = self.t1_ms - self.t0_ms;
        let ms = if ms < self.t0_ms && ms <= length {
            repairs.push(format!("{path}: {given:?} read as an offset into the segment"));
            self.t0_ms + ms
        } else {
            ms
        };
        if outside(ms, self.t0_ms, self.t1_ms) {
            repairs.push(format!(
                "{path}: {} is outside the segment ({}–{}): kept, flagged as ungrounded",
                format_hms(ms),
                format_hms(self.t0_ms),
                format_hms(self.t1_ms)
            ));
        }
        format_hms(ms)
    }
}

/// Parses JSON, also when the model wrapped it in prose or a code fence.
fn parse_lenient(raw: &str) -> Result<Value, Rejected> {
    match serde_json::from_str(raw.trim()) {
        Ok(value) => Ok(value),
        Err(err) => {
            let (start, end) = (raw.find('{'), raw.rfind('}'));
            match (start, end) {
                (Some(start), Some(end)) if start < end => serde_json::from_str(&raw[start..=end])
                    .map_err(|_| Rejected::new(RejectedKind::NotJson, err.to_string())),
                _ => Err(Rejected::new(RejectedKind::NotJson, err.to_string())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::default_schema;
    use serde_json::json;

    const T0: u64 = 600_000; // 00:10:00
    const T1: u64 = 630_000;

    /// The users' schema (read as data from ../shared, as their files are).
    fn their_schema() -> Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/reference/users-miner/miner_output.v1.json");
        serde_json::from_str(&std::fs::read_to_string(path).expect("the users' schema in ../shared")).expect("JSON")
    }

    #[test]
    fn maps_synonyms_fills_arrays_and_normalises_timestamps() {
        let raw = r#"Sure! {"claims":[{"claim_text":"Rates rose because of inflation","claim_type":"assertion","stance":"positive",
            "evidence_spans":[{"quote":"rates rose","t0":"00:12","t1":"10:20"}]}],"people":[{"name":"Ada","context_quote":"Ada said"}]}"#;
        let repaired = repair(raw, &default_schema(), T0, T1).unwrap();
        let claim = &repaired.output["claims"][0];
        assert_eq!(claim["claim_type"], "factual");
        assert_eq!(claim["stance"], "asserts");
        assert_eq!(claim["evidence_spans"][0]["t0"], "00:10:12", "offset inside the segment");
        assert_eq!(claim["evidence_spans"][0]["t1"], "00:10:20");
        assert_eq!(repaired.output["people"][0]["timestamp"], "00:10:00", "missing timestamp filled");
        assert_eq!(repaired.output["jargon"], json!([]));
        assert!(repaired.repairs.iter().any(|r| r.contains("jargon: missing")));
        assert!(repaired.repairs.iter().any(|r| r == "people[0].timestamp: missing, set to the segment's start"));
    }

    #[test]
    fn maps_the_users_synonyms_as_their_validator_does() {
        let claim = |claim_type: &str, stance: &str| json!({"claim_text": "Gold rises when the dollar falls", "claim_type": claim_type, "stance": stance});
        let raw = json!({"claims": [claim("analytical", "denies"), claim("assumption", "asks"), claim("Factual", "inquires"),
            claim("vibes", "ambiguous"), claim("forecast", "uncertain"), claim("causal", "shrugs")]});
        let repaired = repair(&raw.to_string(), &their_schema(), T0, T1).unwrap();
        let got: Vec<(String, String)> = repaired.output["claims"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["claim_type"].as_str().unwrap().into(), c["stance"].as_str().unwrap().into()))
            .collect();
        let want = [
            ("causal", "opposes"),
            ("normative", "questions"),
            ("factual", "questions"),
            ("factual", "neutral"),
            ("forecast", "neutral"),
            ("causal", "neutral"),
        ];
        assert_eq!(got, want.map(|(a, b)| (a.to_owned(), b.to_owned())));
        assert!(
            repaired.repairs.contains(&"claims[0].stance: \"denies\" mapped to \"opposes\"".to_owned()),
            "{:?}",
            repaired.repairs
        );
        assert!(repaired.repairs.contains(&"claims[5].stance: \"shrugs\" unknown, set to \"neutral\"".to_owned()));
    }

    #[test]
    fn keeps_every_field_of_their_schema_and_leaves_optional_ones_optional() {
        let raw = json!({"claims": [{"claim_text": "Central banks bought record gold", "claim_type": "factual", "stance": "asserts",
                "timestamp": "10:05", "evidence_quote": "central banks bought", "evidence_timestamp": "10:06", "confidence": 0.9}],
            "jargon": [{"term": "QT", "definition": "quantitative tightening"}],
            "people": [{"name": "Powell"}],
            "mental_models": [{"name": "Reflexivity", "description": "beliefs move prices"}]});
        let repaired = repair(&raw.to_string(), &their_schema(), T0, T1).unwrap();
        let claim = &repaired.output["claims"][0];
        assert_eq!(claim["timestamp"], "00:10:05");
        assert_eq!(claim["evidence_quote"], "central banks bought");
        assert_eq!(claim["evidence_timestamp"], "00:10:06");
        assert!(claim.get("evidence_spans").is_none() && claim.get("confidence").is_none());
        assert!(repaired.repairs.contains(&"claims[0].confidence: not in the schema, dropped".to_owned()));
        assert_eq!(
            repaired.output["jargon"][0],
            json!({"term": "QT", "definition": "quantitative tightening"}),
            "no context_quote invented"
        );
        assert_eq!(repaired.output["people"][0], json!({"name": "Powell"}));
        assert_eq!(repaired.output["mental_models"][0]["name"], "Reflexivity");
    }

    #[test]
    fn their_schema_is_not_narrowed_by_podmine_bounds() {
        let claims: Vec<Value> = (0..30)
            .map(|i| json!({"claim_text": format!("Claim number {i} about gold"), "claim_type": "factual", "stance": "asserts"}))
            .collect();
        let repaired = repair(&json!({"claims": claims}).to_string(), &their_schema(), T0, T1).unwrap();
        assert_eq!(repaired.output["claims"].as_array().map(Vec::len), Some(30));
    }

    #[test]
    fn spans_move_to_their_flat_fields_and_a_wrapped_reply_is_unwrapped() {
        let raw = r#"[{"claims":[{"claim_text":"Rates rose because of inflation","claim_type":"causal","stance":"asserts",
            "evidence_spans":[{"quote":"rates rose","t0":"10:03","t1":"10:05"},{"quote":"again","t0":"10:06","t1":"10:07"}]}]}]"#;
        let repaired = repair(raw, &their_schema(), T0, T1).unwrap();
        let claim = &repaired.output["claims"][0];
        assert_eq!(
            (claim["evidence_quote"].as_str(), claim["evidence_timestamp"].as_str()),
            (Some("rates rose"), Some("00:10:03"))
        );
        assert!(repaired.repairs[0].starts_with("reply wrapped in a list"), "{:?}", repaired.repairs);
        assert!(repaired.repairs.iter().any(|r| r.contains("evidence_spans: the first of 2 moved")));
    }

    #[test]
    fn a_time_outside_the_segment_is_kept_and_listed_not_clamped() {
        let raw = json!({"claims": [{"claim_text": "Rates rose because of inflation", "claim_type": "causal",
            "stance": "asserts", "timestamp": "00:45:00"}]});
        let repaired = repair(&raw.to_string(), &their_schema(), T0, T1).unwrap();
        assert_eq!(repaired.output["claims"][0]["timestamp"], "00:45:00");
        assert!(repaired
            .repairs
            .iter()
            .any(|r| r.contains("claims[0].timestamp: 00:45:00 is outside the segment (00:10:00–00:10:30)")));
    }

    #[test]
    fn a_required_context_quote_becomes_the_term_as_theirs_does() {
        let raw = json!({"jargon": [{"term": "KV cache", "definition": "stored attention keys and values"}]});
        let repaired = repair(&raw.to_string(), &default_schema(), T0, T1).unwrap();
        assert_eq!(repaired.output["jargon"][0]["context_quote"], "KV cache");
    }

    #[test]
    fn drops_items_missing_required_fields_and_counts_them() {
        let raw =
            r#"{"claims":[{"claim_text":"short"}],"jargon":[{"term":"KV cache"}],"people":[],"mental_models":[]}"#;
        let repaired = repair(raw, &default_schema(), T0, T1).unwrap();
        assert_eq!(repaired.output["claims"], json!([]));
        assert_eq!(repaired.output["jargon"], json!([]));
        assert!(repaired.repairs.iter().any(|r| r == "claims: 1 item(s) dropped for missing required fields"));
    }

    #[test]
    fn refuses_what_is_not_a_json_object() {
        let schema = default_schema();
        let kind = |raw: &str| repair(raw, &schema, T0, T1).map(|_| ()).map_err(|e| e.kind());
        assert_eq!(kind("I cannot help with that."), Err(RejectedKind::NotJson));
        assert_eq!(kind("[1, 2]"), Err(RejectedKind::NotObject));
        assert_eq!(kind(r#"{"claims": [{"claim_text": "trunc"#), Err(RejectedKind::NotJson));
        assert_eq!(kind(r#"{"claims": "none", "people": 7}"#), Err(RejectedKind::SchemaViolation));
        assert_eq!(kind(r#"{"answer": "nothing here"}"#), Err(RejectedKind::SchemaViolation), "no silent empty result");
    }
}
