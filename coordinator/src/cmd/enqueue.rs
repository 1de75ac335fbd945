//! `coordinator enqueue CORPUS`: read, segment and publish one task per segment.

use super::Report;
use crate::enqueue::report::Summary;
use crate::enqueue::{self, EnqueueSettings, Target};
use crate::lifecycle::open_store;
use crate::nats;
use protocol::connect::NatsArgs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `coordinator enqueue`'s arguments (its help text is the subcommand's, in `cli.rs`).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder of transcripts (searched recursively).
    pub corpus: PathBuf,
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Target segment length in seconds.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub segment_seconds: u64,
    /// Read and segment only: publish nothing, need no server, record nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The run's mining spec, recorded in NATS for every worker (the first
    /// enqueue sets it; later ones must agree, `respec` changes it).
    #[command(flatten, next_help_heading = "Mining spec")]
    pub mining: mining::MiningFlags,
}

/// The enqueue summary, and whether it was a dry run.
pub struct Enqueued {
    summary: Summary,
    dry_run: bool,
}

impl std::fmt::Display for Enqueued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.summary)?;
        if self.dry_run {
            writeln!(f, "dry run: nothing was published or recorded")?;
        }
        Ok(())
    }
}

impl Report for Enqueued {
    fn exit_code(&self) -> ExitCode {
        if self.summary.succeeded() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

pub async fn execute(args: Args, data_dir: &Path) -> anyhow::Result<Enqueued> {
    let Args { corpus, nats, segment_seconds, dry_run, mining } = args;
    let mining = mining::spec::LocalMining::from_flags(&mining)?;
    let settings = EnqueueSettings { corpus, segment_seconds, mining };
    let target = if dry_run {
        Target::DryRun
    } else {
        let js = nats::connect(&nats).await?;
        Target::Server { js, store: open_store(data_dir)? }
    };
    let summary = enqueue::run(settings, target).await?;
    Ok(Enqueued { summary, dry_run })
}
