//! `coordinator collect`: consumes RESULTS, FAILED and the MAX_DELIVERIES
//! advisories, stores each segment's outcome once (duplicates are no-ops),
//! and writes `out/<episode>.json` when every segment of the episode is settled.
//! Messages are acked only after the store is flushed, so a crash re-reads
//! them and the store absorbs the repeat. [`output`] writes the files.

pub mod output;

use crate::store::{Recorded, Settled, Store};
use anyhow::Context;
use async_nats::jetstream::{self, consumer::pull, consumer::PullConsumer};
use futures::StreamExt;
use protocol::{codec, streams, FailureRecord, MiningSpec, Provenance, Task, Usage, WorkKey};
use runtime::clock::unix_now_ms;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Clone, Debug)]
pub struct CollectSettings {
    pub out: PathBuf,
    /// Keep collecting after everything enqueued is settled.
    pub follow: bool,
    /// Where to keep a status snapshot for `coordinator status`, which cannot
    /// open the store while this process holds it.
    pub snapshot: Option<PathBuf>,
}

/// How often the status snapshot is rewritten.
const SNAPSHOT_EVERY: Duration = Duration::from_secs(1);

/// Messages taken per fetch.
const BATCH: usize = 256;

/// What one collect run did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Collected {
    pub new: u64,
    pub duplicates: u64,
    pub stale: u64,
    pub episodes_written: u64,
}

fn consumer_config(name: &str) -> pull::Config {
    pull::Config {
        durable_name: Some(name.into()),
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        ..Default::default()
    }
}

async fn consumer(js: &jetstream::Context, stream: &str, name: &str) -> anyhow::Result<PullConsumer> {
    let stream = js.get_stream(stream).await.with_context(|| format!("stream {stream} is missing"))?;
    Ok(stream.get_or_create_consumer(name, consumer_config(name)).await?)
}

/// Collects until everything enqueued is settled (or forever with `follow`), or `cancel`.
pub async fn run(
    js: &jetstream::Context,
    store: &Store,
    settings: &CollectSettings,
    cancel: &CancellationToken,
) -> anyhow::Result<Collected> {
    let results = consumer(js, streams::RESULTS, "podmine-collector-results").await?;
    let failed = consumer(js, streams::FAILED, "podmine-collector-failed").await?;
    let advisories = consumer(js, streams::ADVISORIES, "podmine-collector-advisories").await?;
    let tasks = js.get_stream(streams::TASKS).await?;
    let mut collected = Collected::default();
    write_complete_episodes(store, settings, None, &mut collected)?;
    let mut last_snapshot = std::time::Instant::now() - SNAPSHOT_EVERY;
    let mut outage = runtime::Outage::new("collecting");
    loop {
        let mut touched = BTreeSet::new();
        let mut to_ack = Vec::new();
        for consumer in [&results, &failed, &advisories] {
            let fetched = consumer.fetch().max_messages(BATCH).expires(Duration::from_millis(300)).messages().await;
            let mut batch = match fetched {
                Ok(batch) => {
                    outage.recovered();
                    batch
                }
                Err(err) => {
                    outage.failed(&err.to_string()).await;
                    continue;
                }
            };
            while let Some(message) = batch.next().await {
                let message = match message {
                    Ok(message) => message,
                    Err(err) => {
                        outage.failed(&err.to_string()).await;
                        break;
                    }
                };
                let settled = if std::ptr::eq(consumer, &advisories) {
                    match gave_up_task(&tasks, &message.payload).await {
                        Ok(settled) => settled,
                        Err(err) => {
                            // Not acked: the advisory comes back once the server does.
                            outage.failed(&format!("{err:#}")).await;
                            continue;
                        }
                    }
                } else if std::ptr::eq(consumer, &results) {
                    decode(&message.payload, Settled::Mined)
                } else {
                    decode(&message.payload, Settled::Failed)
                };
                if let Some(settled) = settled {
                    match store.record_outcome(&settled, unix_now_ms())? {
                        Recorded::New | Recorded::Replaced => {
                            collected.new += 1;
                            touched.insert(settled.task().segment.episode.clone());
                        }
                        Recorded::Duplicate => collected.duplicates += 1,
                        Recorded::Stale => collected.stale += 1,
                    }
                }
                to_ack.push(message);
            }
        }
        store.flush().await?;
        for message in to_ack {
            // An unacked message is delivered again and recorded as a duplicate.
            match message.double_ack().await {
                Ok(()) => outage.recovered(),
                Err(err) => outage.failed(&format!("ack failed: {err}")).await,
            }
        }
        for episode in touched {
            write_complete_episodes(store, settings, Some(&episode), &mut collected)?;
        }
        if let Some(path) = &settings.snapshot {
            if last_snapshot.elapsed() >= SNAPSHOT_EVERY {
                last_snapshot = std::time::Instant::now();
                crate::status::write_snapshot(store, path).await?;
            }
        }
        let (totals, counters) = (store.totals()?, store.counters()?);
        let settled = counters.mined + counters.failed;
        if cancel.is_cancelled() || (!settings.follow && totals.segments > 0 && settled >= totals.segments) {
            if let Some(path) = &settings.snapshot {
                crate::status::write_snapshot(store, path).await?;
            }
            return Ok(collected);
        }
    }
}

fn decode<T: serde::de::DeserializeOwned>(payload: &[u8], wrap: fn(T) -> Settled) -> Option<Settled> {
    match codec::decode(payload) {
        Ok(value) => Some(wrap(value)),
        Err(err) => {
            tracing::error!(error = %err, "undecodable message on a results stream: skipped (upgrade podmine?)");
            None
        }
    }
}

/// A task the server gave up on (max deliveries): its failure record, and the
/// task removed from the queue (a work queue keeps such a message forever).
async fn gave_up_task(tasks: &jetstream::stream::Stream, advisory: &[u8]) -> anyhow::Result<Option<Settled>> {
    let advisory: serde_json::Value = serde_json::from_slice(advisory)?;
    let (Some(sequence), deliveries) = (advisory["stream_seq"].as_u64(), advisory["deliveries"].as_u64().unwrap_or(0))
    else {
        return Ok(None);
    };
    let Ok(message) = tasks.get_raw_message(sequence).await else { return Ok(None) };
    let Ok(task) = codec::decode::<Task>(&message.payload) else { return Ok(None) };
    let _ = tasks.delete_message(sequence).await;
    Ok(Some(Settled::Failed(FailureRecord {
        work_key: WorkKey(task.segment.content_hash()),
        reason: format!("no result after {deliveries} deliveries: the worker stopped answering on the final attempt"),
        raw_output: None,
        provenance: Provenance {
            spec: MiningSpec {
                prompt_hash: String::new(),
                schema_hash: String::new(),
                model: String::new(),
                options: String::new(),
            },
            worker: "coordinator".into(),
            attempts: 0,
            delivery: deliveries,
            usage: Usage::default(),
        },
        task,
    })))
}

/// Writes the file of `episode` (or of every episode not yet written) if complete.
fn write_complete_episodes(
    store: &Store,
    settings: &CollectSettings,
    episode: Option<&protocol::EpisodeId>,
    collected: &mut Collected,
) -> anyhow::Result<()> {
    let candidates: Vec<(protocol::EpisodeId, crate::store::EpisodeRecord)> = match episode {
        Some(id) => store.episode(id)?.map(|record| (id.clone(), record)).into_iter().collect(),
        None => store.episodes()?.into_iter().filter(|(id, _)| !store.is_complete(id).unwrap_or(false)).collect(),
    };
    for (id, record) in candidates {
        if output::write_episode(store, &settings.out, &id, &record)? {
            collected.episodes_written += 1;
        }
    }
    Ok(())
}
