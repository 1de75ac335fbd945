//! The daemon half: [`run`] wires the pieces and hands them to the consume
//! loop; [`mine`] is the step (one task → one outcome), [`consume`] the loop
//! around it (pulls, heartbeats, settles, drains), [`outbox`] the results not
//! yet confirmed published, [`retry`] and [`limits`] its waits and caps.

pub mod consume;
mod limits;
pub mod mine;
pub mod outbox;
mod retry;

use crate::llm::endpoints::Endpoints;
use crate::observe::{liveness, metrics, Counters};
use crate::settings::Settings;
use anyhow::Context;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// What a worker talks to, made by the caller (`worker run`, `coordinator
/// run`, tests), as mini-redis's `server::run` takes its listener.
pub struct Connections {
    pub js: async_nats::jetstream::Context,
    pub outbox: outbox::Outbox,
    /// The LLM servers (see [`Settings::llm_endpoints`]).
    pub llm: Arc<Endpoints>,
}

/// Runs the worker until `cancel` fires; returns after draining.
pub async fn run(settings: Settings, connections: Connections, cancel: CancellationToken) -> anyhow::Result<()> {
    let Connections { js, outbox, llm } = connections;
    let endpoint = settings.endpoints.join(",");
    match llm.check_model().await {
        Ok(()) => tracing::info!(%endpoint, model = %settings.model, "LLM server answers"),
        Err(err) if err.is_transient() => tracing::error!(
            %endpoint,
            "no LLM server answers ({}). Start Ollama (`ollama serve`, then `ollama pull {}`) or pass --llm; \
             retrying with backoff meanwhile",
            err.detail,
            settings.model
        ),
        Err(err) => tracing::error!(%endpoint, "{err}"),
    }
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let worker_id = format!("{host}/{}", std::process::id());
    let results = js.get_stream(protocol::streams::RESULTS).await.context("the results stream is missing")?;
    let counters = Arc::new(Counters::default());
    let miner = mine::Miner::new(llm.clone(), settings.prompt.clone(), worker_id.clone(), results, counters.clone());
    let identity = protocol::liveness::Identity {
        worker: worker_id,
        host,
        endpoint,
        model: settings.model.clone(),
        concurrency: settings.concurrency_label(),
    };
    let beat_stop = CancellationToken::new();
    let beat = tokio::spawn(liveness::beat(js.clone(), identity, counters.clone(), llm.clone(), beat_stop.clone()));
    if let Some(addr) = &settings.metrics_addr {
        tokio::spawn(metrics::serve(addr.clone(), counters.clone(), llm.clone(), beat_stop.clone()));
    }
    let result = consume::run(miner, js, outbox, settings.consume, counters, cancel).await;
    beat_stop.cancel();
    let _ = beat.await;
    result
}

/// Fails at once, saying what to do, when no LLM answers or the model is missing
/// (`coordinator run` uses it; the daemon instead waits for the server).
pub async fn check_llm(settings: &Settings) -> anyhow::Result<()> {
    let endpoint = settings.endpoints.first().context("no --llm given")?;
    let client = settings.client(endpoint, std::time::Duration::from_secs(10))?;
    match client.check_model().await {
        Ok(()) => Ok(()),
        Err(err) if err.is_transient() => anyhow::bail!(
            "no LLM server answers at {endpoint} ({}). Start Ollama (`ollama serve`) and pull the model \
             (`ollama pull {}`), or on a machine without Ollama run `deploy/real-llm.sh start` and pass the URL it \
             prints with --llm URL --api openai",
            err.detail,
            settings.model
        ),
        Err(err) => anyhow::bail!("{err}"),
    }
}
