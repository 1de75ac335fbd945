//! JetStream stream settings, declared once. See DESIGN.md "JetStream layout"
//! for why each setting is what it is.

use async_nats::jetstream::{self, consumer, stream};
use std::time::Duration;

pub const TASKS: &str = "PODMINE_TASKS";
pub const RESULTS: &str = "PODMINE_RESULTS";
pub const FAILED: &str = "PODMINE_FAILED";
pub const ADVISORIES: &str = "PODMINE_ADVISORIES";

/// Room for the whole backlog: 840k tasks of ~1 KB is ~0.9 GB; this is 4×
/// that. A full stream refuses new tasks (`discard: new`) instead of
/// dropping old ones. nats-server reserves it on its disk when the stream is
/// created, against a JetStream limit of 75% of the disk free at its start
/// (so ~5.4 GB must be free); 16 GiB refused to start on a disk with 21 GB free.
pub const TASKS_MAX_BYTES: i64 = 4 * 1024 * 1024 * 1024;

/// How long the server remembers a `Nats-Msg-Id`. Long enough to absorb the
/// re-publish after a crashed enqueue; multi-day idempotency comes from the
/// coordinator's own records, not from this window.
pub const DEDUP_WINDOW: Duration = Duration::from_secs(10 * 60);

/// Settings shared by every podmine stream.
#[derive(Clone, Copy, Debug)]
pub struct StreamOptions {
    /// Copies of each message: 1 on a single server, 3 on a 3-node cluster.
    pub replicas: usize,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self { replicas: 1 }
    }
}

/// The task backlog: a work queue; a task leaves when acked or termed; never a TTL.
pub fn tasks(options: StreamOptions) -> stream::Config {
    stream::Config {
        name: TASKS.into(),
        subjects: vec![format!("{}.task.>", crate::subjects::ROOT)],
        retention: stream::RetentionPolicy::WorkQueue,
        discard: stream::DiscardPolicy::New,
        max_bytes: TASKS_MAX_BYTES,
        storage: stream::StorageType::File,
        duplicate_window: DEDUP_WINDOW,
        num_replicas: options.replicas,
        allow_direct: true,
        ..Default::default()
    }
}

/// Results: one subject per segment; the last message on a subject is the answer.
pub fn results(options: StreamOptions) -> stream::Config {
    kept_per_segment(RESULTS, "result", options)
}

/// Dead letters: failures with their reason and raw model output.
pub fn failed(options: StreamOptions) -> stream::Config {
    kept_per_segment(FAILED, "failed", options)
}

/// A stream that keeps every message (Limits retention) on `podmine.<kind>.>`.
fn kept_per_segment(name: &str, kind: &str, options: StreamOptions) -> stream::Config {
    stream::Config {
        name: name.into(),
        subjects: vec![format!("{}.{kind}.>", crate::subjects::ROOT)],
        retention: stream::RetentionPolicy::Limits,
        storage: stream::StorageType::File,
        duplicate_window: DEDUP_WINDOW,
        num_replicas: options.replicas,
        allow_direct: true,
        ..Default::default()
    }
}

/// Captures the server's MAX_DELIVERIES advisories for tasks (advisories are
/// lost if nobody listens): a task whose worker died on its final delivery is
/// counted as failed from here.
pub fn advisories(options: StreamOptions) -> stream::Config {
    stream::Config {
        name: ADVISORIES.into(),
        subjects: vec![format!("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{TASKS}.*")],
        retention: stream::RetentionPolicy::Limits,
        storage: stream::StorageType::File,
        num_replicas: options.replicas,
        ..Default::default()
    }
}

/// The durable pull consumer every worker shares.
pub const WORKERS_CONSUMER: &str = "podmine-workers";

/// Deliveries of one task before it is given up (the worker publishes a
/// failure record on the last one).
pub const MAX_DELIVER: i64 = 5;

/// Tasks handed out and not yet acked, across all workers. The default (1,000)
/// would cap a large fleet; each worker pulls only one task per free LLM slot.
pub const MAX_ACK_PENDING: i64 = 10_000;

/// How long a delivered task may go without an ack or progress before the
/// server hands it to another worker. Workers send progress every third of it.
pub const DEFAULT_ACK_WAIT: Duration = Duration::from_secs(60);

/// The workers' consumer on TASKS.
pub fn workers_consumer(ack_wait: Duration) -> consumer::pull::Config {
    consumer::pull::Config {
        durable_name: Some(WORKERS_CONSUMER.into()),
        ack_policy: consumer::AckPolicy::Explicit,
        ack_wait,
        max_deliver: MAX_DELIVER,
        max_ack_pending: MAX_ACK_PENDING,
        ..Default::default()
    }
}

/// Creates the streams, or brings their settings up to date. Replicas are
/// chosen when a stream is created: an existing stream keeps its own
/// (scaling one is an operator's `nats stream edit --replicas`).
pub async fn ensure(
    js: &jetstream::Context,
    options: StreamOptions,
) -> Result<(), jetstream::context::CreateStreamError> {
    for mut config in [tasks(options), results(options), failed(options), advisories(options)] {
        if let Ok(existing) = js.get_stream(&config.name).await {
            config.num_replicas = existing.cached_info().config.num_replicas;
        }
        js.create_or_update_stream(config).await?;
    }
    Ok(())
}

/// The server could not reserve a stream's `max_bytes` on its disk.
pub fn is_out_of_storage(err: &jetstream::context::CreateStreamError) -> bool {
    matches!(err.kind(), jetstream::context::CreateStreamErrorKind::JetStream(e)
        if e.error_code() == jetstream::ErrorCode::STORAGE_RESOURCES_EXCEEDED)
}

/// Retries of creating replicated streams before settling for one copy (once
/// a second for 15 s): a cluster whose peers are still joining (or busy
/// electing) refuses at first.
const REPLICATED_RETRIES: runtime::Backoff =
    runtime::Backoff::constant(Duration::from_secs(1)).with_budget(Duration::from_secs(15));

/// [`ensure`] with `options`; on a cluster that cannot place the replicas
/// (two servers, or peers that stay away), one copy, said in the log.
pub async fn ensure_replicated(
    js: &jetstream::Context,
    options: StreamOptions,
) -> Result<(), jetstream::context::CreateStreamError> {
    if options.replicas <= 1 {
        return ensure(js, options).await;
    }
    let mut delays = REPLICATED_RETRIES.delays();
    loop {
        let err = match ensure(js, options).await {
            Ok(()) => return Ok(()),
            Err(err) => err,
        };
        match delays.next() {
            Some(delay) => {
                tracing::debug!(error = %err, "replicated streams not placed yet; retrying");
                tokio::time::sleep(delay).await;
            }
            None => {
                tracing::warn!(
                    error = %err,
                    "the cluster cannot hold {} copies of each stream: creating them with one copy \
                     (check that all servers are up and routed; scale later with `nats stream edit --replicas`)",
                    options.replicas
                );
                return ensure(js, StreamOptions::default()).await;
            }
        }
    }
}

/// Makes sure the streams exist without changing settings the coordinator
/// owns; creates missing ones only where the server allows this user to.
pub async fn ensure_present(
    js: &jetstream::Context,
    options: StreamOptions,
) -> Result<(), jetstream::context::CreateStreamError> {
    for config in [tasks(options), results(options), failed(options), advisories(options)] {
        if js.get_stream(&config.name).await.is_err() {
            js.create_stream(config).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_never_expire_or_drop_old_work() {
        let tasks = tasks(StreamOptions::default());
        assert_eq!(tasks.retention, stream::RetentionPolicy::WorkQueue);
        assert_eq!(tasks.discard, stream::DiscardPolicy::New);
        assert_eq!(tasks.max_age, std::time::Duration::ZERO);
        assert_eq!(failed(StreamOptions { replicas: 3 }).num_replicas, 3);
        assert_eq!(results(StreamOptions::default()).subjects, vec!["podmine.result.>".to_owned()]);
    }
}
