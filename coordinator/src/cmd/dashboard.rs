//! `coordinator dashboard`: serve the live dashboard from the store when no
//! collector runs (a collector serves it itself with `--dashboard ADDR`).

use super::Report;
use crate::lifecycle::{cancel_on_signal, open_store_waiting};
use crate::nats;
use anyhow::Context;
use protocol::connect::NatsArgs;
use std::path::{Path, PathBuf};

/// `coordinator dashboard`'s arguments (its help text is the subcommand's, in `cli.rs`).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Address to serve on; beyond 127.0.0.1 every request needs the token.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// The token requests need beyond localhost (made up and printed when not given).
    #[arg(long, env = "PODMINE_DASHBOARD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Another host name the page may be opened by (e.g. mac-studio.local); repeatable.
    #[arg(long)]
    pub allow_host: Vec<String>,
    /// Folder of the episode files (the page links them).
    #[arg(long, default_value = "out")]
    pub out: PathBuf,
}

/// The dashboard stopped (Ctrl-C); its address was printed when it started.
pub struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Ok(())
    }
}

impl Report for Stopped {}

pub async fn execute(args: Args, data_dir: &Path) -> anyhow::Result<Stopped> {
    let Args { nats, listen, token, allow_host, out } = args;
    let store = open_store_waiting(data_dir, std::time::Duration::from_secs(2)).map_err(|err| {
        err.context(
            "a collector holds the store: serve the dashboard from it with `coordinator collect --follow --dashboard ADDR`",
        )
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
    // Printed at once (not in the report): the address is what the user waits for.
    println!("dashboard at {} (Ctrl-C stops it)", serving.url);
    serving.task.await.context("the dashboard stopped")?;
    Ok(Stopped)
}
