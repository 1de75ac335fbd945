//! Finding transcripts in a corpus folder and deciding which file stands for
//! each episode.
//!
//! An episode is a file's path relative to the corpus root without its
//! transcript extension and a media extension before it (`show/ep1.mp3.srt` →
//! `show/ep1`). When one episode exists in several formats in the same folder,
//! exactly one is used, by [`PREFERENCE`]: the most structured first
//! (Whisper/turn JSON, then WebVTT, SRT, Markdown, plain text), because it
//! carries the most timing and speaker information. The others are reported as
//! alternatives, and one is read instead if the preferred file is unreadable.
//! Documentation files (`README*`, `LICENSE*`, …) are skipped and reported.

use protocol::EpisodeId;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Transcript extensions, most preferred first.
pub const PREFERENCE: [&str; 6] = ["json", "vtt", "srt", "md", "markdown", "txt"];

/// Media extensions that come before the transcript's (`.mp3.srt`).
const MEDIA_EXTENSIONS: [&str; 10] = ["mp3", "m4a", "wav", "mp4", "aac", "ogg", "opus", "flac", "webm", "mkv"];

/// File names (before the first `.`) that document a folder rather than transcribe audio.
const DOCUMENTATION_NAMES: [&str; 8] =
    ["readme", "license", "licence", "copying", "notice", "changelog", "contributing", "metadata"];

/// One episode and the files that could stand for it, best first.
#[derive(Clone, Debug)]
pub struct EpisodeFiles {
    pub id: EpisodeId,
    /// Paths relative to the corpus root, in order of [`PREFERENCE`].
    pub candidates: Vec<PathBuf>,
}

/// What a scan found.
#[derive(Debug, Default)]
pub struct Scan {
    pub episodes: Vec<EpisodeFiles>,
    /// Files left out, with why (documentation, unknown extension, bad name).
    pub skipped: Vec<(PathBuf, String)>,
}

/// Walks `root` recursively (hidden entries skipped) and groups transcripts by episode.
pub fn scan(root: &Path) -> std::io::Result<Scan> {
    let mut files = Vec::new();
    walk(root, &mut files)?;
    files.sort();
    let mut scan = Scan::default();
    let mut by_episode: BTreeMap<EpisodeId, Vec<(usize, PathBuf)>> = BTreeMap::new();
    for path in files {
        let relative = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
        match classify(&relative) {
            Ok((id, rank)) => by_episode.entry(id).or_default().push((rank, relative)),
            Err(reason) => scan.skipped.push((relative, reason)),
        }
    }
    for (id, mut candidates) in by_episode {
        candidates.sort();
        scan.episodes.push(EpisodeFiles { id, candidates: candidates.into_iter().map(|(_, p)| p).collect() });
    }
    Ok(scan)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let kind = entry.file_type()?;
        let path = entry.path();
        if kind.is_dir() || (kind.is_symlink() && path.is_dir()) {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// The episode a file belongs to and its rank in [`PREFERENCE`], or why it is skipped.
fn classify(relative: &Path) -> Result<(EpisodeId, usize), String> {
    let name = relative.file_name().and_then(|n| n.to_str()).ok_or("file name is not valid Unicode")?;
    let lower = name.to_ascii_lowercase();
    let first_part = lower.split('.').next().unwrap_or("");
    if DOCUMENTATION_NAMES.contains(&first_part) {
        return Err("documentation, not a transcript".into());
    }
    let (stem, extension) = lower.rsplit_once('.').ok_or("no file extension")?;
    let rank = PREFERENCE
        .iter()
        .position(|e| *e == extension)
        .ok_or_else(|| format!("not a transcript extension (.{extension})"))?;
    let mut stem_len = stem.len();
    if let Some((inner, media)) = stem.rsplit_once('.') {
        if MEDIA_EXTENSIONS.contains(&media) {
            stem_len = inner.len();
        }
    }
    let parent = relative.parent().map(|p| p.to_string_lossy().replace('\\', "/")).unwrap_or_default();
    let stem = &name[..stem_len];
    let id = if parent.is_empty() { stem.to_owned() } else { format!("{parent}/{stem}") };
    EpisodeId::parse(&id).map(|id| (id, rank)).map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn episode_ids_drop_transcript_and_media_extensions() {
        let (id, rank) = classify(Path::new("twiml/101_NIPS_’17 #357.mp3.srt")).unwrap();
        assert_eq!((id.as_str(), rank), ("twiml/101_NIPS_’17 #357", 2));
        assert_eq!(classify(Path::new("a/E01.json")).unwrap().0.as_str(), "a/E01");
    }

    #[test]
    fn skips_documentation_and_other_files() {
        assert!(classify(Path::new("x/README.md")).is_err());
        assert!(classify(Path::new("x/LICENSE")).is_err());
        assert!(classify(Path::new("x/metadata.json")).is_err());
        assert!(classify(Path::new("x/cover.jpg")).is_err());
    }

    #[test]
    fn one_episode_in_several_formats_prefers_vtt_over_srt_over_txt() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["ep.mp3.txt", "ep.mp3.srt", "ep.mp3.vtt", "other.md", "README.md"] {
            std::fs::write(dir.path().join(name), "x").unwrap();
        }
        let scan = scan(dir.path()).unwrap();
        let ep = scan.episodes.iter().find(|e| e.id.as_str() == "ep").unwrap();
        assert_eq!(ep.candidates, vec![PathBuf::from("ep.mp3.vtt"), "ep.mp3.srt".into(), "ep.mp3.txt".into()]);
        assert_eq!(scan.episodes.len(), 2);
        assert_eq!(scan.skipped.len(), 1);
    }
}
