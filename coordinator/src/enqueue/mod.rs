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

pub async fn run(settings: EnqueueSettings, target: Target) -> anyhow::Result<Summary> {
    let root = settings.corpus.clone();
    let scan = corpus::scan(&root).with_context(|| format!("cannot read the corpus folder {}", root.display()))?;
    let mut summary = Summary { skipped: scan.skipped, ..Summary::default() };
    let progress = Progress::new("enqueue", scan.episodes.len() as u64);
    let store = match &target {
        Target::Server { store, .. } => Some(store.clone()),
        Target::DryRun => None,
    };
    let mut spec = None;
    if let Target::Server { js, store } = &target {
        spec = Some(crate::spec::Keeper::settle(js, store, &settings.mining, "enqueue").await?);
        summary.history = crate::collect::catch_up(js, store).await?;
    }
    let lost = match &target {
        Target::Server { js, store } => reconcile::lost_segments(js, store).await?,
        Target::DryRun => reconcile::Lost::new(),
    };
    summary.lost = lost.values().map(|v| v.len() as u64).sum();
    let (tx, mut rx) = mpsc::channel(PREPARED_AHEAD);
    let shape = prepare::TaskShape {
        segment_seconds: settings.segment_seconds,
        answers: spec.as_ref().map(|keeper| keeper.spec.answers).unwrap_or_default(),
    };
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

    let mut publisher = match &target {
        Target::Server { js, .. } => Some(Publisher::new(js.clone())),
        Target::DryRun => None,
    };
    let mut in_flight: HashMap<usize, InFlight> = HashMap::new();
    let mut next_slot = 0usize;
    loop {
        let pending_acks = publisher.as_ref().is_some_and(|p| p.in_flight() > 0);
        tokio::select! {
            received = rx.recv() => {
                let Some((outcome, prepare::Unused { bad, alternatives })) = received else { break };
                summary.bad.extend(bad);
                summary.alternatives.extend(alternatives);
                progress.inc(&summary);
                let prepared = match outcome {
                    Outcome::Unchanged { segments, .. } => {
                        summary.unchanged_episodes += 1;
                        summary.unchanged_segments += u64::from(segments);
                        continue;
                    }
                    Outcome::Unreadable => continue,
                    Outcome::Ready(prepared) => prepared,
                };
                summary.note_prepared(&prepared);
                let (Some(publisher), Target::Server { js, store }) = (publisher.as_mut(), &target) else {
                    continue; // dry run: counted, not published
                };
                if let Some(spec) = spec.as_mut() {
                    // Before its tasks are out: workers size their requests from the spec.
                    spec.hold(prepared.longest_user_chars).await?;
                }
                purge_stale(js, &prepared).await?;
                let slot = next_slot;
                next_slot += 1;
                let remaining = prepared.tasks.len();
                in_flight.insert(slot, InFlight { prepared, remaining, refused: None });
                if remaining == 0 {
                    settle_episode(store, &mut in_flight, slot, &mut summary)?;
                    continue;
                }
                let tasks = std::mem::take(&mut in_flight.get_mut(&slot).expect("just inserted").prepared.tasks);
                for task in &tasks {
                    let done = publisher.publish(slot, task).await.context("lost the connection to NATS while publishing")?;
                    for (slot, acked) in done {
                        settle_ack(store, &mut in_flight, slot, acked, &mut summary)?;
                    }
                }
            }
            Some((slot, acked)) = async { publisher.as_mut()?.next_ack().await }, if pending_acks => {
                if let Target::Server { store, .. } = &target {
                    settle_ack(store, &mut in_flight, slot, acked, &mut summary)?;
                }
            }
        }
    }
    if let (Some(publisher), Target::Server { store, .. }) = (publisher.as_mut(), &target) {
        while let Some((slot, acked)) = publisher.next_ack().await {
            settle_ack(store, &mut in_flight, slot, acked, &mut summary)?;
        }
        store.flush().await?;
    }
    producer.await.context("the corpus reader panicked")??;
    if let Some(spec) = &spec {
        summary.too_long = spec.too_long;
        summary.spec = Some(spec.spec.summary());
    }
    progress.finish();
    Ok(summary)
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

fn settle_ack(
    store: &Store,
    in_flight: &mut HashMap<usize, InFlight>,
    slot: usize,
    acked: Acked,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let episode = in_flight.get_mut(&slot).context("ack for an unknown episode")?;
    episode.remaining -= 1;
    match acked {
        Acked::Stored => summary.published += 1,
        Acked::AlreadyQueued => summary.already_queued += 1,
        Acked::Refused(reason) => episode.refused = Some(reason),
    }
    if episode.remaining == 0 {
        settle_episode(store, in_flight, slot, summary)?;
    }
    Ok(())
}

/// Every ack is in: record the episode, or report why the server refused it.
fn settle_episode(
    store: &Store,
    in_flight: &mut HashMap<usize, InFlight>,
    slot: usize,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let episode = in_flight.remove(&slot).context("settled an unknown episode")?;
    let prepared = episode.prepared;
    match episode.refused {
        Some(reason) => summary.refused.push((prepared.id.to_string(), reason)),
        None => store.record_episode(&prepared.id, &prepared.record, &prepared.segments, &prepared.cues)?,
    }
    Ok(())
}
