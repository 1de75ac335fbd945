//! `coordinator retry-failed`: put failed segments back on the queue.

use super::Report;
use crate::failures::{self, Selection};
use crate::lifecycle::open_store;
use crate::nats;
use protocol::connect::NatsArgs;
use std::path::Path;

/// `coordinator retry-failed`'s arguments (its help text is the subcommand's, in `cli.rs`).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Only failures of this kind (`coordinator failed` and `status` show them).
    #[arg(long, value_enum, conflicts_with = "reason")]
    pub kind: Option<protocol::FailureKind>,
    /// Only failures whose reason contains this text.
    #[arg(long)]
    pub reason: Option<String>,
}

/// How many failures went back on the queue.
pub struct Retried(u64);

impl std::fmt::Display for Retried {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "re-enqueued {} failed segment(s)", self.0)
    }
}

impl Report for Retried {}

pub async fn execute(args: Args, data_dir: &Path) -> anyhow::Result<Retried> {
    let js = nats::connect(&args.nats).await?;
    let selection = match (args.kind, args.reason) {
        (Some(kind), _) => Selection::Kind(kind),
        (None, Some(reason)) => Selection::ReasonContains(reason),
        (None, None) => Selection::All,
    };
    Ok(Retried(failures::retry(&js, &open_store(data_dir)?, &selection).await?))
}
