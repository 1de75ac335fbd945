//! The positions table: for each stream the collector reads, the last
//! sequence whose messages are all applied, so a restarted collector
//! resumes there. Written in the same transaction as the outcomes they
//! came from; a position never moves back.
//!
//! Kept in the meta tree under `position/<stream>` (8 bytes, big-endian).

use super::record::{u64_from, TxResult};
use sled::transaction::TransactionalTree;
use std::collections::BTreeMap;

const POSITION: &str = "position/";

fn key(stream: &str) -> String {
    format!("{POSITION}{stream}")
}

#[derive(Clone)]
pub struct Positions {
    meta: sled::Tree,
}

impl Positions {
    pub(super) fn new(meta: &sled::Tree) -> Self {
        Self { meta: meta.clone() }
    }

    /// The last sequence of `stream` whose messages are all applied (0: none yet).
    pub fn get(&self, stream: &str) -> anyhow::Result<u64> {
        Ok(self.meta.get(key(stream))?.map_or(0, |v| u64_from(&v)))
    }

    /// Marks `stream` applied up to `sequence` (messages with no outcome, such as advisories).
    pub fn advance(&self, stream: &str, sequence: u64) -> anyhow::Result<()> {
        self.meta.fetch_and_update(key(stream).as_bytes(), |old| {
            Some(sequence.max(old.map_or(0, u64_from)).to_be_bytes().to_vec())
        })?;
        Ok(())
    }
}

/// The highest sequence seen of each stream in a batch, written by [`raise_in_tx`].
pub type Highest<'s> = BTreeMap<&'s str, u64>;

/// Raises each stream's position to the batch's highest (never lowers one).
pub fn raise_in_tx(meta: &TransactionalTree, highest: &Highest<'_>) -> TxResult<()> {
    for (stream, &sequence) in highest {
        let key = key(stream);
        let stored = meta.get(key.as_bytes())?.map_or(0, |v| u64_from(&v));
        meta.insert(key.as_bytes(), &sequence.max(stored).to_be_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sled::Transactional;

    #[test]
    fn positions_only_move_forward_whichever_way_they_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().temporary(true).path(dir.path().join("t")).open().unwrap();
        let meta = db.open_tree("meta").unwrap();
        let positions = Positions::new(&meta);
        assert_eq!(positions.get("RESULTS").unwrap(), 0);
        positions.advance("RESULTS", 7).unwrap();
        positions.advance("RESULTS", 3).unwrap();
        assert_eq!(positions.get("RESULTS").unwrap(), 7);
        let highest: Highest<'_> = [("RESULTS", 5), ("FAILED", 2)].into_iter().collect();
        (&meta,).transaction(|(meta,)| raise_in_tx(meta, &highest)).unwrap();
        assert_eq!((positions.get("RESULTS").unwrap(), positions.get("FAILED").unwrap()), (7, 2));
        assert_eq!(positions.get("ADVISORIES").unwrap(), 0, "each stream its own");
    }
}
