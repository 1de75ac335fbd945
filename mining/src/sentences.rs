//! A segment's sentences, numbered, each with its speaker and its times taken
//! from the transcript's own timing (the groundwork of compact answers, issue
//! 16: the model cites sentence numbers, the worker writes the quotes and
//! times from these).
//!
//! The timing is the segment's cue marks ([`CueMark`]: where in the text each
//! cue of the transcript begins, and its start and end). A sentence starts
//! and ends at the times of the words it spans: a word's time is
//! interpolated by its position among its cue's words. Without marks (an
//! untimed transcript, or a task of an older version) the whole segment is
//! one cue and every time is marked as estimated.

pub use protocol::task::CueMark;
use protocol::task::Segment;

/// One sentence of a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sentence {
    /// 1, 2, … in the segment.
    pub number: u32,
    /// Its text, as in the segment (without a `Name: ` speaker prefix).
    pub text: String,
    pub speaker: Option<String>,
    pub t0_ms: u64,
    pub t1_ms: u64,
    /// The times are interpolated without cue times, or the transcript's own were estimated.
    pub estimated: bool,
}

/// The sentences of `segment` with times from `marks` (see the module docs).
pub fn sentences(segment: &Segment, marks: &[CueMark]) -> Vec<Sentence> {
    let text = segment.text.as_str();
    let whole = [CueMark { at: 0, start_ms: segment.t0_ms, end_ms: segment.t1_ms }];
    let (marks, untimed) = if marks.is_empty() { (&whole[..], true) } else { (marks, false) };
    let clock = Clock { text, marks, one_cue_per_line: !untimed };
    let mut out = Vec::new();
    let mut speaker = segment.speaker.clone();
    let mut line_start = 0;
    for (line_number, line) in text.split('\n').enumerate() {
        let mut body = line;
        let mut body_start = line_start;
        if line_number > 0 {
            // A speaker change inside a segment is written `Name: …` (see the segmenter).
            if let Some((name, rest)) = line.split_once(": ").filter(|(name, _)| is_name(name)) {
                speaker = Some(name.to_owned());
                body = rest;
                body_start += name.len() + 2;
            }
        }
        for (from, to) in sentence_spans(body) {
            let (start, end) = (body_start + from, body_start + to);
            let sentence = text[start..end].trim();
            if sentence.is_empty() {
                continue;
            }
            out.push(Sentence {
                number: out.len() as u32 + 1,
                text: sentence.to_owned(),
                speaker: speaker.clone(),
                t0_ms: clock.at(start),
                t1_ms: clock.at(end).max(clock.at(start)),
                estimated: untimed || segment.times_estimated,
            });
        }
        line_start += line.len() + 1;
    }
    out
}

/// Whether `name` (before `: ` at a line's start) looks like a speaker's name.
fn is_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 60 && !name.contains(['.', '?', '!'])
}

/// Byte spans of the sentences of `text`: a sentence ends after `.`, `?`,
/// `!` or `…` (and any closing quotes) followed by whitespace, or at the end.
fn sentence_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = 0;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    for (i, &(at, c)) in chars.iter().enumerate() {
        if !matches!(c, '.' | '?' | '!' | '…') {
            continue;
        }
        let mut end = i + 1;
        while end < chars.len() && matches!(chars[end].1, '"' | '\'' | ')' | '”' | '’') {
            end += 1;
        }
        let next_is_space = chars.get(end).is_none_or(|&(_, c)| c.is_whitespace());
        if next_is_space && !(c == '.' && abbreviation(&text[start..at])) {
            let end_byte = chars.get(end).map_or(text.len(), |&(b, _)| b);
            if text[start..end_byte].trim().chars().count() > 1 || at + 1 == text.len() {
                spans.push((start, end_byte));
                start = end_byte;
            }
        }
    }
    if !text[start..].trim().is_empty() {
        spans.push((start, text.len()));
    }
    spans
}

/// Titles and short forms whose period ends no sentence.
const ABBREVIATIONS: [&str; 9] = ["mr", "mrs", "ms", "dr", "prof", "st", "vs", "e.g", "i.e"];

/// Whether the word ending `before` (right before a period) is an
/// abbreviation: an initial (`J.`), dotted letters (`U.S.`) or a title.
fn abbreviation(before: &str) -> bool {
    let word = before.rsplit(char::is_whitespace).next().unwrap_or("");
    let word = word.trim_start_matches(['"', '\'', '(', '“', '‘']);
    let single_letter = word.chars().count() == 1 && word.chars().all(char::is_uppercase);
    let dotted = word.contains('.') && word.split('.').all(|part| part.chars().count() <= 1);
    single_letter || dotted || ABBREVIATIONS.contains(&word.to_lowercase().as_str())
}

/// Times of byte offsets in a segment's text, from its cue marks.
struct Clock<'a> {
    text: &'a str,
    marks: &'a [CueMark],
    /// Real cue marks: a cue ends at the end of its line (what follows is
    /// the next speaker's `Name: `, part of no cue).
    one_cue_per_line: bool,
}

impl Clock<'_> {
    /// The time of the word at (or just before) byte `offset`: its cue's
    /// start plus the cue's span shared out by the words before it in the cue.
    fn at(&self, offset: usize) -> u64 {
        let index = self.marks.partition_point(|m| m.at as usize <= offset).saturating_sub(1);
        let mark = self.marks[index];
        let cue_start = (mark.at as usize).min(self.text.len());
        let cue_end = self.marks.get(index + 1).map_or(self.text.len(), |next| (next.at as usize).min(self.text.len()));
        let cue_end = match self.text.get(cue_start..cue_end).and_then(|cue| cue.find('\n')) {
            Some(newline) if self.one_cue_per_line => cue_start + newline,
            _ => cue_end,
        };
        let offset = offset.clamp(cue_start, cue_end);
        let words = |from: usize, to: usize| self.text.get(from..to).map_or(0, |s| s.split_whitespace().count());
        let (before, total) = (words(cue_start, offset), words(cue_start, cue_end));
        if total == 0 {
            return mark.start_ms;
        }
        let span = mark.end_ms.saturating_sub(mark.start_ms);
        mark.start_ms + span * before as u64 / total as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::EpisodeId;

    fn segment(text: &str, t0_ms: u64, t1_ms: u64) -> Segment {
        Segment {
            episode: EpisodeId::parse("show/ep").unwrap(),
            index: 0,
            t0_ms,
            t1_ms,
            speaker: Some("Ada".into()),
            text: text.into(),
            times_estimated: false,
        }
    }

    #[test]
    fn a_sentence_spanning_two_cues_starts_in_the_first_and_ends_in_the_second() {
        // Cue 1 (10–14 s): "We test. Models drift", cue 2 (14–20 s): "over time. Really."
        let text = "We test. Models drift over time. Really.";
        let second_cue = text.find("over").unwrap() as u32;
        let marks = [
            CueMark { at: 0, start_ms: 10_000, end_ms: 14_000 },
            CueMark { at: second_cue, start_ms: 14_000, end_ms: 20_000 },
        ];
        let found = sentences(&segment(text, 10_000, 20_000), &marks);
        let texts: Vec<&str> = found.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(texts, ["We test.", "Models drift over time.", "Really."]);
        // "We test." ends after the 2nd of cue 1's 4 words: 10 s + 4 s × 2/4.
        assert_eq!((found[0].number, found[0].t0_ms, found[0].t1_ms), (1, 10_000, 12_000));
        // "Models" is the 3rd of cue 1's 4 words: 10 s + 4 s × 2/4.
        assert_eq!(found[1].t0_ms, 12_000);
        // It ends after "time.", the 2nd of cue 2's 3 words: 14 s + 6 s × 2/3.
        assert_eq!(found[1].t1_ms, 18_000);
        assert_eq!((found[2].t0_ms, found[2].t1_ms), (18_000, 20_000));
        assert!(found.iter().all(|s| !s.estimated && s.speaker.as_deref() == Some("Ada")));
    }

    #[test]
    fn an_untimed_segment_shares_its_span_by_words_and_says_so() {
        let found = sentences(&segment("One two. Three four five six.", 0, 6_000), &[]);
        assert_eq!(found.len(), 2);
        assert_eq!((found[0].t0_ms, found[0].t1_ms, found[1].t0_ms, found[1].t1_ms), (0, 2_000, 2_000, 6_000));
        assert!(found.iter().all(|s| s.estimated));
    }

    #[test]
    fn speaker_changes_start_new_sentences_with_their_speaker() {
        let text = "Hello there.\nBob: Hi! How are you?\nAda: Fine";
        let found = sentences(&segment(text, 0, 9_000), &[]);
        let got: Vec<(&str, Option<&str>)> = found.iter().map(|s| (s.text.as_str(), s.speaker.as_deref())).collect();
        assert_eq!(
            got,
            [("Hello there.", Some("Ada")), ("Hi!", Some("Bob")), ("How are you?", Some("Bob")), ("Fine", Some("Ada"))]
        );
        assert_eq!(found.iter().map(|s| s.number).collect::<Vec<_>>(), [1, 2, 3, 4]);
    }

    #[test]
    fn decimals_and_initials_do_not_end_sentences_but_quotes_close_them() {
        let text = "It grew 3.5 percent. He said \"stop.\" Then U.S. rules, says Dr. J. Smith.";
        let found = sentences(&segment(text, 0, 3_000), &[]);
        let texts: Vec<&str> = found.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(texts, ["It grew 3.5 percent.", "He said \"stop.\"", "Then U.S. rules, says Dr. J. Smith."]);
    }
}
