//! Publishing tasks with a bounded number of PubAcks in flight (`enqueue`,
//! `retry-failed`, `respec` and the collector's re-queues).
//!
//! Each task goes to its own subject with `Nats-Msg-Id` (dedup) and
//! `Nats-Expected-Last-Subject-Sequence: 0` (insert only if nothing is queued
//! on that subject). A duplicate and a "wrong last sequence" both mean the
//! task is already queued, which is success here.

use crate::store::Store;
use async_nats::jetstream::{self, context::PublishErrorKind};
use futures::stream::{FuturesUnordered, StreamExt};
use protocol::spec::AnswerMode;
use protocol::task::CueMark;
use protocol::{EpisodeId, Task};
use std::future::Future;
use std::pin::Pin;

/// PubAcks awaited at once. ~1,000 keeps a 2-core machine's server busy
/// (see DESIGN.md "Throughput here") without holding many tasks in memory.
pub const MAX_IN_FLIGHT: usize = 1024;

/// How one publish ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acked {
    /// Stored as a new task.
    Stored,
    /// The same task, or another for the same segment, is already queued.
    AlreadyQueued,
    /// The server refused it (stream full, timeout, …).
    Refused(String),
}

/// A task ready for the wire: encoded off the async runtime, by the corpus reader.
#[derive(Debug, Clone)]
pub struct OutgoingTask {
    pub subject: String,
    /// `Nats-Msg-Id`, for dedup; `None` for a task the server lost.
    pub message_id: Option<String>,
    pub payload: bytes::Bytes,
}

impl OutgoingTask {
    /// `cues`: the segment's cue marks, given in a compact-answer run only
    /// (see [`cues_for`]).
    pub fn encode(task: &Task, cues: Option<&[CueMark]>) -> Result<Self, protocol::codec::CodecError> {
        Ok(Self {
            subject: protocol::subjects::task(&task.segment.key()),
            message_id: Some(task.message_id()),
            payload: protocol::task::encode_task(task, cues)?.into(),
        })
    }

    /// A task the server lost (see `reconcile`), published again without a
    /// message id: `Nats-Expected-Last-Subject-Sequence: 0` alone keeps it single.
    pub fn encode_lost(task: &Task, cues: Option<&[CueMark]>) -> Result<Self, protocol::codec::CodecError> {
        Ok(Self { message_id: None, ..Self::encode(task, cues)? })
    }
}

/// The cue marks of `episode`'s segments a re-queue in a run of `answers`
/// sends: read from the store for compact answers only (none for full ones).
pub fn stored_cues(store: &Store, answers: AnswerMode, episode: &EpisodeId) -> anyhow::Result<Vec<Vec<CueMark>>> {
    match answers {
        AnswerMode::Full => Ok(Vec::new()),
        AnswerMode::Compact => store.episodes.cue_marks(episode),
    }
}

/// The cue marks segment `index` goes with in a run of `answers`: none for
/// full answers (tasks every podmine version reads); for compact ones its
/// marks from `episode` (none kept: an empty list, its times then estimated).
pub fn cues_for(answers: AnswerMode, episode: &[Vec<CueMark>], index: u32) -> Option<&[CueMark]> {
    match answers {
        AnswerMode::Full => None,
        AnswerMode::Compact => Some(episode.get(index as usize).map_or(&[], Vec::as_slice)),
    }
}

type AckFuture = Pin<Box<dyn Future<Output = (usize, Acked)> + Send>>;

/// Publishes tasks, each tagged with a caller's slot number (its episode).
pub struct Publisher {
    js: jetstream::Context,
    in_flight: FuturesUnordered<AckFuture>,
}

impl Publisher {
    pub fn new(js: jetstream::Context) -> Self {
        Self { js, in_flight: FuturesUnordered::new() }
    }

    /// Sends one task. Waits for a free place first; returns the acks that
    /// completed while waiting. An error here means the connection is gone.
    pub async fn publish(&mut self, slot: usize, task: &OutgoingTask) -> anyhow::Result<Vec<(usize, Acked)>> {
        let mut done = Vec::new();
        while self.in_flight.len() >= MAX_IN_FLIGHT {
            done.extend(self.in_flight.next().await);
        }
        let mut message =
            jetstream::message::PublishMessage::build().payload(task.payload.clone()).expected_last_subject_sequence(0);
        if let Some(id) = &task.message_id {
            message = message.message_id(id);
        }
        let ack = self.js.send_publish(task.subject.clone(), message).await?;
        self.in_flight.push(Box::pin(async move { (slot, classify(ack.await)) }));
        Ok(done)
    }

    /// Waits for the next outstanding ack, or `None` when none is left.
    pub async fn next_ack(&mut self) -> Option<(usize, Acked)> {
        self.in_flight.next().await
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
}

fn classify(ack: Result<jetstream::publish::PublishAck, jetstream::context::PublishError>) -> Acked {
    match ack {
        Ok(ack) if ack.duplicate => Acked::AlreadyQueued,
        Ok(_) => Acked::Stored,
        Err(err) if err.kind() == PublishErrorKind::WrongLastSequence => Acked::AlreadyQueued,
        Err(err) => Acked::Refused(err.to_string()),
    }
}
