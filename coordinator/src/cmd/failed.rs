//! `coordinator failed`: list the failed segments.

use super::Report;
use crate::failures;
use crate::lifecycle::open_store;
use std::path::{Path, PathBuf};

/// `coordinator failed`'s arguments (its help text is the subcommand's, in `cli.rs`).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder of the episode files (to say where the raw output is).
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

/// The listing, one line per failure.
pub struct Listing(String);

impl std::fmt::Display for Listing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Report for Listing {}

pub fn execute(args: Args, data_dir: &Path) -> anyhow::Result<Listing> {
    Ok(Listing(failures::list(&open_store(data_dir)?, &args.out, args.json)?))
}
