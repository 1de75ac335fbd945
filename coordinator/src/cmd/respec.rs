//! `coordinator respec`: change the run's mining spec and queue again what
//! the old one settled.

use super::Report;
use crate::lifecycle::open_store;
use crate::nats;
use crate::spec::Respecced;
use protocol::connect::NatsArgs;
use std::path::Path;

/// `coordinator respec`'s arguments (its help text is the subcommand's, in `cli.rs`).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Say what would change and how many settled segments would be mined
    /// again; record and queue nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten, next_help_heading = "Mining spec")]
    pub mining: mining::MiningFlags,
}

/// The spec before and after, and what was queued again.
pub struct RespecReport {
    done: Respecced,
    dry_run: bool,
}

impl std::fmt::Display for RespecReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let done = &self.done;
        let changes = mining::spec::differences(&done.before, &done.after);
        let (is, queued) =
            if self.dry_run { ("would be", "would be queued again") } else { ("is now", "queued again") };
        if changes.is_empty() {
            writeln!(f, "the run's mining spec is unchanged: {}", done.after.summary())?;
        } else {
            writeln!(f, "the run's mining spec {is} {}", done.after.summary())?;
            for (setting, was, now) in changes {
                writeln!(f, "    {setting}: {was} → {now}")?;
            }
            if !self.dry_run {
                writeln!(
                    f,
                    "every worker picks it up within {} s (no restart needed)",
                    protocol::spec::POLL.as_secs()
                )?;
            }
        }
        writeln!(
            f,
            "{queued}: {} settled segment(s) of another spec ({} of them were still queued); their outcomes \
             stay in the output until the new ones replace them. `coordinator status` shows the progress \
             against the spec",
            done.requeued + done.already_queued,
            done.already_queued
        )?;
        if self.dry_run {
            writeln!(f, "dry run: nothing was recorded or queued")?;
        }
        Ok(())
    }
}

impl Report for RespecReport {}

pub async fn execute(args: Args, data_dir: &Path) -> anyhow::Result<RespecReport> {
    let local = mining::spec::LocalMining::from_flags(&args.mining)?;
    let js = nats::connect(&args.nats).await?;
    let store = open_store(data_dir)?;
    let done = crate::spec::respec(&js, &store, &local, args.dry_run).await?;
    Ok(RespecReport { done, dry_run: args.dry_run })
}
