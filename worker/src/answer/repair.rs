//! Validation and repair of a model's answer into `miner_output v1`.
//!
//! Repairs the users' pipeline applies (see reference/current-pipeline.md):
//! enum synonyms mapped, missing arrays set to `[]`, missing timestamps
//! filled. A field of the wrong type, or an object with none of the four
//! arrays, is invalid rather than repaired: that would fake an empty result.
//! Beyond that: timestamps are normalised to `HH:MM:SS` inside the
//! segment (an offset such as `00:12` in a segment starting at 00:10:00 means
//! 00:10:12), and items missing a required field are dropped and counted.
//! Output that is not a JSON object is an error: the caller asks again.

use protocol::timestamp::{format_hms, parse_clock};
use serde_json::{Map, Value};

/// What validation did to an answer.
#[derive(Debug, Default, PartialEq)]
pub struct Repaired {
    pub output: Value,
    pub repairs: Vec<String>,
}

/// Why an answer is unusable.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Invalid {
    #[error("output is not JSON: {0}")]
    NotJson(String),
    #[error("output is JSON but not an object")]
    NotObject,
    #[error("output violates the schema: {0}")]
    Schema(String),
}

pub const ARRAYS: [&str; 4] = ["claims", "jargon", "people", "mental_models"];

/// Validates and repairs `raw` for a segment spanning `t0_ms..=t1_ms`.
pub fn repair(raw: &str, t0_ms: u64, t1_ms: u64) -> Result<Repaired, Invalid> {
    let value = parse_lenient(raw)?;
    let Value::Object(mut object) = value else { return Err(Invalid::NotObject) };
    if !ARRAYS.iter().any(|name| object.contains_key(*name)) {
        // Not a miner_output at all: repairing it would fake an empty result.
        return Err(Invalid::Schema(format!("none of {ARRAYS:?} is present")));
    }
    let mut repairs = Vec::new();
    let span = Span { t0_ms, t1_ms };
    let mut output = Map::new();
    for name in ARRAYS {
        let items = match object.remove(name) {
            Some(Value::Array(items)) => items,
            Some(other) => return Err(Invalid::Schema(format!("{name} is {other}, not an array"))),
            None => {
                repairs.push(format!("{name}: missing, set to []"));
                Vec::new()
            }
        };
        let before = items.len();
        let kept: Vec<Value> =
            items.into_iter().filter_map(|item| repair_item(name, item, &span, &mut repairs)).collect();
        if kept.len() < before {
            repairs.push(format!("{name}: {} item(s) dropped for missing required fields", before - kept.len()));
        }
        output.insert(name.to_owned(), Value::Array(kept));
    }
    Ok(Repaired { output: Value::Object(output), repairs })
}

/// Parses JSON, also when the model wrapped it in prose or a code fence.
fn parse_lenient(raw: &str) -> Result<Value, Invalid> {
    match serde_json::from_str(raw.trim()) {
        Ok(value) => Ok(value),
        Err(err) => {
            let (start, end) = (raw.find('{'), raw.rfind('}'));
            match (start, end) {
                (Some(start), Some(end)) if start < end => {
                    serde_json::from_str(&raw[start..=end]).map_err(|_| Invalid::NotJson(err.to_string()))
                }
                _ => Err(Invalid::NotJson(err.to_string())),
            }
        }
    }
}

struct Span {
    t0_ms: u64,
    t1_ms: u64,
}

impl Span {
    /// A timestamp as `HH:MM:SS` inside the segment.
    fn normalise(&self, value: Option<&Value>) -> String {
        let parsed = value.and_then(Value::as_str).and_then(parse_clock);
        let ms = match parsed {
            Some(ms) if ms < self.t0_ms && ms <= self.t1_ms - self.t0_ms => self.t0_ms + ms,
            Some(ms) => ms.clamp(self.t0_ms, self.t1_ms),
            None => self.t0_ms,
        };
        format_hms(ms)
    }
}

fn text(item: &Map<String, Value>, field: &str) -> Option<String> {
    let value = item.get(field)?.as_str()?.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

fn repair_item(kind: &str, item: Value, span: &Span, repairs: &mut Vec<String>) -> Option<Value> {
    let Value::Object(item) = item else { return None };
    let mut out = Map::new();
    match kind {
        "claims" => {
            let claim_text = text(&item, "claim_text").filter(|t| t.chars().count() >= 10)?;
            out.insert("claim_text".into(), claim_text.into());
            out.insert("claim_type".into(), enum_value(&item, "claim_type", claim_type, "factual", repairs).into());
            out.insert("stance".into(), enum_value(&item, "stance", stance, "asserts", repairs).into());
            let spans = item.get("evidence_spans").and_then(Value::as_array).cloned().unwrap_or_default();
            let spans: Vec<Value> = spans
                .into_iter()
                .filter_map(|s| {
                    let s = s.as_object()?;
                    let quote = text(s, "quote")?;
                    Some(serde_json::json!({"quote": quote, "t0": span.normalise(s.get("t0")), "t1": span.normalise(s.get("t1"))}))
                })
                .collect();
            out.insert("evidence_spans".into(), Value::Array(spans));
        }
        "jargon" => {
            for field in ["term", "definition", "context_quote"] {
                out.insert(field.into(), text(&item, field)?.into());
            }
            out.insert("timestamp".into(), span.normalise(item.get("timestamp")).into());
        }
        "people" => {
            out.insert("name".into(), text(&item, "name")?.into());
            if let Some(role) = text(&item, "role_or_description") {
                out.insert("role_or_description".into(), role.into());
            }
            out.insert("context_quote".into(), text(&item, "context_quote").unwrap_or_default().into());
            out.insert("timestamp".into(), span.normalise(item.get("timestamp")).into());
        }
        _ => {
            for field in ["name", "description"] {
                out.insert(field.into(), text(&item, field)?.into());
            }
            out.insert("context_quote".into(), text(&item, "context_quote").unwrap_or_default().into());
            out.insert("timestamp".into(), span.normalise(item.get("timestamp")).into());
        }
    }
    Some(Value::Object(out))
}

fn enum_value(
    item: &Map<String, Value>,
    field: &str,
    map: fn(&str) -> Option<&'static str>,
    default: &'static str,
    repairs: &mut Vec<String>,
) -> &'static str {
    let given = item.get(field).and_then(Value::as_str).unwrap_or("").trim().to_ascii_lowercase();
    match map(&given) {
        Some(value) => {
            if value != given {
                repairs.push(format!("{field}: {given:?} mapped to {value:?}"));
            }
            value
        }
        None => {
            repairs.push(format!("{field}: {given:?} unknown, set to {default:?}"));
            default
        }
    }
}

fn claim_type(value: &str) -> Option<&'static str> {
    Some(match value {
        "factual" | "fact" | "assertion" | "empirical" | "descriptive" => "factual",
        "causal" | "cause" | "causation" | "explanatory" => "causal",
        "normative" | "opinion" | "evaluative" | "prescriptive" | "value" => "normative",
        "forecast" | "predictive" | "prediction" | "future" => "forecast",
        "definition" | "definitional" | "define" => "definition",
        _ => return None,
    })
}

fn stance(value: &str) -> Option<&'static str> {
    Some(match value {
        "asserts" | "assert" | "positive" | "supports" | "agrees" | "affirms" | "claims" => "asserts",
        "questions" | "question" | "doubts" | "skeptical" | "uncertain" => "questions",
        "opposes" | "oppose" | "negative" | "disagrees" | "rejects" | "refutes" => "opposes",
        "neutral" | "none" | "mixed" => "neutral",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 600_000; // 00:10:00
    const T1: u64 = 630_000;

    #[test]
    fn maps_synonyms_fills_arrays_and_normalises_timestamps() {
        let raw = r#"Sure! {"claims":[{"claim_text":"Rates rose because of inflation","claim_type":"assertion","stance":"positive",
            "evidence_spans":[{"quote":"rates rose","t0":"00:12","t1":"10:20"}]}],"people":[{"name":"Ada","context_quote":"Ada said"}]}"#;
        let repaired = repair(raw, T0, T1).unwrap();
        let claim = &repaired.output["claims"][0];
        assert_eq!(claim["claim_type"], "factual");
        assert_eq!(claim["stance"], "asserts");
        assert_eq!(claim["evidence_spans"][0]["t0"], "00:10:12", "offset inside the segment");
        assert_eq!(claim["evidence_spans"][0]["t1"], "00:10:20");
        assert_eq!(repaired.output["people"][0]["timestamp"], "00:10:00", "missing timestamp filled");
        assert_eq!(repaired.output["jargon"], serde_json::json!([]));
        assert!(repaired.repairs.iter().any(|r| r.contains("jargon: missing")));
    }

    #[test]
    fn drops_items_missing_required_fields_and_counts_them() {
        let raw =
            r#"{"claims":[{"claim_text":"short"}],"jargon":[{"term":"KV cache"}],"people":[],"mental_models":[]}"#;
        let repaired = repair(raw, T0, T1).unwrap();
        assert_eq!(repaired.output["claims"], serde_json::json!([]));
        assert_eq!(repaired.output["jargon"], serde_json::json!([]));
        assert!(repaired.repairs.iter().any(|r| r == "claims: 1 item(s) dropped for missing required fields"));
    }

    #[test]
    fn refuses_what_is_not_a_json_object() {
        assert!(matches!(repair("I cannot help with that.", T0, T1), Err(Invalid::NotJson(_))));
        assert_eq!(repair("[1, 2]", T0, T1), Err(Invalid::NotObject));
        assert!(matches!(repair(r#"{"claims": [{"claim_text": "trunc"#, T0, T1), Err(Invalid::NotJson(_))));
        assert!(matches!(repair(r#"{"claims": "none", "people": 7}"#, T0, T1), Err(Invalid::Schema(_))));
        assert!(
            matches!(repair(r#"{"answer": "nothing here"}"#, T0, T1), Err(Invalid::Schema(_))),
            "no silent empty result"
        );
    }
}
