//! Every file in ../shared/corpus is read, and each format's cues, times and
//! text are checked against the file itself (read here independently).
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use protocol::{timestamp::parse_clock, EpisodeId, Segment};
use std::path::{Path, PathBuf};
use transcripts::segmenter;
use transcripts::transcript::{self, timeline::speaking_ms, Format, Transcript};

fn corpus() -> PathBuf {
    let dir = std::env::var_os("PODMINE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"));
    assert!(dir.is_dir(), "the shared corpus is missing at {} (set PODMINE_CORPUS)", dir.display());
    dir
}

fn read(relative: &str) -> (Transcript, String) {
    let path = corpus().join(relative);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let transcript = transcript::read(&path, &bytes).unwrap_or_else(|e| panic!("{relative}: {e}"));
    (transcript, String::from_utf8_lossy(&bytes).into_owned())
}

fn segments(transcript: &Transcript) -> Vec<Segment> {
    segmenter::segment(&EpisodeId::parse("e").unwrap(), &transcript.cues, 30_000)
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

/// Words of the segments with the `Name:` labels of in-segment speaker changes removed.
fn segment_words(segments: &[Segment], transcript: &Transcript) -> Vec<String> {
    let mut labels: Vec<String> = transcript.cues.iter().filter_map(|c| c.speaker.clone()).collect();
    labels.sort();
    labels.dedup();
    segments
        .iter()
        .flat_map(|s| s.text.lines().map(str::to_owned).collect::<Vec<_>>())
        .flat_map(|line| {
            let line =
                labels.iter().find_map(|l| line.strip_prefix(&format!("{l}: ")).map(str::to_owned)).unwrap_or(line);
            words(&line)
        })
        .collect()
}

fn assert_segments_cover(segments: &[Segment], transcript: &Transcript) {
    assert!(!segments.is_empty());
    assert_eq!(segments[0].t0_ms, transcript.cues[0].start_ms);
    assert_eq!(segments.last().unwrap().t1_ms, transcript.cues.last().unwrap().end_ms);
    for pair in segments.windows(2) {
        assert!(pair[0].t1_ms <= pair[1].t0_ms && pair[0].t0_ms <= pair[0].t1_ms, "{:?} / {:?}", pair[0], pair[1]);
    }
    let cue_words: Vec<String> = transcript.cues.iter().flat_map(|c| words(&c.text)).collect();
    assert_eq!(segment_words(segments, transcript), cue_words);
}

#[test]
fn every_file_in_the_corpus_is_read() {
    let scan = transcripts::corpus::scan(&corpus()).unwrap();
    let files: Vec<_> = scan.episodes.iter().flat_map(|e| e.candidates.iter()).collect();
    assert!(files.len() >= 60, "only {} transcript files found", files.len());
    for relative in files {
        let (transcript, _) = read(relative.to_str().unwrap());
        assert!(!segments(&transcript).is_empty(), "{}", relative.display());
    }
}

const FREY: &str = "bahree-whisper-twiml/twiml-episodes-whisper-transcribed/12_Brendan_Frey_Interview_-_Reprogramming_the_Human_Genome_with_AI.mp3";

#[test]
fn srt_cues_times_and_text_match_the_file() {
    let (transcript, raw) = read(&format!("{FREY}.srt"));
    assert_eq!(transcript.format, Format::Srt);
    let timings: Vec<&str> = raw.lines().filter(|l| l.contains(" --> ")).collect();
    assert_eq!(transcript.cues.len(), timings.len());
    for (cue, timing) in transcript.cues.iter().zip(&timings) {
        let (start, end) = timing.split_once(" --> ").unwrap();
        assert_eq!(cue.start_ms, parse_clock(start).unwrap(), "{timing}");
        assert!(cue.end_ms <= parse_clock(end).unwrap(), "{timing}");
    }
    let text_lines: Vec<&str> = raw
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.contains(" --> ") && !l.trim().bytes().all(|b| b.is_ascii_digit()))
        .collect();
    assert_eq!(transcript.cues[0].text, text_lines[0].trim());
    let segments = segments(&transcript);
    assert_segments_cover(&segments, &transcript);
    assert_eq!(segments.last().unwrap().t1_ms, 3_805_360, "ends at 01:03:25,360");
    // 63 minutes in segments of 15–30 s (cut at cue ends, so ~27 s on average).
    assert!((110..=160).contains(&segments.len()), "{} segments", segments.len());
    assert_eq!(words(&text_lines.join(" ")), segment_words(&segments, &transcript));
}

#[test]
fn webvtt_reads_the_same_cues_as_the_srt_of_the_same_episode() {
    let (vtt, raw) = read(&format!("{FREY}.vtt"));
    let (srt, _) = read(&format!("{FREY}.srt"));
    assert_eq!(vtt.format, Format::WebVtt);
    assert!(raw.contains("\n59:") && raw.contains("\n01:00:"), "the file switches from MM:SS.mmm to HH:MM:SS.mmm");
    assert_eq!(vtt.cues, srt.cues);
}

#[test]
fn webvtt_speakers_in_brackets_are_kept() {
    let (transcript, raw) = read("seenunseen-whisper/transcripts_vtt/E05.mp3.vtt");
    assert_eq!(transcript.cues.len(), raw.matches(" --> ").count());
    assert_eq!(
        transcript.cues[0].speaker.as_deref(),
        raw.lines().nth(3).and_then(|l| l.strip_prefix('[')).and_then(|l| l.split_once("]:")).map(|(n, _)| n)
    );
    assert!(transcript.cues.iter().all(|c| c.speaker.is_some() && !c.text.starts_with('[')));
    assert_segments_cover(&segments(&transcript), &transcript);
}

#[test]
fn webvtt_repetition_loops_collapse() {
    let (transcript, raw) = read("seenunseen-whisper/transcripts_vtt/E122.mp3.vtt");
    assert!(raw.matches("[Amit Varma]: To\n").count() >= 20);
    let to_cues = transcript.cues.iter().filter(|c| c.text == "To").count();
    assert_eq!(to_cues, 1, "the 28 identical `To` cues collapse into one");
    assert!(transcript.warnings.iter().any(|w| w.contains("collapsed")));
}

#[test]
fn json_turns_keep_speakers_times_and_every_message() {
    let (transcript, raw) = read("seenunseen-whisper/transcripts_chat/E01.json");
    assert_eq!(transcript.format, Format::TurnsJson);
    let turns: Vec<serde_json::Value> = serde_json::from_str(&raw).unwrap();
    assert_eq!(transcript.cues.len(), turns.len());
    for (cue, turn) in transcript.cues.iter().zip(&turns) {
        assert_eq!(cue.start_ms, parse_clock(turn["time"].as_str().unwrap()).unwrap());
        assert_eq!(cue.speaker.as_deref(), turn["speaker"].as_str());
    }
    let segments = segments(&transcript);
    assert_segments_cover(&segments, &transcript);
    let messages: Vec<String> = turns.iter().flat_map(|t| words(t["message"].as_str().unwrap())).collect();
    assert_eq!(segment_words(&segments, &transcript), messages);
}

#[test]
fn markdown_anchors_place_their_text_and_sparse_times_are_interpolated() {
    let (transcript, _) = read("thechangelog-transcripts/podcast/the-changelog-448.md");
    assert_eq!(transcript.format, Format::TimestampedText);
    assert_eq!(transcript.cues[0].speaker.as_deref(), Some("Adam Stacoviak"));
    let segments = segments(&transcript);
    assert_segments_cover(&segments, &transcript);
    let containing =
        |needle: &str| segments.iter().find(|s| s.text.contains(needle)).unwrap_or_else(|| panic!("{needle}"));
    let at_0426 = containing("What do you mean by consumption model?");
    assert!(at_0426.t0_ms <= 266_000 && 266_000 <= at_0426.t1_ms, "{at_0426:?}");
    assert!(segments[1].times_estimated, "text between anchors is interpolated");
    // The last anchor is 01:08:11.16; the tail after it runs at the speaking rate.
    assert!(segments.last().unwrap().t1_ms > 4_091_160);
    assert!(!segments.iter().any(|s| s.text.contains("\\[") || s.text.contains("**")));
}

#[test]
fn markdown_minutes_above_59_are_minutes() {
    let (transcript, raw) = read("thechangelog-transcripts/friends/changelog--friends-125.md");
    assert!(raw.contains("\\[100:08\\]"));
    let anchored = transcript.cues.iter().find(|c| c.start_ms == 6_008_000 && !c.estimated);
    assert!(anchored.is_some(), "the cue after [100:08] starts at 1:40:08");
}

#[test]
fn text_without_timestamps_is_timed_at_the_speaking_rate() {
    let (transcript, raw) = read(&format!("{FREY}.txt"));
    assert_eq!(transcript.format, Format::UntimedText);
    assert!(transcript.cues.iter().all(|c| c.estimated));
    let segments = segments(&transcript);
    assert_segments_cover(&segments, &transcript);
    assert_eq!(segment_words(&segments, &transcript), words(&raw));
    let spoken = speaking_ms(words(&raw).len() as u64);
    assert!(segments.last().unwrap().t1_ms.abs_diff(spoken) < 1_000, "{} vs {spoken}", segments.last().unwrap().t1_ms);
    assert!(segments.iter().all(|s| s.times_estimated));
}

#[test]
fn markdown_without_timestamps_keeps_speakers() {
    let (transcript, _) = read("thechangelog-transcripts/news/changelog-news-98.md");
    assert_eq!(transcript.format, Format::UntimedText);
    assert_eq!(transcript.cues[0].speaker.as_deref(), Some("Jerod Santo"));
    assert!(transcript.cues.iter().any(|c| c.text.contains("$102M per employee") && !c.text.contains("**")));
    assert_segments_cover(&segments(&transcript), &transcript);
}

/// Every segment of every corpus file, cut into numbered sentences timed from
/// its cues: the sentences hold the segment's words in order (speaker labels
/// aside), and their times run forward inside the segment.
#[test]
fn every_segment_of_the_corpus_splits_into_timed_sentences() {
    let scan = transcripts::corpus::scan(&corpus()).unwrap();
    let mut sentences_seen = 0;
    for relative in scan.episodes.iter().flat_map(|e| e.candidates.iter()) {
        let (transcript, _) = read(relative.to_str().unwrap());
        let timed = segmenter::segment_timed(&EpisodeId::parse("e").unwrap(), &transcript.cues, 30_000);
        let labels = segment_words(&timed.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>(), &transcript);
        let mut words_of_sentences = Vec::new();
        for (segment, marks) in &timed {
            let sentences = mining::sentences::sentences(segment, marks);
            let mut last = segment.t0_ms;
            for (i, sentence) in sentences.iter().enumerate() {
                let at = format!("{} segment {} sentence {}", relative.display(), segment.index, sentence.number);
                assert_eq!(sentence.number as usize, i + 1, "{at}");
                assert!(sentence.t0_ms >= last && sentence.t0_ms <= sentence.t1_ms, "{at}: times run forward");
                assert!(sentence.t1_ms <= segment.t1_ms, "{at}: inside the segment");
                last = sentence.t0_ms;
                words_of_sentences.extend(words(&sentence.text));
            }
            sentences_seen += sentences.len();
        }
        assert_eq!(words_of_sentences, labels, "{}: sentences hold every word once, in order", relative.display());
    }
    assert!(sentences_seen > 10_000, "{sentences_seen} sentences");
}
