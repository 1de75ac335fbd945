//! The command line: argument parsing and dispatch to each command's `run`.

use crate::collect::output;
use crate::collect::{self, CollectSettings};
use crate::enqueue::{self, EnqueueSettings, Target};
use crate::flags::{DashboardFlags, UngroundedFlag};
use crate::lifecycle::{cancel_on_signal, open_store, open_store_waiting};
use crate::{failures, nats, nats_users, status};
use anyhow::Context;
use clap::{Parser, Subcommand};
use protocol::connect::NatsArgs;
use std::path::PathBuf;
use std::process::ExitCode;

/// podmine coordinator: turns a corpus of podcast transcripts into mining tasks
/// on NATS JetStream and reports progress.
#[derive(Debug, Parser)]
#[command(name = "coordinator", version)]
pub struct Cli {
    /// Where the coordinator keeps its checkpoint (created if missing).
    #[arg(long, global = true, env = "PODMINE_DATA_DIR", default_value = "podmine-data")]
    pub data_dir: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read, segment and publish one task per segment; safe to re-run at any time.
    Enqueue {
        /// Folder of transcripts (searched recursively).
        corpus: PathBuf,
        #[command(flatten)]
        nats: NatsArgs,
        /// Target segment length in seconds.
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
        segment_seconds: u64,
        /// Read and segment only: publish nothing, need no server, record nothing.
        #[arg(long)]
        dry_run: bool,
        /// The run's mining spec, recorded in NATS for every worker (the first
        /// enqueue sets it; later ones must agree, `respec` changes it).
        #[command(flatten, next_help_heading = "Mining spec")]
        mining: mining::MiningFlags,
    },
    /// Change the run's mining spec (model, prompt, schema, options, context
    /// size) for every worker, and queue again what was settled under the old
    /// one; its results stay in the output until the new ones replace them.
    /// Without flags: queue again what a worker mined with other settings.
    Respec {
        #[command(flatten)]
        nats: NatsArgs,
        /// Say what would change and how many settled segments would be mined
        /// again; record and queue nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten, next_help_heading = "Mining spec")]
        mining: mining::MiningFlags,
    },
    /// Store results and failures; write out/<episode>.json for every finished episode.
    Collect {
        #[command(flatten)]
        nats: NatsArgs,
        /// Folder for the episode files.
        #[arg(long, default_value = "out")]
        out: PathBuf,
        /// Keep collecting after every enqueued segment is settled (until Ctrl-C).
        #[arg(long)]
        follow: bool,
        #[command(flatten)]
        ungrounded: UngroundedFlag,
        #[command(flatten)]
        dashboard: DashboardFlags,
    },
    /// Serve the live dashboard from the store when no collector runs (a
    /// collector serves it itself with `--dashboard ADDR`).
    Dashboard {
        #[command(flatten)]
        nats: NatsArgs,
        /// Address to serve on; beyond 127.0.0.1 every request needs the token.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// The token requests need beyond localhost (made up and printed when not given).
        #[arg(long, env = "PODMINE_DASHBOARD_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Another host name the page may be opened by (e.g. mac-studio.local); repeatable.
        #[arg(long)]
        allow_host: Vec<String>,
        /// Folder of the episode files (the page links them).
        #[arg(long, default_value = "out")]
        out: PathBuf,
    },
    /// List failed segments: kind, reason, attempts, where the raw output is.
    Failed {
        /// Folder of the episode files (to say where the raw output is).
        #[arg(long, default_value = "out")]
        out: PathBuf,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Put failed segments back on the queue (with a new generation, so dedup lets them through).
    RetryFailed {
        #[command(flatten)]
        nats: NatsArgs,
        /// Only failures of this kind (`coordinator failed` and `status` show them).
        #[arg(long, value_enum, conflicts_with = "reason")]
        kind: Option<protocol::FailureKind>,
        /// Only failures whose reason contains this text.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Write every settled segment as JSON lines (to stdout, or --out FILE).
    Export {
        /// JSON lines, one per segment (the only export format).
        #[arg(long, required = true)]
        jsonl: bool,
        /// File to write (standard output when not given).
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        ungrounded: UngroundedFlag,
    },
    /// One machine, one command: NATS (embedded if none answers), enqueue, a
    /// local worker and the collector, until every segment is settled.
    Run(crate::run::RunArgs),
    /// Make passwords for the NATS users in deploy/nats/users.conf: writes
    /// server.env (bcrypt hashes for nats-server), coordinator.env and worker.env.
    NatsUsers {
        /// Folder for the three files (owner-only permissions).
        #[arg(long, default_value = "podmine-nats-users")]
        dir: PathBuf,
        /// Replace existing files (workers using the old passwords are locked out).
        #[arg(long)]
        replace: bool,
    },
    /// Show progress (works from the data dir alone when no server answers).
    Status {
        #[command(flatten)]
        nats: NatsArgs,
        /// Print one JSON object (fields documented in README.md).
        #[arg(long)]
        json: bool,
    },
}

/// The command line of this process, with `coordinator run`'s worker flags
/// given after `--` taken as its own (they are the same typed options).
pub fn parse() -> Cli {
    Cli::parse_from(crate::run::worker_flags_inline(std::env::args_os()))
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Enqueue { corpus, nats, segment_seconds, dry_run, mining } => {
            let mining = mining::spec::LocalMining::from_flags(&mining)?;
            let settings = EnqueueSettings { corpus, segment_seconds, mining };
            let target = if dry_run {
                Target::DryRun
            } else {
                let js = nats::connect(&nats).await?;
                Target::Server { js, store: open_store(&cli.data_dir)? }
            };
            let summary = enqueue::run(settings, target).await?;
            print!("{summary}");
            if dry_run {
                println!("dry run: nothing was published or recorded");
            }
            Ok(if summary.succeeded() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Collect { nats, out, follow, ungrounded, dashboard } => {
            let js = nats::connect(&nats).await?;
            let cancel = cancel_on_signal();
            let mut dashboard_store = None;
            if let Some(settings) = dashboard.settings(&out) {
                let slot = crate::store::StoreSlot::default();
                let serving =
                    crate::dashboard::serve(&settings, slot.clone(), Some(js.clone()), cancel.clone()).await?;
                eprintln!("collect: dashboard at {}", serving.url);
                dashboard_store = Some(slot);
            }
            let settings = CollectSettings {
                out: out.clone(),
                follow,
                snapshot: Some(cli.data_dir.join("status.json")),
                ungrounded: ungrounded.items(),
                dashboard_store,
            };
            let open = || open_store(&cli.data_dir);
            let collected = collect::run_through_full_disks(&js, &cli.data_dir, open, &settings, &cancel).await?;
            println!(
                "collected {} new outcome(s) ({} duplicate, {} stale, {} kept for episodes not enqueued here); \
                 {} episode file(s) written to {}",
                collected.new,
                collected.duplicates,
                collected.stale,
                collected.kept_aside,
                collected.episodes_written,
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Respec { nats, dry_run, mining } => {
            let local = mining::spec::LocalMining::from_flags(&mining)?;
            let js = nats::connect(&nats).await?;
            let store = open_store(&cli.data_dir)?;
            let done = crate::spec::respec(&js, &store, &local, dry_run).await?;
            let changes = mining::spec::differences(&done.before, &done.after);
            let (is, queued) = if dry_run { ("would be", "would be queued again") } else { ("is now", "queued again") };
            if changes.is_empty() {
                println!("the run's mining spec is unchanged: {}", done.after.summary());
            } else {
                println!("the run's mining spec {is} {}", done.after.summary());
                for (setting, was, now) in changes {
                    println!("    {setting}: {was} → {now}");
                }
                if !dry_run {
                    println!(
                        "every worker picks it up within {} s (no restart needed)",
                        protocol::spec::POLL.as_secs()
                    );
                }
            }
            println!(
                "{queued}: {} settled segment(s) of another spec ({} of them were still queued); their outcomes \
                 stay in the output until the new ones replace them. `coordinator status` shows the progress \
                 against the spec",
                done.requeued + done.already_queued,
                done.already_queued
            );
            if dry_run {
                println!("dry run: nothing was recorded or queued");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Dashboard { nats, listen, token, allow_host, out } => {
            let store = open_store_waiting(&cli.data_dir, std::time::Duration::from_secs(2)).map_err(|err| {
                err.context("a collector holds the store: serve the dashboard from it with `coordinator collect --follow --dashboard ADDR`")
            })?;
            let js = match nats::connect(&nats).await {
                Ok(js) => Some(js),
                Err(err) => {
                    eprintln!("dashboard: NATS does not answer ({err:#}): showing the store only (no queue, workers or retry)");
                    None
                }
            };
            let cancel = cancel_on_signal();
            let settings = crate::dashboard::DashboardSettings { listen, token, allow_hosts: allow_host, out };
            let slot = crate::store::StoreSlot::default();
            slot.set(Some(store));
            let serving = crate::dashboard::serve(&settings, slot, js, cancel.clone()).await?;
            println!("dashboard at {} (Ctrl-C stops it)", serving.url);
            serving.task.await.context("the dashboard stopped")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Failed { out, json } => {
            print!("{}", failures::list(&open_store(&cli.data_dir)?, &out, json)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::RetryFailed { nats, kind, reason } => {
            let js = nats::connect(&nats).await?;
            let selection = match (kind, reason) {
                (Some(kind), _) => failures::Selection::Kind(kind),
                (None, Some(reason)) => failures::Selection::ReasonContains(reason),
                (None, None) => failures::Selection::All,
            };
            let retried = failures::retry(&js, &open_store(&cli.data_dir)?, &selection).await?;
            println!("re-enqueued {retried} failed segment(s)");
            Ok(ExitCode::SUCCESS)
        }
        Command::Export { jsonl: _, out, ungrounded } => {
            let store = open_store(&cli.data_dir)?;
            let mut writer: Box<dyn std::io::Write> = match &out {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            output::export_jsonl(&store, &mut writer, ungrounded.items())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(args) => crate::run::execute(args, &cli.data_dir).await,
        Command::NatsUsers { dir, replace } => {
            let written = nats_users::write(&dir, replace)?;
            println!("wrote {} (for nats-server) and:", written.server_env.display());
            for client in &written.client_envs {
                println!("  {}", client.display());
            }
            println!("next (README.md \"Scale out\"):");
            println!("  nats-server: deploy/install-nats.sh --env-file {}", written.server_env.display());
            println!("  each worker Mac: deploy/install-worker.sh --env-file worker.env (copied there)");
            println!("  coordinator: `set -a; . coordinator.env; set +a` before running it");
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { nats, json } => {
            let js = nats::connect(&nats).await.ok();
            let snapshot = cli.data_dir.join("status.json");
            let status = match open_store_waiting(&cli.data_dir, std::time::Duration::ZERO) {
                Ok(store) => status::gather(&store, js.as_ref()).await?,
                // A collector (or `run`) holds the store: read the snapshot it
                // keeps (written within a second of its start).
                Err(_) => {
                    for _ in 0..30 {
                        if snapshot.exists() {
                            break;
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                    match snapshot.exists() {
                        true => status::from_snapshot(&snapshot, js.as_ref()).await?,
                        false => status::gather(&open_store(&cli.data_dir)?, js.as_ref()).await?,
                    }
                }
            };
            if json {
                println!("{}", serde_json::to_string(&status)?);
            } else {
                print!("{}", status::render(&status));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
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
