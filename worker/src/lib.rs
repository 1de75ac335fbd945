//! # worker: tasks in, mined results out
//!
//! ```text
//! TASKS ─pull (one per free slot)─▶ mine: prompt ▶ LLM (progress heartbeats) ▶ repair
//!   ─▶ outbox (sled) ─publish, PubAck─▶ RESULTS ─▶ double_ack task
//!   (unusable ▶ FAILED ▶ term; unavailable ▶ nak with delay; model missing ▶ pause)
//! ```
//!
//! ## Layout
//! - [`cli`]: flags; `main.rs` sets up logging and signals and calls [`run`].
//! - [`consume`]: the loop: pulls, heartbeats, settles, drains on shutdown.
//! - [`mine`]: the step: one task → one outcome (tests call it directly).
//! - [`llm`]: Ollama and OpenAI-compatible clients, error classification.
//! - [`prompt`]: default prompt and schema, hashes, context sizing.
//! - [`repair`]: validation and repair of the model's JSON.
//! - [`retry`]: backoff delays (the only module naming `backoff`).
//! - [`limits`]: request-rate cap (the only module naming `governor`).
//! - [`outbox`]: results not yet published (the only module naming sled).
//! - [`outage`]: waiting out NATS outages with backoff and few log lines.
//! - [`shutdown`]: SIGTERM/SIGINT as a graceful stop.
//! - [`liveness`]: the worker's record in the KV bucket `status` reads.

pub mod cli;
pub mod consume;
pub mod limits;
pub mod liveness;
pub mod llm;
pub mod mine;
pub mod outage;
pub mod outbox;
pub mod prompt;
pub mod repair;
pub mod retry;
pub mod shutdown;

use anyhow::Context;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Runs the worker until `cancel` fires; returns after draining.
pub async fn run(args: cli::RunArgs, cancel: CancellationToken) -> anyhow::Result<()> {
    let endpoint = cli::endpoint_url(&args.llm);
    let prompt = load_prompt(&args)?;
    let generation =
        llm::Generation { num_predict: args.num_predict, temperature: args.temperature, keep_alive: "1h".into() };
    let llm = llm::LlmClient::new(&endpoint, args.api, &args.model, generation, args.request_timeout)?;
    let js = protocol::connect::connect(&args.nats, "podmine-worker", protocol::connect::Role::Worker).await?;
    let outbox = outbox::Outbox::open(&args.data_dir)?;
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    let worker_id = format!("{host}/{}", std::process::id());
    match llm.check_model().await {
        Ok(()) => tracing::info!(%endpoint, model = %args.model, "LLM server answers"),
        Err(llm::LlmError::Transient(reason)) => tracing::error!(
            %endpoint,
            "no LLM server answers ({reason}). Start Ollama (`ollama serve`, then `ollama pull {}`) or pass --llm; \
             retrying with backoff meanwhile",
            args.model
        ),
        Err(err) => tracing::error!(%endpoint, "{err}"),
    }
    let results = js.get_stream(protocol::streams::RESULTS).await.context("the results stream is missing")?;
    let counters = Arc::new(liveness::Counters::default());
    let miner = mine::Miner::new(llm, prompt, worker_id.clone(), results, counters.clone());
    let identity = liveness::Identity {
        worker: worker_id,
        host,
        endpoint,
        model: args.model.clone(),
        concurrency: args.concurrency as usize,
    };
    let beat_stop = CancellationToken::new();
    let beat = tokio::spawn(liveness::beat(js.clone(), identity, counters.clone(), beat_stop.clone()));
    let settings = consume::LoopSettings {
        concurrency: args.concurrency as usize,
        rate: args.rate,
        ack_wait: args.ack_wait,
        drain_timeout: args.drain_timeout,
        health_interval: args.health_interval,
        pause_before_publish: args.test_pause_before_publish.clone(),
    };
    let result = consume::run(miner, js, outbox, settings, counters, cancel).await;
    beat_stop.cancel();
    let _ = beat.await;
    result
}

/// Fails at once, saying what to do, when no LLM answers or the model is missing
/// (`coordinator run` uses it; the daemon instead waits for the server).
pub async fn check_llm(args: &cli::RunArgs) -> anyhow::Result<()> {
    let endpoint = cli::endpoint_url(&args.llm);
    let generation =
        llm::Generation { num_predict: args.num_predict, temperature: args.temperature, keep_alive: "1h".into() };
    let client = llm::LlmClient::new(&endpoint, args.api, &args.model, generation, std::time::Duration::from_secs(10))?;
    match client.check_model().await {
        Ok(()) => Ok(()),
        Err(llm::LlmError::Transient(reason)) => anyhow::bail!(
            "no LLM server answers at {endpoint} ({reason}). Start Ollama (`ollama serve`) and pull the model \
             (`ollama pull {}`), or on a machine without Ollama run `deploy/real-llm.sh start` and pass the URL it \
             prints with --llm URL --api openai",
            args.model
        ),
        Err(err) => anyhow::bail!("{err}"),
    }
}

fn load_prompt(args: &cli::RunArgs) -> anyhow::Result<prompt::Prompt> {
    let instructions = match &args.prompt {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("cannot read --prompt {}", path.display()))?
        }
        None => prompt::DEFAULT_INSTRUCTIONS.to_owned(),
    };
    let schema = match &args.schema {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read --schema {}", path.display()))?;
            serde_json::from_str(&text).with_context(|| format!("--schema {} is not valid JSON", path.display()))?
        }
        None => prompt::default_schema(),
    };
    Ok(prompt::Prompt::new(instructions, schema))
}
