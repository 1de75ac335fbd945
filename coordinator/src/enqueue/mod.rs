//! `coordinator enqueue`: scan a corpus, prepare each episode on a blocking
//! thread, publish its tasks with bounded in-flight PubAcks, and record the
//! episode in the store once every one of its tasks is acknowledged.
//!
//! Re-running is cheap and safe: an episode whose file and settings are
//! unchanged is skipped without parsing; an edited one publishes only the
//! segments whose content changed (their stale queued tasks are purged first);
//! an episode interrupted by a crash is published again and the server's dedup
//! absorbs what was already queued; segments the server lost (see
//! `reconcile`) are published again.
//!
//! Parts: [`prepare`] (one episode's files → the tasks to publish, given the
//! store), `crate::publish` (bounded in-flight publishing, PubAck
//! classification, shared with `retry-failed` and `respec`),
//! [`reconcile`] (segments the server lost), [`report`] (the summary printed
//! at the end), [`progress`] (the bar).

pub mod prepare;
mod progress;
mod reconcile;
pub mod report;

use crate::publish::{Acked, Publisher};
use crate::store::Store;
use anyhow::Context;
use async_nats::jetstream;
use prepare::{Outcome, Prepared};
use progress::Progress;
use report::Summary;
use std::collections::HashMap;
use std::path::PathBuf;
use tokio::sync::mpsc;
use transcripts::corpus;

/// What `enqueue` needs to know.
#[derive(Clone, Debug)]
pub struct EnqueueSettings {
    pub corpus: PathBuf,
    /// Target segment length.
    pub segment_seconds: u64,
    /// The mining flags given: the run's spec when none is recorded yet;
    /// otherwise they must agree with it.
    pub mining: mining::spec::LocalMining,
}

/// Episodes prepared ahead of the publisher (bounds memory: ~120 tasks each).
const PREPARED_AHEAD: usize = 16;

/// Where tasks go: a real server, or nowhere (`--dry-run`). One value per run,
/// so the size difference between the variants does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Target {
    Server { js: jetstream::Context, store: Store },
    DryRun,
}

/// An episode whose tasks are being acknowledged.
struct InFlight {
    prepared: Box<Prepared>,
    remaining: usize,
    refused: Option<String>,
}

/// What one step of the publishing loop handles: an episode from the
/// corpus reader, or a server's acknowledgement of one task.
pub enum Event {
    Prepared(Outcome, prepare::Unused),
    Acked(usize, Acked),
}

/// What a step did.
#[derive(Debug, PartialEq, Eq)]
pub enum Stepped {
    /// The episode is enqueued as it is: nothing to publish.
    Unchanged,
    /// None of the episode's files could be read (counted among the bad files).
    Unreadable,
    /// A dry run: the episode is counted, not published.
    Counted,
    /// This many of the episode's tasks went out (0: the episode was
    /// recorded at once, as nothing of it changed that needs a task).
    Published(usize),
    /// A task's acknowledgement is counted (its episode is recorded once all are).
    Acked,
}

pub async fn run(settings: EnqueueSettings, target: Target) -> anyhow::Result<Summary> {
    let root = settings.corpus.clone();
    let scan = corpus::scan(&root).with_context(|| format!("cannot read the corpus folder {}", root.display()))?;
    let mut summary = Summary { skipped: scan.skipped, ..Summary::default() };
    let progress = Progress::new("enqueue", scan.episodes.len() as u64);
    let (mut spec, mut lost, mut store) = (None, reconcile::Lost::new(), None);
    if let Target::Server { js, store: kept } = &target {
        spec = Some(crate::spec::Keeper::settle(js, kept, &settings.mining, "enqueue").await?);
        summary.history = crate::collect::catch_up(js, kept).await?;
        lost = reconcile::lost_segments(js, kept).await?;
        store = Some(kept.clone());
    }
    summary.lost = lost.values().map(|v| v.len() as u64).sum();
    let shape = prepare::TaskShape {
        segment_seconds: settings.segment_seconds,
        answers: spec.as_ref().map(|keeper| keeper.spec.answers).unwrap_or_default(),
    };
    let (tx, mut rx) = mpsc::channel(PREPARED_AHEAD);
    let producer = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        for episode in &scan.episodes {
            let mut unused = prepare::Unused::default();
            let lost = lost.get(&episode.id).map_or(&[][..], Vec::as_slice);
            let input = prepare::EpisodeInput { root: &root, episode, shape, store: store.as_ref(), lost };
            let outcome = prepare::prepare(input, &mut unused)?;
            if tx.blocking_send((outcome, unused)).is_err() {
                break; // the publisher stopped; its error is reported
            }
        }
        Ok(())
    });
    let mut enqueuer = Enqueuer::new(target, spec, summary, progress);
    loop {
        let event = tokio::select! {
            received = rx.recv() => match received {
                Some((outcome, unused)) => Event::Prepared(outcome, unused),
                None => break,
            },
            Some((slot, acked)) = enqueuer.next_ack(), if enqueuer.acks_pending() => Event::Acked(slot, acked),
        };
        enqueuer.step(event).await?;
    }
    let summary = enqueuer.finish().await?;
    producer.await.context("the corpus reader panicked")??;
    Ok(summary)
}

/// The publishing loop's state: what is published and not yet acknowledged, and the summary.
pub struct Enqueuer {
    target: Target,
    /// `None` on a dry run.
    publisher: Option<Publisher>,
    spec: Option<crate::spec::Keeper>,
    summary: Summary,
    progress: Progress,
    in_flight: HashMap<usize, InFlight>,
    next_slot: usize,
}

impl Enqueuer {
    pub fn new(target: Target, spec: Option<crate::spec::Keeper>, summary: Summary, progress: Progress) -> Self {
        let publisher = match &target {
            Target::Server { js, .. } => Some(Publisher::new(js.clone())),
            Target::DryRun => None,
        };
        Self { target, publisher, spec, summary, progress, in_flight: HashMap::new(), next_slot: 0 }
    }

    fn acks_pending(&self) -> bool {
        self.publisher.as_ref().is_some_and(|p| p.in_flight() > 0)
    }

    async fn next_ack(&mut self) -> Option<(usize, Acked)> {
        self.publisher.as_mut()?.next_ack().await
    }

    pub async fn step(&mut self, event: Event) -> anyhow::Result<Stepped> {
        match event {
            Event::Prepared(outcome, unused) => self.prepared(outcome, unused).await,
            Event::Acked(slot, acked) => {
                self.settle_ack(slot, acked)?;
                Ok(Stepped::Acked)
            }
        }
    }

    /// Counts an episode, and publishes its tasks unless this is a dry run.
    async fn prepared(&mut self, outcome: Outcome, unused: prepare::Unused) -> anyhow::Result<Stepped> {
        self.summary.bad.extend(unused.bad);
        self.summary.alternatives.extend(unused.alternatives);
        self.progress.inc(&self.summary);
        let prepared = match outcome {
            Outcome::Unchanged { segments } => {
                self.summary.unchanged_episodes += 1;
                self.summary.unchanged_segments += u64::from(segments);
                return Ok(Stepped::Unchanged);
            }
            Outcome::Unreadable => return Ok(Stepped::Unreadable),
            Outcome::Ready(prepared) => prepared,
        };
        self.summary.note_prepared(&prepared);
        let Target::Server { js, .. } = &self.target else { return Ok(Stepped::Counted) };
        if let Some(spec) = self.spec.as_mut() {
            // Before its tasks are out: workers size their requests from the spec.
            spec.hold(prepared.longest_user_chars).await?;
        }
        purge_stale(js, &prepared).await?;
        let slot = self.next_slot;
        self.next_slot += 1;
        let mut prepared = prepared;
        let tasks = std::mem::take(&mut prepared.tasks);
        self.in_flight.insert(slot, InFlight { prepared, remaining: tasks.len(), refused: None });
        if tasks.is_empty() {
            self.settle_episode(slot)?;
            return Ok(Stepped::Published(0));
        }
        for task in &tasks {
            let publisher = self.publisher.as_mut().context("a server target has a publisher")?;
            let done = publisher.publish(slot, task).await.context("lost the connection to NATS while publishing")?;
            for (slot, acked) in done {
                self.settle_ack(slot, acked)?;
            }
        }
        Ok(Stepped::Published(tasks.len()))
    }

    fn settle_ack(&mut self, slot: usize, acked: Acked) -> anyhow::Result<()> {
        let episode = self.in_flight.get_mut(&slot).context("ack for an unknown episode")?;
        episode.remaining -= 1;
        match acked {
            Acked::Stored => self.summary.published += 1,
            Acked::AlreadyQueued => self.summary.already_queued += 1,
            Acked::Refused(reason) => episode.refused = Some(reason),
        }
        if episode.remaining == 0 {
            self.settle_episode(slot)?;
        }
        Ok(())
    }

    /// Every ack is in: record the episode, or report why the server refused it.
    fn settle_episode(&mut self, slot: usize) -> anyhow::Result<()> {
        let episode = self.in_flight.remove(&slot).context("settled an unknown episode")?;
        let prepared = episode.prepared;
        match (episode.refused, &self.target) {
            (Some(reason), _) => self.summary.refused.push((prepared.id.to_string(), reason)),
            (None, Target::Server { store, .. }) => {
                store.record_episode(&prepared.id, &prepared.record, &prepared.segments, &prepared.cues)?
            }
            (None, Target::DryRun) => {}
        }
        Ok(())
    }

    /// Waits for the last acknowledgements, makes the store durable, and
    /// returns the summary.
    pub async fn finish(mut self) -> anyhow::Result<Summary> {
        while let Some((slot, acked)) = self.next_ack().await {
            self.settle_ack(slot, acked)?;
        }
        if let Target::Server { store, .. } = &self.target {
            store.flush().await?;
        }
        if let Some(spec) = &self.spec {
            self.summary.too_long = spec.too_long;
            self.summary.spec = Some(spec.spec.summary());
        }
        self.progress.finish();
        Ok(self.summary)
    }
}

/// Removes queued tasks whose segment changed or no longer exists.
async fn purge_stale(js: &jetstream::Context, prepared: &Prepared) -> anyhow::Result<()> {
    if prepared.stale.is_empty() {
        return Ok(());
    }
    let stream = js.get_stream(protocol::streams::TASKS).await.context("cannot open the task stream")?;
    for &index in &prepared.stale {
        let subject = protocol::subjects::task(&protocol::SegmentKey::new(prepared.id.clone(), index));
        stream.purge().filter(subject).await.context("cannot remove a stale task")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One episode of `cues` SRT cues, prepared as a dry run prepares it.
    fn prepared(cues: usize) -> Outcome {
        let dir = tempfile::tempdir().unwrap();
        let srt: String = (0..cues)
            .map(|i| {
                format!("{}\n00:{i:02}:00,000 --> 00:{i:02}:30,000\nCue {i} says something worth mining.\n\n", i + 1)
            })
            .collect();
        std::fs::write(dir.path().join("a.srt"), srt).unwrap();
        let scan = corpus::scan(dir.path()).unwrap();
        let shape = prepare::TaskShape { segment_seconds: 30, answers: Default::default() };
        let input =
            prepare::EpisodeInput { root: dir.path(), episode: &scan.episodes[0], shape, store: None, lost: &[] };
        prepare::prepare(input, &mut prepare::Unused::default()).unwrap()
    }

    #[tokio::test]
    async fn a_dry_run_step_counts_each_episode_by_what_became_of_it_and_publishes_nothing() {
        let mut enqueuer = Enqueuer::new(Target::DryRun, None, Summary::default(), Progress::new("test", 3));
        let unused = || prepare::Unused::default();
        assert_eq!(enqueuer.step(Event::Prepared(prepared(4), unused())).await.unwrap(), Stepped::Counted);
        let unchanged = Outcome::Unchanged { segments: 7 };
        assert_eq!(enqueuer.step(Event::Prepared(unchanged, unused())).await.unwrap(), Stepped::Unchanged);
        let bad = prepare::Unused {
            bad: vec![prepare::BadFile { path: "b.srt".into(), reason: "not UTF-8".into() }],
            alternatives: Vec::new(),
        };
        assert_eq!(enqueuer.step(Event::Prepared(Outcome::Unreadable, bad)).await.unwrap(), Stepped::Unreadable);
        assert!(!enqueuer.acks_pending(), "a dry run has nothing to acknowledge");
        let summary = enqueuer.finish().await.unwrap();
        assert_eq!((summary.episodes_read(), summary.formats["SRT"].segments), (1, 4));
        assert_eq!((summary.unchanged_episodes, summary.unchanged_segments), (1, 7));
        assert_eq!((summary.published, summary.bad.len()), (0, 1));
    }

    #[tokio::test]
    async fn an_ack_for_an_episode_not_in_flight_is_an_error_not_a_miscount() {
        let mut enqueuer = Enqueuer::new(Target::DryRun, None, Summary::default(), Progress::new("test", 0));
        let err = enqueuer.step(Event::Acked(3, Acked::Stored)).await.unwrap_err();
        assert!(err.to_string().contains("unknown episode"), "{err}");
    }
}
