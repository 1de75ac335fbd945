//! `coordinator collect`: reads RESULTS, FAILED and the MAX_DELIVERIES
//! advisories ([`reader`]), stores each segment's outcome once (duplicates
//! are no-ops), and writes `out/<episode>.json` ([`output`]) when every
//! segment of the episode is settled.
//!
//! The store, not a server-side consumer, is the truth of what was
//! collected: each batch of outcomes is written in one transaction with the
//! stream positions it came from, then flushed; the readers start after
//! those positions. So a crash re-reads at most the batch it lost, and an
//! empty, deleted or older store (a new disk, a restore from yesterday)
//! catches up from the streams by itself, with no LLM call. Batches are as
//! large as what has arrived (up to [`BATCH`]): the rate is bounded by the
//! store, not by round trips.

pub mod output;
mod reader;

use crate::store::{Incoming, Recorded, Store};
use anyhow::Context;
use async_nats::jetstream;
use protocol::streams;
use reader::Read;
use runtime::clock::unix_now_ms;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Debug)]
pub struct CollectSettings {
    pub out: PathBuf,
    /// Keep collecting after everything enqueued is settled.
    pub follow: bool,
    /// Where to keep a status snapshot for `coordinator status`, which cannot
    /// open the store while this process holds it.
    pub snapshot: Option<PathBuf>,
    /// Whether episode files keep ungrounded items (flagged) or drop them.
    pub ungrounded: protocol::output::UngroundedItems,
    /// Where a dashboard served by this process finds the store while it is open.
    pub dashboard_store: Option<crate::store::StoreSlot>,
}

/// How often the status snapshot is rewritten.
const SNAPSHOT_EVERY: Duration = Duration::from_secs(1);

/// Most outcomes written in one transaction (and flushed with one fsync).
const BATCH: usize = 2_048;

/// Messages the readers may hold ahead of the store.
const READ_AHEAD: usize = 4_096;

/// The streams outcomes come from, in the order they are read.
const STREAMS: [&str; 3] = [streams::RESULTS, streams::FAILED, streams::ADVISORIES];

/// Consumers of versions that acknowledged what they collected; the store's
/// positions replace them.
const RETIRED_CONSUMERS: [(&str, &str); 3] = [
    (streams::RESULTS, "podmine-collector-results"),
    (streams::FAILED, "podmine-collector-failed"),
    (streams::ADVISORIES, "podmine-collector-advisories"),
];

/// What one collect run did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Collected {
    pub new: u64,
    pub duplicates: u64,
    pub stale: u64,
    /// Outcomes for segments this store has not enqueued: kept until `enqueue` records them.
    pub kept_aside: u64,
    pub episodes_written: u64,
}

/// [`run`], carrying on through full disks: when the store's disk or the
/// output folder fills up, it says which path is full and what to do, closes
/// the store, waits until there is room again and reopens it (`open`). The
/// outcomes wait on the streams meanwhile; nothing is acknowledged or lost.
pub async fn run_through_full_disks(
    js: &jetstream::Context,
    data_dir: &std::path::Path,
    open: impl Fn() -> anyhow::Result<Store>,
    settings: &CollectSettings,
    cancel: &CancellationToken,
) -> anyhow::Result<Collected> {
    let mut collected = Collected::default();
    loop {
        let outcome = match open() {
            Ok(store) => {
                let shown = settings.dashboard_store.as_ref();
                shown.inspect(|slot| slot.set(Some(store.clone())));
                let outcome = collect_into(js, &store, settings, cancel, &mut collected).await;
                shown.inspect(|slot| slot.set(None));
                outcome
            }
            Err(err) => Err(err),
        }; // the store is closed here: sled is reopened clean after a failed write
        match outcome {
            Ok(()) => return Ok(collected),
            Err(err) if runtime::full_disk::is_full(&err) => {
                std::fs::create_dir_all(&settings.out).ok();
                let dirs = [data_dir, settings.out.as_path()];
                let full = runtime::full_disk::full(&dirs);
                let which = if full.is_empty() {
                    dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(" or ")
                } else {
                    full.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(" and ")
                };
                tracing::error!(
                    "no space left on the disk of {which} ({err:#}): collecting is paused, nothing is lost (the \
                     outcomes wait on the streams). Free space there (or move the data dir to a larger disk and \
                     point --data-dir at it); collecting resumes by itself"
                );
                runtime::full_disk::wait_for_space(&dirs, cancel).await;
                if cancel.is_cancelled() {
                    return Ok(collected);
                }
                tracing::warn!("there is space again on {which}: collecting resumes");
            }
            Err(err) => return Err(err),
        }
    }
}

/// Collects until everything enqueued is settled (or forever with `follow`), or `cancel`.
pub async fn run(
    js: &jetstream::Context,
    store: &Store,
    settings: &CollectSettings,
    cancel: &CancellationToken,
) -> anyhow::Result<Collected> {
    let mut collected = Collected::default();
    collect_into(js, store, settings, cancel, &mut collected).await?;
    Ok(collected)
}

/// [`run`], counting into `collected` (kept when it fails midway).
async fn collect_into(
    js: &jetstream::Context,
    store: &Store,
    settings: &CollectSettings,
    cancel: &CancellationToken,
    collected: &mut Collected,
) -> anyhow::Result<()> {
    for (stream, name) in RETIRED_CONSUMERS {
        if let Ok(stream) = js.get_stream(stream).await {
            let _ = stream.delete_consumer(name).await;
        }
    }
    // Workers of a server that lost the spec would mine with their own settings meanwhile.
    crate::spec::restore(js, store).await?;
    let mut catching_up = CatchUp::measure(js, store, &STREAMS).await?;
    if catching_up.behind > 0 {
        tracing::warn!(
            "the store is behind the streams by {} outcome message(s): replaying them (no LLM calls)",
            catching_up.behind
        );
    }
    if store.meta.totals()?.episodes == 0 {
        tracing::warn!(
            "nothing is enqueued in this data dir: outcomes read now are kept aside until `coordinator enqueue` \
             records their episodes"
        );
    }
    let readers_stop = cancel.child_token();
    let (sender, mut receiver) = mpsc::channel(READ_AHEAD);
    for stream in STREAMS {
        let after = store.positions.get(stream)?;
        tokio::spawn(reader::read(js.clone(), stream, after, None, sender.clone(), readers_stop.clone()));
    }
    drop(sender);
    let _stop_readers = readers_stop.drop_guard();
    write_complete_episodes(store, settings, None, collected)?;
    let mut last_snapshot = std::time::Instant::now() - SNAPSHOT_EVERY;
    loop {
        let mut batch = Vec::new();
        tokio::select! {
            _ = cancel.cancelled() => {}
            read = receiver.recv() => match read {
                Some(read) => batch.push(read),
                // Every reader stopped (each before a message it cannot read): wait, do not spin.
                None => tokio::time::sleep(SNAPSHOT_EVERY).await,
            },
            _ = tokio::time::sleep(SNAPSHOT_EVERY) => {}
        }
        while batch.len() < BATCH {
            match receiver.try_recv() {
                Ok(read) => batch.push(read),
                Err(_) => break,
            }
        }
        let touched = apply(js, store, batch, collected, &mut catching_up).await?;
        for episode in touched {
            write_complete_episodes(store, settings, Some(&episode), collected)?;
        }
        let done = {
            let (totals, (mined, failed)) = (store.meta.totals()?, store.meta.settled_of_spec()?);
            !settings.follow && totals.segments > 0 && mined + failed >= totals.segments
        };
        if let Some(path) = &settings.snapshot {
            if done || cancel.is_cancelled() || last_snapshot.elapsed() >= SNAPSHOT_EVERY {
                last_snapshot = std::time::Instant::now();
                crate::status::write_snapshot(store, path, catching_up.figure()).await?;
            }
        }
        if done || cancel.is_cancelled() {
            return Ok(());
        }
    }
}

/// Replays the outcomes on RESULTS and FAILED that the store has not applied
/// (an empty, deleted or older data dir), up to where the streams end now;
/// `enqueue` calls it first, so segments settled by earlier runs are not
/// published again. Returns how many outcome messages it read.
pub async fn catch_up(js: &jetstream::Context, store: &Store) -> anyhow::Result<u64> {
    let mut catching_up = CatchUp::measure(js, store, &[streams::RESULTS, streams::FAILED]).await?;
    if catching_up.behind == 0 {
        return Ok(0);
    }
    let stop = CancellationToken::new();
    let (sender, mut receiver) = mpsc::channel(READ_AHEAD);
    // Each reader stops at the stream's end as of now (or before a message it cannot read).
    for &(stream, last, after) in &catching_up.streams {
        tokio::spawn(reader::read(js.clone(), stream, after, Some(last), sender.clone(), stop.clone()));
    }
    drop(sender);
    let _stop_readers = stop.drop_guard();
    let mut collected = Collected::default();
    while catching_up.figure().is_some() {
        let Some(first) = receiver.recv().await else { break }; // every reader stopped
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match receiver.try_recv() {
                Ok(read) => batch.push(read),
                Err(_) => break,
            }
        }
        apply(js, store, batch, &mut collected, &mut catching_up).await?;
    }
    if let Some(left) = catching_up.figure() {
        tracing::warn!(
            "{left} outcome message(s) of earlier runs could not be read (see above): their segments may be \
             published again; upgrade the coordinator and run enqueue again to avoid that"
        );
    }
    Ok(collected.new + collected.duplicates + collected.stale + collected.kept_aside)
}

/// Writes a batch to the store (one transaction, one flush); returns the
/// episodes that gained an outcome.
async fn apply(
    js: &jetstream::Context,
    store: &Store,
    batch: Vec<Read>,
    collected: &mut Collected,
    catching_up: &mut CatchUp,
) -> anyhow::Result<BTreeSet<protocol::EpisodeId>> {
    let mut touched = BTreeSet::new();
    if batch.is_empty() {
        return Ok(touched);
    }
    let mut outcomes: Vec<Incoming> = Vec::with_capacity(batch.len());
    let mut passed = Vec::new();
    for read in batch {
        match read {
            Read::Outcome(incoming) => outcomes.push(*incoming),
            Read::Passed { stream, sequence } => passed.push((stream, sequence)),
        }
    }
    let recorded = store.apply(&outcomes, unix_now_ms())?;
    for (stream, sequence) in &passed {
        store.positions.advance(stream, *sequence)?;
    }
    store.flush().await?;
    let spec = store.meta.spec()?;
    let current = spec.as_ref().map(|spec| spec.mining_spec());
    let mut off_spec = Vec::new();
    for (incoming, recorded) in outcomes.iter().zip(recorded) {
        match recorded {
            Recorded::New | Recorded::Replaced => {
                collected.new += 1;
                touched.insert(incoming.settled.task().segment.episode.clone());
                if !incoming.settled.of_spec(current.as_ref()) {
                    off_spec.push(incoming.settled.task().clone());
                }
            }
            Recorded::Duplicate => collected.duplicates += 1,
            Recorded::Stale => collected.stale += 1,
            Recorded::Orphan => collected.kept_aside += 1,
        }
    }
    for (stream, sequence) in outcomes.iter().map(|i| (i.stream, i.sequence)).chain(passed) {
        catching_up.applied(stream, sequence);
    }
    if !off_spec.is_empty() {
        // Mined with settings other than the run's (a worker in the middle of a
        // call when the spec changed, or one of an older version): kept, and
        // queued again to be mined with the run's spec.
        let answers = spec.map(|spec| spec.answers).unwrap_or_default();
        let mut requeue = crate::spec::Requeue::new(js, answers);
        for episode in off_spec.chunk_by(|a, b| a.segment.episode == b.segment.episode) {
            requeue.episode(store, episode.to_vec()).await?;
        }
        let (queued, _) = requeue.finish().await?;
        if queued > 0 {
            tracing::info!("{queued} segment(s) settled with another mining spec than the run's: queued again");
        }
    }
    Ok(touched)
}

/// How far the store was behind the streams when the collector started, and
/// how much of that is still to replay.
struct CatchUp {
    /// Each stream's last sequence at start, and the store's position in it.
    streams: Vec<(&'static str, u64, u64)>,
    behind: u64,
}

impl CatchUp {
    async fn measure(js: &jetstream::Context, store: &Store, names: &[&'static str]) -> anyhow::Result<Self> {
        let mut streams = Vec::new();
        for &stream in names {
            let mut handle =
                js.get_stream(stream).await.with_context(|| format!("stream {stream} is missing: run enqueue"))?;
            let last = handle.info().await.map(|info| info.state.last_sequence).unwrap_or(0);
            streams.push((stream, last, store.positions.get(stream)?));
        }
        let behind = streams.iter().map(|(_, last, at)| last.saturating_sub(*at)).sum();
        Ok(Self { streams, behind })
    }

    fn applied(&mut self, stream: &str, sequence: u64) {
        for (name, _, at) in &mut self.streams {
            if *name == stream {
                *at = (*at).max(sequence);
            }
        }
    }

    /// Messages still to replay, while there are some.
    fn figure(&self) -> Option<u64> {
        let left: u64 = self.streams.iter().map(|(_, last, at)| last.saturating_sub(*at)).sum();
        (left > 0).then_some(left)
    }
}

/// Writes the file of `episode` (or of every episode not yet written) if complete.
fn write_complete_episodes(
    store: &Store,
    settings: &CollectSettings,
    episode: Option<&protocol::EpisodeId>,
    collected: &mut Collected,
) -> anyhow::Result<()> {
    let candidates: Vec<(protocol::EpisodeId, crate::store::EpisodeRecord)> = match episode {
        Some(id) => store.episodes.get(id)?.map(|record| (id.clone(), record)).into_iter().collect(),
        // Not written yet, or written and since removed from out/.
        None => store
            .episodes
            .all()?
            .into_iter()
            .filter(|(id, _)| {
                !store.episodes.is_complete(id).unwrap_or(false) || !output::episode_path(&settings.out, id).exists()
            })
            .collect(),
    };
    for (id, record) in candidates {
        if output::write_episode(store, &settings.out, &id, &record, settings.ungrounded)? {
            collected.episodes_written += 1;
        }
    }
    Ok(())
}
