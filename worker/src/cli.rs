//! The command line of `worker`.

use crate::llm::Api;
use clap::{Args, Parser, Subcommand};
pub use mining::MiningFlags;
use service::placement::Placement;
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
    /// Install, remove or inspect the worker as a service (launchd on macOS,
    /// systemd on Linux) that starts at boot and survives upgrades.
    Service(ServiceArgs),
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
    /// Where the worker keeps its outbox (results not yet confirmed published);
    /// default: `~/Library/Application Support/podmine/worker` on macOS,
    /// `~/.local/share/podmine/worker` on Linux.
    #[arg(long, env = "PODMINE_DATA_DIR", default_value_os_t = runtime::dirs::default_data_dir("worker"))]
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

/// `worker service`'s arguments (carried out by `crate::service`).
#[derive(Debug, Args)]
pub struct ServiceArgs {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, Subcommand)]
pub enum Action {
    /// Install (or upgrade) the worker service and start it; an old worker
    /// finishes or hands back its tasks first.
    Install(InstallArgs),
    /// Stop the worker service (it drains first) and remove it; its data stays.
    Uninstall(Placement),
    /// Whether the service is installed, and what launchd or systemd says of it.
    Status(Placement),
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    #[command(flatten)]
    pub placement: Placement,
    /// The NATS login as `coordinator nats-users` wrote it (worker.env): copied
    /// beside the worker's data (mode 600) and read by the worker at start.
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<PathBuf>,
    /// NATS server URL(s) the worker connects to.
    #[arg(long, env = "NATS_URL", value_name = "URL")]
    pub nats: String,
    /// Where the worker keeps its outbox (default: ~/Library/Application Support/podmine/worker on
    /// macOS, ~/.local/share/podmine/worker on Linux, for the service's user).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// `worker run`'s own flags (after `--`), e.g. `-- --llm http://127.0.0.1:11434 --concurrency 8`.
    #[arg(last = true, value_name = "WORKER RUN FLAGS")]
    pub run_flags: Vec<String>,
}

/// `127.0.0.1:11434` (Ollama's own OLLAMA_HOST form) → `http://127.0.0.1:11434`.
pub fn endpoint_url(value: &str) -> String {
    if value.contains("://") {
        value.to_owned()
    } else {
        format!("http://{value}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_flag_has_help_text() {
        let missing = runtime::cli::flags_without_help(&Cli::command());
        assert!(missing.is_empty(), "flags without help: {missing:?}");
    }
}
