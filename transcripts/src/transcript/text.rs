//! Markdown and plain text, with inline timestamps or without.
//!
//! Each non-empty line is a cue; Markdown headings (`# Title`, `## Full
//! Transcript`) are not speech and are skipped. A speaker label starts a turn
//! and carries over to the lines after it (`**Name:**`, `[Name]:`,
//! `Name (HH:MM:SS):`, `[Name] [MM:SS]`, and the users' audio processor's
//! `**MM:SS** (SPEAKER_00): text`, `**HH:MM:SS**: text`, `(SPEAKER_00): text`);
//! a label alone on a line names the speaker of what follows. Timestamps (`[MM:SS]`, `[HH:MM:SS.ff]`, Markdown-escaped `\[..\]`,
//! minutes above 59, `[12.00 --> 15.50]` seconds) anchor the text after them,
//! wherever they stand in a line; brackets that are not times (`[laughs]`) stay text.

use super::{speaker, RawCue};
use protocol::timestamp::{parse_clock, parse_seconds};

/// Parses text into cues; also returns how many timestamps anchored them.
pub fn parse(text: &str) -> (Vec<RawCue>, usize) {
    let mut cues = Vec::new();
    let mut anchors = 0;
    let mut current_speaker: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || is_heading(line) {
            continue;
        }
        let line = unescape_markdown(line);
        let (label, label_time, rest) = split_turn(&line);
        if label.is_some() {
            current_speaker = label;
        }
        let rest = clean_inline_markdown(rest);
        for (start_ms, end_ms, piece) in split_at_timestamps(&rest, label_time) {
            anchors += usize::from(start_ms.is_some());
            if !piece.is_empty() {
                cues.push(RawCue { start_ms, end_ms, speaker: current_speaker.clone(), text: piece });
            } else if start_ms.is_some() {
                // A timestamp with no words after it on its line anchors the next line.
                cues.push(RawCue { start_ms, end_ms, speaker: current_speaker.clone(), text: String::new() });
            }
        }
    }
    (merge_bare_anchors(cues), anchors)
}

/// An ATX heading: `#`s, then a space.
fn is_heading(line: &str) -> bool {
    let hashes = line.len() - line.trim_start_matches('#').len();
    (1..=6).contains(&hashes) && line[hashes..].starts_with(' ')
}

/// A speaker label at the start of a line: (name, time given with it, rest).
fn split_turn(line: &str) -> (Option<String>, Option<u64>, &str) {
    if let Some(turn) = split_bold_time(line) {
        return turn;
    }
    let (label, rest) = speaker::split_label(line);
    if label.is_some() {
        return (label, None, rest);
    }
    // `Name (HH:MM:SS): text`
    if let Some((head, rest)) = line.split_once("):") {
        if let Some((name, time)) = head.rsplit_once(" (") {
            if let (Some(name), Some(ms)) = (speaker::valid_name(name), parse_clock(time)) {
                return (Some(name), Some(ms), rest.trim_start());
            }
        }
    }
    // `[Name] [MM:SS] text`: the time stays in the rest for the timestamp scan.
    if let Some(after) = line.strip_prefix('[') {
        if let Some((name, rest)) = after.split_once(']') {
            let rest = rest.trim_start();
            if rest.starts_with('[') && parse_clock(name).is_none() {
                if let Some(name) = speaker::valid_name(name) {
                    return (Some(name), None, rest);
                }
            }
        }
    }
    (None, None, line)
}

/// The users' audio processor's lines: `**MM:SS** (Speaker): text`,
/// `**HH:MM:SS**: text` (no diarization) and `(Speaker): text` (no times).
fn split_bold_time(line: &str) -> Option<(Option<String>, Option<u64>, &str)> {
    let (time, rest) = match line.strip_prefix("**") {
        Some(after) => {
            let (time, rest) = after.split_once("**")?;
            (Some(parse_clock(time)?), rest.trim_start())
        }
        None => (None, line),
    };
    let (name, rest) = match rest.strip_prefix('(') {
        Some(after) => {
            let (name, rest) = after.split_once("):")?;
            (Some(speaker::valid_name(name)?), rest)
        }
        None if time.is_some() => (None, rest.strip_prefix(':').unwrap_or(rest)),
        None => return None,
    };
    Some((name, time, rest.trim_start()))
}

/// A bracketed time: `[MM:SS]`, `[HH:MM:SS.ff]` or `[12.00 --> 15.50]`.
fn bracket_time(inside: &str) -> Option<(u64, Option<u64>)> {
    if let Some((a, b)) = inside.split_once("-->") {
        let start = parse_seconds(a).or_else(|| parse_clock(a))?;
        return Some((start, parse_seconds(b).or_else(|| parse_clock(b))));
    }
    parse_clock(inside).map(|ms| (ms, None))
}

/// Splits a line at its timestamps: pieces of (start, end, text).
fn split_at_timestamps(line: &str, first_start: Option<u64>) -> Vec<(Option<u64>, Option<u64>, String)> {
    const MAX_BRACKET: usize = 40;
    let mut pieces = Vec::new();
    let (mut start, mut end) = (first_start, None);
    let mut text_from = 0;
    let mut search_from = 0;
    while let Some(open) = line[search_from..].find('[').map(|i| i + search_from) {
        let close = line[open..].find(']').map(|i| i + open).filter(|&c| c - open <= MAX_BRACKET);
        match close.and_then(|c| bracket_time(&line[open + 1..c]).map(|t| (c, t))) {
            Some((close, (ms, end_ms))) => {
                let before = line[text_from..open].trim();
                if !before.is_empty() || start.is_some() {
                    pieces.push((start, end, before.to_owned()));
                }
                (start, end) = (Some(ms), end_ms);
                text_from = close + 1;
                search_from = close + 1;
            }
            None => search_from = open + 1,
        }
    }
    let tail = line[text_from..].trim();
    if !tail.is_empty() || start.is_some() {
        pieces.push((start, end, tail.to_owned()));
    }
    pieces
}

/// Removes Markdown backslash escapes (`\[`, `\]`, `\*`, `\_`, …).
fn unescape_markdown(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek().is_some_and(|n| n.is_ascii_punctuation()) {
            continue;
        }
        out.push(c);
    }
    out
}

/// Drops emphasis markers and turns `[text](url)` links into their text.
fn clean_inline_markdown(text: &str) -> String {
    let text = text.replace("**", "");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(open) = rest.find('[') {
        let link = rest[open..].find("](").and_then(|mid| {
            let close = rest[open + mid..].find(')')?;
            Some((open + mid, open + mid + close))
        });
        match link {
            Some((mid, close)) if !rest[open + 1..mid].contains('[') => {
                out.push_str(&rest[..open]);
                out.push_str(&rest[open + 1..mid]);
                rest = &rest[close + 1..];
            }
            _ => {
                out.push_str(&rest[..=open]);
                rest = &rest[open + 1..];
            }
        }
    }
    out.push_str(rest);
    out.trim().to_owned()
}

/// Gives an anchor that stood alone on its line to the cue after it.
fn merge_bare_anchors(cues: Vec<RawCue>) -> Vec<RawCue> {
    let mut out: Vec<RawCue> = Vec::with_capacity(cues.len());
    let mut pending: Option<(Option<u64>, Option<u64>)> = None;
    for mut cue in cues {
        if cue.text.is_empty() {
            pending = Some((cue.start_ms, cue.end_ms));
            continue;
        }
        if let Some((start, end)) = pending.take() {
            if cue.start_ms.is_none() {
                (cue.start_ms, cue.end_ms) = (start, end);
            }
        }
        out.push(cue);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cue(start: Option<u64>, speaker: Option<&str>, text: &str) -> RawCue {
        RawCue { start_ms: start, end_ms: None, speaker: speaker.map(Into::into), text: text.into() }
    }

    #[test]
    fn reads_changelog_markdown() {
        let md = "**Adam:** Hello... \\[laughter\\]\n\n**Spencer:** \\[04:26\\] It is.\n\n\\[05:12\\] Then you got [manuals](https://x.y/z) **shipped**.\n\n**Adam:** \\[100:08\\] Late \\[01:57:56.07\\] later";
        let (cues, anchors) = parse(md);
        assert_eq!(anchors, 4);
        assert_eq!(
            cues,
            vec![
                cue(None, Some("Adam"), "Hello... [laughter]"),
                cue(Some(266_000), Some("Spencer"), "It is."),
                cue(Some(312_000), Some("Spencer"), "Then you got manuals shipped."),
                cue(Some(6_008_000), Some("Adam"), "Late"),
                cue(Some(7_076_070), Some("Adam"), "later"),
            ]
        );
    }

    #[test]
    fn reads_the_other_turn_spellings() {
        let text = "Ada Lovelace (00:01:05): Numbers first.\n[Bob] [02:10] Then words.\n[12.00 --> 15.50] Seconds form.\n**Jerod Santo:**\n\nLabel on its own line.";
        let (cues, anchors) = parse(text);
        assert_eq!(anchors, 3);
        assert_eq!(cues[0], cue(Some(65_000), Some("Ada Lovelace"), "Numbers first."));
        assert_eq!(cues[1], cue(Some(130_000), Some("Bob"), "Then words."));
        assert_eq!((cues[2].start_ms, cues[2].end_ms), (Some(12_000), Some(15_500)));
        assert_eq!(cues[3], cue(None, Some("Jerod Santo"), "Label on its own line."));
    }

    #[test]
    fn reads_the_users_audio_processor_lines() {
        let md = "# Gold: why now\n\n## Full Transcript\n\n**00:00** (SPEAKER_00): Welcome back.\n\n\
            **01:05** (SPEAKER_01): Rates rose.\n\n**1:02:03** (Ada Lovelace): Late.\n\n**59:59**: No speaker.\n\n\
            (SPEAKER_00): No time.\n\nBare text.";
        let (cues, anchors) = parse(md);
        assert_eq!(anchors, 4);
        assert_eq!(
            cues,
            vec![
                cue(Some(0), Some("SPEAKER_00"), "Welcome back."),
                cue(Some(65_000), Some("SPEAKER_01"), "Rates rose."),
                cue(Some(3_723_000), Some("Ada Lovelace"), "Late."),
                cue(Some(3_599_000), Some("Ada Lovelace"), "No speaker."),
                cue(None, Some("SPEAKER_00"), "No time."),
                cue(None, Some("SPEAKER_00"), "Bare text."),
            ]
        );
    }

    #[test]
    fn untimed_text_has_no_anchors() {
        let (cues, anchors) = parse("Hello and welcome.\npeople doing things\n");
        assert_eq!((cues.len(), anchors), (2, 0));
    }
}
