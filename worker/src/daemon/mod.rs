//! The daemon half: [`run`] reads the run's mining spec (and refuses to pull
//! while this worker's own flags disagree with it), wires the pieces and
//! hands them to the consume loop, one session per spec revision; [`mine`]
//! is the step (one task → one outcome), [`consume`] the loop around it (pulls, heartbeats, settles, drains), [`outbox`] the results not
//! yet confirmed published, [`retry`] and [`limits`] its waits and caps,
//! `spec_check` whether the run's spec moved on under a session, [`awake`]
//! keeps the Mac awake while there are tasks in hand.

mod awake;
pub mod consume;
mod limits;
pub mod mine;
pub mod outbox;
mod retry;
mod spec_check;

use crate::observe::{liveness, metrics, Counters};
use crate::settings::Settings;
use anyhow::Context;
use mining::Mining;
use protocol::spec_kv::{self, KvError};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// What a worker talks to, made by the caller (`worker run`, `coordinator
/// run`, tests), as mini-redis's `server::run` takes its listener.
pub struct Connections {
    pub js: async_nats::jetstream::Context,
    pub outbox: outbox::Outbox,
}

/// Who this worker is, for its liveness record and its results.
struct Me {
    worker_id: String,
    host: String,
}

/// What every session of this worker shares: its settings, NATS, its
/// outbox, who it is and its counters.
struct Daemon<'a> {
    settings: &'a Settings,
    js: &'a async_nats::jetstream::Context,
    outbox: outbox::Outbox,
    me: Me,
    counters: Arc<Counters>,
}

/// Runs the worker until `cancel` fires; returns after draining. It mines
/// with the run's spec, in one session per revision: when the spec changes,
/// the session drains and the next one starts with the new spec.
pub async fn run(settings: Settings, connections: Connections, cancel: CancellationToken) -> anyhow::Result<()> {
    let Connections { js, outbox } = connections;
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let me = Me { worker_id: format!("{host}/{}", std::process::id()), host };
    let daemon = Daemon { settings: &settings, js: &js, outbox, me, counters: Arc::new(Counters::default()) };
    let awake = tokio::spawn(awake::while_busy(daemon.counters.clone(), cancel.clone()));
    let _release_on_return = AbortOnDrop(awake);
    loop {
        let Some(mining) = spec_to_mine_with(&daemon, &cancel).await else { return Ok(()) };
        let session = cancel.child_token();
        let watcher = tokio::spawn(end_on_spec_change(js.clone(), mining.spec.clone(), session.clone()));
        let ended = mine_session(&daemon, &mining, session).await;
        watcher.abort();
        ended?;
        if cancel.is_cancelled() {
            return Ok(());
        }
    }
}

/// Ends a spawned task when dropped (whatever way `run` returns).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The spec this worker mines with next: the run's, once its own flags agree
/// with it. While they do not, it says why (log and liveness) and waits for
/// the spec or its settings to change. `None`: stopped while waiting.
async fn spec_to_mine_with(daemon: &Daemon<'_>, cancel: &CancellationToken) -> Option<Mining> {
    let (settings, js, me, counters) = (daemon.settings, daemon.js, &daemon.me, &daemon.counters);
    let mut said = String::new();
    // Also what an older nats-server config looks like: its worker user may not read the spec.
    let mut outage = runtime::Outage::new(
        "reading the run's mining spec; if NATS otherwise answers, the worker's NATS user may lack the right \
         to read it: update the server's config from deploy/nats/users.conf and reload it",
    );
    let beat_stop = CancellationToken::new();
    let _stop_beat = beat_stop.clone().drop_guard();
    let mut beating = false;
    loop {
        let refusal = match spec_kv::fetch(js).await {
            Ok(Some(run_spec)) => {
                outage.recovered();
                let differ = settings.mining.disagreements(&run_spec);
                if differ.is_empty() {
                    counters.set_refused(None);
                    counters.spec_revision.store(run_spec.revision, Ordering::Relaxed);
                    tracing::info!("mining with the run's spec, {}", run_spec.summary());
                    return Some(Mining::new(run_spec));
                }
                format!(
                    "this worker's settings differ from the run's mining spec (revision {}): {}. It does not pull: \
                     remove these flags from its settings (launchd plist or command line; the worker takes every \
                     mining setting from the run) or change the run's spec with `coordinator respec`",
                    run_spec.revision,
                    differ.join("; ")
                )
            }
            Ok(None) => {
                outage.recovered();
                counters.set_refused(None);
                tracing::warn!(
                    "no mining spec is recorded in NATS (no `coordinator enqueue` yet, or a coordinator older than \
                     this worker): mining with this worker's own settings (podmine's defaults where none is given); \
                     upgrade the coordinator and run `coordinator enqueue` to give the fleet one spec"
                );
                let mut own = settings.mining.new_spec(format!("worker {} (no spec recorded)", me.worker_id), 0);
                own.revision = 0;
                return Some(Mining::new(own));
            }
            Err(KvError::Spec(err)) => err.to_string(),
            Err(KvError::Nats(err) | KvError::Record(err)) => {
                tokio::select! {
                    _ = cancel.cancelled() => return None,
                    _ = outage.failed(&err) => continue,
                }
            }
        };
        if !refusal.is_empty() {
            if refusal != said {
                tracing::error!("{refusal}");
                said = refusal.clone();
            }
            counters.set_refused(Some(refusal));
            if !beating {
                beating = true;
                let identity = identity(settings, me, settings.mining.model.clone().unwrap_or_default());
                tokio::spawn(liveness::beat(js.clone(), identity, counters.clone(), None, beat_stop.clone()));
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => return None,
            _ = tokio::time::sleep(protocol::spec::POLL) => {}
        }
    }
}

/// Cancels `session` when the run's spec is no longer `current`.
async fn end_on_spec_change(
    js: async_nats::jetstream::Context,
    current: protocol::spec::RunSpec,
    session: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = session.cancelled() => return,
            _ = tokio::time::sleep(protocol::spec::POLL) => {}
        }
        // NATS away or no spec (while mining with this worker's own): keep going.
        let Ok(Some(latest)) = spec_kv::fetch(&js).await else { continue };
        if latest != current {
            tracing::info!(
                "the run's mining spec changed ({}): finishing the calls in flight, then mining with it",
                latest.summary()
            );
            session.cancel();
            return;
        }
    }
}

/// One session: the LLM endpoints for `mining`'s model, liveness, metrics
/// and the consume loop, until `session` ends.
async fn mine_session(daemon: &Daemon<'_>, mining: &Mining, session: CancellationToken) -> anyhow::Result<()> {
    let (settings, js, me) = (daemon.settings, daemon.js, &daemon.me);
    let (outbox, counters) = (daemon.outbox.clone(), daemon.counters.clone());
    let llm = Arc::new(settings.llm_endpoints(mining)?);
    let endpoint = settings.endpoints.join(",");
    let model = &mining.spec.model;
    match llm.check_model().await {
        Ok(()) => tracing::info!(%endpoint, %model, "LLM server answers"),
        Err(err) if err.is_transient() => tracing::error!(
            %endpoint,
            "no LLM server answers ({}). Start Ollama (`ollama serve`, then `ollama pull {model}`) or pass --llm; \
             retrying with backoff meanwhile",
            err.detail,
        ),
        Err(err) => tracing::error!(%endpoint, "{err}"),
    }
    if settings.api == crate::llm::Api::Ollama {
        tracing::info!(
            "Ollama answers OLLAMA_NUM_PARALLEL requests at once (1 unless set): `--concurrency auto` finds no more \
             slots than that. Set it where Ollama starts (e.g. `launchctl setenv OLLAMA_NUM_PARALLEL 8`, then \
             restart Ollama); `worker bench` shows where throughput stops growing"
        );
    }
    let results = js.get_stream(protocol::streams::RESULTS).await.context("the results stream is missing")?;
    let miner = mine::Miner::new(llm.clone(), mining.clone(), me.worker_id.clone(), results, counters.clone());
    let identity = identity(settings, me, model.clone());
    let beat_stop = CancellationToken::new();
    let beat =
        tokio::spawn(liveness::beat(js.clone(), identity, counters.clone(), Some(llm.clone()), beat_stop.clone()));
    if let Some(addr) = &settings.metrics_addr {
        tokio::spawn(metrics::serve(addr.clone(), counters.clone(), llm.clone(), beat_stop.clone()));
    }
    let result = consume::run(miner, js.clone(), outbox, settings.consume.clone(), counters, session).await;
    beat_stop.cancel();
    let _ = beat.await;
    result
}

fn identity(settings: &Settings, me: &Me, model: String) -> protocol::liveness::Identity {
    protocol::liveness::Identity {
        worker: me.worker_id.clone(),
        host: me.host.clone(),
        endpoint: settings.endpoints.join(","),
        model,
        concurrency: settings.concurrency_label(),
    }
}

/// Fails at once, saying what to do, when no LLM answers or the model is missing
/// (`coordinator run` uses it; the daemon instead waits for the server).
pub async fn check_llm(settings: &Settings, mining: &Mining) -> anyhow::Result<()> {
    let endpoint = settings.endpoints.first().context("no --llm given")?;
    let client = settings.client(endpoint, mining, std::time::Duration::from_secs(10))?;
    match client.check_model().await {
        Ok(()) => Ok(()),
        Err(err) if err.is_transient() => anyhow::bail!(
            "no LLM server answers at {endpoint} ({}). Start Ollama (`ollama serve`) and pull the model \
             (`ollama pull {}`), or on a machine without Ollama run `deploy/real-llm.sh start` and pass the URL it \
             prints with --llm URL --api openai",
            err.detail,
            mining.spec.model
        ),
        Err(err) => anyhow::bail!("{err}"),
    }
}
