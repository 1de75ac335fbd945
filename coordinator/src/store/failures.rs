//! The failures table: which segments' kept outcome is a failure (an index,
//! so `failed` and `retry-failed` read no other outcome), and the failures
//! counted by reason and by kind for `status` and the dashboard.
//!
//! Two sled trees, `failed` (segment key → nothing) and `reasons` (the
//! reason's first [`REASON_CHARS`] characters → count), and the meta
//! tree's `failure-kind/<name>` counts. Counts are 8 bytes, big-endian; a
//! count that reaches 0 is removed.

use super::record::{add_count, u64_from, TxResult};
use protocol::{FailureKind, FailureRecord};
use sled::transaction::TransactionalTree;
use std::collections::BTreeMap;

/// How many characters of a failure's reason it is counted under.
pub const REASON_CHARS: usize = 80;

/// Where the failures of each kind are counted in the meta tree.
const FAILURE_KIND: &str = "failure-kind/";

/// The reason a failure is counted under.
pub fn reason_key(reason: &str) -> String {
    reason.chars().take(REASON_CHARS).collect()
}

fn kind_key(kind: FailureKind) -> String {
    format!("{FAILURE_KIND}{kind}")
}

#[derive(Clone)]
pub struct Failures {
    failed: sled::Tree,
    reasons: sled::Tree,
    meta: sled::Tree,
}

impl Failures {
    pub(super) fn open(db: &sled::Db, meta: &sled::Tree) -> anyhow::Result<Self> {
        Ok(Self { failed: db.open_tree("failed")?, reasons: db.open_tree("reasons")?, meta: meta.clone() })
    }

    pub(super) fn trees(&self) -> (&sled::Tree, &sled::Tree) {
        (&self.failed, &self.reasons)
    }

    /// The keys (as stored) of the segments whose kept outcome is a failure, in key order.
    pub fn keys(&self) -> impl Iterator<Item = anyhow::Result<sled::IVec>> {
        self.failed.iter().keys().map(|key| Ok(key?))
    }

    /// Failures counted by reason (its first [`REASON_CHARS`] characters).
    pub fn reasons(&self) -> anyhow::Result<BTreeMap<String, u64>> {
        self.reasons
            .iter()
            .map(|entry| {
                let (key, value) = entry?;
                Ok((String::from_utf8_lossy(&key).into_owned(), u64_from(&value)))
            })
            .collect()
    }

    /// Failures counted by kind.
    pub fn kinds(&self) -> anyhow::Result<BTreeMap<FailureKind, u64>> {
        self.meta
            .scan_prefix(FAILURE_KIND)
            .map(|entry| {
                let (key, value) = entry?;
                Ok((FailureKind::from_name(&String::from_utf8_lossy(&key[FAILURE_KIND.len()..])), u64_from(&value)))
            })
            .collect()
    }

    /// Sets the counts by kind (a store written before kinds, counted once on open).
    pub(super) fn set_kinds(&self, kinds: &BTreeMap<FailureKind, u64>) -> anyhow::Result<()> {
        for (&kind, count) in kinds {
            self.meta.insert(kind_key(kind).as_bytes(), &count.to_be_bytes())?;
        }
        Ok(())
    }

    /// Indexes a failure and counts its reason, outside a transaction (a
    /// store written before the index, rebuilt once on open).
    pub(super) fn index(&self, key: &[u8], failure: &FailureRecord) -> anyhow::Result<()> {
        self.failed.insert(key, &[])?;
        self.reasons.fetch_and_update(reason_key(&failure.reason).as_bytes(), |old| {
            Some((old.map_or(0, u64_from) + 1).to_be_bytes().to_vec())
        })?;
        Ok(())
    }
}

/// The failures table inside a transaction.
pub struct FailuresTx<'t> {
    pub failed: &'t TransactionalTree,
    pub reasons: &'t TransactionalTree,
    pub meta: &'t TransactionalTree,
}

impl FailuresTx<'_> {
    /// A failure became the kept outcome of the segment at `key`.
    pub fn add(&self, key: &[u8], failure: &FailureRecord) -> TxResult<()> {
        self.failed.insert(key, &[])?;
        self.count(failure, 1)
    }

    /// The failure kept at `key` was replaced or forgotten.
    pub fn remove(&self, key: &[u8], failure: &FailureRecord) -> TxResult<()> {
        self.failed.remove(key)?;
        self.count(failure, -1)
    }

    fn count(&self, failure: &FailureRecord, delta: i64) -> TxResult<()> {
        add_count(self.reasons, reason_key(&failure.reason).as_bytes(), delta)?;
        add_count(self.meta, kind_key(failure.kind).as_bytes(), delta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sled::Transactional;

    fn failure(reason: &str, kind: FailureKind) -> FailureRecord {
        let segment = protocol::Segment {
            episode: protocol::EpisodeId::parse("show/a").unwrap(),
            index: 0,
            t0_ms: 0,
            t1_ms: 1,
            speaker: None,
            text: "x".into(),
            times_estimated: false,
        };
        FailureRecord {
            task: protocol::Task {
                segment,
                episode_title: "A".into(),
                source_path: "a.srt".into(),
                episode_segments: 1,
                generation: 0,
            },
            work_key: protocol::WorkKey(protocol::ContentHash([0; 16])),
            kind,
            reason: reason.into(),
            raw_output: None,
            provenance: protocol::Provenance {
                spec: protocol::MiningSpec {
                    prompt_hash: "p".into(),
                    schema_hash: "s".into(),
                    model: "m".into(),
                    options: "{}".into(),
                },
                worker: "w".into(),
                attempts: 1,
                delivery: 1,
                usage: protocol::Usage::default(),
            },
        }
    }

    #[test]
    fn failures_are_indexed_and_counted_by_reason_and_kind_and_a_count_at_zero_goes() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().temporary(true).path(dir.path().join("t")).open().unwrap();
        let meta = db.open_tree("meta").unwrap();
        let failures = Failures::open(&db, &meta).unwrap();
        let long = "x".repeat(200);
        let (a, b) = (failure(&long, FailureKind::UnusableAnswer), failure("http 400", FailureKind::RefusedByServer));
        let (failed, reasons) = failures.trees();
        (failed, reasons, &meta)
            .transaction(|(failed, reasons, meta)| {
                let tx = FailuresTx { failed, reasons, meta };
                tx.add(b"k1", &a)?;
                tx.add(b"k2", &a)?;
                tx.add(b"k3", &b)?;
                tx.remove(b"k3", &b)
            })
            .unwrap();
        let keys: Vec<sled::IVec> = failures.keys().collect::<anyhow::Result<_>>().unwrap();
        assert_eq!(keys, [&b"k1"[..], &b"k2"[..]]);
        assert_eq!(failures.reasons().unwrap(), [("x".repeat(REASON_CHARS), 2)].into_iter().collect());
        assert_eq!(failures.kinds().unwrap(), [(FailureKind::UnusableAnswer, 2)].into_iter().collect());
        // A store written before kinds: counted once, then indexed by hand.
        failures.set_kinds(&[(FailureKind::Unknown, 1)].into_iter().collect()).unwrap();
        failures.index(b"k9", &b).unwrap();
        assert_eq!(failures.kinds().unwrap()[&FailureKind::Unknown], 1);
        assert_eq!(failures.reasons().unwrap()["http 400"], 1);
        assert_eq!(failures.keys().count(), 3);
    }
}
