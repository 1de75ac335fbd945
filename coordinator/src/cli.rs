//! The command line: parsing and dispatch to each command's file (`cmd/`,
//! and `run/` for `coordinator run`).

use crate::cmd::{self, emit};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// podmine coordinator: turns a corpus of podcast transcripts into mining tasks
/// on NATS JetStream and reports progress.
#[derive(Debug, Parser)]
#[command(name = "coordinator", version)]
pub struct Cli {
    /// Where the coordinator keeps its checkpoint (created if missing); default:
    /// `~/Library/Application Support/podmine/coordinator` on macOS,
    /// `~/.local/share/podmine/coordinator` on Linux.
    #[arg(long, global = true, env = "PODMINE_DATA_DIR", default_value_os_t = runtime::dirs::default_data_dir("coordinator"))]
    pub data_dir: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read, segment and publish one task per segment; safe to re-run at any time.
    Enqueue(cmd::enqueue::Args),
    /// Change the run's mining spec (model, prompt, schema, options, context
    /// size) for every worker, and queue again what was settled under the old
    /// one; its results stay in the output until the new ones replace them.
    /// Without flags: queue again what a worker mined with other settings.
    Respec(cmd::respec::Args),
    /// Store results and failures; write out/<episode>.json for every finished episode.
    Collect(cmd::collect::Args),
    /// Serve the live dashboard from the store when no collector runs (a
    /// collector serves it itself with `--dashboard ADDR`).
    Dashboard(cmd::dashboard::Args),
    /// List failed segments: kind, reason, attempts, where the raw output is.
    Failed(cmd::failed::Args),
    /// Put failed segments back on the queue (with a new generation, so dedup lets them through).
    RetryFailed(cmd::retry_failed::Args),
    /// Write every settled segment as JSON lines (to stdout, or --out FILE).
    Export(cmd::export::Args),
    /// One machine, one command: NATS (embedded if none answers), enqueue, a
    /// local worker and the collector, until every segment is settled.
    Run(crate::run::RunArgs),
    /// Make passwords for the NATS users in deploy/nats/users.conf: writes
    /// server.env (bcrypt hashes for nats-server), coordinator.env and worker.env.
    NatsUsers(cmd::nats_users::Args),
    /// Show progress (works from the data dir alone when no server answers).
    Status(cmd::status::Args),
    /// Install, remove or inspect NATS or the collector as a service
    /// (launchd on macOS, systemd on Linux) that starts at boot.
    Service(cmd::service::Args),
}

/// The command line of this process, with `coordinator run`'s worker flags
/// given after `--` taken as its own (they are the same typed options).
pub fn parse() -> Cli {
    Cli::parse_from(crate::run::worker_flags_inline(std::env::args_os()))
}

/// Runs the command; its report goes to standard output.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let data = cli.data_dir.as_path();
    Ok(match cli.command {
        Command::Enqueue(args) => emit(cmd::enqueue::execute(args, data).await?),
        Command::Respec(args) => emit(cmd::respec::execute(args, data).await?),
        Command::Collect(args) => emit(cmd::collect::execute(args, data).await?),
        Command::Dashboard(args) => emit(cmd::dashboard::execute(args, data).await?),
        Command::Failed(args) => emit(cmd::failed::execute(args, data)?),
        Command::RetryFailed(args) => emit(cmd::retry_failed::execute(args, data).await?),
        Command::Export(args) => emit(cmd::export::execute(args, data)?),
        Command::Run(args) => emit(crate::run::execute(args, data).await?),
        Command::NatsUsers(args) => emit(cmd::nats_users::execute(args)?),
        Command::Status(args) => emit(cmd::status::execute(args, data).await?),
        Command::Service(args) => emit(cmd::service::execute(args, data)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::worker_flags_inline;
    use clap::CommandFactory;
    use std::ffi::OsString;

    #[test]
    fn every_flag_has_help_text() {
        let missing = runtime::cli::flags_without_help(&Cli::command());
        assert!(missing.is_empty(), "flags without help: {missing:?}");
    }

    #[test]
    fn run_takes_worker_flags_after_the_separator_and_before_it() {
        let args =
            ["coordinator", "--data-dir", "run", "run", "c", "--llm", "http://a:1", "--", "--num-predict", "400"];
        let cli = Cli::parse_from(worker_flags_inline(args.map(OsString::from)));
        assert_eq!(cli.data_dir, PathBuf::from("run"));
        let Command::Run(run) = cli.command else { panic!("not run: {:?}", cli.command) };
        assert_eq!(run.corpus, PathBuf::from("c"));
        assert_eq!(
            (run.worker.llm.as_slice(), run.worker.mining.num_predict),
            (["http://a:1".to_owned()].as_slice(), Some(400))
        );
        assert!(
            Cli::try_parse_from(["coordinator", "run", "c", "--api", "grpc"]).is_err(),
            "--api is checked when parsed"
        );
    }
}
