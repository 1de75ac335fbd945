//! The outcomes table: how each settled segment ended (one outcome per
//! segment key, the best one kept), and the outcomes kept aside for
//! segments this store has not enqueued yet (a store rebuilt from the
//! streams before `enqueue` ran).
//!
//! Two sled trees, `outcomes` and `orphans`: segment key (episode id, a
//! zero byte, the index big-endian, so an episode's keys sort together, in
//! order) → [`Settled`] in the wire's encoding.

use super::record::{abort, TxResult};
use anyhow::Context;
use protocol::codec::{self, CodecError};
use protocol::result::FailureRecordV1;
use protocol::{EpisodeId, FailureRecord, MiningSpec, SegmentKey, SegmentResult, Task, Usage};
use serde::{Deserialize, Serialize};
use sled::transaction::TransactionalTree;

/// How a segment ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Settled {
    Mined(SegmentResult),
    Failed(FailureRecord),
}

/// An outcome as a store of version 1 kept it (failures without a kind).
#[derive(Deserialize)]
enum SettledV1 {
    Mined(SegmentResult),
    Failed(FailureRecordV1),
}

impl From<SettledV1> for Settled {
    fn from(v1: SettledV1) -> Self {
        match v1 {
            SettledV1::Mined(result) => Settled::Mined(result),
            SettledV1::Failed(failure) => Settled::Failed(failure.into()),
        }
    }
}

impl Settled {
    /// As the store keeps it: a mined outcome in version 1 (its layout did
    /// not change), a failure with its kind in [`codec::FAILURE_KIND`].
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        match self {
            Settled::Mined(_) => codec::encode(self),
            Settled::Failed(_) => codec::encode_as(codec::FAILURE_KIND, self),
        }
    }

    /// What [`Settled::encode`] wrote, or a store of version 1 (a failure then has kind `unknown`).
    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        codec::decode_evolved::<Self, SettledV1>(bytes, codec::FAILURE_KIND)
    }

    pub fn task(&self) -> &Task {
        match self {
            Settled::Mined(r) => &r.task,
            Settled::Failed(f) => &f.task,
        }
    }

    pub fn usage(&self) -> Usage {
        match self {
            Settled::Mined(r) => r.provenance.usage,
            Settled::Failed(f) => f.provenance.usage,
        }
    }

    pub fn spec(&self) -> &MiningSpec {
        match self {
            Settled::Mined(r) => &r.provenance.spec,
            Settled::Failed(f) => &f.provenance.spec,
        }
    }

    pub fn is_mined(&self) -> bool {
        matches!(self, Settled::Mined(_))
    }

    /// Whether it was mined with `current` (the run's spec; any when none is
    /// recorded). A give-up read from an advisory names no spec: it is the
    /// run's, whatever it is.
    pub fn of_spec(&self, current: Option<&MiningSpec>) -> bool {
        let spec = self.spec();
        current.is_none_or(|current| spec.model.is_empty() || spec == current)
    }

    /// Which of two outcomes of a segment is kept: one of the run's spec
    /// over one of an earlier spec, then a result over a failure.
    pub fn rank(&self, current: Option<&MiningSpec>) -> (bool, bool) {
        (self.of_spec(current), self.is_mined())
    }
}

/// What recording an outcome did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// First outcome for the segment.
    New,
    /// A better outcome replaced the one kept: a result a failure (after
    /// `retry-failed`), or one of the run's spec one of an earlier spec.
    Replaced,
    /// The segment already had this or a better outcome: nothing changed.
    Duplicate,
    /// For content the segment no longer has (the file was edited).
    Stale,
    /// For a segment this store has not enqueued (yet): kept aside, and
    /// counted when `enqueue` records its episode with the same content.
    Orphan,
}

/// One outcome as the collector read it, and where from.
#[derive(Clone, Debug)]
pub struct Incoming {
    pub settled: Settled,
    pub stream: &'static str,
    pub sequence: u64,
    /// When its worker published it (the stream's own timestamp, unix ms):
    /// the time it is counted under in the rates and the dashboard's time
    /// series, so a catch-up or a rebuild from the streams shows no spike.
    /// 0: not known (an outcome kept aside and adopted later): counted now.
    pub mined_at_ms: u64,
}

/// `<episode id>\0<index, big-endian>`: an episode's keys sort together, in order.
pub fn key_bytes(key: &SegmentKey) -> Vec<u8> {
    let mut bytes = episode_prefix(&key.episode);
    bytes.extend_from_slice(&key.index.to_be_bytes());
    bytes
}

fn episode_prefix(episode: &EpisodeId) -> Vec<u8> {
    let mut prefix = episode.as_str().as_bytes().to_vec();
    prefix.push(0);
    prefix
}

fn decode(bytes: &[u8]) -> anyhow::Result<Settled> {
    Settled::decode(bytes).context("corrupt outcome")
}

#[derive(Clone)]
pub struct Outcomes {
    outcomes: sled::Tree,
    orphans: sled::Tree,
}

impl Outcomes {
    pub(super) fn open(db: &sled::Db) -> anyhow::Result<Self> {
        Ok(Self { outcomes: db.open_tree("outcomes")?, orphans: db.open_tree("orphans")? })
    }

    pub(super) fn trees(&self) -> (&sled::Tree, &sled::Tree) {
        (&self.outcomes, &self.orphans)
    }

    pub fn get(&self, key: &SegmentKey) -> anyhow::Result<Option<Settled>> {
        self.get_raw(&key_bytes(key))
    }

    /// The outcome under a key as stored (from the failures index).
    pub fn get_raw(&self, key: &[u8]) -> anyhow::Result<Option<Settled>> {
        self.outcomes.get(key)?.map(|v| decode(&v)).transpose()
    }

    /// How many of an episode's segments have an outcome (of any spec;
    /// keys only, nothing decoded).
    pub fn settled_in(&self, episode: &EpisodeId) -> anyhow::Result<u64> {
        let mut count = 0;
        for key in self.outcomes.scan_prefix(episode_prefix(episode)).keys() {
            key?;
            count += 1;
        }
        Ok(count)
    }

    /// Outcomes of one episode, by index.
    pub fn of_episode(&self, episode: &EpisodeId) -> anyhow::Result<Vec<Settled>> {
        self.outcomes.scan_prefix(episode_prefix(episode)).values().map(|v| decode(&v?)).collect()
    }

    /// Every outcome with its key, in key order (an episode's together).
    pub fn all(&self) -> impl Iterator<Item = anyhow::Result<(sled::IVec, Settled)>> {
        self.outcomes.iter().map(|entry| {
            let (key, value) = entry?;
            Ok((key, decode(&value)?))
        })
    }

    /// The outcome kept aside for a segment not enqueued here when it arrived.
    pub fn orphan(&self, key: &SegmentKey) -> anyhow::Result<Option<Settled>> {
        self.orphans.get(key_bytes(key))?.map(|v| decode(&v)).transpose()
    }

    /// The outcomes kept aside for `episode`, with their keys.
    pub fn orphans_of(&self, episode: &EpisodeId) -> anyhow::Result<Vec<(sled::IVec, Settled)>> {
        self.orphans
            .scan_prefix(episode_prefix(episode))
            .map(|entry| {
                let (key, value) = entry?;
                Ok((key, decode(&value)?))
            })
            .collect()
    }

    pub fn forget_orphan(&self, key: &[u8]) -> anyhow::Result<()> {
        self.orphans.remove(key)?;
        Ok(())
    }

    /// The outcomes not of `current`, counted (mined, failed), their tasks
    /// handed to `each` an episode at a time (memory stays flat at 840k
    /// segments). One pass; nothing written.
    pub fn not_of_spec(
        &self,
        current: &MiningSpec,
        mut each: impl FnMut(Vec<Task>) -> anyhow::Result<()>,
    ) -> anyhow::Result<super::Superseded> {
        let mut superseded = super::Superseded::default();
        let mut episode: Vec<Task> = Vec::new();
        for entry in self.all() {
            let (_, settled) = entry?;
            if settled.of_spec(Some(current)) {
                continue;
            }
            superseded.count(settled.is_mined(), 1);
            let task = settled.task();
            if episode.first().is_some_and(|first| first.segment.episode != task.segment.episode) {
                each(std::mem::take(&mut episode))?;
            }
            episode.push(task.clone());
        }
        if !episode.is_empty() {
            each(episode)?;
        }
        Ok(superseded)
    }
}

/// The outcomes table inside a transaction.
pub struct OutcomesTx<'t> {
    pub outcomes: &'t TransactionalTree,
    pub orphans: &'t TransactionalTree,
}

impl OutcomesTx<'_> {
    pub fn get(&self, key: &[u8]) -> TxResult<Option<Settled>> {
        self.outcomes.get(key)?.map(|v| Settled::decode(&v)).transpose().map_err(abort)
    }

    pub fn put(&self, key: &[u8], settled: &Settled) -> TxResult<()> {
        self.outcomes.insert(key, settled.encode().map_err(abort)?)?;
        Ok(())
    }

    pub fn remove(&self, key: &[u8]) -> TxResult<()> {
        self.outcomes.remove(key)?;
        Ok(())
    }

    /// Keeps `settled` aside for a segment not enqueued yet, unless a better one is kept.
    pub fn keep_orphan(&self, key: &[u8], settled: &Settled, current: Option<&MiningSpec>) -> TxResult<()> {
        let kept = self.orphans.get(key)?.map(|v| Settled::decode(&v)).transpose().map_err(abort)?;
        if kept.is_none_or(|kept| settled.rank(current) > kept.rank(current)) {
            self.orphans.insert(key, settled.encode().map_err(abort)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
pub(super) mod fixtures {
    //! Outcomes for the store's unit tests.
    use super::*;
    use protocol::{ContentHash, FailureKind, Provenance, Segment, WorkKey};

    /// A store with episode `show/a` of `segments` segments recorded (as `task` makes them).
    pub fn store_with_episode(dir: &std::path::Path, segments: u32) -> crate::store::Store {
        let store = crate::store::Store::open(dir, std::time::Duration::ZERO).unwrap();
        let records: Vec<crate::store::SegmentRecord> = (0..segments)
            .map(|i| crate::store::SegmentRecord {
                content_hash: task("show/a", i).segment.content_hash(),
                generation: 0,
            })
            .collect();
        let record = crate::store::episodes::test_record(segments);
        store.record_episode(&task("show/a", 0).segment.episode, &record, &records, &[]).unwrap();
        store
    }

    pub fn spec(model: &str) -> MiningSpec {
        MiningSpec { prompt_hash: "p".into(), schema_hash: "s".into(), model: model.into(), options: "{}".into() }
    }

    pub fn task(episode: &str, index: u32) -> Task {
        let segment = Segment {
            episode: EpisodeId::parse(episode).unwrap(),
            index,
            t0_ms: u64::from(index) * 30_000,
            t1_ms: u64::from(index + 1) * 30_000,
            speaker: None,
            text: format!("segment {index}"),
            times_estimated: false,
        };
        Task { segment, episode_title: "A".into(), source_path: "a.srt".into(), episode_segments: 3, generation: 0 }
    }

    fn provenance(model: &str) -> Provenance {
        Provenance { spec: spec(model), worker: "w".into(), attempts: 1, delivery: 1, usage: Usage::default() }
    }

    pub fn mined(task: Task, model: &str) -> Settled {
        Settled::Mined(SegmentResult {
            task,
            work_key: WorkKey(ContentHash([1; 16])),
            mined_json: r#"{"claims":[],"jargon":[],"people":[],"mental_models":[]}"#.into(),
            repairs: Vec::new(),
            provenance: provenance(model),
        })
    }

    pub fn failed(task: Task, model: &str, kind: FailureKind) -> Settled {
        Settled::Failed(FailureRecord {
            task,
            work_key: WorkKey(ContentHash([2; 16])),
            kind,
            reason: format!("{kind} happened"),
            raw_output: Some("not json".into()),
            provenance: provenance(model),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use protocol::FailureKind;
    use sled::Transactional;

    fn table() -> (tempfile::TempDir, Outcomes) {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().temporary(true).path(dir.path().join("t")).open().unwrap();
        (dir, Outcomes::open(&db).unwrap())
    }

    fn write(outcomes: &Outcomes, each: impl Fn(&OutcomesTx<'_>) -> TxResult<()>) {
        let (o, orphans) = outcomes.trees();
        (o, orphans).transaction(|(outcomes, orphans)| each(&OutcomesTx { outcomes, orphans })).unwrap();
    }

    #[test]
    fn outcomes_are_kept_by_segment_and_read_by_episode_in_index_order() {
        let (_dir, outcomes) = table();
        let put = |settled: Settled| {
            let key = key_bytes(&settled.task().segment.key());
            write(&outcomes, |tx| tx.put(&key, &settled));
        };
        put(mined(task("show/a", 10), "m"));
        put(failed(task("show/a", 2), "m", FailureKind::UnusableAnswer));
        put(mined(task("show/ab", 0), "m"));
        let a = EpisodeId::parse("show/a").unwrap();
        let indices: Vec<u32> = outcomes.of_episode(&a).unwrap().iter().map(|s| s.task().segment.index).collect();
        assert_eq!(indices, [2, 10], "by index, and show/ab is another episode");
        assert_eq!(outcomes.settled_in(&a).unwrap(), 2);
        let key = task("show/a", 2).segment.key();
        assert!(
            matches!(outcomes.get(&key).unwrap(), Some(Settled::Failed(f)) if f.kind == FailureKind::UnusableAnswer)
        );
        assert_eq!(outcomes.all().count(), 3);
    }

    #[test]
    fn an_orphan_keeps_the_better_of_what_arrives_until_it_is_forgotten() {
        let (_dir, outcomes) = table();
        let current = spec("new");
        let key = task("show/a", 0).segment.key();
        let bytes = key_bytes(&key);
        for settled in [
            failed(task("show/a", 0), "new", FailureKind::LlmUnavailable),
            mined(task("show/a", 0), "old"), // of an earlier spec: worse than the run's failure
            mined(task("show/a", 0), "new"),
            failed(task("show/a", 0), "new", FailureKind::UnusableAnswer),
        ] {
            write(&outcomes, |tx| tx.keep_orphan(&bytes, &settled, Some(&current)));
        }
        assert_eq!(outcomes.orphan(&key).unwrap(), Some(mined(task("show/a", 0), "new")));
        assert_eq!(outcomes.orphans_of(&key.episode).unwrap().len(), 1);
        outcomes.forget_orphan(&bytes).unwrap();
        assert_eq!(outcomes.orphan(&key).unwrap(), None);
    }

    #[test]
    fn outcomes_not_of_the_spec_are_counted_and_handed_over_an_episode_at_a_time() {
        let (_dir, outcomes) = table();
        for settled in [
            mined(task("show/a", 0), "old"),
            mined(task("show/a", 1), "new"),
            failed(task("show/a", 2), "old", FailureKind::Unknown),
            mined(task("show/b", 0), "old"),
        ] {
            let key = key_bytes(&settled.task().segment.key());
            write(&outcomes, |tx| tx.put(&key, &settled));
        }
        let mut handed = Vec::new();
        let counted = outcomes
            .not_of_spec(&spec("new"), |tasks| {
                handed.push(tasks.iter().map(|t| t.segment.key().to_string()).collect::<Vec<_>>());
                Ok(())
            })
            .unwrap();
        assert_eq!(counted, crate::store::Superseded { mined: 2, failed: 1 });
        assert_eq!(handed, [vec!["show/a#0", "show/a#2"], vec!["show/b#0"]]);
    }

    #[test]
    fn a_failure_is_stored_with_its_kind_and_a_mined_outcome_as_older_builds_read_it() {
        let settled = failed(task("show/a", 0), "m", FailureKind::OutputTruncated);
        let bytes = settled.encode().unwrap();
        assert_eq!(bytes[0], codec::FAILURE_KIND);
        assert_eq!(Settled::decode(&bytes).unwrap(), settled);
        let mined = mined(task("show/a", 1), "m");
        assert_eq!(mined.encode().unwrap()[0], 1, "a mined outcome keeps version 1: an older build reads it");
    }
}
