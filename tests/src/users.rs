//! The users' own files, as data: their prompt and schema from
//! `../shared/reference/users-miner/`, and their audio processor's transcript
//! Markdown, written here from a real timed transcript (front-matter,
//! `# Title`, `## Full Transcript`, one `**MM:SS** (SPEAKER): text` line per cue).

use std::path::{Path, PathBuf};
use transcripts::transcript::Transcript;

/// A file of the users' miner (`unified_miner.txt`, `miner_output.v1.json`).
pub fn reference(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/users-miner").join(name);
    assert!(path.is_file(), "the users' reference file is missing at {}", path.display());
    path
}

/// A file of the shared corpus.
pub fn corpus_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus").join(relative)
}

/// Reads a transcript file of the shared corpus.
pub fn read_corpus(relative: &str) -> Transcript {
    let path = corpus_file(relative);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    transcripts::transcript::read(&path, &bytes).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// Their clock: `MM:SS` in the first hour, `HH:MM:SS` after (whole seconds).
pub fn their_clock(ms: u64) -> String {
    let s = ms / 1000;
    match s / 3600 {
        0 => format!("{:02}:{:02}", s / 60, s % 60),
        h => format!("{h:02}:{:02}:{:02}", s / 60 % 60, s % 60),
    }
}

/// `source` written as their audio processor writes an episode.
pub fn their_markdown(source: &Transcript, title: &str, video_id: &str) -> String {
    let mut md = format!(
        "---\ntitle: \"{title}\"\nsource: \"https://www.youtube.com/watch?v={video_id}\"\nvideo_id: \"{video_id}\"\n\
         uploader: \"The Show\"\nupload_date: \"August 02, 2025\"\nduration: \"61:25\"\nview_count: 1234\n\
         tags:\n  - economics\ntranscription_model: \"large-v3\"\ndiarization_enabled: true\n---\n\n\
         # {title}\n\n## Full Transcript\n\n"
    );
    for cue in &source.cues {
        let text = cue.text.replace('\n', " ");
        match &cue.speaker {
            Some(speaker) => md.push_str(&format!("**{}** ({speaker}): {text}\n\n", their_clock(cue.start_ms))),
            None => md.push_str(&format!("**{}**: {text}\n\n", their_clock(cue.start_ms))),
        }
    }
    md
}
