//! SRT and WebVTT: blocks of a timing line (`start --> end`) and text lines.
//!
//! Both use the same reader: VTT's header, `NOTE`/`STYLE`/`REGION` blocks and
//! cue settings are skipped, SRT's sequence numbers are dropped, text after a
//! stray blank line joins the cue before it, and a timing line that does not
//! parse keeps its text with unknown times (the timeline interpolates them).

use super::{speaker, RawCue};
use protocol::timestamp::parse_clock;

/// True when the text has the shape of SRT: a timing line near the start.
pub fn looks_like_srt(text: &str) -> bool {
    text.lines().take(20).any(|line| parse_timing(line).is_some())
}

/// Parses `00:00:01,000 --> 00:00:02,500 align:start` into milliseconds.
fn parse_timing(line: &str) -> Option<(u64, u64)> {
    let (start, rest) = line.split_once("-->")?;
    let end = rest.split_whitespace().next()?;
    Some((parse_clock(start)?, parse_clock(end)?))
}

pub fn parse(text: &str, warnings: &mut Vec<String>) -> Vec<RawCue> {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let mut cues: Vec<RawCue> = Vec::new();
    let mut in_text = false;
    let mut skipping_block = false;
    let mut bad_timings = 0usize;
    for (i, line) in lines.iter().enumerate() {
        if line.is_empty() {
            in_text = false;
            skipping_block = false;
            continue;
        }
        if line.contains("-->") {
            let (start_ms, end_ms) = match parse_timing(line) {
                Some((start, end)) => (Some(start), Some(end)),
                None => {
                    bad_timings += 1;
                    (None, None)
                }
            };
            cues.push(RawCue { start_ms, end_ms, ..RawCue::default() });
            in_text = true;
            skipping_block = false;
            continue;
        }
        if skipping_block || is_header_or_block_start(line, cues.is_empty()) {
            skipping_block = true;
            continue;
        }
        let next_is_timing = lines.get(i + 1).is_some_and(|next| next.contains("-->"));
        if !in_text && next_is_timing {
            continue; // an SRT sequence number or a VTT cue identifier
        }
        let Some(cue) = cues.last_mut() else {
            continue; // text before the first cue: a header we do not know
        };
        let line = strip_tags(line);
        if cue.text.is_empty() {
            let (name, rest) = speaker::split_label(&line);
            cue.speaker = name;
            cue.text = rest.to_owned();
        } else {
            cue.text.push(' ');
            cue.text.push_str(&line);
        }
    }
    if bad_timings > 0 {
        warnings.push(format!("{bad_timings} timing line(s) could not be read; their times were interpolated"));
    }
    cues
}

fn is_header_or_block_start(line: &str, before_first_cue: bool) -> bool {
    (before_first_cue && line.starts_with("WEBVTT"))
        || line == "NOTE"
        || line.starts_with("NOTE ")
        || line == "STYLE"
        || line == "REGION"
}

/// Drops WebVTT markup other than a leading voice tag (`<i>`, `<c.x>`, `<00:01.000>`).
fn strip_tags(line: &str) -> String {
    if !line.contains('<') {
        return line.to_owned();
    }
    let (keep, rest) = if line.starts_with("<v") {
        line.find('>').map_or(("", line), |end| line.split_at(end + 1))
    } else {
        ("", line)
    };
    let mut out = String::from(keep);
    let mut depth = false;
    for c in rest.chars() {
        match c {
            '<' => depth = true,
            '>' if depth => depth = false,
            _ if !depth => out.push(c),
            _ => {}
        }
    }
    out.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&nbsp;", " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_srt_with_multiline_cues_and_stray_blank_lines() {
        let srt = "1\n00:00:00,000 --> 00:00:16,240\nHello and welcome\nto the show\n\n2\n00:00:16,240 --> 00:00:21,280\npeople doing things\n\nthat spill over\n";
        let cues = parse(srt, &mut Vec::new());
        assert_eq!(cues.len(), 2);
        assert_eq!(cues[0].text, "Hello and welcome to the show");
        assert_eq!((cues[1].start_ms, cues[1].end_ms), (Some(16_240), Some(21_280)));
        assert_eq!(cues[1].text, "people doing things that spill over");
    }

    #[test]
    fn reads_vtt_speakers_settings_notes_and_mixed_clock_forms() {
        let vtt = "WEBVTT\nKind: captions\n\nNOTE a comment\nspanning lines\n\n59:59.000 --> 01:00:01.500 align:start\n[Amit Varma]: Hello\n\nid-2\n01:00:01.500 --> 01:00:03.000\n<v Guest>Hi <i>there</i></v>\n";
        let cues = parse(vtt, &mut Vec::new());
        assert_eq!(cues.len(), 2, "{cues:?}");
        assert_eq!(cues[0].start_ms, Some(3_599_000));
        assert_eq!(cues[0].speaker.as_deref(), Some("Amit Varma"));
        assert_eq!(cues[1].speaker.as_deref(), Some("Guest"));
        assert_eq!(cues[1].text, "Hi there");
    }

    #[test]
    fn keeps_text_of_a_broken_timing_line() {
        let mut warnings = Vec::new();
        let cues = parse("1\n00:00:01,000 --> 00:00:02,000\none\n\n2\n00:00:0x --> ??\ntwo\n", &mut warnings);
        assert_eq!(cues[1].text, "two");
        assert_eq!(cues[1].start_ms, None);
        assert_eq!(warnings.len(), 1);
    }
}
