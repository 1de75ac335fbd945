//! Keeps the Mac awake while this worker has tasks in hand: from the first
//! task it runs `caffeinate -i -w <this pid>` (no idle sleep for as long as
//! this process lives, so a killed worker lets go too), and stops it once
//! the worker has had nothing in hand for a minute. A sleeping Mac stops
//! mining and leaves its tasks to be redelivered.
//!
//! Only where `/usr/bin/caffeinate` exists (macOS). `PODMINE_CAFFEINATE`
//! names another program (empty: never), `PODMINE_CAFFEINATE_IDLE_MS` the
//! idle time: the tests put a stand-in there.

use crate::observe::Counters;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const IDLE: Duration = Duration::from_secs(60);
const CHECK_EVERY: Duration = Duration::from_millis(500);

fn program() -> Option<PathBuf> {
    match std::env::var_os("PODMINE_CAFFEINATE") {
        Some(path) if path.is_empty() => None,
        Some(path) => Some(PathBuf::from(path)),
        None => Some(PathBuf::from("/usr/bin/caffeinate")).filter(|path| path.exists()),
    }
}

fn idle() -> Duration {
    std::env::var("PODMINE_CAFFEINATE_IDLE_MS").ok().and_then(|ms| ms.parse().ok()).map_or(IDLE, Duration::from_millis)
}

/// Runs until `cancel`: holds the Mac awake while `counters` shows tasks in flight.
pub async fn while_busy(counters: Arc<Counters>, cancel: CancellationToken) {
    let Some(program) = program() else { return };
    let idle = idle();
    let mut held: Option<tokio::process::Child> = None;
    let mut idle_since: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(CHECK_EVERY) => {}
        }
        let busy = counters.in_flight.load(Ordering::SeqCst) > 0;
        if busy {
            idle_since = None;
            if held.is_none() {
                held = hold(&program);
            }
        } else if held.is_some() && idle_since.get_or_insert_with(Instant::now).elapsed() >= idle {
            release(held.take()).await;
            idle_since = None;
        }
    }
    release(held).await;
}

fn hold(program: &std::path::Path) -> Option<tokio::process::Child> {
    let pid = std::process::id().to_string();
    match tokio::process::Command::new(program).args(["-i", "-w", &pid]).kill_on_drop(true).spawn() {
        Ok(child) => {
            tracing::info!("keeping this Mac awake while it mines ({} -i -w {pid})", program.display());
            Some(child)
        }
        Err(err) => {
            tracing::warn!(
                "cannot run {} to keep this Mac awake ({err}): it may sleep while mining",
                program.display()
            );
            None
        }
    }
}

async fn release(held: Option<tokio::process::Child>) {
    if let Some(mut child) = held {
        let _ = child.kill().await;
        tracing::info!("nothing to mine for a while: this Mac may sleep again");
    }
}
