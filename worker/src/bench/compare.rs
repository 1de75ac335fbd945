//! Full against compact answers, from two sweeps on the same segments and
//! server (`worker bench --answers full,compact`): what each costs (output
//! tokens per segment, segments/s and latency at its best concurrency), what
//! each gets (items per segment by kind, usable and grounded shares), how far
//! they agree on the segments both answered, and a one-line recommendation.
//!
//! Agreement: a claim of one mode matches a claim of the other when their
//! quotes cover a common sentence of the segment (each claim matched once);
//! jargon terms and people match by normalised name (lower case, letters and
//! digits). Each figure is the Dice coefficient, 2 × matched / (a + b): 1 when
//! both found the same things, 0 when nothing in common.

use super::{Report, Sample, Step, KINDS};
use mining::sentences::{sentences, Sentence};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt::Write;

/// What one mode costs and gets, at its best concurrency.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ModeFigures {
    pub mode: String,
    pub output_tokens_per_segment: f64,
    pub best_concurrency: usize,
    pub segments_per_s: f64,
    pub p50_ms: u64,
    pub p95_ms: u64,
    /// Usable answers (after expansion and repair) of those answered.
    pub usable_share: f64,
    /// `segments_per_s × usable_share`: segments that end mined per second
    /// (an unusable answer is asked again, then fails).
    pub usable_per_s: f64,
    pub grounded_share: f64,
    /// Items per usable answer: claims, jargon, people, mental models.
    pub items_per_segment: [f64; 4],
}

/// The two modes side by side.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Comparison {
    pub a: ModeFigures,
    pub b: ModeFigures,
    /// b's output tokens per segment over a's.
    pub output_tokens_ratio: f64,
    /// b's segments/s over a's (each at its best concurrency).
    pub throughput_ratio: f64,
    /// b's usable segments/s over a's.
    pub usable_throughput_ratio: f64,
    /// Segments both modes answered usably (what agreement is measured on).
    pub segments_compared: usize,
    pub claims_agreement: f64,
    pub jargon_agreement: f64,
    pub people_agreement: f64,
    pub recommendation: String,
}

/// Compares sweep `a` (full, say) with sweep `b` (compact) on `samples`.
pub fn compare(a: &Report, b: &Report, samples: &[Sample]) -> Comparison {
    let (fa, fb) = (figures(a), figures(b));
    let ratio = |x: f64, y: f64| if y > 0.0 { x / y } else { 0.0 };
    let output_tokens_ratio = ratio(fb.output_tokens_per_segment, fa.output_tokens_per_segment);
    let throughput_ratio = ratio(fb.segments_per_s, fa.segments_per_s);
    let usable_throughput_ratio = ratio(fb.usable_per_s, fa.usable_per_s);
    let (mut claims, mut jargon, mut people) = (Tally::default(), Tally::default(), Tally::default());
    let mut compared = 0;
    for (index, answer_a) in &a.first_answers {
        let Some(answer_b) = b.first_answers.get(index) else { continue };
        let Some(sample) = samples.get(*index) else { continue };
        compared += 1;
        let sentences = sentences(&sample.task.segment, &sample.cues);
        claims.add(match_claims(&claim_sentences(answer_a, &sentences), &claim_sentences(answer_b, &sentences)));
        jargon.add(match_names(answer_a, answer_b, "jargon", "term"));
        people.add(match_names(answer_a, answer_b, "people", "name"));
    }
    let recommendation = recommend(&fa, &fb, output_tokens_ratio, usable_throughput_ratio);
    Comparison {
        a: fa,
        b: fb,
        output_tokens_ratio,
        throughput_ratio,
        usable_throughput_ratio,
        segments_compared: compared,
        claims_agreement: claims.dice(),
        jargon_agreement: jargon.dice(),
        people_agreement: people.dice(),
        recommendation,
    }
}

fn figures(report: &Report) -> ModeFigures {
    let best = report.steps.iter().max_by(|x, y| x.segments_per_s.total_cmp(&y.segments_per_s));
    let answers = &report.answers;
    let usable_share = if answers.answered > 0 { answers.valid as f64 / answers.answered as f64 } else { 0.0 };
    let segments_per_s = best.map_or(0.0, |s| s.segments_per_s);
    ModeFigures {
        mode: report.mode.to_string(),
        output_tokens_per_segment: answers.output_tokens_per_call,
        best_concurrency: best.map_or(0, |s| s.concurrency),
        segments_per_s,
        p50_ms: best.map_or(0, |s: &Step| s.p50_ms),
        p95_ms: best.map_or(0, |s: &Step| s.p95_ms),
        usable_share,
        usable_per_s: segments_per_s * usable_share,
        grounded_share: answers.grounded_share,
        items_per_segment: answers.kinds_per_valid,
    }
}

/// Items of one kind in both modes, and how many matched.
#[derive(Default)]
struct Tally {
    a: usize,
    b: usize,
    matched: usize,
}

impl Tally {
    fn add(&mut self, (a, b, matched): (usize, usize, usize)) {
        self.a += a;
        self.b += b;
        self.matched += matched;
    }

    fn dice(&self) -> f64 {
        if self.a + self.b == 0 {
            return 1.0; // neither found any: they agree
        }
        2.0 * self.matched as f64 / (self.a + self.b) as f64
    }
}

/// Each claim's sentences: those its quotes (`evidence_spans[].quote`,
/// `evidence_quote`) cover or begin in.
fn claim_sentences(answer: &Value, sentences: &[Sentence]) -> Vec<BTreeSet<u32>> {
    let claims = answer["claims"].as_array().map_or(&[][..], Vec::as_slice);
    claims
        .iter()
        .map(|claim| {
            let spans = claim["evidence_spans"].as_array().into_iter().flatten().map(|span| &span["quote"]);
            let quotes = spans.chain(std::iter::once(&claim["evidence_quote"])).filter_map(Value::as_str);
            quotes.flat_map(|quote| covered(quote, sentences)).collect()
        })
        .collect()
}

/// The sentences a quote overlaps: a sentence inside the quote, or the quote's
/// first words inside a sentence (whitespace and case aside).
fn covered(quote: &str, sentences: &[Sentence]) -> Vec<u32> {
    let quote = normalise(quote);
    let head: String = quote.split(' ').take(6).collect::<Vec<_>>().join(" ");
    if head.is_empty() {
        return Vec::new();
    }
    sentences
        .iter()
        .filter(|s| {
            let text = normalise(&s.text);
            !text.is_empty() && (quote.contains(&text) || text.contains(&head))
        })
        .map(|s| s.number)
        .collect()
}

/// (claims of a, claims of b, matched pairs): a claim of a matches the first
/// unmatched claim of b sharing a sentence with it.
fn match_claims(a: &[BTreeSet<u32>], b: &[BTreeSet<u32>]) -> (usize, usize, usize) {
    let mut taken = vec![false; b.len()];
    let mut matched = 0;
    for claim in a {
        if let Some(j) = (0..b.len()).find(|&j| !taken[j] && !claim.is_disjoint(&b[j])) {
            taken[j] = true;
            matched += 1;
        }
    }
    (a.len(), b.len(), matched)
}

/// (names of a, names of b, names in both) for one array, normalised.
fn match_names(a: &Value, b: &Value, array: &str, field: &str) -> (usize, usize, usize) {
    let names = |answer: &Value| -> BTreeSet<String> {
        let items = answer[array].as_array().map_or(&[][..], Vec::as_slice);
        items.iter().filter_map(|item| item[field].as_str()).map(normalise).filter(|n| !n.is_empty()).collect()
    };
    let (na, nb) = (names(a), names(b));
    (na.len(), nb.len(), na.intersection(&nb).count())
}

/// Lower case, letters and digits, single spaces.
fn normalise(text: &str) -> String {
    let kept: String = text.chars().map(|c| if c.is_alphanumeric() { c.to_ascii_lowercase() } else { ' ' }).collect();
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One line: which mode to mine with, and why. What counts is segments
/// that end mined per second (`usable`: b's over a's), not raw answers.
fn recommend(a: &ModeFigures, b: &ModeFigures, tokens: f64, usable: f64) -> String {
    if a.usable_share == 0.0 && b.usable_share == 0.0 {
        return "neither mode gave a usable answer: try a larger model before choosing".to_owned();
    }
    if usable >= 1.2 {
        format!(
            "{b}: {usable:.2}x the usable segments/s of {a} ({:.3} against {:.3}; {:.0}% of its output tokens, \
             {:.0}% usable against {:.0}%), every quote grounded; check the agreement on your own segments, then \
             `coordinator respec --answers {b}`",
            b.usable_per_s,
            a.usable_per_s,
            tokens * 100.0,
            b.usable_share * 100.0,
            a.usable_share * 100.0,
            a = a.mode,
            b = b.mode
        )
    } else {
        format!(
            "{a}: {b} gives {usable:.2}x the usable segments/s here ({:.0}% of the output tokens, {:.0}% usable \
             against {:.0}%): not worth a change",
            tokens * 100.0,
            b.usable_share * 100.0,
            a.usable_share * 100.0,
            a = a.mode,
            b = b.mode
        )
    }
}

/// The comparison as printed.
pub fn render(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "== {} vs {} answers (same segments, same server) ==", c.a.mode, c.b.mode);
    let _ = writeln!(out, "{:<28} {:>14} {:>14} {:>8}", "", c.a.mode, c.b.mode, "ratio");
    let row = |out: &mut String, name: &str, x: String, y: String, ratio: String| {
        let _ = writeln!(out, "{name:<28} {x:>14} {y:>14} {ratio:>8}");
    };
    row(
        &mut out,
        "output tokens / segment",
        format!("{:.1}", c.a.output_tokens_per_segment),
        format!("{:.1}", c.b.output_tokens_per_segment),
        format!("{:.2}", c.output_tokens_ratio),
    );
    row(
        &mut out,
        "segments/s (best conc.)",
        format!("{:.3} @{}", c.a.segments_per_s, c.a.best_concurrency),
        format!("{:.3} @{}", c.b.segments_per_s, c.b.best_concurrency),
        format!("{:.2}", c.throughput_ratio),
    );
    row(
        &mut out,
        "p50 / p95 latency s",
        format!("{:.1} / {:.1}", c.a.p50_ms as f64 / 1e3, c.a.p95_ms as f64 / 1e3),
        format!("{:.1} / {:.1}", c.b.p50_ms as f64 / 1e3, c.b.p95_ms as f64 / 1e3),
        String::new(),
    );
    row(
        &mut out,
        "usable segments/s",
        format!("{:.3}", c.a.usable_per_s),
        format!("{:.3}", c.b.usable_per_s),
        format!("{:.2}", c.usable_throughput_ratio),
    );
    row(
        &mut out,
        "usable answers",
        format!("{:.0}%", c.a.usable_share * 100.0),
        format!("{:.0}%", c.b.usable_share * 100.0),
        String::new(),
    );
    row(
        &mut out,
        "grounded items",
        format!("{:.0}%", c.a.grounded_share * 100.0),
        format!("{:.0}%", c.b.grounded_share * 100.0),
        String::new(),
    );
    for (kind, name) in KINDS.iter().enumerate() {
        row(
            &mut out,
            &format!("{name} / usable answer"),
            format!("{:.2}", c.a.items_per_segment[kind]),
            format!("{:.2}", c.b.items_per_segment[kind]),
            String::new(),
        );
    }
    if c.segments_compared == 0 {
        let _ = writeln!(out, "agreement: no segment was answered usably in both modes: nothing to compare");
    } else {
        let _ = writeln!(
            out,
            "agreement on {} segment(s) both answered: claims by sentence {:.0}%, jargon by name {:.0}%, people by \
             name {:.0}%",
            c.segments_compared,
            c.claims_agreement * 100.0,
            c.jargon_agreement * 100.0,
            c.people_agreement * 100.0
        );
    }
    let _ = writeln!(out, "recommendation: {}", c.recommendation);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sentence(number: u32, text: &str) -> Sentence {
        Sentence { number, text: text.into(), speaker: None, t0_ms: 0, t1_ms: 0, estimated: false }
    }

    #[test]
    fn claims_match_by_sentence_and_names_by_normalised_name() {
        let sentences =
            [sentence(1, "Rates rose last year."), sentence(2, "Inflation did not cool."), sentence(3, "So what?")];
        let full = json!({
            "claims": [{"evidence_spans": [{"quote": "rates rose last"}]}, {"evidence_quote": "So what"}],
            "jargon": [{"term": "Inflation"}], "people": [{"name": "Ada Lovelace"}]
        });
        let compact = json!({
            "claims": [{"evidence_spans": [{"quote": "Inflation did not cool."}]}, {"evidence_spans": [{"quote": "Rates rose last year. Inflation did not cool."}]}],
            "jargon": [{"term": "inflation!"}, {"term": "rates"}], "people": [{"name": "ada  lovelace"}]
        });
        let (a, b) = (claim_sentences(&full, &sentences), claim_sentences(&compact, &sentences));
        assert_eq!(a, vec![BTreeSet::from([1]), BTreeSet::from([3])]);
        assert_eq!(b, vec![BTreeSet::from([2]), BTreeSet::from([1, 2])]);
        assert_eq!(match_claims(&a, &b), (2, 2, 1), "the first claim of each on sentence 1; 'So what' unmatched");
        assert_eq!(match_names(&full, &compact, "jargon", "term"), (1, 2, 1));
        assert_eq!(match_names(&full, &compact, "people", "name"), (1, 1, 1));
        let mut tally = Tally::default();
        tally.add((2, 2, 1));
        assert!((tally.dice() - 0.5).abs() < 1e-9);
    }

    #[test]
    fn the_recommendation_weighs_usable_segments_per_second() {
        let mode = |name: &str, segments_per_s: f64, usable_share: f64| ModeFigures {
            mode: name.into(),
            output_tokens_per_segment: 0.0,
            best_concurrency: 4,
            segments_per_s,
            p50_ms: 0,
            p95_ms: 0,
            usable_share,
            usable_per_s: segments_per_s * usable_share,
            grounded_share: 1.0,
            items_per_segment: [0.0; 4],
        };
        let full = mode("full", 1.0, 0.9);
        assert!(recommend(&full, &mode("compact", 2.0, 0.9), 0.4, 2.0).starts_with("compact: 2.00x"));
        assert!(recommend(&full, &mode("compact", 2.0, 0.5), 0.4, 1.11).starts_with("full: compact gives 1.11x"));
        let slow_but_usable = recommend(&mode("full", 0.18, 0.08), &mode("compact", 0.21, 0.67), 0.79, 9.9);
        assert!(slow_but_usable.starts_with("compact: 9.90x"), "{slow_but_usable}");
    }
}
