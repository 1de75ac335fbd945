//! The meta table: the run's spec as the collector judges outcomes by it,
//! and the running figures `status` reads instead of scanning (totals of
//! what is enqueued, counters of what is settled, superseded outcomes,
//! grounding figures per model), plus the marks of upgrades done once.
//!
//! One sled tree (`meta`) holds these under fixed keys; the failures table
//! (`failure-kind/…`) and the positions table (`position/…`) keep their own
//! prefixes in it.

use super::record::{self, abort, TxResult};
use protocol::{codec, Usage};
use serde::{Deserialize, Serialize};
use sled::transaction::TransactionalTree;
use std::collections::BTreeMap;

/// Totals of what is enqueued, kept as running figures (not counted per call).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub episodes: u64,
    pub segments: u64,
}

/// Running totals of settled outcomes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    pub mined: u64,
    pub failed: u64,
    pub usage: Usage,
}

/// Outcomes kept whose spec is not the run's (after `respec`, or from a
/// worker that mined with other settings): kept in the output until replaced,
/// not counted as done.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Superseded {
    pub mined: u64,
    pub failed: u64,
}

impl Superseded {
    pub fn count(&mut self, mined: bool, delta: i64) {
        let field = if mined { &mut self.mined } else { &mut self.failed };
        *field = field.saturating_add_signed(delta);
    }

    pub fn total(&self) -> u64 {
        self.mined + self.failed
    }
}

/// Running grounding figures of one model's mined segments.
pub use protocol::status::GroundingFigures as Quality;

/// The run's mining spec, in the wire's JSON as NATS keeps it: its own
/// `format` field is its version (a newer one is refused by `RunSpec::decode`).
const SPEC: &[u8] = b"spec";
const TOTALS: &[u8] = b"totals";
/// Wire-encoded [`Counters`] (the codec's version byte).
const COUNTERS: &[u8] = b"counters";
const SUPERSEDED: &[u8] = b"superseded";
/// `quality/<model>` → that model's [`Quality`].
const QUALITY: &str = "quality/";

/// Upgrades of a store done once, each marked by a key when done.
#[derive(Clone, Copy, Debug)]
pub enum Upgrade {
    /// Grounding figures counted (stores from before they were kept).
    QualityCounted,
    /// Failures counted by kind (stores from before kinds).
    FailureKindsCounted,
}

impl Upgrade {
    pub(super) fn key(self) -> &'static [u8] {
        match self {
            Upgrade::QualityCounted => b"quality-counted",
            Upgrade::FailureKindsCounted => b"failure-kinds-counted",
        }
    }
}

#[derive(Clone)]
pub struct Meta {
    tree: sled::Tree,
}

impl Meta {
    pub(super) fn open(db: &sled::Db) -> anyhow::Result<Self> {
        Ok(Self { tree: db.open_tree("meta")? })
    }

    /// The tree, for the tables that keep a prefix of their own in it.
    pub(super) fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    /// The run's mining spec as `enqueue` or `respec` last set it here (the
    /// copy the collector judges outcomes by; the workers read NATS's).
    pub fn spec(&self) -> anyhow::Result<Option<protocol::spec::RunSpec>> {
        Ok(self.tree.get(SPEC)?.map(|bytes| protocol::spec::RunSpec::decode(&bytes)).transpose()?)
    }

    pub fn set_spec(&self, spec: &protocol::spec::RunSpec) -> anyhow::Result<()> {
        self.tree.insert(SPEC, spec.encode())?;
        Ok(())
    }

    pub fn totals(&self) -> anyhow::Result<Totals> {
        Ok(self.tree.get(TOTALS)?.map(|v| record::from_json(&v, "totals")).transpose()?.unwrap_or_default())
    }

    pub(super) fn has_totals(&self) -> anyhow::Result<bool> {
        Ok(self.tree.contains_key(TOTALS)?)
    }

    pub(super) fn set_totals(&self, totals: &Totals) -> anyhow::Result<()> {
        self.tree.insert(TOTALS, record::to_json(totals)?)?;
        Ok(())
    }

    pub fn counters(&self) -> anyhow::Result<Counters> {
        Ok(self.tree.get(COUNTERS)?.map(|v| codec::decode(&v)).transpose()?.unwrap_or_default())
    }

    /// Outcomes kept of an earlier spec than the run's.
    pub fn superseded(&self) -> anyhow::Result<Superseded> {
        Ok(self
            .tree
            .get(SUPERSEDED)?
            .map(|v| record::from_json(&v, "superseded figures"))
            .transpose()?
            .unwrap_or_default())
    }

    pub(super) fn set_superseded(&self, superseded: &Superseded) -> anyhow::Result<()> {
        self.tree.insert(SUPERSEDED, record::to_json(superseded)?)?;
        Ok(())
    }

    /// (mined, failed) under the run's spec: what `status` calls done and
    /// failed, and what a run waits for.
    pub fn settled_of_spec(&self) -> anyhow::Result<(u64, u64)> {
        let (counters, superseded) = (self.counters()?, self.superseded()?);
        Ok((counters.mined.saturating_sub(superseded.mined), counters.failed.saturating_sub(superseded.failed)))
    }

    /// Grounding figures per model.
    pub fn quality(&self) -> anyhow::Result<BTreeMap<String, Quality>> {
        self.tree
            .scan_prefix(QUALITY)
            .map(|entry| {
                let (key, value) = entry?;
                let model = String::from_utf8_lossy(&key[QUALITY.len()..]).into_owned();
                Ok((model, record::from_json(&value, "grounding figures")?))
            })
            .collect()
    }

    pub(super) fn set_quality(&self, model: &str, figures: &Quality) -> anyhow::Result<()> {
        self.tree.insert(format!("{QUALITY}{model}").as_bytes(), record::to_json(figures)?)?;
        Ok(())
    }

    pub(super) fn done(&self, upgrade: Upgrade) -> anyhow::Result<bool> {
        Ok(self.tree.contains_key(upgrade.key())?)
    }

    pub(super) fn mark_done(&self, upgrade: Upgrade) -> anyhow::Result<()> {
        self.tree.insert(upgrade.key(), &[])?;
        Ok(())
    }
}

/// The running figures inside `apply`'s transaction: read once, changed in
/// memory, written back by [`FiguresTx::write`].
pub struct FiguresTx<'t> {
    tree: &'t TransactionalTree,
    pub counters: Counters,
    pub superseded: Superseded,
    quality: BTreeMap<String, Quality>,
}

impl<'t> FiguresTx<'t> {
    pub fn read(tree: &'t TransactionalTree) -> TxResult<Self> {
        let counters = tree.get(COUNTERS)?.map(|v| codec::decode(&v)).transpose().map_err(abort)?.unwrap_or_default();
        let superseded = record::json_in_tx(tree, SUPERSEDED, "superseded figures")?.unwrap_or_default();
        Ok(Self { tree, counters, superseded, quality: BTreeMap::new() })
    }

    /// One model's grounding figures, read on first use.
    pub fn quality(&mut self, model: &str) -> TxResult<&mut Quality> {
        if !self.quality.contains_key(model) {
            let key = format!("{QUALITY}{model}");
            let stored = record::json_in_tx(self.tree, key.as_bytes(), "grounding figures")?;
            self.quality.insert(model.to_owned(), stored.unwrap_or_default());
        }
        Ok(self.quality.get_mut(model).expect("just inserted"))
    }

    pub fn write(self) -> TxResult<()> {
        self.tree.insert(COUNTERS, codec::encode(&self.counters).map_err(abort)?)?;
        self.tree.insert(SUPERSEDED, record::to_json(&self.superseded).map_err(abort)?)?;
        for (model, figures) in &self.quality {
            self.tree.insert(format!("{QUALITY}{model}").as_bytes(), record::to_json(figures).map_err(abort)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sled::Transactional;

    fn table() -> (tempfile::TempDir, Meta) {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().temporary(true).path(dir.path().join("t")).open().unwrap();
        (dir, Meta::open(&db).unwrap())
    }

    #[test]
    fn figures_changed_in_a_transaction_are_read_back_and_settled_of_spec_leaves_out_superseded() {
        let (_dir, meta) = table();
        assert_eq!((meta.counters().unwrap(), meta.superseded().unwrap()), Default::default());
        let tree = meta.tree().clone();
        (&tree,)
            .transaction(|(tree,)| {
                let mut figures = FiguresTx::read(tree)?;
                figures.counters.mined += 5;
                figures.counters.failed += 2;
                figures.superseded.count(true, 2);
                figures.superseded.count(false, 1);
                figures.quality("m")?.items += 3;
                figures.quality("m")?.ungrounded_items += 1;
                figures.write()
            })
            .unwrap();
        assert_eq!(meta.settled_of_spec().unwrap(), (3, 1));
        assert_eq!(meta.superseded().unwrap().total(), 3);
        let quality = meta.quality().unwrap();
        assert_eq!((quality["m"].items, quality["m"].ungrounded_items), (3, 1));
    }

    #[test]
    fn totals_spec_and_upgrade_marks_round_trip_and_json_records_carry_their_version() {
        let (_dir, meta) = table();
        meta.set_totals(&Totals { episodes: 2, segments: 240 }).unwrap();
        assert_eq!(meta.totals().unwrap(), Totals { episodes: 2, segments: 240 });
        assert_eq!(meta.tree().get(TOTALS).unwrap().unwrap()[0], record::JSON_V1);
        assert!(!meta.done(Upgrade::QualityCounted).unwrap());
        meta.mark_done(Upgrade::QualityCounted).unwrap();
        assert!(meta.done(Upgrade::QualityCounted).unwrap() && !meta.done(Upgrade::FailureKindsCounted).unwrap());
        assert_eq!(meta.spec().unwrap(), None);
    }

    #[test]
    fn figures_written_before_version_bytes_still_read() {
        let (_dir, meta) = table();
        meta.tree().insert(TOTALS, br#"{"episodes":1,"segments":6}"#.as_slice()).unwrap();
        meta.tree().insert(SUPERSEDED, br#"{"mined":4,"failed":0}"#.as_slice()).unwrap();
        meta.tree()
            .insert("quality/m", serde_json::to_vec(&Quality { mined: 7, ..Quality::default() }).unwrap())
            .unwrap();
        assert_eq!(meta.totals().unwrap(), Totals { episodes: 1, segments: 6 });
        assert_eq!(meta.superseded().unwrap(), Superseded { mined: 4, failed: 0 });
        assert_eq!(meta.quality().unwrap()["m"].mined, 7);
    }
}
