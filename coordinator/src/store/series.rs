//! The series table: segments and output tokens settled per 10-second
//! bucket, keyed by when they were mined (not collected), so the rates, the
//! ETA and the dashboard's chart need no scan of the outcomes.
//!
//! One sled tree (`buckets`): bucket index (unix ms / [`BUCKET_MS`],
//! big-endian) → wire-encoded [`Bucket`].

use super::record::{abort, TxResult};
use protocol::{codec, Usage};
use serde::{Deserialize, Serialize};
use sled::transaction::TransactionalTree;

/// Width of a completion bucket.
pub const BUCKET_MS: u64 = 10_000;

/// One point of the run's time series: (start unix ms, segments, output tokens).
pub type SeriesPoint = (u64, u64, u64);

/// Segments and output tokens settled in one bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    pub segments: u64,
    pub output_tokens: u64,
    /// When the bucket's first segment settled (unix ms): rates over a window
    /// that began mid-bucket stay exact.
    pub first_ms: u64,
}

#[derive(Clone)]
pub struct Series {
    buckets: sled::Tree,
}

impl Series {
    pub(super) fn open(db: &sled::Db) -> anyhow::Result<Self> {
        Ok(Self { buckets: db.open_tree("buckets")? })
    }

    pub(super) fn tree(&self) -> &sled::Tree {
        &self.buckets
    }

    /// Buckets that start at or after `since_unix_ms` (rounded down to a bucket).
    pub fn since(&self, since_unix_ms: u64) -> anyhow::Result<Vec<Bucket>> {
        self.buckets
            .range((since_unix_ms / BUCKET_MS).to_be_bytes()..)
            .values()
            .map(|v| Ok(codec::decode(&v?)?))
            .collect()
    }

    /// The whole run's throughput in points of `width_ms` or wider (a
    /// multiple of [`BUCKET_MS`], widened so a long run gives at most
    /// `max_points`), in time order, empty points included; and the width.
    pub fn points(&self, width_ms: u64, max_points: u64) -> anyhow::Result<(u64, Vec<SeriesPoint>)> {
        let (Some(first), Some(last)) = (self.buckets.first()?, self.buckets.last()?) else {
            return Ok((width_ms, Vec::new()));
        };
        let (first, last) = (start_of(&first.0), start_of(&last.0));
        let span = last - first + BUCKET_MS;
        let mut width = width_ms.max(BUCKET_MS).div_ceil(BUCKET_MS) * BUCKET_MS;
        while span.div_ceil(width) > max_points.max(1) {
            width *= 2;
        }
        let start = first / width * width;
        let mut points: Vec<SeriesPoint> = (0..=(last - start) / width).map(|i| (start + i * width, 0, 0)).collect();
        for entry in self.buckets.iter() {
            let (key, value) = entry?;
            let bucket: Bucket = codec::decode(&value)?;
            let point = &mut points[((start_of(&key) - start) / width) as usize];
            point.1 += bucket.segments;
            point.2 += bucket.output_tokens;
        }
        Ok((width, points))
    }
}

/// When a bucket starts (unix ms), from its key.
fn start_of(key: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&key[..8.min(key.len())]);
    u64::from_be_bytes(bytes) * BUCKET_MS
}

/// Counts one settled segment, mined at `at_ms`, inside a transaction.
pub fn add_in_tx(buckets: &TransactionalTree, at_ms: u64, usage: &Usage) -> TxResult<()> {
    let key = (at_ms / BUCKET_MS).to_be_bytes();
    let stored = buckets.get(key)?.map(|v| codec::decode(&v)).transpose().map_err(abort)?;
    let mut bucket: Bucket = stored.unwrap_or_default();
    if bucket.segments == 0 || at_ms < bucket.first_ms {
        bucket.first_ms = at_ms;
    }
    bucket.segments += 1;
    bucket.output_tokens += usage.output_tokens;
    buckets.insert(&key, codec::encode(&bucket).map_err(abort)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sled::Transactional;

    fn series_with(mined_at: &[u64]) -> (tempfile::TempDir, Series) {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().temporary(true).path(dir.path().join("t")).open().unwrap();
        let series = Series::open(&db).unwrap();
        let usage = Usage { output_tokens: 100, ..Usage::default() };
        (series.tree(),)
            .transaction(|(buckets,)| mined_at.iter().try_for_each(|&at| add_in_tx(buckets, at, &usage)))
            .unwrap();
        (dir, series)
    }

    #[test]
    fn buckets_count_segments_and_tokens_and_remember_their_first_moment() {
        let (_dir, series) = series_with(&[605_000, 601_000, 612_000]);
        let buckets = series.since(600_000).unwrap();
        assert_eq!(
            buckets,
            [
                Bucket { segments: 2, output_tokens: 200, first_ms: 601_000 },
                Bucket { segments: 1, output_tokens: 100, first_ms: 612_000 }
            ]
        );
        assert_eq!(series.since(615_000).unwrap().len(), 1, "rounded down to its bucket");
        assert!(series.since(620_000).unwrap().is_empty());
    }

    #[test]
    fn points_include_empty_ones_and_widen_to_fit_the_count_asked_for() {
        let (_dir, series) = series_with(&[600_000, 660_000, 780_000]);
        let (width, points) = series.points(60_000, 720).unwrap();
        assert_eq!(width, 60_000);
        assert_eq!(points, [(600_000, 1, 100), (660_000, 1, 100), (720_000, 0, 0), (780_000, 1, 100)]);
        let (wide, points) = series.points(60_000, 2).unwrap();
        assert_eq!((wide, points.iter().map(|p| p.1).sum::<u64>()), (120_000, 3), "{points:?}");
        assert!(points.len() <= 2);
        let (_dir, empty) = series_with(&[]);
        assert_eq!(empty.points(60_000, 10).unwrap(), (60_000, Vec::new()));
    }
}
