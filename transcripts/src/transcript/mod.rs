//! Transcript readers: bytes of one file in, a [`Transcript`] of timed cues out.
//!
//! The format is chosen by content first and extension second (a `.txt` that
//! is really SRT is read as SRT). Every reader produces [`RawCue`]s whose times
//! may be missing; [`timeline`] then fills, orders and de-duplicates them, so
//! all formats share one notion of time.
//!
//! ## Layout
//! - [`decode`]: bytes → text (BOM, CRLF, lossy UTF-8, binary, front-matter).
//! - [`subtitles`]: SRT and WebVTT.
//! - [`json`]: Whisper JSON (`segments`) and JSON turn lists (`speaker`, `time`, `message`).
//! - [`text`]: Markdown and plain text, with inline timestamps or without.
//! - [`speaker`]: speaker labels inside cue text (`[Name]:`, `<v Name>`, `**Name:**`).
//! - [`timeline`]: interpolation, estimation, ordering, repetition collapse.

pub mod decode;
pub mod json;
pub mod speaker;
pub mod subtitles;
pub mod text;
pub mod timeline;

use serde::Serialize;
use std::fmt;
use std::path::Path;

/// The transcript formats podmine reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    WhisperJson,
    TurnsJson,
    WebVtt,
    Srt,
    TimestampedText,
    UntimedText,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::WhisperJson => "Whisper JSON",
            Format::TurnsJson => "JSON turns",
            Format::WebVtt => "WebVTT",
            Format::Srt => "SRT",
            Format::TimestampedText => "text with timestamps",
            Format::UntimedText => "text without timestamps",
        })
    }
}

/// A cue as a reader found it: times may be missing (sparse or no timestamps).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawCue {
    pub start_ms: Option<u64>,
    pub end_ms: Option<u64>,
    pub speaker: Option<String>,
    pub text: String,
}

/// A cue with its final times.
#[derive(Clone, Debug, PartialEq)]
pub struct Cue {
    pub start_ms: u64,
    pub end_ms: u64,
    pub speaker: Option<String>,
    pub text: String,
    /// The times were interpolated or estimated, not read from the file.
    pub estimated: bool,
}

/// One file's words in order, with times, ready for the segmenter.
#[derive(Clone, Debug)]
pub struct Transcript {
    pub format: Format,
    pub title: Option<String>,
    /// Scalar fields of the file's front-matter or JSON object (`video_id`,
    /// `source`, `uploader`, `upload_date`, …), passed through to the output.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub cues: Vec<Cue>,
    /// What a user may want to know (lossy decoding, collapsed repeats, …).
    pub warnings: Vec<String>,
}

/// Why a file could not be read as a transcript.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("empty file")]
    Empty,
    #[error("binary file (not text): is this audio or an archive?")]
    Binary,
    #[error("invalid JSON at line {line}, column {column}: {message}")]
    InvalidJson { line: usize, column: usize, message: String },
    #[error("not a transcript: {0}")]
    NotTranscript(String),
    #[error("no words found ({0})")]
    NoText(Format),
}

/// Files larger than this are refused unread: an hour of speech is ~60 KB of
/// text (~1 MB as Whisper JSON with word timings), so this is days of audio.
pub const MAX_FILE_BYTES: u64 = 256 << 20;

/// Text lines longer than this are not a transcript (a minified or binary
/// dump, a base64 blob): ~20 hours of speech on one line. JSON is exempt,
/// since Whisper writes it on one line.
pub const MAX_LINE_CHARS: usize = 1_000_000;

/// Reads one transcript file's bytes; `path` only guides the format choice.
pub fn read(path: &Path, bytes: &[u8]) -> Result<Transcript, ReadError> {
    let decoded = decode::decode(bytes)?;
    if !decoded.text.trim_start().starts_with(['{', '[']) {
        if let Some((number, line)) = decoded.text.lines().enumerate().find(|(_, l)| l.len() > MAX_LINE_CHARS) {
            return Err(ReadError::NotTranscript(format!(
                "line {} is {} MB long; transcripts break lines at least every few minutes of speech",
                number + 1,
                line.len() / 1_000_000
            )));
        }
    }
    let mut warnings = decoded.warnings;
    let (format, raw, json_metadata) = parse_by_content(path, &decoded.text, &mut warnings)?;
    let cues = timeline::resolve(raw, &mut warnings);
    if cues.is_empty() {
        return Err(ReadError::NoText(format));
    }
    let mut metadata = json_metadata;
    metadata.extend(decoded.metadata);
    let title = decoded.title.or_else(|| metadata.get("title").and_then(|t| t.as_str()).map(str::to_owned));
    Ok(Transcript { format, title, metadata, cues, warnings })
}

fn parse_by_content(path: &Path, text: &str, warnings: &mut Vec<String>) -> Result<json::Parsed, ReadError> {
    let none = serde_json::Map::new;
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let head = text.trim_start();
    if head.starts_with("WEBVTT") {
        return Ok((Format::WebVtt, subtitles::parse(text, warnings), none()));
    }
    if head.starts_with('{') || head.starts_with('[') && extension == "json" {
        return json::parse(text);
    }
    if head.starts_with('[') {
        // A JSON turn list, or text whose first line starts with `[00:00]`.
        if let Ok(parsed) = json::parse(text) {
            return Ok(parsed);
        }
    }
    if extension == "json" {
        return json::parse(text);
    }
    if subtitles::looks_like_srt(text) || extension == "srt" || extension == "vtt" {
        let format = if extension == "vtt" { Format::WebVtt } else { Format::Srt };
        return Ok((format, subtitles::parse(text, warnings), none()));
    }
    let (raw, anchors) = text::parse(text);
    Ok((if anchors > 0 { Format::TimestampedText } else { Format::UntimedText }, raw, none()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srt_content_wins_over_a_txt_extension() {
        let t = read(Path::new("x.txt"), b"1\n00:00:01,000 --> 00:00:02,000\nhello\n").unwrap();
        assert_eq!(t.format, Format::Srt);
        assert_eq!((t.cues[0].start_ms, t.cues[0].end_ms), (1000, 2000));
    }

    #[test]
    fn text_starting_with_a_timestamp_is_not_json() {
        let t = read(Path::new("x.md"), b"[00:05] hello there\n[00:10] again\n").unwrap();
        assert_eq!(t.format, Format::TimestampedText);
        assert_eq!(t.cues[1].start_ms, 10_000);
    }

    #[test]
    fn truncated_json_names_the_place() {
        let err = read(Path::new("x.json"), b"[{\"speaker\": \"A\", \"time\": \"00:00:01\", \"mess").unwrap_err();
        assert!(matches!(err, ReadError::InvalidJson { line: 1, .. }), "{err}");
    }
}
