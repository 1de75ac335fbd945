//! The coordinator's checkpoint, in sled, as typed tables behind a thin
//! façade: [`episodes`] (what is enqueued), [`outcomes`] (how each segment
//! ended, and outcomes kept aside), [`failures`] (the failed index and its
//! counts), [`series`] (settled segments per 10 s), [`positions`] (where
//! each stream is applied up to) and [`meta`] (the spec and the running
//! figures). [`Store`] opens them, upgrades an older store once, and owns
//! the writes that span tables: recording an episode, and `apply`.
//!
//! The only module that names sled. Every record carries a version byte
//! ([`record`]). An episode's record is written after every one of its
//! tasks was acknowledged by the server, and after its segment records, so
//! a record's presence means "all of this episode is on the queue"; a crash
//! before it makes the next `enqueue` publish the episode again, which the
//! server's dedup absorbs.

mod apply;
pub mod episodes;
pub mod failures;
pub mod meta;
pub mod outcomes;
pub mod positions;
mod record;
pub mod series;
mod upgrade;

#[cfg(test)]
mod ranking_tests;

pub use episodes::{EpisodeRecord, SegmentRecord};
pub use meta::{Quality, Superseded};
pub use outcomes::{Incoming, Recorded, Settled};

use anyhow::Context;
use protocol::task::CueMark;
use protocol::{EpisodeId, FailureRecord};
use std::path::Path;

/// The store as a dashboard served by the process that holds it finds it:
/// set while it is open, cleared while it is closed (a collector paused by
/// a full disk closes and reopens it).
#[derive(Clone, Default)]
pub struct StoreSlot(std::sync::Arc<std::sync::RwLock<Option<Store>>>);

impl std::fmt::Debug for StoreSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.get().is_some() { "StoreSlot(open)" } else { "StoreSlot(closed)" })
    }
}

impl StoreSlot {
    pub fn set(&self, store: Option<Store>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = store;
    }

    pub fn get(&self) -> Option<Store> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    pub episodes: episodes::Episodes,
    pub outcomes: outcomes::Outcomes,
    pub failures: failures::Failures,
    pub series: series::Series,
    pub positions: positions::Positions,
    pub meta: meta::Meta,
}

impl Store {
    /// Opens the store, waiting up to `patience` while another process (a
    /// short-lived `status`, say) holds it.
    pub fn open(data_dir: &Path, patience: std::time::Duration) -> anyhow::Result<Self> {
        let path = data_dir.join("coordinator.sled");
        let deadline = std::time::Instant::now() + patience;
        let config = sled::Config::new().path(&path).cache_capacity(cache_bytes());
        let db = loop {
            // sled may panic on a damaged file: that is an error to explain, not a crash.
            let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| config.open()));
            match opened {
                Ok(Ok(db)) => break db,
                Ok(Err(err)) if held_by_another(&err) => {
                    if std::time::Instant::now() >= deadline {
                        return Err(err).with_context(|| {
                            format!(
                                "cannot open the coordinator's store at {}: another coordinator (a collector, \
                                 `run`) is using it; stop it or wait for it",
                                path.display()
                            )
                        });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
                Ok(Err(err)) => return Err(damaged(&path, &err.to_string())),
                Err(_) => return Err(damaged(&path, "sled panicked reading it")),
            }
        };
        let meta = meta::Meta::open(&db)?;
        let store = Self {
            episodes: episodes::Episodes::open(&db)?,
            outcomes: outcomes::Outcomes::open(&db)?,
            failures: failures::Failures::open(&db, meta.tree())?,
            series: series::Series::open(&db)?,
            positions: positions::Positions::new(meta.tree()),
            meta,
            db,
        };
        store.upgrade()?;
        Ok(store)
    }

    /// Records an episode as fully enqueued (see [`episodes::Episodes`]),
    /// keeps the totals, and counts the outcomes kept aside for it.
    pub fn record_episode(
        &self,
        id: &EpisodeId,
        record: &EpisodeRecord,
        segments: &[SegmentRecord],
        cues: &[Vec<CueMark>],
    ) -> anyhow::Result<()> {
        let old_count = self.episodes.record(id, record, segments, cues)?;
        let mut totals = self.meta.totals()?;
        totals.episodes += u64::from(old_count.is_none());
        totals.segments = totals.segments + u64::from(record.segment_count) - u64::from(old_count.unwrap_or(0));
        self.meta.set_totals(&totals)?;
        self.adopt_orphans(id)
    }

    /// Every failure kept (for `failed` and `retry-failed`), through the failures index.
    pub fn failed(&self) -> anyhow::Result<Vec<FailureRecord>> {
        let mut out = Vec::new();
        for key in self.failures.keys() {
            if let Some(Settled::Failed(failure)) = self.outcomes.get_raw(&key?)? {
                out.push(failure);
            }
        }
        Ok(out)
    }

    /// Makes everything written so far durable.
    pub async fn flush(&self) -> anyhow::Result<()> {
        // Not flush_async: it can hang when another sled database flushes at the
        // same time (sled #1241), as the in-process worker's outbox does in `run`.
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush()).await?.context("cannot flush the coordinator's store")?;
        Ok(())
    }
}

/// sled's page cache in MB (its default is 1 GiB); `PODMINE_STORE_CACHE_MB` sets
/// another. The working set (recent outcomes, the episode being written) is far smaller.
const CACHE_MB: u64 = 16;

fn cache_bytes() -> u64 {
    let mb = std::env::var("PODMINE_STORE_CACHE_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(CACHE_MB);
    mb * 1024 * 1024
}

/// The store is locked by another process (sled locks its files; its error
/// has no kind of its own, only this text).
fn held_by_another(err: &sled::Error) -> bool {
    matches!(err, sled::Error::Io(io) if io.to_string().starts_with("could not acquire lock"))
}

/// What to do about a store that cannot be read: it is rebuilt from the streams.
fn damaged(path: &Path, why: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "the coordinator's store at {} cannot be read ({why}): it is damaged or was written by another sled \
         version. Nothing is lost: every outcome is on the NATS streams. Move it aside \
         (`mv {} {}.broken`), then run `coordinator enqueue CORPUS` and `coordinator collect`: they rebuild it \
         from the streams without asking the LLM again",
        path.display(),
        path.display(),
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::episodes::test_record;
    use super::meta::Totals;
    use super::*;
    use protocol::ContentHash;

    #[tokio::test]
    async fn an_episode_and_its_totals_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let id = EpisodeId::parse("show/a").unwrap();
        let seg = |n: u8| SegmentRecord { content_hash: ContentHash([n; 16]), generation: 0 };
        {
            let store = Store::open(dir.path(), std::time::Duration::ZERO).unwrap();
            store.record_episode(&id, &test_record(3), &[seg(1), seg(2), seg(3)], &[]).unwrap();
            store.record_episode(&id, &test_record(2), &[seg(1), seg(9)], &[]).unwrap();
            store.flush().await.unwrap();
        }
        // sled's background flusher lets go of the lock shortly after the drop.
        let store = Store::open(dir.path(), std::time::Duration::from_secs(10)).unwrap();
        assert_eq!(store.episodes.get(&id).unwrap(), Some(test_record(2)));
        assert_eq!(store.episodes.segments(&id).unwrap(), vec![(0, seg(1)), (1, seg(9))]);
        assert_eq!(store.meta.totals().unwrap(), Totals { episodes: 1, segments: 2 });
    }
}
