//! The command line of `worker`.

use crate::llm::Api;
use clap::{Args, Parser, Subcommand};
use protocol::spec::AnswerMode;
use std::path::PathBuf;
use std::time::Duration;

/// podmine worker: pulls segment tasks from NATS, mines them with a local LLM
/// server and publishes the results. Meant to run for weeks under launchd.
#[derive(Debug, Parser)]
#[command(name = "worker", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the worker daemon until SIGTERM or Ctrl-C.
    Run(RunArgs),
    /// Measure an LLM server at 1, 2, 4, 8, … calls in flight on real
    /// segments; print a table, the knee and settings, and write an SVG chart.
    Bench(BenchArgs),
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// LLM server URL.
    #[arg(long, env = "OLLAMA_HOST", default_value = "http://127.0.0.1:11434")]
    pub llm: String,
    /// Which API the LLM server speaks.
    #[arg(long, value_enum, default_value = "ollama")]
    pub api: Api,
    #[command(flatten)]
    pub mining: MiningFlags,
    /// Folder of transcripts to take segments from (a built-in real episode otherwise).
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// Highest concurrency tried.
    #[arg(long, default_value_t = 64)]
    pub max_concurrency: usize,
    /// Calls per step (default: 3 per slot, at least 6).
    #[arg(long)]
    pub calls_per_step: Option<usize>,
    /// A step starts no new call after this long.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub step_limit: Duration,
    /// Where the chart goes.
    #[arg(long, default_value = "podmine-bench.svg")]
    pub svg: PathBuf,
    /// Also write the measurements as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Timeout of one HTTP call to the LLM server.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,
}

/// `worker run`: where the worker connects and keeps its outbox, and how it works.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub nats: protocol::connect::NatsArgs,
    /// Where the worker keeps its outbox (results not yet confirmed published).
    #[arg(long, env = "PODMINE_DATA_DIR", default_value = "podmine-worker-data")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub options: WorkerOptions,
}

/// How a worker mines: its LLM servers, model, prompt and bounds. `worker run`
/// takes them as flags, and so does `coordinator run` for its local worker.
#[derive(Clone, Debug, Args)]
pub struct WorkerOptions {
    /// LLM server URL (Ollama, or an OpenAI-compatible server with --api
    /// openai). Repeat it (or separate with commas) for several servers.
    #[arg(long, env = "OLLAMA_HOST", default_value = "http://127.0.0.1:11434", value_delimiter = ',')]
    pub llm: Vec<String>,
    /// Which API the LLM server speaks.
    #[arg(long, value_enum, default_value = "ollama")]
    pub api: Api,
    #[command(flatten)]
    pub mining: MiningFlags,
    /// LLM calls in flight per server: `auto` (measure and find the best
    /// point) or a number. One task is pulled per free call slot.
    #[arg(long, default_value = "auto")]
    pub concurrency: crate::llm::endpoints::Concurrency,
    /// Ceiling for `--concurrency auto`, per server.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub max_concurrency: u64,
    /// Prometheus metrics address (`off` to disable).
    #[arg(long, env = "PODMINE_METRICS_ADDR", default_value = "127.0.0.1:9464")]
    pub metrics_addr: String,
    /// Cap on LLM requests per second (e.g. 0.5); none by default.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Timeout of one HTTP call to the LLM server.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,
    /// On SIGTERM, how long in-flight calls may finish before their tasks are handed back.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub drain_timeout: Duration,
    /// How long a task may go without progress before the server redelivers it
    /// (progress is sent every third of it during an LLM call).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub ack_wait: Duration,
    /// How often a worker paused for a missing model checks for it.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub health_interval: Duration,
    /// Test hook: after storing a result in the outbox, write this file and wait to be killed.
    #[arg(long, hide = true, env = "PODMINE_TEST_PAUSE_BEFORE_PUBLISH")]
    pub test_pause_before_publish: Option<PathBuf>,
    /// Test hook: after a result's PubAck, before the task's ack, write this file and wait to be killed.
    #[arg(long, hide = true, env = "PODMINE_TEST_PAUSE_BEFORE_ACK")]
    pub test_pause_before_ack: Option<PathBuf>,
}

/// What shapes the answers: model, prompt, schema, generation options and
/// context size. On `worker run` every one is optional: the run's mining spec
/// (recorded in NATS by `coordinator enqueue`) says them, and a flag given
/// here must agree with it, or the worker refuses to pull. `coordinator
/// enqueue`/`run` set the spec from them; `coordinator respec` changes it.
#[derive(Clone, Debug, Default, Args)]
pub struct MiningFlags {
    /// Model name as the server knows it [default for a new run: qwen2.5:7b-instruct].
    #[arg(long, env = "PODMINE_MODEL")]
    pub model: Option<String>,
    /// Instructions file replacing the default miner prompt.
    #[arg(long)]
    pub prompt: Option<PathBuf>,
    /// JSON Schema file replacing the default miner_output schema.
    #[arg(long)]
    pub schema: Option<PathBuf>,
    /// Output tokens per answer (Ollama num_predict / OpenAI max_tokens) [default for a new run: 1024].
    #[arg(long)]
    pub num_predict: Option<u32>,
    /// Sampling temperature (0 can deadlock Ollama's grammar mode under parallel load) [default for a new run: 0.3].
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Cap every array of the answer at N items (sent in the schema, enforced
    /// on the answer). Without it the schema's own bounds hold: none in the
    /// users' schema, a runaway guard of 40 in the default one.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_items: Option<u64>,
    /// Context size of every request, for the whole run [default: from the
    /// prompt, the schema, the output cap and the longest segment enqueued].
    /// A segment that does not fit fails with its reason rather than being cut.
    #[arg(long, value_parser = clap::value_parser!(u32).range(512..))]
    pub num_ctx: Option<u32>,
    /// How the model answers [default for a new run: full]: `full` (it writes
    /// the quotes and times), or `compact` (it cites numbered sentences; the
    /// worker writes the quotes and times from the transcript: fewer output
    /// tokens). Measure both on your Mac first: `worker bench --answers full,compact`
    /// (the bench takes both; a run one).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub answers: Vec<AnswerMode>,
}

impl MiningFlags {
    /// Whether any flag was given.
    pub fn any(&self) -> bool {
        let Self { model, prompt, schema, num_predict, temperature, max_items, num_ctx, answers } = self;
        !answers.is_empty()
            || model.is_some()
            || prompt.is_some()
            || schema.is_some()
            || num_predict.is_some()
            || temperature.is_some()
            || max_items.is_some()
            || num_ctx.is_some()
    }
}

/// `127.0.0.1:11434` (Ollama's own OLLAMA_HOST form) → `http://127.0.0.1:11434`.
pub fn endpoint_url(value: &str) -> String {
    if value.contains("://") {
        value.to_owned()
    } else {
        format!("http://{value}")
    }
}

/// Flags of `command`'s subcommands that have no help text (hidden test hooks
/// aside): `subcommand flag` each. Both binaries' tests call it.
pub fn flags_without_help(command: &clap::Command) -> Vec<String> {
    command
        .get_subcommands()
        .flat_map(|sub| {
            sub.get_arguments()
                .filter(|arg| !arg.is_hide_set() && arg.get_help().is_none())
                .map(move |arg| format!("{} {}", sub.get_name(), arg.get_id()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_flag_has_help_text() {
        let missing = flags_without_help(&Cli::command());
        assert!(missing.is_empty(), "flags without help: {missing:?}");
    }
}
