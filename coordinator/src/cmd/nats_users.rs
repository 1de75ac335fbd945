//! `coordinator nats-users`: passwords for the NATS users of the shipped configs.

use super::Report;
use crate::nats_users::{self, Written};
use std::path::PathBuf;

/// `coordinator nats-users`'s arguments (its help text is the subcommand's, in `cli.rs`).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder for the three files (owner-only permissions).
    #[arg(long, default_value = "podmine-nats-users")]
    pub dir: PathBuf,
    /// Replace existing files (workers using the old passwords are locked out).
    #[arg(long)]
    pub replace: bool,
}

/// The files written, and what to do with each.
pub struct UsersReport(Written);

impl std::fmt::Display for UsersReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let written = &self.0;
        writeln!(f, "wrote {} (for nats-server) and:", written.server_env.display())?;
        for client in &written.client_envs {
            writeln!(f, "  {}", client.display())?;
        }
        writeln!(f, "next (docs/fleet-on-macs.md):")?;
        writeln!(
            f,
            "  nats-server: sudo coordinator service install nats --env-file {}",
            written.server_env.display()
        )?;
        writeln!(
            f,
            "  each worker Mac: sudo worker service install --env-file worker.env --nats nats://THIS-MAC:4222"
        )?;
        writeln!(f, "  coordinator commands: add --env-file coordinator.env")
    }
}

impl Report for UsersReport {}

pub fn execute(args: Args) -> anyhow::Result<UsersReport> {
    Ok(UsersReport(nats_users::write(&args.dir, args.replace)?))
}
