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
//! - [`endpoints`]: one or more LLM servers, routing, per-server limits;
//!   [`tune`]: `--concurrency auto`, finding each server's best point.
//! - [`metrics`]: Prometheus text metrics; [`bench`]: `worker bench`.
//! - [`prompt`]: default prompt and schema, hashes, context sizing.
//! - [`repair`]: validation and repair of the model's JSON.
//! - [`retry`]: backoff delays (the only module naming `backoff`).
//! - [`limits`]: request-rate cap (the only module naming `governor`).
//! - [`outbox`]: results not yet published (the only module naming sled).
//! - [`outage`]: waiting out NATS outages with backoff and few log lines.
//! - [`shutdown`]: SIGTERM/SIGINT as a graceful stop.
//! - [`liveness`]: the worker's record in the KV bucket `status` reads.

pub mod bench;
pub mod cli;
pub mod consume;
pub mod endpoints;
pub mod limits;
pub mod liveness;
pub mod llm;
pub mod metrics;
pub mod mine;
pub mod outage;
pub mod outbox;
pub mod prompt;
pub mod repair;
pub mod retry;
pub mod shutdown;
pub mod tune;

use anyhow::Context;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Runs the worker until `cancel` fires; returns after draining.
pub async fn run(args: cli::RunArgs, cancel: CancellationToken) -> anyhow::Result<()> {
    let prompt = load_prompt(args.prompt.as_deref(), args.schema.as_deref())?;
    let generation =
        llm::Generation { num_predict: args.num_predict, temperature: args.temperature, keep_alive: "1h".into() };
    let clients = args
        .llm
        .iter()
        .map(|url| {
            llm::LlmClient::new(
                &cli::endpoint_url(url),
                args.api,
                &args.model,
                generation.clone(),
                args.request_timeout,
            )
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    anyhow::ensure!(!clients.is_empty(), "no --llm given");
    let endpoint = clients.iter().map(|c| c.endpoint.clone()).collect::<Vec<_>>().join(",");
    let llm = Arc::new(endpoints::Endpoints::new(clients, args.concurrency, args.max_concurrency as usize));
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
    let miner = mine::Miner::new(llm.clone(), prompt, worker_id.clone(), results, counters.clone());
    let concurrency = match args.concurrency {
        endpoints::Concurrency::Auto => format!("auto (max {})", args.max_concurrency),
        endpoints::Concurrency::Fixed(n) => n.to_string(),
    };
    let identity = liveness::Identity { worker: worker_id, host, endpoint, model: args.model.clone(), concurrency };
    let beat_stop = CancellationToken::new();
    let beat = tokio::spawn(liveness::beat(js.clone(), identity, counters.clone(), llm.clone(), beat_stop.clone()));
    if args.metrics_addr != "off" {
        tokio::spawn(metrics::serve(args.metrics_addr.clone(), counters.clone(), llm.clone(), beat_stop.clone()));
    }
    let settings = consume::LoopSettings {
        rate: args.rate,
        ack_wait: args.ack_wait,
        drain_timeout: args.drain_timeout,
        health_interval: args.health_interval,
        pause_before_publish: args.test_pause_before_publish.clone(),
        pause_before_ack: args.test_pause_before_ack.clone(),
    };
    let result = consume::run(miner, js, outbox, settings, counters, cancel).await;
    beat_stop.cancel();
    let _ = beat.await;
    result
}

/// Fails at once, saying what to do, when no LLM answers or the model is missing
/// (`coordinator run` uses it; the daemon instead waits for the server).
pub async fn check_llm(args: &cli::RunArgs) -> anyhow::Result<()> {
    let endpoint = cli::endpoint_url(args.llm.first().map_or("", String::as_str));
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

/// The default miner prompt and schema, or the files given instead.
pub fn load_prompt(
    prompt_file: Option<&std::path::Path>,
    schema_file: Option<&std::path::Path>,
) -> anyhow::Result<prompt::Prompt> {
    let instructions = match prompt_file {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("cannot read --prompt {}", path.display()))?
        }
        None => prompt::DEFAULT_INSTRUCTIONS.to_owned(),
    };
    let schema = match schema_file {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("cannot read --schema {}", path.display()))?;
            serde_json::from_str(&text).with_context(|| format!("--schema {} is not valid JSON", path.display()))?
        }
        None => prompt::default_schema(),
    };
    Ok(prompt::Prompt::new(instructions, schema))
}

/// `worker bench`: the sweep with a progress bar, the table, the SVG.
pub async fn run_bench(args: cli::BenchArgs) -> anyhow::Result<()> {
    let prompt = load_prompt(args.prompt.as_deref(), args.schema.as_deref())?;
    let generation =
        llm::Generation { num_predict: args.num_predict, temperature: args.temperature, keep_alive: "1h".into() };
    let client =
        llm::LlmClient::new(&cli::endpoint_url(&args.llm), args.api, &args.model, generation, args.request_timeout)?;
    let (segments, title) = bench_segments(args.corpus.as_deref())?;
    let tasks = bench::tasks_from(segments, &title);
    let plan = bench::Plan {
        max_concurrency: args.max_concurrency.max(1),
        calls_per_step: args.calls_per_step,
        step_limit: args.step_limit,
    };
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}: {pos} calls")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let progress = |event: &str| match event {
        "call" => bar.inc(1),
        step => bar.set_message(format!("{} {}: {step}", args.model, client.endpoint)),
    };
    let report = bench::sweep(&client, &prompt, &tasks, &plan, &progress).await?;
    bar.finish_and_clear();
    print!("{}", bench::render(&report, &client));
    std::fs::write(&args.svg, bench::svg(&report, &client))
        .with_context(|| format!("cannot write {}", args.svg.display()))?;
    println!("chart: {}", args.svg.display());
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    Ok(())
}

/// Real segments for the bench: from a corpus folder, or the built-in episode.
fn bench_segments(corpus: Option<&std::path::Path>) -> anyhow::Result<(Vec<protocol::Segment>, String)> {
    use transcripts::{corpus as scan, segmenter, transcript};
    const WANTED: usize = 200;
    let mut segments = Vec::new();
    let title = match corpus {
        Some(root) => {
            let found = scan::scan(root).with_context(|| format!("cannot read the corpus {}", root.display()))?;
            for episode in &found.episodes {
                let Some(file) = episode.candidates.first() else { continue };
                let Ok(bytes) = std::fs::read(root.join(file)) else { continue };
                if let Ok(read) = transcript::read(file, &bytes) {
                    segments.extend(segmenter::segment(&episode.id, &read.cues, 30_000));
                }
                if segments.len() >= WANTED {
                    break;
                }
            }
            root.display().to_string()
        }
        None => {
            let id = protocol::EpisodeId::parse("bench/sample").context("sample id")?;
            let read = transcript::read(std::path::Path::new("sample.srt"), bench::SAMPLE_EPISODE.as_bytes())?;
            segments = segmenter::segment(&id, &read.cues, 30_000);
            "built-in sample episode".to_owned()
        }
    };
    anyhow::ensure!(!segments.is_empty(), "no readable transcript segments found");
    segments.truncate(WANTED);
    Ok((segments, title))
}
