//! Compact answers (`--answers compact`, a setting of the run's spec): the model gets the segment's sentences
//! numbered and answers with the content only, citing sentence numbers under
//! short keys; the worker expands that into the full shape of the schema in
//! use, the quotes being the exact sentence text and the times the
//! transcript's own timing of those sentences (`crate::sentences`). Quotes
//! are grounded by construction, and the model spends no output tokens
//! copying them.
//!
//! The compact shape, for `miner_output`'s four arrays:
//! `{"c":[{"t":claim,"k":type,"s":stance,"e":[3,4]}], "j":[{"n":term,"d":definition,"e":[2]}],
//!   "p":[{"n":name,"r":role,"e":[5]}], "m":[{"n":name,"d":description,"e":[6]}]}`.

use crate::rejected::{Rejected, RejectedKind};
use crate::sentences::Sentence;
use protocol::timestamp::format_hms;
use protocol::Task;
use serde_json::{json, Map, Value};

/// A content field of an item and its short key.
type Field = (&'static str, &'static str);

/// Each array: its name, its short key, and its content fields.
const ARRAYS: [(&str, &str, &[Field]); 4] = [
    ("claims", "c", &[("claim_text", "t"), ("claim_type", "k"), ("stance", "s")]),
    ("jargon", "j", &[("term", "n"), ("definition", "d")]),
    ("people", "p", &[("name", "n"), ("role_or_description", "r")]),
    ("mental_models", "m", &[("name", "n"), ("description", "d")]),
];

/// The key of the cited sentence numbers in every compact item.
const CITED: &str = "e";
/// Sentences one item may cite (a guard against a generation that counts on).
const MAX_CITED: u64 = 8;

/// What is added to any prompt (podmine's or the users') in compact mode.
pub const ADDENDUM: &str = "\n\nANSWER FORMAT (compact): the segment comes as numbered sentences. Do not copy \
quotes or timestamps: cite the numbers of the sentences that support each item under \"e\" (e.g. [3] or [3,4]). \
Use the short keys: \"c\" claims (\"t\" claim text, \"k\" claim type, \"s\" stance), \"j\" jargon (\"n\" term, \
\"d\" definition), \"p\" people (\"n\" name, \"r\" role or description), \"m\" mental models (\"n\" name, \
\"d\" description). Answer with compact JSON only.";

/// Whether answers of `full` can be mined compactly: its arrays must be
/// among `miner_output`'s four (claims, jargon, people, mental_models), whose
/// quotes and times this module knows how to write; an array it does not
/// know would be lost.
pub fn supports(full: &Value) -> Result<(), String> {
    let properties = full.get("properties").and_then(Value::as_object);
    let arrays: Vec<&String> = properties
        .into_iter()
        .flatten()
        .filter(|(_, schema)| schema.get("type") == Some(&Value::from("array")))
        .map(|(name, _)| name)
        .collect();
    let unknown: Vec<&str> = arrays
        .iter()
        .map(|name| name.as_str())
        .filter(|name| !ARRAYS.iter().any(|(array, _, _)| array == name))
        .collect();
    if arrays.is_empty() || !unknown.is_empty() {
        return Err(format!(
            "compact answers know the arrays claims, jargon, people and mental_models (miner_output); this schema \
             has {}: mine it with --answers full",
            if arrays.is_empty() { "none of them".to_owned() } else { format!("also {}", unknown.join(", ")) }
        ));
    }
    Ok(())
}

/// The schema the model answers in compact mode, from the full one: the same
/// content fields (their enums and length bounds kept, and each array's item
/// cap) under short keys, plus the cited numbers.
pub fn compact_schema(full: &Value) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for (array, short, fields) in ARRAYS {
        let Some(item) = full.pointer(&format!("/properties/{array}/items")) else { continue };
        let item_required: Vec<&str> =
            item.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        let mut item_properties = Map::new();
        let mut item_needs = vec![Value::from(CITED)];
        for (field, key) in fields {
            let mut field_schema = json!({"type": "string"});
            for bound in ["enum", "maxLength"] {
                if let Some(value) = item.pointer(&format!("/properties/{field}/{bound}")) {
                    field_schema[bound] = value.clone();
                }
            }
            item_properties.insert((*key).to_owned(), field_schema);
            if item_required.contains(field) {
                item_needs.push(Value::from(*key));
            }
        }
        item_properties.insert(
            CITED.to_owned(),
            json!({"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": MAX_CITED}),
        );
        let items = json!({"type": "object", "properties": item_properties, "required": item_needs});
        let mut array_schema = json!({"type": "array", "items": items});
        if let Some(max) = full.pointer(&format!("/properties/{array}/maxItems")) {
            array_schema["maxItems"] = max.clone(); // `--max-items`, or the default schema's runaway guard
        }
        properties.insert(short.to_owned(), array_schema);
        required.push(Value::from(short));
    }
    json!({"type": "object", "properties": properties, "required": required})
}

/// The user message in compact mode: the segment's sentences, numbered, each
/// with its speaker.
pub fn user_message(task: &Task, sentences: &[Sentence]) -> String {
    let numbered: Vec<String> = sentences
        .iter()
        .map(|s| match &s.speaker {
            Some(speaker) => format!("{} {speaker}: {}", s.number, s.text),
            None => format!("{} {}", s.number, s.text),
        })
        .collect();
    let input = json!({
        "segment_id": task.segment.segment_id(),
        "episode_title": task.episode_title,
        "sentences": numbered,
    });
    format!("SEGMENT TO ANALYZE:\n{input}")
}

/// A compact answer expanded into the full shape of `full_schema`, and what
/// was repaired on the way (items citing sentences the segment does not have).
#[derive(Debug, PartialEq)]
pub struct Expanded {
    pub answer: Value,
    pub repairs: Vec<String>,
}

/// Expands `raw` (a compact answer) for the segment's `sentences` into the
/// shape of `full_schema`: quotes are the cited sentences' text (a run of
/// consecutive sentences is one quote), times their start (and end, for a
/// span's `t1`) as `HH:MM:SS`. The result still goes through `repair` like
/// any answer.
pub fn expand(raw: &str, sentences: &[Sentence], full_schema: &Value) -> Result<Expanded, Rejected> {
    let value: Value =
        serde_json::from_str(raw.trim()).map_err(|e| Rejected::new(RejectedKind::NotJson, e.to_string()))?;
    let object = match value {
        Value::Object(object) => object,
        Value::Array(mut items) if items.first().is_some_and(Value::is_object) => match items.swap_remove(0) {
            Value::Object(object) => object,
            _ => return Err(no_arrays()),
        },
        _ => return Err(no_arrays()),
    };
    if !ARRAYS.iter().any(|(_, short, _)| object.contains_key(*short)) {
        return Err(no_arrays());
    }
    let mut repairs = Vec::new();
    let mut answer = Map::new();
    let (mut given, mut kept_items) = (0, 0);
    for (array, short, fields) in ARRAYS {
        let item_schema = full_schema.pointer(&format!("/properties/{array}/items")).unwrap_or(&Value::Null);
        let items = object.get(short).and_then(Value::as_array).cloned().unwrap_or_default();
        let mut kept = Vec::new();
        for (i, item) in items.iter().enumerate() {
            given += 1;
            let at = format!("{array}[{i}]");
            let cited = cited_sentences(item.get(CITED), sentences, &at, &mut repairs);
            if cited.is_empty() {
                repairs.push(format!("{at}: cites no sentence of the segment: dropped"));
                continue;
            }
            let mut full = Map::new();
            for (field, key) in fields {
                if let Some(value) = item.get(*key) {
                    full.insert((*field).to_owned(), value.clone());
                }
            }
            write_evidence(&mut full, &cited, item_schema);
            kept.push(Value::Object(full));
            kept_items += 1;
        }
        answer.insert(array.to_owned(), Value::Array(kept));
    }
    if given > 0 && kept_items == 0 {
        return Err(Rejected::new(RejectedKind::NothingCited, format!("1 to {}", sentences.len())));
    }
    Ok(Expanded { answer: Value::Object(answer), repairs })
}

fn no_arrays() -> Rejected {
    Rejected::new(RejectedKind::NoArrays, "")
}

/// The sentences `cited` names, in order, each once; numbers the segment does
/// not have are dropped and listed. Accepts `[3, 4]`, `["3"]`, `"3-5"` and `3`.
fn cited_sentences<'s>(
    cited: Option<&Value>,
    sentences: &'s [Sentence],
    at: &str,
    repairs: &mut Vec<String>,
) -> Vec<&'s Sentence> {
    let mut numbers = Vec::new();
    let mut read = |value: &Value| match value {
        Value::Number(n) => numbers.extend(n.as_u64()),
        Value::String(s) => match s.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.trim().parse::<u64>(), b.trim().parse::<u64>()) {
                    numbers.extend(a..=b.min(a + 50));
                }
            }
            None => numbers.extend(s.trim().parse::<u64>().ok()),
        },
        _ => {}
    };
    match cited {
        Some(Value::Array(values)) => values.iter().for_each(&mut read),
        Some(value) => read(value),
        None => {}
    }
    numbers.sort_unstable();
    numbers.dedup();
    let (inside, outside): (Vec<u64>, Vec<u64>) =
        numbers.into_iter().partition(|&n| n >= 1 && n as usize <= sentences.len());
    if !outside.is_empty() {
        repairs.push(format!("{at}: sentence(s) {outside:?} not in the segment (1 to {}): dropped", sentences.len()));
    }
    inside.into_iter().map(|n| &sentences[n as usize - 1]).collect()
}

/// Writes the quotes and times the item's schema has, from the cited sentences.
fn write_evidence(item: &mut Map<String, Value>, cited: &[&Sentence], item_schema: &Value) {
    let has = |field: &str| item_schema.pointer(&format!("/properties/{field}")).is_some();
    let runs = runs(cited);
    let first = &runs[0];
    let quote = |run: &[&Sentence]| run.iter().map(|s| s.text.as_str()).collect::<Vec<_>>().join(" ");
    let start = format_hms(first[0].t0_ms);
    if has("evidence_spans") {
        let spans: Vec<Value> = runs
            .iter()
            .map(|run| {
                json!({"quote": quote(run), "t0": format_hms(run[0].t0_ms), "t1": format_hms(run[run.len() - 1].t1_ms)})
            })
            .collect();
        item.insert("evidence_spans".into(), Value::Array(spans));
    }
    if has("evidence_quote") {
        item.insert("evidence_quote".into(), quote(first).into());
    }
    if has("evidence_timestamp") {
        item.insert("evidence_timestamp".into(), start.clone().into());
    }
    if has("context_quote") {
        item.insert("context_quote".into(), quote(first).into());
    }
    if has("timestamp") {
        item.insert("timestamp".into(), start.into());
    }
}

/// Cited sentences grouped into runs of consecutive numbers.
fn runs<'a, 's>(cited: &'a [&'s Sentence]) -> Vec<&'a [&'s Sentence]> {
    cited.chunk_by(|a, b| b.number == a.number + 1).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sentences::{sentences, CueMark};
    use crate::{grounding, prompt, repair};
    use protocol::{EpisodeId, Segment};

    /// "We test models. They drift over a long time. True." at 10–24 s, its
    /// second sentence spanning two cues (the segmenter's own test).
    fn timed() -> (Segment, Vec<Sentence>) {
        let text = "We test models. They drift over a long time.\nBob: True.";
        let segment = Segment {
            episode: EpisodeId::parse("show/ep").unwrap(),
            index: 3,
            t0_ms: 10_000,
            t1_ms: 24_000,
            speaker: Some("Ada".into()),
            text: text.into(),
            times_estimated: false,
        };
        let marks = [
            CueMark { at: 0, start_ms: 10_000, end_ms: 14_000 },
            CueMark { at: text.find("over").unwrap() as u32, start_ms: 14_000, end_ms: 20_000 },
            CueMark { at: text.find("True").unwrap() as u32, start_ms: 20_000, end_ms: 24_000 },
        ];
        let found = sentences(&segment, &marks);
        (segment, found)
    }

    fn users_schema() -> Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/reference/users-miner/miner_output.v1.json");
        serde_json::from_str(&std::fs::read_to_string(path).expect("the users' schema")).expect("JSON")
    }

    const ANSWER: &str = r#"{"c":[{"t":"Models drift over time","k":"causal","s":"asserts","e":[1,2]}],
        "j":[{"n":"drift","d":"a model's answers changing","e":[2]}],"p":[{"n":"Bob","r":"a guest","e":["3"]}],"m":[]}"#;

    #[test]
    fn a_compact_answer_expands_into_podmines_shape_with_exact_quotes_and_cue_times() {
        let (segment, sentences) = timed();
        let full = prompt::default_schema();
        let expanded = expand(ANSWER, &sentences, &full).unwrap();
        assert!(expanded.repairs.is_empty(), "{:?}", expanded.repairs);
        let claim = &expanded.answer["claims"][0];
        // Sentences 1 and 2 are one run: one span, from the first's start to the second's end.
        assert_eq!(
            claim["evidence_spans"],
            json!([{"quote": "We test models. They drift over a long time.", "t0": "00:00:10", "t1": "00:00:20"}])
        );
        // Sentence 2 starts inside the first cue (4th of its 5 words): 10 s + 4 s × 3/5.
        assert_eq!(expanded.answer["jargon"][0]["timestamp"], "00:00:12");
        assert_eq!(expanded.answer["jargon"][0]["context_quote"], "They drift over a long time.");
        assert_eq!(expanded.answer["people"][0]["context_quote"], "True.");
        // What a full answer goes through, it passes, and every quote is in the segment.
        let repaired = repair::repair(&expanded.answer.to_string(), &full, segment.t0_ms, segment.t1_ms).unwrap();
        let grounding = grounding::check(&repaired.output, &segment.text, segment.t0_ms, segment.t1_ms);
        assert_eq!((grounding.items, grounding.ungrounded.len()), (3, 0), "{grounding:?}");
    }

    #[test]
    fn a_compact_answer_expands_into_the_users_shape() {
        let (segment, sentences) = timed();
        let full = users_schema();
        let expanded = expand(ANSWER, &sentences, &full).unwrap();
        let claim = &expanded.answer["claims"][0];
        assert_eq!(claim["evidence_quote"], "We test models. They drift over a long time.");
        assert_eq!((&claim["evidence_timestamp"], &claim["timestamp"]), (&json!("00:00:10"), &json!("00:00:10")));
        assert!(claim.get("evidence_spans").is_none(), "their schema has flat fields");
        let repaired = repair::repair(&expanded.answer.to_string(), &full, segment.t0_ms, segment.t1_ms).unwrap();
        let grounding = grounding::check(&repaired.output, &segment.text, segment.t0_ms, segment.t1_ms);
        assert_eq!(grounding.ungrounded.len(), 0, "{grounding:?}");
    }

    #[test]
    fn an_untimed_segment_gives_times_shared_out_by_words() {
        let (mut segment, _) = timed();
        segment.times_estimated = true;
        let untimed = sentences(&segment, &[]);
        let expanded = expand(ANSWER, &untimed, &prompt::default_schema()).unwrap();
        // No cue times: 10–24 s shared by the segment's 11 words (with "Bob:"); "They" is the 4th.
        assert_eq!(expanded.answer["jargon"][0]["timestamp"], format_hms(10_000 + 14_000 * 3 / 11));
        assert!(untimed.iter().all(|s| s.estimated));
    }

    #[test]
    fn numbers_outside_the_segment_are_dropped_and_an_answer_citing_nothing_is_asked_again() {
        let (_, sentences) = timed();
        let full = prompt::default_schema();
        let raw = r#"{"c":[{"t":"x","k":"factual","s":"asserts","e":[2,9]}],"j":[{"n":"y","d":"z","e":[0]}]}"#;
        let expanded = expand(raw, &sentences, &full).unwrap();
        assert_eq!(expanded.answer["claims"].as_array().unwrap().len(), 1);
        assert_eq!(expanded.answer["jargon"].as_array().unwrap().len(), 0);
        assert_eq!(
            expanded.repairs,
            [
                "claims[0]: sentence(s) [9] not in the segment (1 to 3): dropped",
                "jargon[0]: sentence(s) [0] not in the segment (1 to 3): dropped",
                "jargon[0]: cites no sentence of the segment: dropped",
            ]
        );
        let nothing = r#"{"c":[{"t":"x","k":"factual","s":"asserts","e":[7]}]}"#;
        let kind = |raw: &str| expand(raw, &sentences, &full).map(|_| ()).map_err(|e| e.kind());
        assert_eq!(kind(nothing), Err(RejectedKind::NothingCited));
        assert_eq!(kind("not json"), Err(RejectedKind::NotJson));
        assert_eq!(kind(r#"{"claims":[]}"#), Err(RejectedKind::NoArrays));
    }

    #[test]
    fn the_compact_schema_keeps_the_enums_and_asks_for_sentence_numbers() {
        for full in [prompt::default_schema(), users_schema()] {
            let compact = compact_schema(&full);
            assert_eq!(compact["required"], json!(["c", "j", "p", "m"]));
            let claim = &compact["properties"]["c"]["items"];
            assert_eq!(
                claim["properties"]["s"]["enum"],
                full["properties"]["claims"]["items"]["properties"]["stance"]["enum"]
            );
            assert_eq!(claim["required"], json!(["e", "t", "k", "s"]));
            assert_eq!(compact["properties"]["p"]["items"]["required"], json!(["e", "n"]));
            // Smaller than the full one: it is sent with every request.
            assert!(compact.to_string().len() < full.to_string().len(), "{compact}");
        }
    }

    #[test]
    fn the_user_message_numbers_the_sentences_with_their_speakers() {
        let (segment, sentences) = timed();
        let task = Task {
            segment,
            episode_title: "Ep".into(),
            source_path: "show/ep.srt".into(),
            episode_segments: 9,
            generation: 0,
        };
        let message = user_message(&task, &sentences);
        assert!(message.starts_with("SEGMENT TO ANALYZE:\n{"), "{message}");
        assert!(message.contains(r#""1 Ada: We test models.","2 Ada: They drift over a long time.","3 Bob: True.""#));
    }
}
