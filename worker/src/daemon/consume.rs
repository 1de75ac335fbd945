//! The consume loop: pull one task per free LLM slot (one pull asks for all
//! the free slots), mine it while telling the server it is still being worked
//! on, and settle it.
//!
//! Settling: a result goes to the outbox, is published (PubAck awaited), and
//! only then is the task acked (`double_ack`). A failure goes to FAILED, then
//! the task is termed. A task handed back (LLM unavailable) is Nak'ed with a
//! delay; on its final delivery it becomes a failure instead. A missing model
//! pauses pulling until a health check finds it; the tasks in hand wait
//! (with progress) and are mined when it appears: nothing is termed or failed.
//! Shutdown: stop pulling, let in-flight calls finish until the drain
//! deadline, Nak the rest, flush the outbox.
//!
//! NATS going away (a restart, a cluster electing a leader) pauses pulling
//! and publishing with backoff; a paid-for result is kept in the outbox and
//! published once the server answers, while progress keeps its task ours.

use super::mine::{Miner, Outcome};
use super::outbox::{Outbox, OutboxFull, Pending};
use super::retry::nak_delay;
use crate::observe::Counters;
use crate::settings::ConsumeSettings;
use anyhow::Context;
use async_nats::jetstream::{self, consumer::PullConsumer, AckKind};
use futures::StreamExt;
use protocol::task::CueMark;
use protocol::{codec, streams, subjects, Task};
use runtime::Outage;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// How long after the drain deadline a handler that has not finished is given up.
const ABANDON_AFTER_DEADLINE: Duration = Duration::from_secs(5);

/// Most tasks one pull asks for (the free slots, up to this).
const MAX_PULL: usize = 256;

/// How long a pull waits on the server for tasks before it is renewed.
const PULL_EXPIRY: Duration = Duration::from_secs(5);

/// Shared by the loop and every task handler.
struct Shared {
    miner: Miner,
    js: jetstream::Context,
    outbox: Outbox,
    settings: ConsumeSettings,
    counters: Arc<Counters>,
    /// `Some(reason)` while pulling is paused for a missing model.
    paused: watch::Sender<Option<String>>,
    /// Set when a task of a newer encoding version was met: this worker
    /// pulls no more until it is upgraded (a restart), whatever the LLM says.
    needs_upgrade: CancellationToken,
    /// Set when the outbox's disk is full: no more pulls; the loop drains and
    /// returns [`OutboxFull`] so the worker reopens the outbox once there is room.
    outbox_full: CancellationToken,
    /// Whether "the NATS server cannot store" was said for the current spell
    /// (once for all handlers; cleared when a result is stored again).
    server_cannot_store_said: std::sync::atomic::AtomicBool,
    /// Fires at the drain deadline: handlers Nak what they still hold.
    hard_stop: CancellationToken,
    /// Signalled when a handler settles its task (a slot is free).
    settled: tokio::sync::Notify,
    /// This session (one revision of the run's spec): cancelled when a
    /// handler finds that the spec moved on.
    session: CancellationToken,
    spec_check: super::spec_check::SpecCheck,
}

/// What one step of the pull loop did.
#[derive(Debug, PartialEq, Eq)]
pub enum Pulled {
    /// Handed this many tasks to handlers (0: the pull expired empty).
    Tasks(usize),
    /// The server did not answer the pull; it is asked again after backoff.
    Failed,
    /// No more pulls: the worker is stopping, its outbox's disk is full, or
    /// it met a task of a newer version (it then waited to be stopped).
    Stop,
}

pub async fn run(
    miner: Miner,
    js: jetstream::Context,
    outbox: Outbox,
    settings: ConsumeSettings,
    counters: Arc<Counters>,
    cancel: CancellationToken,
) -> anyhow::Result<()> {
    replay_outbox(&js, &outbox, &cancel).await?;
    let tasks =
        js.get_stream(streams::TASKS).await.context("the task stream is missing: run `coordinator enqueue` first")?;
    let consumer: PullConsumer = tasks
        .create_consumer(streams::workers_consumer(settings.ack_wait))
        .await
        .context("cannot create the workers' consumer")?;
    let spec_check = super::spec_check::SpecCheck::new(js.clone(), miner.mining.spec.revision);
    let shared = Arc::new(Shared {
        miner,
        js,
        outbox,
        settings,
        counters,
        paused: watch::channel(None).0,
        needs_upgrade: CancellationToken::new(),
        outbox_full: CancellationToken::new(),
        server_cannot_store_said: Default::default(),
        hard_stop: CancellationToken::new(),
        settled: tokio::sync::Notify::new(),
        session: cancel.clone(),
        spec_check,
    });
    let mut puller = Puller::new(shared, consumer, cancel);
    while puller.step().await != Pulled::Stop {}
    puller.drain().await
}

/// The pull loop's state: one [`Puller::step`] pulls once and hands what it
/// got to handlers; [`Puller::drain`] ends the loop.
struct Puller {
    shared: Arc<Shared>,
    consumer: PullConsumer,
    /// Every handler (and the model watcher), for the drain.
    tracker: TaskTracker,
    /// Ends with the pull loop, whatever ends it, so the drain waits only for handlers.
    pulling: CancellationToken,
    limiter: Option<super::limits::Limiter>,
    outage: Outage,
    cancel: CancellationToken,
}

impl Puller {
    fn new(shared: Arc<Shared>, consumer: PullConsumer, cancel: CancellationToken) -> Self {
        let tracker = TaskTracker::new();
        let pulling = cancel.child_token();
        tracker.spawn(watch_model(shared.clone(), pulling.clone()));
        let limiter = shared.settings.rate.and_then(super::limits::rate_limiter);
        Self { shared, consumer, tracker, pulling, limiter, outage: Outage::new("pulling tasks"), cancel }
    }

    /// Waits for a free call slot, pulls as many tasks as are free (one per
    /// permit under a rate cap), and spawns a handler for each.
    async fn step(&mut self) -> Pulled {
        let Some(free) = self.free_slots().await else { return Pulled::Stop };
        if self.shared.outbox_full.is_cancelled() || !wait_unpaused(&self.shared, &self.cancel).await {
            return Pulled::Stop;
        }
        if self.shared.needs_upgrade.is_cancelled() {
            // No more pulls; what is in hand finishes. Stay up until stopped,
            // so launchd does not restart an old binary into the same task.
            self.cancel.cancelled().await;
            return Pulled::Stop;
        }
        // A rate cap hands out one task per permit; otherwise one pull asks
        // for every free slot at once (one round trip, not one per slot).
        let wanted = match &self.limiter {
            Some(limiter) => tokio::select! {
                _ = self.cancel.cancelled() => return Pulled::Stop,
                _ = limiter.until_ready() => 1,
            },
            None => free.min(MAX_PULL),
        };
        let mut batch = tokio::select! {
            _ = self.cancel.cancelled() => return Pulled::Stop,
            _ = self.shared.outbox_full.cancelled() => return Pulled::Stop,
            batch = self.consumer.batch().max_messages(wanted).expires(PULL_EXPIRY).messages() => match batch {
                Ok(batch) => batch,
                Err(err) => {
                    self.outage.failed(&err.to_string()).await;
                    return Pulled::Failed;
                }
            },
        };
        let mut handed = 0;
        loop {
            let message = tokio::select! {
                _ = self.cancel.cancelled() => return Pulled::Stop,
                message = batch.next() => message,
            };
            match message {
                Some(Ok(message)) => {
                    self.outage.recovered();
                    self.spawn_handler(message);
                    handed += 1;
                }
                Some(Err(err)) => {
                    self.outage.failed(&err.to_string()).await;
                    return Pulled::Failed;
                }
                None => {
                    self.outage.recovered(); // the server answered: the pull is complete or expired
                    return Pulled::Tasks(handed);
                }
            }
        }
    }

    /// Call slots the endpoints allow now (auto moves it), once one is free;
    /// `None` when the worker is stopping.
    async fn free_slots(&self) -> Option<usize> {
        let shared = &self.shared;
        loop {
            let settled = shared.settled.notified();
            let free = shared.miner.llm.capacity().saturating_sub(shared.counters.in_flight.load(Ordering::SeqCst));
            if self.cancel.is_cancelled() {
                return None;
            }
            if free > 0 {
                return Some(free);
            }
            tokio::select! {
                _ = self.cancel.cancelled() => return None,
                _ = settled => {}
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
    }

    fn spawn_handler(&self, message: jetstream::Message) {
        let shared = self.shared.clone();
        shared.counters.in_flight.fetch_add(1, Ordering::SeqCst);
        self.tracker.spawn(async move {
            // A handler reacts to the drain deadline itself; one stuck in a step
            // that cannot (a disk or server that stopped answering) is given up
            // a little later, so a stop never waits forever: its task is redelivered.
            let abandoned = async {
                shared.hard_stop.cancelled().await;
                tokio::time::sleep(ABANDON_AFTER_DEADLINE).await;
            };
            let settled = tokio::select! {
                settled = handle(&shared, message, &shared.hard_stop) => settled,
                _ = abandoned => Err(anyhow::anyhow!("still settling at the drain deadline")),
            };
            if let Err(err) = settled {
                tracing::error!(error = format!("{err:#}"), "could not settle a task; the server will redeliver it");
            }
            shared.counters.in_flight.fetch_sub(1, Ordering::SeqCst);
            shared.settled.notify_waiters();
        });
    }

    /// No more pulls: lets the handlers finish until the drain deadline, then
    /// has them hand back what they hold, and flushes the outbox.
    async fn drain(self) -> anyhow::Result<()> {
        let (shared, tracker) = (self.shared, self.tracker);
        let drain_timeout = shared.settings.drain_timeout;
        self.pulling.cancel();
        tracker.close();
        tracing::info!(in_flight = tracker.len(), drain = ?drain_timeout, "stopping: no more pulls, draining");
        if tokio::time::timeout(drain_timeout, tracker.wait()).await.is_err() {
            tracing::warn!("drain deadline reached: handing unfinished tasks back to the server");
            shared.hard_stop.cancel();
            tracker.wait().await;
        }
        if shared.outbox_full.is_cancelled() {
            return Err(OutboxFull(shared.outbox.path().to_path_buf()).into());
        }
        shared.outbox.flush().await
    }
}

/// Waits while pulling is paused; false when the worker is stopping.
async fn wait_unpaused(shared: &Shared, cancel: &CancellationToken) -> bool {
    let mut paused = shared.paused.subscribe();
    loop {
        if paused.borrow_and_update().is_none() {
            return true;
        }
        tokio::select! {
            _ = cancel.cancelled() => return false,
            changed = paused.changed() => if changed.is_err() { return false },
        }
    }
}

/// While paused, checks for the model every `health_interval` and resumes.
async fn watch_model(shared: Arc<Shared>, cancel: CancellationToken) {
    let mut paused = shared.paused.subscribe();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            changed = paused.changed() => if changed.is_err() { return },
        }
        while paused.borrow_and_update().is_some() {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(shared.settings.health_interval) => {}
            }
            match shared.miner.llm.check_model().await {
                Ok(()) => {
                    tracing::warn!(model = %shared.miner.llm.primary().model, "the model is available again: resuming");
                    shared.paused.send_replace(None);
                }
                Err(err) => tracing::debug!(error = %err, "model still unavailable"),
            }
        }
    }
}

/// Mines and settles one delivered task.
async fn handle(shared: &Shared, message: jetstream::Message, hard_stop: &CancellationToken) -> anyhow::Result<()> {
    let delivery = message.info().map_err(anyhow::Error::from_boxed).context("a task without delivery info")?;
    let delivery = delivery.delivered.max(1) as u64;
    let (task, cues) = match protocol::task::decode_task(&message.payload) {
        Ok(decoded) => decoded,
        Err(err @ codec::CodecError::UnknownVersion(_)) => {
            if !shared.needs_upgrade.is_cancelled() {
                tracing::error!(
                    subject = %message.subject,
                    "{err}: upgrade this worker. It pulls no more tasks and hands this one back for an \
                     upgraded worker; nothing is lost"
                );
                shared.needs_upgrade.cancel();
            }
            return nak(&message, Duration::ZERO).await;
        }
        Err(err) => {
            tracing::error!(subject = %message.subject, error = %err, "undecodable task: terminating it (upgrade podmine?)");
            message.ack_with(AckKind::Term).await.map_err(anyhow::Error::from_boxed).context("term failed")?;
            return Ok(());
        }
    };
    let span = tracing::info_span!("task", segment = %task.segment.key(), delivery);
    settle(shared, &message, &task, &cues, delivery, hard_stop).instrument(span).await
}

async fn settle(
    shared: &Shared,
    message: &jetstream::Message,
    task: &Task,
    cues: &[CueMark],
    delivery: u64,
    hard_stop: &CancellationToken,
) -> anyhow::Result<()> {
    // A result this worker paid for but could not publish (NATS was away): publish it now.
    let result_id = protocol::SegmentResult::message_id_for(&shared.miner.work_key(task));
    if let Some(pending) = shared.outbox.get(&result_id)? {
        publish_holding(shared, message, &pending, hard_stop).await?;
        shared.outbox.remove(&pending.message_id).await?;
        return message.double_ack().await.map_err(anyhow::Error::from_boxed).context("ack failed");
    }
    // A task queued again by `respec` is published after the new spec: one
    // pulled by a session of the old spec must not be settled with it.
    if spec_moved_on(shared).await {
        return nak(message, Duration::ZERO).await;
    }
    let heartbeat = shared.settings.ack_wait / 3;
    loop {
        let mine = shared.miner.mine(task, cues, delivery);
        tokio::pin!(mine);
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
        let outcome = loop {
            tokio::select! {
                outcome = &mut mine => break Some(outcome),
                _ = ticker.tick() => progress(message).await,
                _ = hard_stop.cancelled() => break None,
            }
        };
        let Some(outcome) = outcome else {
            return nak(message, Duration::ZERO).await;
        };
        match outcome {
            Outcome::Mined(result) => return deliver(shared, message, &result, hard_stop).await,
            Outcome::AlreadyDone => {
                if spec_moved_on(shared).await {
                    return nak(message, Duration::ZERO).await;
                }
                message.double_ack().await.map_err(anyhow::Error::from_boxed).context("ack failed")?;
                return Ok(());
            }
            Outcome::Failed(failure) => return fail(shared, message, &failure, hard_stop).await,
            Outcome::Retry(reason) if delivery >= streams::MAX_DELIVER as u64 => {
                let failure = shared.miner.gave_up(task, reason, delivery);
                return fail(shared, message, &failure, hard_stop).await;
            }
            Outcome::Retry(reason) => {
                let delay = nak_delay(delivery);
                tracing::warn!(%reason, redeliver_in = ?delay, "LLM unavailable: handing the task back");
                shared.counters.retried.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return nak(message, delay).await;
            }
            Outcome::ModelMissing(reason) => {
                if shared.paused.send_replace(Some(reason.clone())).is_none() {
                    tracing::error!(
                        "{reason}. Pulling is paused; checking again every {:?}.",
                        shared.settings.health_interval
                    );
                }
                // Hold the task (with progress) until the model is back, then mine it again.
                let mut paused = shared.paused.subscribe();
                while paused.borrow_and_update().is_some() {
                    tokio::select! {
                        _ = hard_stop.cancelled() => return nak(message, Duration::ZERO).await,
                        _ = tokio::time::sleep(heartbeat) => progress(message).await,
                        _ = paused.changed() => {}
                    }
                }
            }
        }
    }
}

/// A mined result: into the outbox, published (held until the server takes
/// it), out of the outbox, then the task acked (or handed back when the
/// spec moved on meanwhile: the answer is kept, the task mined again).
async fn deliver(
    shared: &Shared,
    message: &jetstream::Message,
    result: &protocol::SegmentResult,
    hard_stop: &CancellationToken,
) -> anyhow::Result<()> {
    let pending = Pending {
        subject: subjects::result(&result.task.segment.key()),
        message_id: result.message_id(),
        payload: codec::encode(result)?,
    };
    let kept = match shared.outbox.put(&pending).await {
        Ok(()) => true,
        Err(err) if runtime::full_disk::is_full(&err) => {
            outbox_full(shared);
            false // Published straight away instead: the answer is paid for.
        }
        Err(err) => return Err(err),
    };
    pause_for_test(shared.settings.pause_before_publish.as_deref(), &pending).await?;
    publish_holding(shared, message, &pending, hard_stop).await?;
    if kept {
        shared.outbox.remove(&pending.message_id).await?;
    }
    pause_for_test(shared.settings.pause_before_ack.as_deref(), &pending).await?;
    shared.counters.add_mined(&result.provenance.usage);
    if spec_moved_on(shared).await {
        return nak(message, Duration::ZERO).await;
    }
    message.double_ack().await.map_err(anyhow::Error::from_boxed).context("ack failed")
}

/// Whether the run's spec is no longer the one this session mines with (one
/// KV read); if so, the session ends (it drains, and the next starts with the
/// new spec). NATS away: it cannot tell, and the settle that follows waits anyway.
async fn spec_moved_on(shared: &Shared) -> bool {
    if shared.session.is_cancelled() {
        return true;
    }
    let moved_on = shared.spec_check.moved_on().await;
    if moved_on {
        tracing::info!("the run's mining spec changed: this task goes back to be mined with it");
        shared.session.cancel();
    }
    moved_on
}

/// The outbox's disk is full: say so once, stop pulling (the loop drains and
/// the worker waits for space, then reopens the outbox).
fn outbox_full(shared: &Shared) {
    if !shared.outbox_full.is_cancelled() {
        tracing::error!(
            "no space left on the disk of the worker outbox at {}: this worker stops pulling tasks; the answers it \
             holds are published directly, the rest of its tasks go back to the queue. Free space there (or give it \
             another --data-dir); it resumes by itself",
            shared.outbox.path().display()
        );
        shared.outbox_full.cancel();
    }
}

/// A test hook's pause: write `marker` and wait to be killed.
async fn pause_for_test(marker: Option<&std::path::Path>, pending: &Pending) -> anyhow::Result<()> {
    if let Some(marker) = marker {
        std::fs::write(marker, &pending.message_id)?;
        std::future::pending::<()>().await;
    }
    Ok(())
}

async fn progress(message: &jetstream::Message) {
    if let Err(err) = message.ack_with(AckKind::Progress).await {
        tracing::warn!(error = %err, "could not send progress for a task");
    }
}

async fn nak(message: &jetstream::Message, delay: Duration) -> anyhow::Result<()> {
    let delay = (!delay.is_zero()).then_some(delay);
    message.ack_with(AckKind::Nak(delay)).await.map_err(anyhow::Error::from_boxed).context("nak failed")
}

async fn fail(
    shared: &Shared,
    message: &jetstream::Message,
    failure: &protocol::FailureRecord,
    hard_stop: &CancellationToken,
) -> anyhow::Result<()> {
    tracing::warn!(kind = %failure.kind, reason = %failure.reason, "segment failed: recording it as a dead letter");
    let pending = Pending {
        subject: subjects::failed(&failure.task.segment.key()),
        message_id: failure.message_id(),
        payload: failure.encode()?,
    };
    publish_holding(shared, message, &pending, hard_stop).await?;
    message.ack_with(AckKind::Term).await.map_err(anyhow::Error::from_boxed).context("term failed")?;
    shared.counters.failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

/// Publishes and waits for the PubAck (a duplicate is as good as stored).
async fn publish(js: &jetstream::Context, pending: &Pending) -> anyhow::Result<()> {
    let message = jetstream::message::PublishMessage::build()
        .payload(pending.payload.clone().into())
        .message_id(&pending.message_id);
    js.send_publish(pending.subject.clone(), message)
        .await
        .context("cannot publish")?
        .await
        .with_context(|| format!("no PubAck for {}", pending.message_id))?;
    Ok(())
}

/// Publishes until the server stores it, keeping `message`'s task ours with
/// progress meanwhile. Gives up only at the drain deadline (the result stays
/// in the outbox for the next start; the task is redelivered).
async fn publish_holding(
    shared: &Shared,
    message: &jetstream::Message,
    pending: &Pending,
    hard_stop: &CancellationToken,
) -> anyhow::Result<()> {
    let mut outage = Outage::new("publishing a result");
    let mut last_progress = tokio::time::Instant::now();
    loop {
        match publish(&shared.js, pending).await {
            Ok(()) => {
                outage.recovered();
                shared.server_cannot_store_said.store(false, Ordering::Relaxed);
                return Ok(());
            }
            Err(err) if hard_stop.is_cancelled() => return Err(err),
            Err(err) => {
                if last_progress.elapsed() >= shared.settings.ack_wait / 3 {
                    progress(message).await;
                    last_progress = tokio::time::Instant::now();
                }
                let error = format!("{err:#}");
                if !outage.ongoing()
                    && !shared.server_cannot_store_said.load(Ordering::Relaxed)
                    && server_answers_but_does_not_store(&shared.js).await
                    && !shared.server_cannot_store_said.swap(true, Ordering::Relaxed)
                {
                    tracing::error!(
                        "the NATS server cannot store results: it answers, but gives no PubAck ({error}). Its store \
                         disk is probably full (nats-server's log says \"no space left on device\"): free space on \
                         the disk of its store dir, then restart nats-server (JetStream does not recover from a full \
                         disk by itself). This worker holds its answers in its outbox and pulls nothing new meanwhile; \
                         nothing is lost"
                    );
                }
                tokio::select! {
                    _ = outage.failed(&error) => {}
                    _ = hard_stop.cancelled() => {}
                }
            }
        }
    }
}

/// A PubAck timed out, yet the server answers a JetStream API request: it is
/// up but does not store (a full store disk, typically), rather than away.
async fn server_answers_but_does_not_store(js: &jetstream::Context) -> bool {
    tokio::time::timeout(Duration::from_secs(2), js.query_account()).await.is_ok_and(|answer| answer.is_ok())
}

/// Publishes what a previous run paid for but could not confirm.
async fn replay_outbox(js: &jetstream::Context, outbox: &Outbox, cancel: &CancellationToken) -> anyhow::Result<()> {
    let pending = outbox.pending()?;
    if !pending.is_empty() {
        tracing::warn!(results = pending.len(), "publishing results left in the outbox by the last run");
    }
    let mut outage = Outage::new("publishing the outbox");
    for item in pending {
        while let Err(err) = publish(js, &item).await {
            if cancel.is_cancelled() {
                return Err(err);
            }
            outage.failed(&format!("{err:#}")).await;
        }
        outage.recovered();
        outbox.remove(&item.message_id).await?;
    }
    outbox.flush().await
}
