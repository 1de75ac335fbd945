//! The outbox: results paid for but not yet confirmed published, in sled
//! (the only module that names it). A result is written and flushed here
//! before it is published, removed after its PubAck, and replayed at start,
//! so an LLM answer is never lost to a crash.
//!
//! Flushes are grouped: one at a time, on a blocking thread, each covering
//! every write made before it started, so results finishing together share
//! one fsync. sled 0.34's `flush_async` is not used: called from many tasks
//! at once it never wakes some of them (sled issues #1308 and #1241); the
//! dispatch benchmark hung on it after ~7,000 results at 64 calls in flight.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::watch;

/// sled's page cache (its default is 1 GiB): the outbox holds only results
/// waiting for their PubAck, a few hundred at most.
const CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// What to do about an outbox that cannot be read.
fn damaged(path: &Path, why: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "the worker outbox at {} cannot be read ({why}): it is damaged. It holds only answers not yet confirmed \
         published: move it aside (`mv {} {}.broken`) and start the worker again. Their tasks were not acked, so \
         they come back to the queue and are mined again (or are found already published); nothing is lost",
        path.display(),
        path.display(),
        path.display()
    )
}

/// A message waiting for its PubAck.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub subject: String,
    pub message_id: String,
    pub payload: Vec<u8>,
}

#[derive(Clone)]
pub struct Outbox {
    db: sled::Db,
    commits: Arc<GroupCommit>,
    path: std::path::PathBuf,
}

/// The outbox's disk filled up: the worker stopped pulling and must reopen
/// the outbox once there is room (sled refuses every write after a failed one).
#[derive(Debug, thiserror::Error)]
#[error("no space left for the worker outbox at {}", .0.display())]
pub struct OutboxFull(pub std::path::PathBuf);

/// Writes counted, and how many of them a finished flush covers.
struct GroupCommit {
    written: AtomicU64,
    flushed: watch::Sender<u64>,
    /// Held by the one task flushing now.
    flushing: tokio::sync::Mutex<()>,
}

impl Outbox {
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create the data dir {}", data_dir.display()))?;
        let path = data_dir.join("worker-outbox.sled");
        let config = sled::Config::new().path(&path).cache_capacity(CACHE_BYTES);
        // sled may panic on a damaged file: that is an error to explain, not a crash.
        let db = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| config.open())) {
            Ok(Ok(db)) => db,
            // sled's lock error has no kind of its own, only this text.
            Ok(Err(sled::Error::Io(err))) if err.to_string().starts_with("could not acquire lock") => {
                anyhow::bail!(
                    "the worker outbox at {} is in use by another worker ({err}): give each worker its own --data-dir",
                    path.display()
                )
            }
            Ok(Err(err)) => return Err(damaged(&path, &err.to_string())),
            Err(_) => return Err(damaged(&path, "sled panicked reading it")),
        };
        let commits =
            GroupCommit { written: AtomicU64::new(0), flushed: watch::channel(0).0, flushing: Default::default() };
        Ok(Self { db, commits: Arc::new(commits), path })
    }

    /// Stores `pending` durably (flushed to disk) under its message id.
    pub async fn put(&self, pending: &Pending) -> anyhow::Result<()> {
        self.db.insert(pending.message_id.as_bytes(), protocol::codec::encode(pending)?)?;
        self.durable().await.context("cannot flush the outbox")
    }

    /// Returns once a flush that started after this call's writes has finished.
    async fn durable(&self) -> anyhow::Result<()> {
        let mine = self.commits.written.fetch_add(1, Ordering::SeqCst) + 1;
        let mut flushed = self.commits.flushed.subscribe();
        loop {
            if *flushed.borrow_and_update() >= mine {
                return Ok(());
            }
            if let Ok(_flushing) = self.commits.flushing.try_lock() {
                let covers = self.commits.written.load(Ordering::SeqCst);
                let db = self.db.clone();
                let flushed = tokio::task::spawn_blocking(move || db.flush()).await?;
                if let Err(err) = flushed {
                    // Wake the writers waiting on this flush: each tries (and learns) for itself.
                    self.commits.flushed.send_modify(|_| {});
                    return Err(err.into());
                }
                self.commits.flushed.send_modify(|done| *done = (*done).max(covers));
                continue;
            }
            // Someone else is flushing: wait for it, then look again.
            flushed.changed().await?;
        }
    }

    /// Where the outbox lives (`<data dir>/worker-outbox.sled`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub async fn remove(&self, message_id: &str) -> anyhow::Result<()> {
        self.db.remove(message_id.as_bytes())?;
        Ok(())
    }

    /// The pending message with this id, if any.
    pub fn get(&self, message_id: &str) -> anyhow::Result<Option<Pending>> {
        self.db.get(message_id.as_bytes())?.map(|v| Ok(protocol::codec::decode(&v)?)).transpose()
    }

    /// Everything still waiting, oldest key first.
    pub fn pending(&self) -> anyhow::Result<Vec<Pending>> {
        self.db.iter().values().map(|v| Ok(protocol::codec::decode(&v?)?)).collect()
    }

    pub async fn flush(&self) -> anyhow::Result<()> {
        self.durable().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn many_concurrent_puts_all_complete_and_share_flushes() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        let puts = (0..500).map(|i| {
            let outbox = outbox.clone();
            tokio::spawn(async move {
                let pending = Pending { subject: "s".into(), message_id: format!("result:{i}"), payload: vec![1; 512] };
                outbox.put(&pending).await
            })
        });
        let all = tokio::time::timeout(std::time::Duration::from_secs(60), futures::future::join_all(puts)).await;
        let all = all.expect("every put completes (sled's own flush_async would hang here)");
        assert!(all.into_iter().all(|r| r.is_ok_and(|r| r.is_ok())));
        assert_eq!(outbox.pending().unwrap().len(), 500);
    }

    #[tokio::test]
    async fn pending_results_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let pending = Pending { subject: "s".into(), message_id: "result:1".into(), payload: vec![1, 2] };
        {
            let outbox = Outbox::open(dir.path()).unwrap();
            outbox.put(&pending).await.unwrap();
            outbox.put(&Pending { message_id: "result:2".into(), ..pending.clone() }).await.unwrap();
            outbox.remove("result:2").await.unwrap();
            outbox.flush().await.unwrap();
        }
        assert_eq!(reopen(dir.path()).pending().unwrap(), vec![pending]);
    }

    /// Opens the outbox again in this process: sled's background flusher
    /// lets go of the file lock shortly after the last handle is dropped
    /// (a restarted worker is a new process, and the lock went with the old one).
    fn reopen(dir: &Path) -> Outbox {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            match Outbox::open(dir) {
                Ok(outbox) => return outbox,
                Err(err) if format!("{err:#}").contains("could not acquire lock") => {
                    assert!(std::time::Instant::now() < deadline, "the lock was never released: {err:#}");
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(err) => panic!("{err:#}"),
            }
        }
    }
}
