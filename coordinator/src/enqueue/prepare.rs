//! Turning one episode's files into the tasks to publish: read (falling back
//! to another format when the preferred file is unreadable), segment, and
//! compare with what the store says was enqueued before.

use crate::publish::{cues_for, OutgoingTask};
use crate::store::{EpisodeRecord, SegmentRecord, Store};
use protocol::spec::AnswerMode;
use protocol::task::CueMark;
use protocol::{EpisodeId, Task};
use std::path::{Path, PathBuf};
use transcripts::corpus::EpisodeFiles;
use transcripts::segmenter;
use transcripts::transcript::{self, Format};

/// An episode ready to publish.
#[derive(Debug)]
pub struct Prepared {
    pub id: EpisodeId,
    pub format: Format,
    pub record: EpisodeRecord,
    /// Every segment's record, by index, as it will be stored.
    pub segments: Vec<SegmentRecord>,
    /// Tasks to publish (encoded): new segments and segments whose content changed.
    pub tasks: Vec<OutgoingTask>,
    /// Indices whose old task (if still queued) is stale: changed or gone.
    pub stale: Vec<u32>,
    /// Characters of the longest user message among `tasks` (the run's
    /// context size must hold it).
    pub longest_user_chars: u32,
    /// Every segment's cue marks, by index, as they will be stored.
    pub cues: Vec<Vec<CueMark>>,
    pub warnings: Vec<String>,
}

/// What became of one episode.
#[derive(Debug)]
pub enum Outcome {
    /// Already enqueued from the same bytes with the same settings.
    Unchanged {
        segments: u32,
    },
    Ready(Box<Prepared>),
    /// No candidate file could be read.
    Unreadable,
}

/// A file that could not be read, and why.
#[derive(Debug, Clone)]
pub struct BadFile {
    pub path: PathBuf,
    pub reason: String,
}

/// How the episode's tasks are cut and sent.
#[derive(Clone, Copy, Debug)]
pub struct TaskShape {
    /// `--segment-seconds`.
    pub segment_seconds: u64,
    /// The run's answer mode: compact tasks carry their cue marks.
    pub answers: AnswerMode,
}

/// One episode to prepare, and what it is compared with.
pub struct EpisodeInput<'a> {
    /// The corpus folder the episode's files are relative to.
    pub root: &'a Path,
    pub episode: &'a EpisodeFiles,
    pub shape: TaskShape,
    /// `None` for a dry run (everything is new).
    pub store: Option<&'a Store>,
    /// Segments the server lost (see `reconcile`): their tasks are published
    /// again even when nothing changed.
    pub lost: &'a [u32],
}

/// Files `prepare` did not use: bad ones (with why), and alternatives not
/// read because a better format of the same episode was (`(unused, used)`).
#[derive(Debug, Default)]
pub struct Unused {
    pub bad: Vec<BadFile>,
    pub alternatives: Vec<(PathBuf, PathBuf)>,
}

/// Prepares one episode; the files it did not use are added to `unused`.
pub fn prepare(input: EpisodeInput<'_>, unused: &mut Unused) -> anyhow::Result<Outcome> {
    let EpisodeInput { root, episode, shape, store, lost } = input;
    let Unused { bad, alternatives } = unused;
    let TaskShape { segment_seconds, answers } = shape;
    let previous = store.map(|s| s.episodes.get(&episode.id)).transpose()?.flatten();
    for (i, candidate) in episode.candidates.iter().enumerate() {
        let bytes = match read_candidate(&root.join(candidate)) {
            Ok(bytes) => bytes,
            Err(reason) => {
                bad.push(BadFile { path: candidate.clone(), reason });
                continue;
            }
        };
        let file_hash = protocol::ContentHash::of_bytes(&bytes).to_string();
        let source_path = candidate.to_string_lossy().replace('\\', "/");
        for other in episode.candidates.iter().skip(i + 1) {
            alternatives.push((other.clone(), candidate.clone()));
        }
        if let Some(old) = &previous {
            let same = old.file_hash == file_hash && old.segment_seconds == segment_seconds;
            if same && old.source_path == source_path && lost.is_empty() {
                return Ok(Outcome::Unchanged { segments: old.segment_count });
            }
        }
        let transcript = match transcript::read(candidate, &bytes) {
            Ok(transcript) => transcript,
            Err(err) => {
                alternatives.retain(|(_, used)| used != candidate);
                bad.push(BadFile { path: candidate.clone(), reason: err.to_string() });
                continue;
            }
        };
        let segments = segmenter::segment_timed(&episode.id, &transcript.cues, segment_seconds * 1000);
        let title = transcript.title.clone().unwrap_or_else(|| title_from_id(&episode.id));
        let old_segments = match (&previous, store) {
            (Some(_), Some(store)) => store.episodes.segments(&episode.id)?,
            _ => Vec::new(),
        };
        let count = segments.len() as u32;
        let against =
            Against { store, old_segments: &old_segments, lost, answers, title: &title, source_path: &source_path };
        let Compared { records, tasks, mut stale, longest_user_chars, cues } = compare(segments, &against)?;
        stale.extend(old_segments.iter().map(|(i, _)| *i).filter(|&i| i >= count));
        let record = EpisodeRecord {
            source_path,
            file_hash,
            title,
            format: transcript.format.to_string(),
            segment_count: count,
            segment_seconds,
            times_estimated: transcript.cues.iter().any(|c| c.estimated),
            metadata: transcript.metadata,
        };
        return Ok(Outcome::Ready(Box::new(Prepared {
            id: episode.id.clone(),
            format: transcript.format,
            record,
            segments: records,
            tasks,
            stale,
            longest_user_chars,
            cues,
            warnings: transcript.warnings,
        })));
    }
    Ok(Outcome::Unreadable)
}

/// A candidate file's bytes, or why it is not read.
fn read_candidate(path: &Path) -> Result<Vec<u8>, String> {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if size > transcript::MAX_FILE_BYTES {
        return Err(format!(
            "{} MB: larger than any transcript (the limit is {} MB); not read",
            size >> 20,
            transcript::MAX_FILE_BYTES >> 20
        ));
    }
    std::fs::read(path).map_err(|err| format!("cannot read: {err}"))
}

/// What an episode's new segments are compared with.
struct Against<'a> {
    store: Option<&'a Store>,
    /// The segments recorded for the episode before (index, record).
    old_segments: &'a [(u32, SegmentRecord)],
    lost: &'a [u32],
    answers: AnswerMode,
    title: &'a str,
    source_path: &'a str,
}

/// The segments compared: every one's record, the tasks to publish, the
/// indexes whose content changed, and the cue marks.
struct Compared {
    records: Vec<SegmentRecord>,
    tasks: Vec<OutgoingTask>,
    stale: Vec<u32>,
    longest_user_chars: u32,
    cues: Vec<Vec<CueMark>>,
}

/// Tasks for the segments that are new, changed or lost.
fn compare(segments: Vec<(protocol::Segment, Vec<CueMark>)>, against: &Against<'_>) -> anyhow::Result<Compared> {
    let Against { store, old_segments, lost, answers, title, source_path } = *against;
    let old_hash = |index: u32| old_segments.iter().find(|(i, _)| *i == index).map(|(_, r)| *r);
    let count = segments.len() as u32;
    let mut records = Vec::with_capacity(segments.len());
    let mut tasks = Vec::new();
    let mut stale = Vec::new();
    let mut longest_user_chars = 0;
    let mut cues = Vec::with_capacity(segments.len());
    for (segment, marks) in segments {
        cues.push(marks);
        let marks = cues_for(answers, &cues, segment.index);
        let content_hash = segment.content_hash();
        let old = old_hash(segment.index);
        let generation = old.map_or(0, |r| r.generation);
        records.push(SegmentRecord { content_hash, generation });
        let unchanged = old.is_some_and(|r| r.content_hash == content_hash);
        if unchanged && !lost.contains(&segment.index) {
            continue;
        }
        // Settled by an earlier run whose store this one does not have
        // (found on the streams): counted when the episode is recorded.
        let settled_before = match (old, store) {
            (None, Some(store)) => store
                .outcomes
                .orphan(&segment.key())?
                .is_some_and(|kept| kept.task().segment.content_hash() == content_hash),
            _ => false,
        };
        if settled_before {
            continue;
        }
        if old.is_some() && !unchanged {
            stale.push(segment.index);
        }
        let task = Task {
            segment,
            episode_title: title.to_owned(),
            source_path: source_path.to_owned(),
            episode_segments: count,
            generation,
        };
        longest_user_chars = longest_user_chars.max(mining::ask::user_chars(&task, answers));
        // A lost task was checked to be on no stream: its message id may
        // still be in the server's dedup window, so it goes without one.
        tasks.push(if unchanged {
            OutgoingTask::encode_lost(&task, marks)?
        } else {
            OutgoingTask::encode(&task, marks)?
        });
    }
    Ok(Compared { records, tasks, stale, longest_user_chars, cues })
}

/// `show/101_Some_Title` → `101 Some Title`.
fn title_from_id(id: &EpisodeId) -> String {
    let name = id.as_str().rsplit('/').next().unwrap_or("");
    name.replace('_', " ").trim().to_owned()
}
