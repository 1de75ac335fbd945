//! The command line: argument parsing and dispatch to each command's `run`.

use crate::enqueue::{self, EnqueueSettings, Target};
use crate::{nats, status, store::Store};
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
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

/// Where the NATS server is.
#[derive(Debug, Args)]
pub struct NatsArgs {
    /// NATS server URL.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222")]
    pub nats: String,
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

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Enqueue { corpus, nats, segment_seconds, dry_run } => {
            let settings = EnqueueSettings { corpus, segment_seconds };
            let target = if dry_run {
                Target::DryRun
            } else {
                let js = nats::connect(&nats.nats).await?;
                Target::Server { js, store: open_store(&cli.data_dir)? }
            };
            let summary = enqueue::run(settings, target).await?;
            print!("{summary}");
            if dry_run {
                println!("dry run: nothing was published or recorded");
            }
            Ok(if summary.succeeded() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Status { nats, json } => {
            let store = open_store(&cli.data_dir)?;
            let js = nats::connect(&nats.nats).await.ok();
            let status = status::gather(&store, js.as_ref()).await?;
            if json {
                println!("{}", serde_json::to_string(&status)?);
            } else {
                print!("{}", status::render(&status));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn open_store(data_dir: &std::path::Path) -> anyhow::Result<Store> {
    std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create the data dir {}", data_dir.display()))?;
    Store::open(data_dir)
}
