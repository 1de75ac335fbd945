//! # transcripts: files in, timestamped segments out
//!
//! ```text
//! corpus/ ─scan─▶ EpisodeFiles ─read─▶ Transcript{cues} ─segment─▶ Segment
//! ```
//!
//! Shared by the coordinator (which enqueues the segments) and `worker bench`
//! (which sends real segments to an LLM server); no I/O beyond reading files.
//!
//! ## Layout
//! - [`corpus`]: finding transcripts, episode ids, choosing one format per episode.
//! - [`transcript`]: the readers (SRT, WebVTT, Whisper JSON, JSON turns, Markdown/text).
//! - [`segmenter`]: cues → segments of about `--segment-seconds`.

pub mod corpus;
pub mod segmenter;
pub mod transcript;
