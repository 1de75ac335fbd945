//! `coordinator export --jsonl`: every settled segment as JSON lines.

use super::Report;
use crate::collect::output;
use crate::flags::UngroundedFlag;
use crate::lifecycle::open_store;
use anyhow::Context;
use std::path::{Path, PathBuf};

/// `coordinator export`'s arguments (its help text is the subcommand's, in `cli.rs`).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// JSON lines, one per segment (the only export format).
    #[arg(long, required = true)]
    pub jsonl: bool,
    /// File to write (standard output when not given).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub ungrounded: UngroundedFlag,
}

/// The lines went to their file or standard output: nothing more to say.
pub struct Exported;

impl std::fmt::Display for Exported {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Ok(())
    }
}

impl Report for Exported {}

pub fn execute(args: Args, data_dir: &Path) -> anyhow::Result<Exported> {
    let store = open_store(data_dir)?;
    let mut writer: Box<dyn std::io::Write> = match &args.out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    output::export_jsonl(&store, &mut writer, args.ungrounded.items())?;
    Ok(Exported)
}
