//! What every command does around its work: open the store (waiting while
//! another process holds it) and stop on SIGINT or SIGTERM.

use crate::store::Store;
use anyhow::Context;
use tokio_util::sync::CancellationToken;

/// How long a command waits for the store while another process holds it.
const STORE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

pub fn open_store(data_dir: &std::path::Path) -> anyhow::Result<Store> {
    open_store_waiting(data_dir, STORE_PATIENCE)
}

pub fn open_store_waiting(data_dir: &std::path::Path, patience: std::time::Duration) -> anyhow::Result<Store> {
    std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create the data dir {}", data_dir.display()))?;
    Store::open(data_dir, patience)
}

/// A token cancelled by SIGINT or SIGTERM.
pub fn cancel_on_signal() -> CancellationToken {
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        runtime::shutdown::requested().await;
        eprintln!("stopping: finishing in-flight work (run again to continue)");
        trigger.cancel();
    });
    cancel
}
