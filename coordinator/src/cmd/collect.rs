//! `coordinator collect`: store results and failures; write
//! `out/<episode>.json` for every finished episode.

use super::Report;
use crate::collect::{self, CollectSettings, Collected};
use crate::flags::{DashboardFlags, UngroundedFlag};
use crate::lifecycle::{cancel_on_signal, open_store};
use crate::nats;
use protocol::connect::NatsArgs;
use std::path::{Path, PathBuf};

/// `coordinator collect`'s arguments (its help text is the subcommand's, in `cli.rs`).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Folder for the episode files.
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
    /// Keep collecting after every enqueued segment is settled (until Ctrl-C).
    #[arg(long)]
    pub follow: bool,
    #[command(flatten)]
    pub ungrounded: UngroundedFlag,
    #[command(flatten)]
    pub dashboard: DashboardFlags,
}

/// What the collector stored and wrote.
pub struct CollectReport {
    collected: Collected,
    out: PathBuf,
}

impl std::fmt::Display for CollectReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.collected;
        writeln!(
            f,
            "collected {} new outcome(s) ({} duplicate, {} stale, {} kept for episodes not enqueued here); \
             {} episode file(s) written to {}",
            c.new,
            c.duplicates,
            c.stale,
            c.kept_aside,
            c.episodes_written,
            self.out.display()
        )
    }
}

impl Report for CollectReport {}

pub async fn execute(args: Args, data_dir: &Path) -> anyhow::Result<CollectReport> {
    let Args { nats, out, follow, ungrounded, dashboard } = args;
    let js = nats::connect(&nats).await?;
    let cancel = cancel_on_signal();
    let mut dashboard_store = None;
    if let Some(settings) = dashboard.settings(&out) {
        let slot = crate::store::StoreSlot::default();
        let serving = crate::dashboard::serve(&settings, slot.clone(), Some(js.clone()), cancel.clone()).await?;
        eprintln!("collect: dashboard at {}", serving.url);
        dashboard_store = Some(slot);
    }
    let settings = CollectSettings {
        out: out.clone(),
        follow,
        snapshot: Some(data_dir.join("status.json")),
        ungrounded: ungrounded.items(),
        dashboard_store,
    };
    let open = || open_store(data_dir);
    let collected = collect::run_through_full_disks(&js, data_dir, open, &settings, &cancel).await?;
    Ok(CollectReport { collected, out })
}
