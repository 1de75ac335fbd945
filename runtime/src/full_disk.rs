//! A full disk: telling it from other errors, saying which folder is full,
//! and waiting until space returns. The collector (its store, `out/`) and the
//! worker (its outbox) stop taking work they cannot store, wait here, reopen
//! their sled database (sled refuses every write after a failed one) and
//! carry on.

use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often a full folder is probed for space.
const PROBE_EVERY: Duration = Duration::from_secs(2);
/// The room a folder must have (probed by writing it) before work resumes:
/// enough for a batch of outcomes and a sled segment.
const PROBE_BYTES: usize = 1 << 20;
const PROBE_FILE: &str = ".podmine-space-probe";

/// ENOSPC (or a quota) anywhere in the error's chain.
pub fn is_full(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        let io = cause.downcast_ref::<std::io::Error>();
        io.is_some_and(|e| e.raw_os_error() == Some(28) || e.kind() == std::io::ErrorKind::StorageFull)
            || cause.to_string().contains("No space left on device")
            || cause.to_string().contains("os error 28")
    })
}

/// Whether `dir` can take [`PROBE_BYTES`] more now.
fn has_room(dir: &Path) -> bool {
    let probe = dir.join(PROBE_FILE);
    let written = std::fs::write(&probe, vec![0u8; PROBE_BYTES]).and_then(|()| std::fs::File::open(&probe)?.sync_all());
    let _ = std::fs::remove_file(&probe);
    written.is_ok()
}

/// The folders of `dirs` that are full now.
pub fn full(dirs: &[&Path]) -> Vec<PathBuf> {
    dirs.iter().filter(|dir| !has_room(dir)).map(|dir| dir.to_path_buf()).collect()
}

/// Waits until every folder of `dirs` has room again (or `cancel`).
pub async fn wait_for_space(dirs: &[&Path], cancel: &CancellationToken) {
    loop {
        let still_full = full(dirs);
        if still_full.is_empty() {
            return;
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(PROBE_EVERY) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enospc_is_told_from_other_errors() {
        let full = anyhow::Error::from(std::io::Error::from_raw_os_error(28)).context("cannot flush the store");
        assert!(is_full(&full));
        assert!(is_full(&anyhow::anyhow!("IO error: No space left on device (os error 28)")));
        assert!(!is_full(&anyhow::Error::from(std::io::Error::from_raw_os_error(13))));
    }
}
