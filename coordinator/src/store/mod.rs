//! The coordinator's checkpoint, in sled: what has been enqueued, and (in
//! [`outcomes`]) how each segment ended.
//!
//! The only module that names sled. An episode's record is written after every
//! one of its tasks was acknowledged by the server, and after its segment
//! records, so a record's presence means "all of this episode is on the
//! queue"; a crash before it makes the next `enqueue` publish the episode
//! again, which the server's dedup absorbs.

pub mod outcomes;
#[cfg(test)]
mod ranking_tests;

pub use outcomes::{Incoming, Recorded, Settled};

use anyhow::Context;
use protocol::task::CueMark;
use protocol::{ContentHash, EpisodeId};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What the coordinator knows of one enqueued episode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpisodeRecord {
    /// File used, relative to the corpus root.
    pub source_path: String,
    /// Content hash of the file's bytes, to notice an edited file.
    pub file_hash: String,
    pub title: String,
    pub format: String,
    pub segment_count: u32,
    /// The `--segment-seconds` the episode was cut with; another value re-cuts it.
    pub segment_seconds: u64,
    pub times_estimated: bool,
    /// The transcript's scalar metadata (front-matter, JSON fields); absent
    /// in records written before it was kept, and then filled by the next enqueue.
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// One segment's enqueued content.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SegmentRecord {
    pub content_hash: ContentHash,
    pub generation: u32,
}

impl SegmentRecord {
    const SIZE: usize = 20;

    /// 16 bytes of hash, then the generation (little-endian): 840k of these
    /// are written per corpus, so they are fixed-size bytes, packed per episode.
    fn to_bytes(self) -> [u8; Self::SIZE] {
        let mut bytes = [0; 20];
        bytes[..16].copy_from_slice(&self.content_hash.0);
        bytes[16..].copy_from_slice(&self.generation.to_le_bytes());
        bytes
    }

    fn from_bytes(bytes: &[u8]) -> anyhow::Result<Self> {
        let bytes: [u8; Self::SIZE] = bytes.try_into().context("corrupt segment record")?;
        let mut hash = [0; 16];
        hash.copy_from_slice(&bytes[..16]);
        let generation = u32::from_le_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]);
        Ok(Self { content_hash: ContentHash(hash), generation })
    }
}

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

/// Totals for `status`, kept as running figures (not counted per call).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub episodes: u64,
    pub segments: u64,
}

#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    episodes: sled::Tree,
    segments: sled::Tree,
    /// Segment key → how it ended (encoded `Settled`).
    outcomes: sled::Tree,
    /// Running counters.
    meta: sled::Tree,
    /// 10-second bucket (by when the outcome was mined) → segments settled in it.
    buckets: sled::Tree,
    /// Failure reason (first 80 characters) → failed segments with it.
    reasons: sled::Tree,
    /// Segment keys whose outcome is a failure (an index: no scan of the outcomes).
    failed: sled::Tree,
    /// Outcomes read from the streams for segments not enqueued here yet
    /// (a store rebuilt from the streams before `enqueue` ran).
    orphans: sled::Tree,
    /// Episodes whose output file is written.
    complete: sled::Tree,
    /// Episode → its segments' cue marks (encoded `Vec<Vec<CueMark>>`, by
    /// index): what a task queued again in a compact-answer run carries.
    cues: sled::Tree,
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
        let store = Self {
            episodes: db.open_tree("episodes")?,
            segments: db.open_tree("segments")?,
            outcomes: db.open_tree("outcomes")?,
            meta: db.open_tree("meta")?,
            buckets: db.open_tree("buckets")?,
            reasons: db.open_tree("reasons")?,
            failed: db.open_tree("failed")?,
            orphans: db.open_tree("orphans")?,
            complete: db.open_tree("complete")?,
            cues: db.open_tree("cues")?,
            db,
        };
        store.upgrade()?;
        Ok(store)
    }

    /// Adds the running figures a store of an older version did not keep.
    fn upgrade(&self) -> anyhow::Result<()> {
        if !self.meta.contains_key(QUALITY_COUNTED)? {
            self.count_quality()?;
            self.meta.insert(QUALITY_COUNTED, &[])?;
        }
        if !self.meta.contains_key(FAILURE_KINDS_COUNTED)? {
            self.count_failure_kinds()?;
            self.meta.insert(FAILURE_KINDS_COUNTED, &[])?;
        }
        if self.meta.contains_key(TOTALS)? {
            return Ok(());
        }
        let mut totals = Totals::default();
        for entry in self.episodes.iter() {
            let (_, value) = entry?;
            let record: EpisodeRecord = serde_json::from_slice(&value).context("corrupt episode record")?;
            totals.episodes += 1;
            totals.segments += u64::from(record.segment_count);
        }
        self.index_failures()?;
        self.meta.insert(TOTALS, serde_json::to_vec(&totals)?)?;
        Ok(())
    }

    pub fn episode(&self, id: &EpisodeId) -> anyhow::Result<Option<EpisodeRecord>> {
        self.episodes
            .get(id.as_str())?
            .map(|bytes| serde_json::from_slice(&bytes).context("corrupt episode record"))
            .transpose()
    }

    /// Segment records of one episode, by index.
    pub fn segments(&self, id: &EpisodeId) -> anyhow::Result<Vec<(u32, SegmentRecord)>> {
        let Some(bytes) = self.segments.get(id.as_str())? else { return Ok(Vec::new()) };
        bytes
            .chunks(SegmentRecord::SIZE)
            .zip(0..)
            .map(|(chunk, index)| Ok((index, SegmentRecord::from_bytes(chunk)?)))
            .collect()
    }

    /// Records an episode as fully enqueued: its segments (one value per
    /// episode, replacing the old list) and their cue marks, then the
    /// episode record itself.
    pub fn record_episode(
        &self,
        id: &EpisodeId,
        record: &EpisodeRecord,
        segments: &[SegmentRecord],
        cues: &[Vec<CueMark>],
    ) -> anyhow::Result<()> {
        let bytes: Vec<u8> = segments.iter().flat_map(|s| s.to_bytes()).collect();
        self.segments.insert(id.as_str(), bytes)?;
        self.cues.insert(id.as_str(), protocol::codec::encode(&cues)?)?;
        self.complete.remove(id.as_str())?;
        let old = self.episodes.insert(id.as_str(), serde_json::to_vec(record)?)?;
        let old_count = match old {
            Some(bytes) => Some(serde_json::from_slice::<EpisodeRecord>(&bytes)?.segment_count),
            None => None,
        };
        let mut totals = self.totals()?;
        totals.episodes += u64::from(old_count.is_none());
        totals.segments = totals.segments + u64::from(record.segment_count) - u64::from(old_count.unwrap_or(0));
        self.meta.insert(TOTALS, serde_json::to_vec(&totals)?)?;
        self.adopt_orphans(id)
    }

    /// The cue marks of an episode's segments, by index (empty for an episode
    /// enqueued before they were kept: its tasks then go without, and compact
    /// answers estimate their times).
    pub fn cue_marks(&self, id: &EpisodeId) -> anyhow::Result<Vec<Vec<CueMark>>> {
        match self.cues.get(id.as_str())? {
            Some(bytes) => protocol::codec::decode(&bytes).with_context(|| format!("corrupt cue marks of {id}")),
            None => Ok(Vec::new()),
        }
    }

    /// Every enqueued episode, in id order.
    pub fn episodes(&self) -> anyhow::Result<Vec<(protocol::EpisodeId, EpisodeRecord)>> {
        self.episodes
            .iter()
            .map(|entry| {
                let (key, value) = entry?;
                let id = protocol::EpisodeId::parse(std::str::from_utf8(&key).context("corrupt episode key")?)?;
                Ok((id, serde_json::from_slice(&value).context("corrupt episode record")?))
            })
            .collect()
    }

    pub fn mark_complete(&self, id: &EpisodeId) -> anyhow::Result<()> {
        self.complete.insert(id.as_str(), &[])?;
        Ok(())
    }

    pub fn is_complete(&self, id: &EpisodeId) -> anyhow::Result<bool> {
        Ok(self.complete.contains_key(id.as_str())?)
    }

    pub fn complete_episodes(&self) -> u64 {
        self.complete.len() as u64
    }

    /// Bumps a segment's generation (its task gets a fresh message id) and returns it.
    pub fn bump_generation(&self, key: &protocol::SegmentKey) -> anyhow::Result<u32> {
        let bumped = self.bump_generations(&key.episode, &[key.index])?;
        bumped.first().copied().context("no such segment")
    }

    /// [`Self::bump_generation`] for several segments of one episode, in one
    /// write of its segment list; the new generations in the order given.
    pub fn bump_generations(&self, episode: &EpisodeId, indices: &[u32]) -> anyhow::Result<Vec<u32>> {
        let mut segments: Vec<SegmentRecord> = self.segments(episode)?.into_iter().map(|(_, r)| r).collect();
        let mut generations = Vec::with_capacity(indices.len());
        for &index in indices {
            let record = segments.get_mut(index as usize).with_context(|| format!("no segment {episode}#{index}"))?;
            record.generation += 1;
            generations.push(record.generation);
        }
        let bytes: Vec<u8> = segments.iter().flat_map(|s| s.to_bytes()).collect();
        self.segments.insert(episode.as_str(), bytes)?;
        Ok(generations)
    }

    /// The run's mining spec as `enqueue` or `respec` last set it here (the
    /// copy the collector judges outcomes by; the workers read NATS's).
    pub fn spec(&self) -> anyhow::Result<Option<protocol::spec::RunSpec>> {
        match self.meta.get(SPEC)? {
            Some(bytes) => Ok(Some(protocol::spec::RunSpec::decode(&bytes)?)),
            None => Ok(None),
        }
    }

    pub fn set_spec(&self, spec: &protocol::spec::RunSpec) -> anyhow::Result<()> {
        self.meta.insert(SPEC, spec.encode())?;
        Ok(())
    }

    pub fn totals(&self) -> anyhow::Result<Totals> {
        match self.meta.get(TOTALS)? {
            Some(bytes) => serde_json::from_slice(&bytes).context("corrupt totals"),
            None => Ok(Totals::default()),
        }
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

/// The run's mining spec (JSON, as in NATS).
const SPEC: &[u8] = b"spec";
/// Running totals of enqueued episodes and segments.
const TOTALS: &[u8] = b"totals";
/// Set once the grounding figures are counted (stores from before they were kept).
const QUALITY_COUNTED: &[u8] = b"quality-counted";
/// Set once the failures of a store written before kinds are counted by kind.
const FAILURE_KINDS_COUNTED: &[u8] = b"failure-kinds-counted";

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

fn transaction_error(err: sled::transaction::TransactionError<anyhow::Error>) -> anyhow::Error {
    match err {
        sled::transaction::TransactionError::Abort(err) => err,
        sled::transaction::TransactionError::Storage(err) => {
            anyhow::Error::from(err).context("cannot write to the coordinator's store")
        }
    }
}

/// `<episode id>\0<index, big-endian>`: an episode's keys sort together, in order.
fn segment_key_bytes(key: &protocol::SegmentKey) -> Vec<u8> {
    let mut bytes = key.episode.as_str().as_bytes().to_vec();
    bytes.push(0);
    bytes.extend_from_slice(&key.index.to_be_bytes());
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(count: u32) -> EpisodeRecord {
        EpisodeRecord {
            source_path: "a.srt".into(),
            file_hash: "h".into(),
            title: "A".into(),
            format: "SRT".into(),
            segment_count: count,
            segment_seconds: 30,
            times_estimated: false,
            metadata: serde_json::Map::new(),
        }
    }

    #[tokio::test]
    async fn records_survive_reopening_and_shrinking_episodes_lose_old_segments() {
        let dir = tempfile::tempdir().unwrap();
        let id = EpisodeId::parse("show/a").unwrap();
        let seg = |n: u8| SegmentRecord { content_hash: ContentHash([n; 16]), generation: 0 };
        {
            let store = Store::open(dir.path(), std::time::Duration::ZERO).unwrap();
            store.record_episode(&id, &record(3), &[seg(1), seg(2), seg(3)], &[]).unwrap();
            store.record_episode(&id, &record(2), &[seg(1), seg(9)], &[]).unwrap();
            store.flush().await.unwrap();
        }
        // sled's background flusher lets go of the lock shortly after the drop.
        let store = Store::open(dir.path(), std::time::Duration::from_secs(10)).unwrap();
        assert_eq!(store.episode(&id).unwrap(), Some(record(2)));
        assert_eq!(store.segments(&id).unwrap(), vec![(0, seg(1)), (1, seg(9))]);
        assert_eq!(store.totals().unwrap(), Totals { episodes: 1, segments: 2 });
    }
    #[tokio::test]
    async fn the_time_series_counts_outcomes_when_mined_not_when_collected() {
        use protocol::{MiningSpec, Provenance, SegmentResult, Task, Usage, WorkKey};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), std::time::Duration::ZERO).unwrap();
        let id = EpisodeId::parse("show/a").unwrap();
        let segment = |index: u32| protocol::Segment {
            episode: id.clone(),
            index,
            t0_ms: u64::from(index) * 30_000,
            t1_ms: u64::from(index + 1) * 30_000,
            speaker: None,
            text: format!("segment {index}"),
            times_estimated: false,
        };
        let records: Vec<SegmentRecord> =
            (0..3).map(|i| SegmentRecord { content_hash: segment(i).content_hash(), generation: 0 }).collect();
        store.record_episode(&id, &record(3), &records, &[]).unwrap();
        let spec =
            MiningSpec { prompt_hash: "p".into(), schema_hash: "s".into(), model: "m".into(), options: "{}".into() };
        let mined = |index: u32, at_ms: u64| Incoming {
            settled: Settled::Mined(SegmentResult {
                task: Task {
                    segment: segment(index),
                    episode_title: "A".into(),
                    source_path: "a.srt".into(),
                    episode_segments: 3,
                    generation: 0,
                },
                work_key: WorkKey(ContentHash::of_bytes(&[index as u8])),
                mined_json: r#"{"claims":[],"jargon":[],"people":[],"mental_models":[]}"#.into(),
                repairs: Vec::new(),
                provenance: Provenance {
                    spec: spec.clone(),
                    worker: "w".into(),
                    attempts: 1,
                    delivery: 1,
                    usage: Usage { output_tokens: 100, ..Usage::default() },
                },
            }),
            stream: "R",
            sequence: u64::from(index) + 1,
            mined_at_ms: at_ms,
        };
        // Mined over three minutes, collected all at once an hour later (a catch-up).
        let hour_later = 3_600_000 + 10 * 60_000;
        store.apply(&[mined(0, 600_000), mined(1, 660_000), mined(2, 780_000)], hour_later).unwrap();
        let (width, points) = store.series(60_000, 720).unwrap();
        assert_eq!(width, 60_000);
        assert_eq!(points, vec![(600_000, 1, 100), (660_000, 1, 100), (720_000, 0, 0), (780_000, 1, 100)]);
        let (wide, points) = store.series(60_000, 2).unwrap();
        assert_eq!((wide, points.iter().map(|p| p.1).sum::<u64>()), (120_000, 3), "{points:?}");
        assert!(points.len() <= 2);
    }

    #[tokio::test]
    async fn grounding_figures_are_kept_and_counted_once_for_a_store_that_lacked_them() {
        use protocol::{MiningSpec, Provenance, SegmentResult, Task, Usage, WorkKey};
        let dir = tempfile::tempdir().unwrap();
        let id = EpisodeId::parse("show/a").unwrap();
        let segment = protocol::Segment {
            episode: id.clone(),
            index: 0,
            t0_ms: 0,
            t1_ms: 30_000,
            speaker: None,
            text: "Rates rose because inflation did not cool.".into(),
            times_estimated: false,
        };
        let mined = serde_json::json!({"claims": [
            {"claim_text": "Rates rose on inflation", "evidence_quote": "rates rose because inflation"},
            {"claim_text": "Gold hit a record high", "evidence_quote": "gold hit a record"}
        ], "jargon": [], "people": [], "mental_models": []});
        let spec =
            MiningSpec { prompt_hash: "p".into(), schema_hash: "s".into(), model: "m".into(), options: "{}".into() };
        let result = SegmentResult {
            task: Task {
                segment: segment.clone(),
                episode_title: "A".into(),
                source_path: "a.srt".into(),
                episode_segments: 1,
                generation: 0,
            },
            work_key: WorkKey(ContentHash::of_bytes(b"w")),
            mined_json: mined.to_string(),
            repairs: Vec::new(),
            provenance: Provenance { spec, worker: "w".into(), attempts: 1, delivery: 1, usage: Usage::default() },
        };
        let want =
            outcomes::Quality { mined: 1, empty: 0, items: 2, ungrounded_items: 1, quotes: 2, ungrounded_quotes: 1 };
        {
            let store = Store::open(dir.path(), std::time::Duration::ZERO).unwrap();
            let segment_record = SegmentRecord { content_hash: segment.content_hash(), generation: 0 };
            store.record_episode(&id, &record(1), &[segment_record], &[]).unwrap();
            let incoming =
                Incoming { settled: Settled::Mined(result.clone()), stream: "R", sequence: 1, mined_at_ms: 0 };
            store.apply(std::slice::from_ref(&incoming), 0).unwrap();
            store.apply(&[Incoming { sequence: 2, ..incoming }], 0).unwrap(); // a duplicate counts nothing
            assert_eq!(store.quality().unwrap()["m"], want);
            // As a store written before the figures were kept.
            store.meta.remove(QUALITY_COUNTED).unwrap();
            store.meta.remove("quality/m").unwrap();
            store.flush().await.unwrap();
        }
        let store = Store::open(dir.path(), std::time::Duration::from_secs(10)).unwrap();
        assert_eq!(store.quality().unwrap()["m"], want, "counted once on open");
    }

    #[test]
    fn failures_are_counted_by_kind_through_replacements_and_retries() {
        use protocol::{FailureKind, FailureRecord, MiningSpec, Provenance, SegmentResult, Task, Usage, WorkKey};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), std::time::Duration::ZERO).unwrap();
        let id = EpisodeId::parse("show/a").unwrap();
        let task = |index: u32| Task {
            segment: protocol::Segment {
                episode: id.clone(),
                index,
                t0_ms: 0,
                t1_ms: 30_000,
                speaker: None,
                text: format!("segment {index}"),
                times_estimated: false,
            },
            episode_title: "A".into(),
            source_path: "a.srt".into(),
            episode_segments: 3,
            generation: 0,
        };
        let records: Vec<SegmentRecord> =
            (0..3).map(|i| SegmentRecord { content_hash: task(i).segment.content_hash(), generation: 0 }).collect();
        store.record_episode(&id, &record(3), &records, &[]).unwrap();
        let spec =
            MiningSpec { prompt_hash: "p".into(), schema_hash: "s".into(), model: "m".into(), options: "{}".into() };
        let provenance = Provenance { spec, worker: "w".into(), attempts: 3, delivery: 1, usage: Usage::default() };
        let failed = |index: u32, kind| Incoming {
            settled: Settled::Failed(FailureRecord {
                task: task(index),
                work_key: WorkKey(ContentHash::of_bytes(&[index as u8])),
                kind,
                reason: format!("{kind} happened"),
                raw_output: None,
                provenance: provenance.clone(),
            }),
            stream: "F",
            sequence: u64::from(index) + 1,
            mined_at_ms: 0,
        };
        let kinds = |store: &Store| store.failure_kinds().unwrap().into_iter().collect::<Vec<_>>();
        store
            .apply(
                &[
                    failed(0, FailureKind::UnusableAnswer),
                    failed(1, FailureKind::UnusableAnswer),
                    failed(2, FailureKind::ContextTooSmall),
                ],
                0,
            )
            .unwrap();
        assert_eq!(kinds(&store), [(FailureKind::ContextTooSmall, 1), (FailureKind::UnusableAnswer, 2)]);
        // A second failure of a segment that already failed changes nothing.
        store.apply(&[failed(0, FailureKind::LlmUnavailable)], 0).unwrap();
        assert_eq!(kinds(&store), [(FailureKind::ContextTooSmall, 1), (FailureKind::UnusableAnswer, 2)]);
        // A result replaces a failure; retry-failed forgets one.
        let mined = Incoming {
            settled: Settled::Mined(SegmentResult {
                task: task(0),
                work_key: WorkKey(ContentHash::of_bytes(b"0")),
                mined_json: r#"{"claims":[],"jargon":[],"people":[],"mental_models":[]}"#.into(),
                repairs: Vec::new(),
                provenance: provenance.clone(),
            }),
            stream: "R",
            sequence: 9,
            mined_at_ms: 0,
        };
        assert_eq!(store.apply(&[mined], 0).unwrap(), [Recorded::Replaced]);
        assert!(store.forget_failure(&task(2).segment.key()).unwrap());
        assert_eq!(kinds(&store), [(FailureKind::UnusableAnswer, 1)]);
        assert_eq!(store.failures().unwrap().iter().map(|f| f.kind).collect::<Vec<_>>(), [FailureKind::UnusableAnswer]);
    }
}
