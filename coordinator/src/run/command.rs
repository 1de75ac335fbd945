//! The `run` command's arguments (with the local worker's flags, as `worker
//! run` takes them) and what it prints when it ends.

use super::{Ended, RunSettings};
use crate::cmd::Report;
use crate::flags::{DashboardFlags, UngroundedFlag};
use crate::lifecycle::{cancel_on_signal, open_store};
use protocol::connect::NatsAuth;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `coordinator run`'s arguments.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Folder of transcripts.
    pub corpus: PathBuf,
    /// NATS server URL; without it, a running server on 127.0.0.1:4222 or an embedded one.
    #[arg(long, env = "NATS_URL")]
    pub nats: Option<String>,
    #[command(flatten)]
    pub nats_auth: NatsAuth,
    /// Folder for the episode files.
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
    /// Target segment length in seconds.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub segment_seconds: u64,
    #[command(flatten)]
    pub ungrounded: UngroundedFlag,
    #[command(flatten)]
    pub dashboard: DashboardFlags,
    /// The local worker's flags, as `worker run` takes them (also accepted
    /// after `--`, e.g. `-- --num-predict 400`).
    #[command(flatten, next_help_heading = "Local worker")]
    pub worker: Box<worker::cli::WorkerOptions>,
}

/// How `coordinator run` ended, and where the files are.
pub struct RunReport {
    ended: Ended,
    out: PathBuf,
}

impl std::fmt::Display for RunReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.ended {
            Ended::Settled { done, failed } => {
                writeln!(f, "done: {done} segment(s) mined, {failed} failed; episode files in {}", self.out.display())?;
                if failed > 0 {
                    writeln!(f, "see `coordinator failed`; `coordinator retry-failed` puts them back on the queue")?;
                }
                Ok(())
            }
            Ended::Interrupted => {
                writeln!(f, "interrupted: everything done so far is kept; run the same command again to continue")
            }
        }
    }
}

impl Report for RunReport {
    fn exit_code(&self) -> ExitCode {
        match self.ended {
            Ended::Settled { .. } => ExitCode::SUCCESS,
            Ended::Interrupted => ExitCode::from(130),
        }
    }
}

/// Runs `coordinator run` with the store in `data_dir`.
pub async fn execute(args: RunArgs, data_dir: &Path) -> anyhow::Result<RunReport> {
    let RunArgs { corpus, nats, nats_auth, out, segment_seconds, ungrounded, dashboard, worker } = args;
    let settings = RunSettings {
        corpus,
        out: out.clone(),
        data_dir: data_dir.to_path_buf(),
        nats,
        nats_auth,
        segment_seconds,
        ungrounded: ungrounded.items(),
        worker: worker::Settings::from_options(&worker)?,
        dashboard: dashboard.settings(&out),
    };
    let ended = super::run(settings, open_store(data_dir)?, cancel_on_signal()).await.map_err(|err| {
        if runtime::full_disk::is_full(&err) {
            err.context(format!(
                "no space left on the disk of {} or {}: free space there and run the same command again; \
                 nothing is lost (outcomes wait on the streams, paid answers in the worker's outbox)",
                data_dir.display(),
                out.display()
            ))
        } else {
            err
        }
    })?;
    Ok(RunReport { ended, out })
}

/// Drops the `--` after the `run` subcommand: `run CORPUS --llm X -- --num-predict 400`
/// parses as `run CORPUS --llm X --num-predict 400` (the worker's flags are its own).
pub fn worker_flags_inline(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut args: Vec<OsString> = args.into_iter().collect();
    let run = (1..args.len()).find(|&i| args[i] == "run" && args[i - 1] != "--data-dir");
    if let Some(dash) = run.and_then(|run| (run..args.len()).find(|&i| args[i] == "--")) {
        args.remove(dash);
    }
    args
}
