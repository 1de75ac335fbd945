//! The coordinator's checkpoint: what has been enqueued, in sled.
//!
//! The only module that names sled. An episode's record is written after every
//! one of its tasks was acknowledged by the server, and after its segment
//! records, so a record's presence means "all of this episode is on the
//! queue"; a crash before it makes the next `enqueue` publish the episode
//! again, which the server's dedup absorbs.

use anyhow::Context;
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

/// Totals for `status`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Totals {
    pub episodes: u64,
    pub segments: u64,
}

#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    episodes: sled::Tree,
    segments: sled::Tree,
}

impl Store {
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        let path = data_dir.join("coordinator.sled");
        let db = sled::open(&path).with_context(|| {
            format!("cannot open the coordinator's store at {} (is another coordinator running on it?)", path.display())
        })?;
        Ok(Self { episodes: db.open_tree("episodes")?, segments: db.open_tree("segments")?, db })
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
    /// episode, replacing the old list), then the episode record itself.
    pub fn record_episode(
        &self,
        id: &EpisodeId,
        record: &EpisodeRecord,
        segments: &[SegmentRecord],
    ) -> anyhow::Result<()> {
        let bytes: Vec<u8> = segments.iter().flat_map(|s| s.to_bytes()).collect();
        self.segments.insert(id.as_str(), bytes)?;
        self.episodes.insert(id.as_str(), serde_json::to_vec(record)?)?;
        Ok(())
    }

    pub fn totals(&self) -> anyhow::Result<Totals> {
        let mut totals = Totals::default();
        for entry in self.episodes.iter() {
            let (_, value) = entry?;
            let record: EpisodeRecord = serde_json::from_slice(&value).context("corrupt episode record")?;
            totals.episodes += 1;
            totals.segments += u64::from(record.segment_count);
        }
        Ok(totals)
    }

    /// Makes everything written so far durable.
    pub async fn flush(&self) -> anyhow::Result<()> {
        self.db.flush_async().await.context("cannot flush the coordinator's store")?;
        Ok(())
    }
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
        }
    }

    #[tokio::test]
    async fn records_survive_reopening_and_shrinking_episodes_lose_old_segments() {
        let dir = tempfile::tempdir().unwrap();
        let id = EpisodeId::parse("show/a").unwrap();
        let seg = |n: u8| SegmentRecord { content_hash: ContentHash([n; 16]), generation: 0 };
        {
            let store = Store::open(dir.path()).unwrap();
            store.record_episode(&id, &record(3), &[seg(1), seg(2), seg(3)]).unwrap();
            store.record_episode(&id, &record(2), &[seg(1), seg(9)]).unwrap();
            store.flush().await.unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.episode(&id).unwrap(), Some(record(2)));
        assert_eq!(store.segments(&id).unwrap(), vec![(0, seg(1)), (1, seg(9))]);
        assert_eq!(store.totals().unwrap(), Totals { episodes: 1, segments: 2 });
    }
}
