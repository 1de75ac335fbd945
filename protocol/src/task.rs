//! The unit of work: one [`Segment`] of one episode, wrapped in a [`Task`],
//! and how a task goes on the TASKS stream ([`encode_task`] / [`decode_task`]):
//! with its cue marks in a compact-answer run, without in a full-answer one.

use crate::codec::{self, CodecError};
use crate::ids::{ContentHash, EpisodeId, SegmentKey};
use serde::{Deserialize, Serialize};

/// The speaker of a segment whose transcript does not say (the users' spelling).
pub const UNKNOWN_SPEAKER: &str = "Unknown";

/// A timestamped stretch of one episode (about 30 s by default), the input a
/// worker mines. Field names follow the users' miner input where they overlap.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// Which episode the segment belongs to.
    pub episode: EpisodeId,
    /// Position in the episode, from 0, without gaps.
    pub index: u32,
    /// Start, in milliseconds from the start of the episode.
    pub t0_ms: u64,
    /// End, in milliseconds; never before `t0_ms`.
    pub t1_ms: u64,
    /// Who speaks first in the segment, when the transcript says.
    pub speaker: Option<String>,
    /// The words, with speaker changes inside the segment written as `Name: …`.
    pub text: String,
    /// True when the times were estimated (no or sparse timestamps in the source).
    pub times_estimated: bool,
}

impl Segment {
    pub fn key(&self) -> SegmentKey {
        SegmentKey::new(self.episode.clone(), self.index)
    }

    /// The id the prompt sends and the output carries: the episode's subject
    /// token and the index, the same on every machine and in every run.
    pub fn segment_id(&self) -> String {
        format!("{}_{}", self.episode.subject_token(), self.index)
    }

    /// The speaker as the users' pipeline has it: a string, `Unknown` when not known.
    pub fn speaker_or_unknown(&self) -> String {
        self.speaker.clone().unwrap_or_else(|| UNKNOWN_SPEAKER.to_owned())
    }

    /// Hash of everything a worker sees of this segment.
    pub fn content_hash(&self) -> ContentHash {
        ContentHash::of_fields(&[
            self.episode.as_str().as_bytes(),
            &self.index.to_le_bytes(),
            &self.t0_ms.to_le_bytes(),
            &self.t1_ms.to_le_bytes(),
            self.speaker.as_deref().unwrap_or("").as_bytes(),
            self.text.as_bytes(),
            &[u8::from(self.times_estimated)],
        ])
    }
}

/// What goes on the TASKS stream: a segment plus the episode context a prompt needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub segment: Segment,
    /// Episode title, for the prompt's context and the output file.
    pub episode_title: String,
    /// Source file, relative to the corpus root.
    pub source_path: String,
    /// Number of segments in the episode, so a worker can say "12 of 120".
    pub episode_segments: u32,
    /// Bumped by `retry-failed` so a re-enqueued task gets a fresh message id.
    pub generation: u32,
}

impl Task {
    /// The `Nats-Msg-Id`: the segment key's content at this generation. Equal
    /// tasks share it (dedup absorbs re-publishes); an edited segment or a retry
    /// gets a new one.
    pub fn message_id(&self) -> String {
        let segment = &self.segment;
        let id = format!("{}:{}:{}", segment.episode.subject_token(), segment.index, segment.content_hash().short());
        match self.generation {
            0 => id,
            generation => format!("{id}:g{generation}"),
        }
    }
}

/// Where one cue of the transcript begins in a segment's text, and its span.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CueMark {
    /// Byte offset in the segment's text.
    pub at: u32,
    pub start_ms: u64,
    pub end_ms: u64,
}

/// A task with its segment's cue marks (where each cue of the transcript
/// begins in the text, and its times): what a compact-answer worker times
/// the sentences it numbers with. Encoding version [`codec::TIMED_TASK`].
#[derive(Serialize, Deserialize)]
struct TimedTask<'a> {
    task: std::borrow::Cow<'a, Task>,
    cues: std::borrow::Cow<'a, [CueMark]>,
}

/// A task for the TASKS stream: with `cues` (a compact-answer run) as a timed
/// task, which only a build that knows compact answers reads; without, as
/// every version of podmine reads it.
pub fn encode_task(task: &Task, cues: Option<&[CueMark]>) -> Result<Vec<u8>, CodecError> {
    match cues {
        Some(cues) => codec::encode_as(
            codec::TIMED_TASK,
            &TimedTask { task: std::borrow::Cow::Borrowed(task), cues: std::borrow::Cow::Borrowed(cues) },
        ),
        None => codec::encode(task),
    }
}

/// A task from the TASKS stream and its cue marks (none for a task written
/// without: its sentences' times are then estimated from the segment's).
pub fn decode_task(bytes: &[u8]) -> Result<(Task, Vec<CueMark>), CodecError> {
    match bytes.split_first() {
        Some((&codec::TIMED_TASK, body)) => {
            let timed: TimedTask = codec::decode_body(body)?;
            Ok((timed.task.into_owned(), timed.cues.into_owned()))
        }
        _ => Ok((codec::decode(bytes)?, Vec::new())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(text: &str) -> Segment {
        Segment {
            episode: EpisodeId::parse("show/ep1").unwrap(),
            index: 3,
            t0_ms: 90_000,
            t1_ms: 120_000,
            speaker: Some("Ada".into()),
            text: text.into(),
            times_estimated: false,
        }
    }

    #[test]
    fn message_id_changes_with_content_and_generation_only() {
        let task = |text: &str, generation| Task {
            segment: segment(text),
            episode_title: "t".into(),
            source_path: "show/ep1.srt".into(),
            episode_segments: 10,
            generation,
        };
        assert_eq!(task("hello", 0).message_id(), task("hello", 0).message_id());
        assert_ne!(task("hello", 0).message_id(), task("hello!", 0).message_id());
        assert_ne!(task("hello", 0).message_id(), task("hello", 1).message_id());
    }

    #[test]
    fn a_task_goes_with_its_cue_marks_only_when_asked_and_older_readers_refuse_those() {
        let task = Task {
            segment: segment("We test. It works."),
            episode_title: "t".into(),
            source_path: "show/ep1.srt".into(),
            episode_segments: 10,
            generation: 0,
        };
        let cues =
            [CueMark { at: 0, start_ms: 90_000, end_ms: 95_000 }, CueMark { at: 9, start_ms: 95_000, end_ms: 99_000 }];
        let plain = encode_task(&task, None).unwrap();
        assert_eq!(plain, codec::encode(&task).unwrap(), "a full-answer task is the version-1 message");
        assert_eq!(decode_task(&plain).unwrap(), (task.clone(), Vec::new()));
        let timed = encode_task(&task, Some(&cues)).unwrap();
        assert_eq!(timed[0], codec::TIMED_TASK);
        assert_eq!(decode_task(&timed).unwrap(), (task, cues.to_vec()));
        // What a build before compact answers does with it: refuses it as a newer version.
        assert!(matches!(codec::decode::<Task>(&timed), Err(CodecError::UnknownVersion(codec::TIMED_TASK))));
    }
}
