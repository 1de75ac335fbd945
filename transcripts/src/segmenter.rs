//! Cuts a transcript's cues into segments of about `--segment-seconds`.
//!
//! Segments end at cue boundaries: a segment closes once it has at least half
//! the target length and the next cue would take it past the target (or past
//! twice the target, after a long silence). A cue
//! longer than the target is first split at sentence ends (at word boundaries
//! when one sentence is itself too long), its time shared out by word count.
//! Speaker changes inside a segment are written as `\nName: ` in its text.
//! Where each cue begins in a segment's text is kept as its cue marks
//! ([`segment_timed`]), so a sentence's times can come from the cues it spans.

use crate::transcript::Cue;
use protocol::task::CueMark;
use protocol::{EpisodeId, Segment};

/// A stretch of speech by one speaker inside a segment.
#[derive(Clone, Debug, PartialEq)]
pub struct Piece {
    pub speaker: Option<String>,
    pub text: String,
    /// Each cue in it: (byte offset in `text`, start ms, end ms).
    pub cues: Vec<(usize, u64, u64)>,
}

/// A segment before it gets its episode id and index.
#[derive(Clone, Debug, PartialEq)]
pub struct Draft {
    pub start_ms: u64,
    pub end_ms: u64,
    pub estimated: bool,
    pub pieces: Vec<Piece>,
}

/// Cuts `cues` into segments of about `target_ms`.
pub fn segment(episode: &EpisodeId, cues: &[Cue], target_ms: u64) -> Vec<Segment> {
    segment_timed(episode, cues, target_ms).into_iter().map(|(segment, _)| segment).collect()
}

/// [`segment`], with each segment's cue marks: where each cue begins in its
/// text, and the cue's times.
pub fn segment_timed(episode: &EpisodeId, cues: &[Cue], target_ms: u64) -> Vec<(Segment, Vec<CueMark>)> {
    drafts(cues, target_ms)
        .into_iter()
        .enumerate()
        .map(|(index, draft)| {
            let (text, marks) = render_marked(&draft.pieces);
            let segment = Segment {
                episode: episode.clone(),
                index: index as u32,
                t0_ms: draft.start_ms,
                t1_ms: draft.end_ms,
                speaker: draft.pieces[0].speaker.clone(),
                text,
                times_estimated: draft.estimated,
            };
            (segment, marks)
        })
        .collect()
}

/// Groups cues (split where too long) into drafts.
pub fn drafts(cues: &[Cue], target_ms: u64) -> Vec<Draft> {
    let target_ms = target_ms.max(1);
    let mut out: Vec<Draft> = Vec::new();
    let mut current: Option<Draft> = None;
    for cue in cues {
        if cue.end_ms - cue.start_ms <= target_ms {
            add_cue(&mut out, &mut current, cue, target_ms);
        } else {
            for part in split_long_cue(cue, target_ms) {
                add_cue(&mut out, &mut current, &part, target_ms);
            }
        }
    }
    out.extend(current);
    out
}

/// Adds one cue to the current draft, closing it first when it is long enough.
fn add_cue(out: &mut Vec<Draft>, current: &mut Option<Draft>, cue: &Cue, target_ms: u64) {
    if let Some(draft) = current.take() {
        let length = draft.end_ms - draft.start_ms;
        let length_with_cue = cue.end_ms.max(draft.end_ms) - draft.start_ms;
        let full = length >= target_ms || (length_with_cue > target_ms && length * 2 >= target_ms);
        if full || length_with_cue > target_ms * 2 {
            out.push(draft);
        } else {
            *current = Some(draft);
        }
    }
    let draft = current.get_or_insert_with(|| Draft {
        start_ms: cue.start_ms,
        end_ms: cue.end_ms,
        estimated: false,
        pieces: Vec::new(),
    });
    draft.end_ms = draft.end_ms.max(cue.end_ms);
    draft.estimated |= cue.estimated;
    match draft.pieces.last_mut() {
        Some(last) if last.speaker == cue.speaker => {
            last.text.push(' ');
            last.cues.push((last.text.len(), cue.start_ms, cue.end_ms));
            last.text.push_str(&cue.text);
        }
        _ => draft.pieces.push(Piece {
            speaker: cue.speaker.clone(),
            text: cue.text.clone(),
            cues: vec![(0, cue.start_ms, cue.end_ms)],
        }),
    }
}

/// Joins pieces; a change of speaker starts a line with `Name: `.
pub fn render(pieces: &[Piece]) -> String {
    render_marked(pieces).0
}

/// [`render`], and where each cue begins in the text.
fn render_marked(pieces: &[Piece]) -> (String, Vec<CueMark>) {
    let mut text = String::new();
    let mut marks = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 {
            text.push('\n');
            if let Some(name) = &piece.speaker {
                text.push_str(name);
                text.push_str(": ");
            }
        }
        let at = text.len();
        marks.extend(piece.cues.iter().map(|&(offset, start_ms, end_ms)| CueMark {
            at: (at + offset) as u32,
            start_ms,
            end_ms,
        }));
        text.push_str(&piece.text);
    }
    (text, marks)
}

/// Splits a cue longer than the target into parts of at most about the target.
fn split_long_cue(cue: &Cue, target_ms: u64) -> Vec<Cue> {
    let length = cue.end_ms - cue.start_ms;
    if length <= target_ms {
        return vec![cue.clone()];
    }
    let words: Vec<&str> = cue.text.split_whitespace().collect();
    if words.len() < 2 {
        return vec![cue.clone()];
    }
    let parts = length.div_ceil(target_ms) as usize;
    let words_per_part = words.len().div_ceil(parts).max(1);
    // Cut points: prefer sentence ends near each ideal cut, else the ideal cut.
    let mut cuts = Vec::new();
    let mut from = 0;
    while words.len() - from > words_per_part {
        let ideal = from + words_per_part;
        let window = (from + (words_per_part / 2).max(1))..ideal;
        let cut = window.rev().find(|&i| ends_sentence(words[i - 1])).unwrap_or(ideal);
        cuts.push(cut);
        from = cut;
    }
    cuts.push(words.len());
    let total = words.len() as u64;
    let mut start_word = 0;
    cuts.into_iter()
        .map(|end_word| {
            let at = |w: usize| cue.start_ms + length * w as u64 / total;
            let part = Cue {
                start_ms: at(start_word),
                end_ms: at(end_word),
                speaker: cue.speaker.clone(),
                text: words[start_word..end_word].join(" "),
                estimated: cue.estimated,
            };
            start_word = end_word;
            part
        })
        .collect()
}

fn ends_sentence(word: &str) -> bool {
    word.trim_end_matches(['"', '\'', ')', '”', '’']).ends_with(['.', '?', '!', '…'])
}

#[cfg(test)]
mod tests;
