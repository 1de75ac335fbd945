//! One reader per outcome stream (RESULTS, FAILED, the MAX_DELIVERIES
//! advisories): an ordered consumer that starts right after the position the
//! store has applied, so an empty, deleted or older store catches up from
//! the streams by itself. Nothing is acknowledged: the store's position is
//! the truth of what was collected.
//!
//! A message of a newer encoding version stops its reader before it (the
//! position does not pass it) and says what to upgrade; an advisory becomes
//! a failure record published to FAILED (and its task removed), so every
//! outcome lives on a stream.

use crate::store::{Incoming, Settled};
use async_nats::jetstream::{self, consumer::pull::OrderedConfig, consumer::DeliverPolicy};
use futures::StreamExt;
use protocol::codec::{self, CodecError};
use protocol::task::decode_task;
use protocol::{streams, subjects, FailureKind, FailureRecord, MiningSpec, Provenance, Task, Usage, WorkKey};
use runtime::Outage;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What a reader hands the collector.
#[derive(Debug)]
pub enum Read {
    /// An outcome to record.
    Outcome(Box<Incoming>),
    /// A message with nothing to record (an advisory handled, a corrupt message skipped).
    Passed { stream: &'static str, sequence: u64 },
}

/// Reads `stream` from `after + 1` until `cancel` (or, with `until`, once
/// that sequence is sent), sending what it reads.
pub async fn read(
    js: jetstream::Context,
    stream: &'static str,
    after: u64,
    until: Option<u64>,
    sender: mpsc::Sender<Read>,
    cancel: CancellationToken,
) {
    let mut next = after + 1;
    if until.is_some_and(|until| after >= until) {
        return;
    }
    let mut outage = Outage::new("collecting");
    let tasks = if stream == streams::ADVISORIES { js.get_stream(streams::TASKS).await.ok() } else { None };
    while !cancel.is_cancelled() {
        let mut messages = tokio::select! {
            _ = cancel.cancelled() => return,
            made = ordered_from(&js, stream, next) => match made {
                Ok(messages) => messages,
                Err(err) => {
                    outage.failed(&format!("{err:#}")).await;
                    continue;
                }
            },
        };
        loop {
            let message = tokio::select! {
                _ = cancel.cancelled() => return,
                message = messages.next() => message,
            };
            let message = match message {
                Some(Ok(message)) => message,
                Some(Err(err)) => {
                    outage.failed(&err.to_string()).await;
                    break; // made again from `next`
                }
                None => break,
            };
            outage.recovered();
            let Ok((sequence, mined_at_ms)) = message.info().map(|info| {
                let published_ms = info.published.unix_timestamp_nanos() / 1_000_000;
                (info.stream_sequence, u64::try_from(published_ms).unwrap_or(0))
            }) else {
                continue;
            };
            if sequence < next {
                continue;
            }
            let read = match stream {
                streams::ADVISORIES => match give_up(&js, tasks.as_ref(), &message.payload).await {
                    Ok(()) => Read::Passed { stream, sequence },
                    Err(GiveUp::Newer(err)) => return blocked(stream, sequence, &err),
                    Err(GiveUp::Nats(err)) => {
                        outage.failed(&format!("{err:#}")).await;
                        break; // the advisory is read again
                    }
                },
                _ => match decode(stream, &message.payload) {
                    Ok(settled) => Read::Outcome(Box::new(Incoming { settled, stream, sequence, mined_at_ms })),
                    Err(err @ CodecError::UnknownVersion(_)) => return blocked(stream, sequence, &err),
                    Err(err) => {
                        tracing::error!(stream, sequence, error = %err, "a corrupt message: skipped");
                        Read::Passed { stream, sequence }
                    }
                },
            };
            if sender.send(read).await.is_err() || until.is_some_and(|until| sequence >= until) {
                return;
            }
            next = sequence + 1;
        }
    }
}

/// An ordered consumer of `stream` from `sequence` on.
async fn ordered_from(
    js: &jetstream::Context,
    stream: &str,
    sequence: u64,
) -> anyhow::Result<jetstream::consumer::pull::Ordered> {
    let handle = js.get_stream(stream).await?;
    let config = OrderedConfig {
        deliver_policy: DeliverPolicy::ByStartSequence { start_sequence: sequence },
        ..Default::default()
    };
    Ok(handle.create_consumer(config).await?.messages().await?)
}

fn decode(stream: &str, payload: &[u8]) -> Result<Settled, CodecError> {
    if stream == streams::RESULTS {
        codec::decode(payload).map(Settled::Mined)
    } else {
        FailureRecord::decode(payload).map(Settled::Failed)
    }
}

/// A message this build cannot read: the reader stops before it, and says so.
fn blocked(stream: &str, sequence: u64, err: &CodecError) {
    tracing::error!(
        stream,
        sequence,
        "{err}: this coordinator stops reading {stream} at message {sequence} and leaves it there. \
         Upgrade the coordinator (the workers run a newer podmine); it carries on from this message"
    );
}

enum GiveUp {
    /// The task was written by a newer version.
    Newer(CodecError),
    /// NATS did not answer: read the advisory again.
    Nats(anyhow::Error),
}

/// A task the server gave up on (max deliveries, its worker died on the
/// final attempt): its failure record goes to FAILED, then the task leaves
/// the queue (a work queue keeps such a message forever). A task already
/// gone (a replay) needs nothing.
async fn give_up(
    js: &jetstream::Context,
    tasks: Option<&jetstream::stream::Stream>,
    advisory: &[u8],
) -> Result<(), GiveUp> {
    let Ok(advisory) = serde_json::from_slice::<serde_json::Value>(advisory) else { return Ok(()) };
    let (Some(sequence), deliveries) = (advisory["stream_seq"].as_u64(), advisory["deliveries"].as_u64().unwrap_or(0))
    else {
        return Ok(());
    };
    let tasks = match tasks {
        Some(tasks) => tasks.clone(),
        None => js.get_stream(streams::TASKS).await.map_err(|e| GiveUp::Nats(e.into()))?,
    };
    let Ok(message) = tasks.get_raw_message(sequence).await else { return Ok(()) };
    // A compact run's tasks carry their cue marks (version 2): read them as a worker does.
    let task: Task = match decode_task(&message.payload) {
        Ok((task, _cues)) => task,
        Err(err @ CodecError::UnknownVersion(_)) => return Err(GiveUp::Newer(err)),
        Err(_) => return Ok(()),
    };
    let failure = FailureRecord {
        work_key: WorkKey(task.segment.content_hash()),
        kind: FailureKind::MaxDeliveries,
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
    };
    let payload = failure.encode().map_err(|e| GiveUp::Nats(e.into()))?;
    let publish = jetstream::message::PublishMessage::build().payload(payload.into()).message_id(failure.message_id());
    let subject = subjects::failed(&failure.task.segment.key());
    let ack = js.send_publish(subject, publish).await.map_err(|e| GiveUp::Nats(e.into()))?;
    ack.await.map_err(|e| GiveUp::Nats(e.into()))?;
    let _ = tasks.delete_message(sequence).await;
    Ok(())
}
