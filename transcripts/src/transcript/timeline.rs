//! Turns raw cues (times possibly missing, backward or overlapping) into cues
//! with times that only move forward.
//!
//! - Consecutive identical cues (Whisper repetition loops) collapse into one.
//! - Cues without a start are placed by text position between the timestamps
//!   around them (sparse timestamps); before the first timestamp the episode
//!   starts at 0; after the last one, and in files with no timestamps at all,
//!   time advances at [`SPEAKING_RATE_WPM`]. Such cues are marked `estimated`.
//! - A start before the previous start is moved up to it; an end after the
//!   next start is cut back to it, so cues never overlap.

use super::{Cue, RawCue};

/// Speaking rate used where a transcript gives no times: 150 words per minute,
/// a common figure for conversational English.
pub const SPEAKING_RATE_WPM: u64 = 150;

/// Milliseconds it takes to say `words` words at [`SPEAKING_RATE_WPM`].
pub fn speaking_ms(words: u64) -> u64 {
    words * 60_000 / SPEAKING_RATE_WPM
}

pub fn resolve(raw: Vec<RawCue>, warnings: &mut Vec<String>) -> Vec<Cue> {
    let cues = collapse_repeats(normalise(raw), warnings);
    if cues.is_empty() {
        return Vec::new();
    }
    let starts = place_starts(&cues, warnings);
    let mut out: Vec<Cue> = Vec::with_capacity(cues.len());
    for (i, cue) in cues.into_iter().enumerate() {
        let (start_ms, estimated) = starts[i];
        let next_start = starts.get(i + 1).map(|&(s, _)| s);
        let end_ms = match (cue.end_ms.filter(|&e| e >= start_ms), next_start) {
            (Some(end), Some(next)) => end.min(next),
            (Some(end), None) => end,
            (None, Some(next)) => next,
            (None, None) => start_ms + speaking_ms(word_count(&cue.text)),
        };
        out.push(Cue { start_ms, end_ms, speaker: cue.speaker, text: cue.text, estimated });
    }
    out
}

/// Collapses runs of whitespace to one space and drops empty cues.
fn normalise(raw: Vec<RawCue>) -> Vec<RawCue> {
    raw.into_iter()
        .filter_map(|mut cue| {
            if !is_normal(&cue.text) {
                cue.text = cue.text.split_whitespace().collect::<Vec<_>>().join(" ");
            }
            (!cue.text.is_empty()).then_some(cue)
        })
        .collect()
}

/// True when `text` is ASCII with single spaces between words and none around.
fn is_normal(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut previous_space = true; // no leading space
    for &b in bytes {
        let space = b == b' ';
        if !b.is_ascii() || (space && previous_space) || (!space && b.is_ascii_whitespace()) {
            return false;
        }
        previous_space = space;
    }
    !previous_space || bytes.is_empty()
}

fn collapse_repeats(cues: Vec<RawCue>, warnings: &mut Vec<String>) -> Vec<RawCue> {
    let mut out: Vec<RawCue> = Vec::with_capacity(cues.len());
    let mut collapsed = 0usize;
    for cue in cues {
        if let Some(last) = out.last_mut() {
            if last.text == cue.text && last.speaker == cue.speaker {
                last.end_ms = match (last.end_ms, cue.end_ms) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                collapsed += 1;
                continue;
            }
        }
        out.push(cue);
    }
    if collapsed > 0 {
        warnings.push(format!("{collapsed} repeated identical cue(s) collapsed (Whisper repetition loop)"));
    }
    out
}

fn word_count(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// Start of every cue and whether it was estimated.
fn place_starts(cues: &[RawCue], warnings: &mut Vec<String>) -> Vec<(u64, bool)> {
    let all_timed = cues.iter().all(|c| c.start_ms.is_some());
    // Word position where each cue begins (only needed to place untimed cues).
    let mut positions = Vec::with_capacity(cues.len());
    let mut words = 0u64;
    for cue in cues {
        positions.push(words);
        if !all_timed {
            words += word_count(&cue.text);
        }
    }
    // Anchors: (cue index, time), forced forward-only.
    let mut anchors: Vec<(usize, u64)> = Vec::new();
    let mut moved_back = 0usize;
    for (i, cue) in cues.iter().enumerate() {
        if let Some(start) = cue.start_ms {
            let floor = anchors.last().map_or(0, |&(_, t)| t);
            if start < floor {
                moved_back += 1;
            }
            anchors.push((i, start.max(floor)));
        }
    }
    if moved_back > 0 {
        warnings.push(format!("{moved_back} cue(s) started before the cue ahead of them; moved forward"));
    }
    let mut starts = Vec::with_capacity(cues.len());
    let mut next_anchor = 0;
    let mut previous: (u64, u64) = (0, 0); // (word position, time) of the last anchor
    for (i, &position) in positions.iter().enumerate() {
        if anchors.get(next_anchor).is_some_and(|&(index, _)| index == i) {
            let time = anchors[next_anchor].1;
            starts.push((time, false));
            previous = (position, time);
            next_anchor += 1;
            continue;
        }
        let time = match anchors.get(next_anchor) {
            Some(&(index, time)) => {
                let (from_pos, from_time) = previous;
                let span = positions[index].saturating_sub(from_pos).max(1);
                from_time + (time - from_time) * (position - from_pos) / span
            }
            None => previous.1 + speaking_ms(position - previous.0),
        };
        starts.push((time, true));
    }
    starts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(start: Option<u64>, end: Option<u64>, text: &str) -> RawCue {
        RawCue { start_ms: start, end_ms: end, speaker: None, text: text.into() }
    }

    fn times(cues: &[Cue]) -> Vec<(u64, u64, bool)> {
        cues.iter().map(|c| (c.start_ms, c.end_ms, c.estimated)).collect()
    }

    #[test]
    fn interpolates_sparse_timestamps_by_text_position() {
        let cues = resolve(
            vec![raw(Some(60_000), None, "a b"), raw(None, None, "c d e f"), raw(Some(120_000), None, "g h i j k")],
            &mut Vec::new(),
        );
        // "c" is word 2 of the 6 between the anchors: 60 s + 60 s × 2/6.
        assert_eq!(times(&cues), vec![(60_000, 80_000, false), (80_000, 120_000, true), (120_000, 122_000, false)]);
    }

    #[test]
    fn text_before_the_first_timestamp_starts_at_zero() {
        let cues = resolve(vec![raw(None, None, "a b c"), raw(Some(30_000), None, "d")], &mut Vec::new());
        assert_eq!(times(&cues)[0], (0, 30_000, true));
    }

    #[test]
    fn untimed_text_advances_at_the_speaking_rate() {
        let cues = resolve(vec![raw(None, None, &"w ".repeat(150)), raw(None, None, "x y")], &mut Vec::new());
        assert_eq!(times(&cues), vec![(0, 60_000, true), (60_000, 60_800, true)]);
    }

    #[test]
    fn collapses_repetition_loops_and_orders_backward_cues() {
        let mut warnings = Vec::new();
        let cues = resolve(
            vec![
                raw(Some(76_000), Some(78_000), "To"),
                raw(Some(76_000), Some(82_000), "To"),
                raw(Some(76_000), Some(78_000), "To"),
                raw(Some(90_000), Some(95_000), "next"),
                raw(Some(85_000), Some(99_000), "back"),
            ],
            &mut warnings,
        );
        assert_eq!(times(&cues), vec![(76_000, 82_000, false), (90_000, 90_000, false), (90_000, 99_000, false)]);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
    }
}
