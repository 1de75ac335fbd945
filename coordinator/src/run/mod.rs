//! `coordinator run`: one machine, one command. Finds or starts NATS, checks
//! the LLM answers, enqueues, runs a local worker and the collector, shows
//! progress, and returns when every segment is settled. Interrupted (Ctrl-C
//! or a crash), it leaves everything resumable: run it again to continue.

//!
//! The one place the coordinator and the worker meet: the local worker runs
//! in this process with typed [`worker::Settings`] and the coordinator's own
//! NATS connection, through the same `worker::run` the daemon calls.

mod command;
mod embedded;

pub use command::{execute, worker_flags_inline, RunArgs};

use crate::collect::{self, CollectSettings};
use crate::enqueue::{self, EnqueueSettings, Target};
use crate::store::Store;
use anyhow::Context;
use embedded::EmbeddedNats;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long the local worker may take to stop once every segment is settled.
const WORKER_STOP: Duration = Duration::from_secs(10);

/// The NATS URL tried when `--nats` is not given.
pub const DEFAULT_NATS: &str = "nats://127.0.0.1:4222";

#[derive(Clone, Debug)]
pub struct RunSettings {
    pub corpus: PathBuf,
    pub out: PathBuf,
    pub data_dir: PathBuf,
    pub nats: Option<String>,
    pub nats_auth: protocol::connect::NatsAuth,
    pub segment_seconds: u64,
    /// Whether episode files keep ungrounded items (flagged) or drop them.
    pub ungrounded: protocol::output::UngroundedItems,
    /// How the local worker mines.
    pub worker: worker::Settings,
    /// Where to serve the live dashboard (`--dashboard`), if anywhere.
    pub dashboard: Option<crate::dashboard::DashboardSettings>,
}

/// How a run ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    Settled { done: u64, failed: u64 },
    Interrupted,
}

pub async fn run(settings: RunSettings, store: Store, cancel: CancellationToken) -> anyhow::Result<Ended> {
    let (_embedded, js) = nats(&settings).await?;
    let dashboard_store = match &settings.dashboard {
        Some(dashboard) => {
            let slot = crate::store::StoreSlot::default();
            slot.set(Some(store.clone()));
            let serving = crate::dashboard::serve(dashboard, slot.clone(), Some(js.clone()), cancel.clone()).await?;
            eprintln!("run: dashboard at {}", serving.url);
            Some(slot)
        }
        None => None,
    };
    // The run's spec (recorded from the flags the first time) names the model to check.
    let spec = crate::spec::Keeper::settle(&js, &store, &settings.worker.mining, "run").await?;
    worker::check_llm(&settings.worker, &mining::Mining::new(spec.spec)).await?;
    let summary = enqueue::run(
        EnqueueSettings {
            corpus: settings.corpus.clone(),
            segment_seconds: settings.segment_seconds,
            mining: settings.worker.mining.clone(),
        },
        Target::Server { js: js.clone(), store: store.clone() },
    )
    .await?;
    eprint!("{summary}");
    let worker_dir = settings.data_dir.join("worker");
    let connections = worker::Connections {
        js: js.clone(),
        outbox: worker::Outbox::open(&worker_dir)
            .with_context(|| format!("cannot open the local worker's outbox in {}", worker_dir.display()))?,
    };
    let worker_cancel = CancellationToken::new();
    let worker = tokio::spawn(worker::run(settings.worker.clone(), connections, worker_cancel.clone()));
    let progress = tokio::spawn(show_progress(store.clone(), cancel.clone()));
    let snapshot = Some(settings.data_dir.join("status.json"));
    let collect_settings = CollectSettings {
        out: settings.out.clone(),
        follow: false,
        snapshot,
        ungrounded: settings.ungrounded,
        dashboard_store: dashboard_store.clone(),
    };
    let mut worker = worker;
    let collecting = collect::run(&js, &store, &collect_settings, &cancel);
    tokio::pin!(collecting);
    let (collected, worker_result) = tokio::select! {
        collected = &mut collecting => {
            // Everything is settled: what the worker still holds is redundant, so it
            // gets a short while to stop, not its whole drain.
            worker_cancel.cancel();
            match tokio::time::timeout(WORKER_STOP, &mut worker).await {
                Ok(stopped) => (collected, stopped.context("the local worker panicked")?),
                Err(_) => {
                    tracing::warn!("the local worker did not stop within {WORKER_STOP:?}: left behind (its tasks go back to the queue)");
                    worker.abort();
                    (collected, Ok(()))
                }
            }
        }
        stopped = &mut worker => {
            cancel.cancel();
            let stopped = stopped.context("the local worker panicked")?;
            (collecting.await, stopped.and_then(|()| Err(anyhow::anyhow!("the local worker stopped early"))))
        }
    };
    progress.abort();
    worker_result.context("the local worker failed")?;
    collected?;
    store.flush().await?;
    if let Some(slot) = &dashboard_store {
        slot.set(None); // the process ends: the page says the store is closed
    }
    if cancel.is_cancelled() {
        return Ok(Ended::Interrupted);
    }
    let (done, failed) = store.meta.settled_of_spec()?;
    Ok(Ended::Settled { done, failed })
}

/// NATS at `--nats`, else a server answering on 127.0.0.1:4222, else an
/// embedded one (kept running while the first value lives).
async fn nats(settings: &RunSettings) -> anyhow::Result<(Option<EmbeddedNats>, async_nats::jetstream::Context)> {
    let (embedded, url) = match &settings.nats {
        Some(url) => (None, url.clone()),
        None if embedded::answers(DEFAULT_NATS).await => (None, DEFAULT_NATS.to_owned()),
        None => {
            let server = EmbeddedNats::start_or_reuse(&settings.data_dir).await?;
            eprintln!(
                "run: using the embedded nats-server at {} (store in {})",
                server.url,
                settings.data_dir.display()
            );
            let url = server.url.clone();
            (Some(server), url)
        }
    };
    let nats = protocol::connect::NatsArgs { url, auth: settings.nats_auth.clone(), env_file: None };
    Ok((embedded, crate::nats::connect(&nats).await?))
}

/// A bar of settled segments, with the rate and ETA `status` would show.
async fn show_progress(store: Store, cancel: CancellationToken) {
    let bar = ProgressBar::new(store.meta.totals().map(|t| t.segments).unwrap_or(0));
    bar.set_style(
        ProgressStyle::with_template("run [{elapsed_precise}] {wide_bar} {pos}/{len} segments  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut last_line = std::time::Instant::now();
    while !cancel.is_cancelled() {
        if let (Ok(totals), Ok((mined, failed))) = (store.meta.totals(), store.meta.settled_of_spec()) {
            bar.set_length(totals.segments);
            bar.set_position(mined + failed);
            bar.set_message(format!("{failed} failed"));
            if bar.is_hidden() && last_line.elapsed() >= Duration::from_secs(10) {
                last_line = std::time::Instant::now();
                eprintln!("run: {}/{} segments settled, {failed} failed", mined + failed, totals.segments);
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    bar.finish_and_clear();
}
