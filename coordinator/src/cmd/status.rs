//! `coordinator status`: progress, rates, ETA, workers, failures.

use super::Report;
use crate::lifecycle::{open_store, open_store_waiting};
use crate::nats;
use crate::status::{self, Status};
use protocol::connect::NatsArgs;
use std::path::Path;
use std::time::Duration;

/// `coordinator status`'s arguments (its help text is the subcommand's, in `cli.rs`).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Print one JSON object (fields documented in docs/commands.md).
    #[arg(long)]
    pub json: bool,
}

/// The status, as a table for people or one JSON object.
pub struct StatusReport {
    status: Status,
    json: bool,
}

impl std::fmt::Display for StatusReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.json {
            let json = serde_json::to_string(&self.status).map_err(|_| std::fmt::Error)?;
            writeln!(f, "{json}")
        } else {
            f.write_str(&status::render(&self.status))
        }
    }
}

impl Report for StatusReport {}

/// How long `status` waits for the snapshot a collector that just started writes.
const SNAPSHOT_PATIENCE: Duration = Duration::from_secs(3);

pub async fn execute(args: Args, data_dir: &Path) -> anyhow::Result<StatusReport> {
    let js = nats::connect(&args.nats).await.ok();
    let snapshot = data_dir.join("status.json");
    let status = match open_store_waiting(data_dir, Duration::ZERO) {
        Ok(store) => status::gather(&store, js.as_ref()).await?,
        // A collector (or `run`) holds the store: read the snapshot it
        // keeps (written within a second of its start).
        Err(_) => {
            let deadline = std::time::Instant::now() + SNAPSHOT_PATIENCE;
            while !snapshot.exists() && std::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            match snapshot.exists() {
                true => status::from_snapshot(&snapshot, js.as_ref()).await?,
                false => status::gather(&open_store(data_dir)?, js.as_ref()).await?,
            }
        }
    };
    Ok(StatusReport { status, json: args.json })
}
