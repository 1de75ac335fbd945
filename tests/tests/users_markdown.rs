//! The users' own transcript format (their audio processor's Markdown: YAML
//! front-matter, `# Title`, `## Full Transcript`, one `**MM:SS** (SPEAKER): text`
//! line per Whisper segment), generated here from real timed transcripts in
//! ../shared/corpus, segments like the timed source it was written from.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use podmine_tests::users::{read_corpus, their_markdown};
use protocol::{EpisodeId, Segment};
use std::path::Path;
use transcripts::segmenter;
use transcripts::transcript::{self, Format, Transcript};

fn read(path: &Path, bytes: &[u8]) -> Transcript {
    transcript::read(path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn segments(transcript: &Transcript) -> Vec<Segment> {
    segmenter::segment(&EpisodeId::parse("e").unwrap(), &transcript.cues, 30_000)
}

/// Segments the timed source and its Markdown rendering alike.
fn assert_segments_alike(relative: &str, expect_speakers: bool) {
    let source = read_corpus(relative);
    let markdown = their_markdown(&source, "A real episode", "dQw4w9WgXcQ");
    let theirs = read(Path::new("episode.md"), markdown.as_bytes());

    assert_eq!(theirs.format, Format::TimestampedText, "{relative}: read as {}", theirs.format);
    assert_eq!(theirs.title.as_deref(), Some("A real episode"));
    assert_eq!(theirs.metadata["video_id"], "dQw4w9WgXcQ");
    assert_eq!(theirs.metadata["upload_date"], "August 02, 2025");
    assert_eq!(theirs.metadata["uploader"], "The Show");
    assert!(
        theirs.cues.iter().all(|c| c.text != "A real episode" && c.text != "Full Transcript"),
        "headings are not speech"
    );

    let (from_source, from_theirs) = (segments(&source), segments(&theirs));
    let (a, b) = (from_source.len() as f64, from_theirs.len() as f64);
    assert!((a - b).abs() <= 0.1 * a, "{relative}: {a} segments from the source, {b} from their Markdown");
    // Every line keeps its cue's start (to the second) and speaker.
    assert_eq!(source.cues.len(), theirs.cues.len(), "{relative}: one cue per line");
    for (s, t) in source.cues.iter().zip(&theirs.cues) {
        assert!(s.start_ms.abs_diff(t.start_ms) < 1_000, "{relative}: cue at {} read at {}", s.start_ms, t.start_ms);
        assert_eq!((&s.speaker, &s.text), (&t.speaker, &t.text), "{relative}");
    }
    // Segments: every start is a real start in the source (within 1 s).
    // Where a cut lands on a neighbouring cue (their lines carry whole-second
    // starts and no ends, so a segment's length differs by up to a second),
    // the segments shift by a cue; against the source as their format can
    // carry it (starts to the second, ends at the next start) they are equal.
    // (A long turn is split inside, by words: there the source's segment starts count.)
    let cue_starts: Vec<u64> =
        source.cues.iter().map(|c| c.start_ms).chain(from_source.iter().map(|s| s.t0_ms)).collect();
    for t in &from_theirs {
        assert!(
            cue_starts.iter().any(|&s| s.abs_diff(t.t0_ms) < 1_000),
            "{relative}: segment {} starts at {} ms, at no cue of the source",
            t.index,
            t.t0_ms
        );
    }
    let mut carried = source.cues.clone();
    for i in 0..carried.len() {
        carried[i].start_ms = carried[i].start_ms / 1000 * 1000;
        if i > 0 {
            carried[i - 1].end_ms = carried[i].start_ms.max(carried[i - 1].start_ms);
        }
    }
    carried.last_mut().unwrap().end_ms = theirs.cues.last().unwrap().end_ms;
    let from_carried = segmenter::segment(&EpisodeId::parse("e").unwrap(), &carried, 30_000);
    let starts = |segs: &[Segment]| segs.iter().map(|s| (s.t0_ms, s.speaker.clone())).collect::<Vec<_>>();
    assert_eq!(starts(&from_carried), starts(&from_theirs), "{relative}: segments as their format carries the source");
    println!("{relative}: {a} segments from the source, {b} from their Markdown");
    let speakers = |segs: &[Segment]| {
        let mut names: Vec<String> = segs.iter().filter_map(|s| s.speaker.clone()).collect();
        names.sort();
        names.dedup();
        names
    };
    assert_eq!(speakers(&from_source), speakers(&from_theirs), "{relative}: speakers kept");
    assert_eq!(from_theirs.iter().any(|s| s.speaker.is_some()), expect_speakers);
    let last_source_end = from_source.last().unwrap().t1_ms;
    let last_theirs_end = from_theirs.last().unwrap().t1_ms;
    assert!(
        last_theirs_end.abs_diff(last_source_end) <= 60_000,
        "{relative}: ends {last_source_end} vs {last_theirs_end}"
    );
}

#[test]
fn their_markdown_segments_like_a_diarised_source() {
    assert_segments_alike("seenunseen-whisper/transcripts_chat/E01.json", true);
}

#[test]
fn their_markdown_segments_like_a_whisper_srt() {
    assert_segments_alike(
        "bahree-whisper-twiml/twiml-episodes-whisper-transcribed/127_Jeff_Dean_Interview_-_Systems_and_Software_for_Machine_Learning_at_Scale.mp3.srt",
        false,
    );
}

#[test]
fn their_lines_without_timestamps_keep_speakers() {
    let md = "---\ntitle: Local audio\nsource_file: talk.m4a\n---\n\n# Local audio\n\n## Full Transcript\n\n\
              (SPEAKER_00): Hello and welcome to the show.\n\n(SPEAKER_01): Thanks for having me.\n";
    let t = read(Path::new("talk.md"), md.as_bytes());
    assert_eq!(t.format, Format::UntimedText);
    assert_eq!(t.metadata["source_file"], "talk.m4a");
    let speakers: Vec<_> = t.cues.iter().map(|c| c.speaker.as_deref().unwrap()).collect();
    assert_eq!(speakers, ["SPEAKER_00", "SPEAKER_01"]);
}
