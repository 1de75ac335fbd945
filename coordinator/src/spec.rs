//! The run's mining spec on the coordinator's side (see `protocol::spec`).
//!
//! `enqueue` and `run` record it from their flags the first time and keep it
//! afterwards: a flag that disagrees with it is an error that points to
//! `respec`. Its context size grows (a new revision) when a longer segment is
//! enqueued, before that segment's task is published. `respec` changes it and
//! queues again what was settled under the old one. NATS holds the copy the
//! workers read; the store the copy the collector judges outcomes by.

use crate::publish::{cues_for, stored_cues, Acked, OutgoingTask, Publisher};
use crate::store::Store;
use anyhow::Context;
use async_nats::jetstream;
use mining::spec::{self as mining_spec, LocalMining};
use protocol::spec::{AnswerMode, RunSpec};
use protocol::spec_kv;
use protocol::Task;

/// The run's spec while a command holds the store.
pub struct Keeper {
    js: jetstream::Context,
    store: Store,
    replicas: usize,
    pub spec: RunSpec,
    /// Segments enqueued that need more context than a `--num-ctx` given,
    /// and the most any of them needs.
    pub too_long: (u64, u32),
}

impl Keeper {
    /// The run's spec, recorded from `local` when there is none yet; an error
    /// when `local` gives a setting the recorded spec does not have.
    pub async fn settle(
        js: &jetstream::Context,
        store: &Store,
        local: &LocalMining,
        command: &str,
    ) -> anyhow::Result<Self> {
        let replicas = replicas(js).await;
        let spec = match restore(js, store).await? {
            Some(current) => {
                let differ = local.disagreements(&current);
                anyhow::ensure!(
                    differ.is_empty(),
                    "the run's mining spec is already set (revision {}) and {}. To change it, run `coordinator \
                     respec` with these flags (it queues again what the change re-mines); otherwise leave them out",
                    current.revision,
                    differ.join("; ")
                );
                current
            }
            None => {
                let spec = local.new_spec(set_by(command), 0);
                mining_spec::check(&spec)?;
                spec_kv::record(js, &spec, replicas).await?;
                tracing::info!("recorded the run's mining spec: {}", spec.summary());
                spec
            }
        };
        if store.meta.spec()?.as_ref() != Some(&spec) {
            store.meta.set_spec(&spec)?;
        }
        Ok(Self { js: js.clone(), store: store.clone(), replicas, spec, too_long: (0, 0) })
    }

    /// Makes room in the context for a user message of `chars` characters
    /// (a segment about to be published): the context grows, as a new
    /// revision, unless it was given with `--num-ctx`; then the segment is
    /// counted in `too_long` (it will fail with its reason).
    pub async fn hold(&mut self, chars: u32) -> anyhow::Result<()> {
        if chars <= self.spec.longest_user_chars {
            return Ok(());
        }
        let mut next = self.spec.clone();
        next.longest_user_chars = chars;
        if next.num_ctx_fixed {
            let needed = mining_spec::context_needed(&next, chars);
            if needed > next.num_ctx {
                self.too_long = (self.too_long.0 + 1, self.too_long.1.max(needed));
                return Ok(());
            }
        }
        mining_spec::size_context(&mut next);
        if next.num_ctx != self.spec.num_ctx {
            next.revision += 1;
            next.set_by = set_by("enqueue (a longer segment)");
            next.set_at_ms = runtime::clock::unix_now_ms();
            tracing::info!(
                "the run's context grows from {} to {} tokens for a segment of {chars} characters (one model \
                 reload on each Ollama server)",
                self.spec.num_ctx,
                next.num_ctx
            );
        }
        spec_kv::record(&self.js, &next, self.replicas).await?;
        self.store.meta.set_spec(&next)?;
        self.spec = next;
        Ok(())
    }
}

/// The run's spec from NATS, else from the store, put back in NATS (a server
/// that lost its store keeps no bucket: the run's spec returns, rather than
/// one made from a command's defaults). `None`: no spec anywhere yet.
pub async fn restore(js: &jetstream::Context, store: &Store) -> anyhow::Result<Option<RunSpec>> {
    if let Some(spec) = fetch(js).await? {
        return Ok(Some(spec));
    }
    let Some(kept) = store.meta.spec()? else { return Ok(None) };
    spec_kv::record(js, &kept, replicas(js).await).await?;
    tracing::warn!("the NATS server had no mining spec: put back the run's from the store ({})", kept.summary());
    Ok(Some(kept))
}

/// What `respec` did (or, with `--dry-run`, would do).
#[derive(Debug)]
pub struct Respecced {
    pub before: RunSpec,
    pub after: RunSpec,
    /// Settled segments whose outcome is of another spec than `after`, queued again.
    pub requeued: u64,
    /// Of those, already on the queue.
    pub already_queued: u64,
}

/// `coordinator respec`: the run's spec with `local`'s flags put in, recorded
/// (a new revision, when anything changes), and every settled segment whose
/// outcome is of another spec queued again. Their outcomes stay in the output
/// until the new ones replace them. Also the way to queue again segments a
/// worker mined with other settings (run it with no flag).
pub async fn respec(
    js: &jetstream::Context,
    store: &Store,
    local: &LocalMining,
    dry_run: bool,
) -> anyhow::Result<Respecced> {
    let in_nats = fetch(js).await?;
    let missing_in_nats = in_nats.is_none();
    let before = match in_nats {
        Some(spec) => spec,
        None => store
            .meta
            .spec()?
            .context("no mining spec is recorded for this run: `coordinator enqueue CORPUS` records the first")?,
    };
    let mut after = local.over(&before);
    mining_spec::check(&after)?;
    if dry_run {
        let (scan, next) = (store.clone(), after.mining_spec());
        let superseded = tokio::task::spawn_blocking(move || scan.outcomes.not_of_spec(&next, |_| Ok(()))).await??;
        return Ok(Respecced { before, after, requeued: superseded.total(), already_queued: 0 });
    }
    if !mining_spec::differences(&before, &after).is_empty() {
        after.revision = before.revision + 1;
        after.set_by = set_by("respec");
        after.set_at_ms = runtime::clock::unix_now_ms();
        spec_kv::record(js, &after, replicas(js).await).await?;
    } else if missing_in_nats {
        spec_kv::record(js, &after, replicas(js).await).await?;
    }
    store.meta.set_spec(&after)?;
    // The store is read on a blocking thread, an episode at a time, while the tasks go out.
    let (episodes, mut received) = tokio::sync::mpsc::channel::<Vec<Task>>(EPISODES_AHEAD);
    let (scan, current) = (store.clone(), after.mining_spec());
    let scanning = tokio::task::spawn_blocking(move || {
        scan.recount_superseded(&current, |tasks| {
            episodes.blocking_send(tasks).map_err(|_| anyhow::anyhow!("queuing again stopped"))
        })
    });
    let mut requeue = Requeue::new(js, after.answers);
    while let Some(tasks) = received.recv().await {
        requeue.episode(store, tasks).await?;
    }
    scanning.await??;
    let (requeued, already_queued) = requeue.finish().await?;
    store.flush().await?;
    Ok(Respecced { before, after, requeued, already_queued })
}

/// Episodes read ahead of the publisher while queuing again.
const EPISODES_AHEAD: usize = 16;

/// Puts tasks back on the queue, each with a new generation (a fresh message
/// id); one still queued stays as it is.
pub struct Requeue {
    publisher: Publisher,
    /// The run's answer mode: compact tasks go with their cue marks.
    answers: AnswerMode,
    queued: u64,
    already: u64,
}

impl Requeue {
    pub fn new(js: &jetstream::Context, answers: AnswerMode) -> Self {
        Self { publisher: Publisher::new(js.clone()), answers, queued: 0, already: 0 }
    }

    /// Queues again `tasks`, all of one episode (one write of its generations).
    pub async fn episode(&mut self, store: &Store, mut tasks: Vec<Task>) -> anyhow::Result<()> {
        let Some(first) = tasks.first() else { return Ok(()) };
        let indices: Vec<u32> = tasks.iter().map(|task| task.segment.index).collect();
        let episode = first.segment.episode.clone();
        let generations = store.episodes.bump_generations(&episode, &indices)?;
        let cues = stored_cues(store, self.answers, &episode)?;
        for (task, generation) in tasks.iter_mut().zip(generations) {
            task.generation = generation;
            let outgoing = OutgoingTask::encode(task, cues_for(self.answers, &cues, task.segment.index))?;
            for (_, acked) in self.publisher.publish(0, &outgoing).await? {
                self.count(acked)?;
            }
        }
        Ok(())
    }

    /// Waits for every PubAck; returns (queued, already queued).
    pub async fn finish(mut self) -> anyhow::Result<(u64, u64)> {
        while let Some((_, acked)) = self.publisher.next_ack().await {
            self.count(acked)?;
        }
        Ok((self.queued, self.already))
    }

    fn count(&mut self, acked: Acked) -> anyhow::Result<()> {
        match acked {
            Acked::Stored => self.queued += 1,
            Acked::AlreadyQueued => self.already += 1,
            Acked::Refused(why) => {
                anyhow::bail!("the server refused a task queued again: {why}; run the command again")
            }
        }
        Ok(())
    }
}

async fn fetch(js: &jetstream::Context) -> anyhow::Result<Option<RunSpec>> {
    spec_kv::fetch(js).await.map_err(anyhow::Error::from)
}

/// Copies of the spec bucket: as many as the task stream has.
async fn replicas(js: &jetstream::Context) -> usize {
    match js.get_stream(protocol::streams::TASKS).await {
        Ok(stream) => stream.cached_info().config.num_replicas.max(1),
        Err(_) => 1,
    }
}

fn set_by(command: &str) -> String {
    format!("coordinator {command} on {}", gethostname::gethostname().to_string_lossy())
}
