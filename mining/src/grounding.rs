//! Grounding: whether what a mined answer quotes and times is in its segment.
//!
//! Works on the answer as JSON, whatever the schema in use: a string field
//! named `quote`, `evidence_quote` or `context_quote` (at any depth of an
//! item, so `evidence_spans[].quote` too) is a quote; `timestamp`,
//! `evidence_timestamp`, `t0` and `t1` are times. A quote is grounded when at
//! least [`GROUNDED_SHARE`] of its words appear in order in the segment's
//! text, both normalised for whitespace, case, Unicode quotes and dashes and
//! punctuation; a time is grounded inside the segment (with a second's slack).
//! An item with any ungrounded quote or time is ungrounded. The result is
//! listed beside the items, never inside them, so their shape stays the
//! schema's. A pure function of the segment and the answer: the collector
//! computes it when it stores a result, `worker bench` when it measures one.

pub use protocol::grounding::{Grounding, Ungrounded};
use protocol::output::{mined_value, SegmentEntry, UngroundedItems};
use protocol::timestamp::{format_hms, parse_clock};
use protocol::SegmentResult;
use serde_json::Value;

/// Share of a quote's words that must appear, in order, in the segment.
pub const GROUNDED_SHARE: f64 = 0.9;
/// A segment with at least this many words and nothing mined is "empty".
pub const EMPTY_MIN_WORDS: usize = 40;
/// Slack for a time at the segment's edge (timestamps are whole seconds).
const EDGE_MS: u64 = 1_000;

const QUOTE_FIELDS: [&str; 3] = ["quote", "evidence_quote", "context_quote"];
/// Fields that hold a time, in either schema (repair normalises the same ones).
pub const TIME_FIELDS: [&str; 4] = ["timestamp", "evidence_timestamp", "t0", "t1"];

/// Whether a time lies outside the segment `t0_ms..=t1_ms` (a second's slack).
pub fn outside(ms: u64, t0_ms: u64, t1_ms: u64) -> bool {
    ms + EDGE_MS < t0_ms || ms > t1_ms + EDGE_MS
}

/// Checks every quote and time of `mined` against a segment's text and span.
pub fn check(mined: &Value, text: &str, t0_ms: u64, t1_ms: u64) -> Grounding {
    let segment_words = words(text);
    let mut grounding = Grounding::default();
    let Some(arrays) = mined.as_object() else { return grounding };
    for (array, items) in arrays {
        let Some(items) = items.as_array() else { continue };
        for (index, item) in items.iter().enumerate() {
            grounding.items += 1;
            let mut findings = Vec::new();
            visit(item, String::new(), &mut |field, name, value| {
                let Some(value) = value.as_str() else { return };
                if QUOTE_FIELDS.contains(&name) && !value.trim().is_empty() {
                    grounding.quotes += 1;
                    if !quote_is_grounded(value, &segment_words) {
                        grounding.ungrounded_quotes += 1;
                        findings.push((field, "quote not found in the segment".to_owned()));
                    }
                } else if TIME_FIELDS.contains(&name) {
                    if let Some(ms) = parse_clock(value) {
                        if outside(ms, t0_ms, t1_ms) {
                            let span = format!("{}–{}", format_hms(t0_ms), format_hms(t1_ms));
                            findings.push((field, format!("time {value} outside the segment ({span})")));
                        }
                    }
                }
            });
            for (field, why) in findings {
                grounding.ungrounded.push(Ungrounded { item: format!("{array}[{index}]"), field, why });
            }
        }
    }
    grounding.empty = grounding.items == 0 && segment_words.len() >= EMPTY_MIN_WORDS;
    grounding
}

/// Grounding of a mined result against its own segment.
pub fn of_result(result: &SegmentResult) -> Grounding {
    of_value(result, &mined_value(result))
}

fn of_value(result: &SegmentResult, mined: &Value) -> Grounding {
    let segment = &result.task.segment;
    check(mined, &segment.text, segment.t0_ms, segment.t1_ms)
}

/// A mined result as its output entry: grounded against its segment, its
/// ungrounded items dropped when `ungrounded` asks (and that listed as a repair).
pub fn entry(result: &SegmentResult, ungrounded: UngroundedItems) -> SegmentEntry {
    let mined = mined_value(result);
    let grounding = of_value(result, &mined);
    let mut repairs = result.repairs.clone();
    let mined = match ungrounded {
        UngroundedItems::Drop if !grounding.ungrounded.is_empty() => {
            repairs.push(format!("{} ungrounded item(s) dropped (--drop-ungrounded)", grounding.ungrounded_items()));
            drop_ungrounded(&grounding, &mined)
        }
        _ => mined,
    };
    SegmentEntry::mined(result, mined, repairs, grounding)
}

/// `mined` without the items `grounding` lists (`--drop-ungrounded`).
pub fn drop_ungrounded(grounding: &Grounding, mined: &Value) -> Value {
    let mut out = mined.clone();
    let Some(arrays) = out.as_object_mut() else { return out };
    for (array, items) in arrays.iter_mut() {
        let Some(items) = items.as_array_mut() else { continue };
        let mut index = 0;
        items.retain(|_| {
            let name = format!("{array}[{index}]");
            index += 1;
            !grounding.ungrounded.iter().any(|u| u.item == name)
        });
    }
    out
}

/// Calls `found(path, name, value)` for every scalar field under `value`.
fn visit(value: &Value, path: String, found: &mut dyn FnMut(String, &str, &Value)) {
    match value {
        Value::Object(fields) => {
            for (name, field) in fields {
                let here = if path.is_empty() { name.clone() } else { format!("{path}.{name}") };
                match field {
                    Value::Object(_) | Value::Array(_) => visit(field, here, found),
                    scalar => found(here, name, scalar),
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                visit(item, format!("{path}[{i}]"), found);
            }
        }
        _ => {}
    }
}

/// Words, normalised: lower case, Unicode quotes and dashes as ASCII,
/// punctuation removed (apostrophes inside words kept: "don't").
pub fn words(text: &str) -> Vec<String> {
    let mapped: String = text
        .chars()
        .map(|c| match c {
            '\u{2018}' | '\u{2019}' | '\u{02BC}' | '`' | '\u{00B4}' => '\'',
            '\u{2010}'..='\u{2015}' | '\u{2212}' => ' ',
            c if c.is_alphanumeric() || c == '\'' => c,
            _ => ' ',
        })
        .flat_map(char::to_lowercase)
        .collect();
    mapped.split_whitespace().map(|w| w.trim_matches('\'')).filter(|w| !w.is_empty()).map(str::to_owned).collect()
}

/// At least [`GROUNDED_SHARE`] of the quote's words in order in the text.
fn quote_is_grounded(quote: &str, text: &[String]) -> bool {
    let quote = words(quote);
    if quote.is_empty() {
        return true;
    }
    let needed = (quote.len() as f64 * GROUNDED_SHARE).ceil() as usize;
    // Greedy in-order matching finds every word of a verbatim quote; only a
    // quote it falls short on pays for the exact longest common subsequence.
    greedy_in_order(&quote, text) >= needed || longest_common_subsequence(&quote, text) >= needed
}

fn greedy_in_order(quote: &[String], text: &[String]) -> usize {
    let (mut at, mut matched) = (0, 0);
    for word in quote {
        if let Some(found) = text[at..].iter().position(|w| w == word) {
            at += found + 1;
            matched += 1;
        }
    }
    matched
}

fn longest_common_subsequence(a: &[String], b: &[String]) -> usize {
    let mut row = vec![0usize; b.len() + 1];
    for x in a {
        let mut diagonal = 0;
        for (j, y) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if x == y { diagonal + 1 } else { above.max(row[j]) };
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TEXT: &str = "Jerod: So the Fed raised rates — again — because inflation didn't cool. \
                        Adam: Right, and “quantitative tightening” is the part people miss.";
    const T0: u64 = 600_000; // 00:10:00
    const T1: u64 = 630_000; // 00:10:30

    fn one_claim(quote: &str, timestamp: &str) -> Value {
        json!({"claims": [{"claim_text": "The Fed raised rates again", "claim_type": "causal", "stance": "asserts",
            "timestamp": timestamp, "evidence_quote": quote}], "jargon": [], "people": [], "mental_models": []})
    }

    #[test]
    fn an_exact_quote_is_grounded() {
        let g =
            check(&one_claim("the Fed raised rates — again — because inflation didn't cool", "10:05"), TEXT, T0, T1);
        assert_eq!((g.items, g.quotes, g.ungrounded_quotes), (1, 1, 0));
        assert!(g.ungrounded.is_empty(), "{g:?}");
    }

    #[test]
    fn whitespace_case_curly_quotes_and_dashes_do_not_matter() {
        let quote = "  THE FED raised   rates - again - because inflation didn’t cool. \"Quantitative tightening\"";
        let g = check(&one_claim(quote, "00:10:05"), TEXT, T0, T1);
        assert!(g.ungrounded.is_empty(), "{g:?}");
    }

    #[test]
    fn a_quote_with_one_word_in_ten_changed_is_still_grounded_but_an_invented_one_is_not() {
        let nearly = "the Fed raised rates again because inflation did not cool";
        assert!(check(&one_claim(nearly, "10:05"), TEXT, T0, T1).ungrounded.len() == 1, "2 of 10 words differ");
        let one_off = "so the Fed raised rates again because inflation didn't cool down";
        assert!(check(&one_claim(one_off, "10:05"), TEXT, T0, T1).ungrounded.is_empty(), "1 of 11 words added");
        let invented = "Powell promised three more cuts before the election";
        let g = check(&one_claim(invented, "10:05"), TEXT, T0, T1);
        assert_eq!(g.ungrounded_quotes, 1);
        assert_eq!(
            g.ungrounded,
            vec![Ungrounded {
                item: "claims[0]".into(),
                field: "evidence_quote".into(),
                why: "quote not found in the segment".into()
            }]
        );
    }

    #[test]
    fn a_time_outside_the_segment_is_flagged() {
        let g = check(&one_claim("inflation didn't cool", "00:45:00"), TEXT, T0, T1);
        assert_eq!(g.ungrounded.len(), 1);
        assert_eq!(g.ungrounded[0].field, "timestamp");
        assert!(g.ungrounded[0].why.contains("outside the segment (00:10:00–00:10:30)"), "{:?}", g.ungrounded);
    }

    #[test]
    fn nested_spans_are_checked_and_dropping_removes_only_ungrounded_items() {
        let mined = json!({"claims": [
            {"claim_text": "ok claim here", "evidence_spans": [{"quote": "inflation didn't cool", "t0": "00:10:03", "t1": "00:10:06"}]},
            {"claim_text": "bad claim here", "evidence_spans": [{"quote": "gold at record highs", "t0": "00:10:03", "t1": "00:10:06"}]}
        ], "people": [{"name": "Adam", "context_quote": "Adam: Right"}]});
        let g = check(&mined, TEXT, T0, T1);
        assert_eq!((g.items, g.quotes, g.ungrounded_quotes, g.ungrounded_items()), (3, 3, 1, 1));
        assert_eq!(g.ungrounded[0].field, "evidence_spans[0].quote");
        let kept = drop_ungrounded(&g, &mined);
        assert_eq!(kept["claims"].as_array().map(Vec::len), Some(1));
        assert_eq!(kept["claims"][0]["claim_text"], "ok claim here");
        assert_eq!(kept["people"], mined["people"]);
    }

    #[test]
    fn real_speech_mined_empty_is_counted_as_empty() {
        let nothing = json!({"claims": [], "jargon": [], "people": [], "mental_models": []});
        let speech = "word ".repeat(EMPTY_MIN_WORDS);
        assert!(check(&nothing, &speech, T0, T1).empty);
        assert!(!check(&nothing, "Thanks. Bye.", T0, T1).empty, "a short segment may have nothing");
        assert!(!check(&one_claim("word word", "10:01"), &speech, T0, T1).empty);
    }
}
