//! The episodes table: what `enqueue` recorded of each episode (its record,
//! its segments' content and generation, its segments' cue marks) and which
//! episodes have their output file written.
//!
//! Four sled trees keyed by episode id: `episodes` (JSON record), `segments`
//! (the segment records packed in one value), `cues` (wire-encoded cue
//! marks), `complete` (empty values).

use super::record;
use anyhow::Context;
use protocol::task::CueMark;
use protocol::{ContentHash, EpisodeId, SegmentKey};
use serde::{Deserialize, Serialize};

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

/// The layout of an episode's packed segment records: this byte, then 20
/// bytes a segment. A list written before version bytes has no byte (its
/// length is a multiple of 20; this build's never is).
const SEGMENTS_V1: u8 = 1;

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

    fn pack(records: &[SegmentRecord]) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(1 + records.len() * Self::SIZE);
        bytes.push(SEGMENTS_V1);
        bytes.extend(records.iter().flat_map(|r| r.to_bytes()));
        bytes
    }

    fn unpack(bytes: &[u8], episode: &EpisodeId) -> anyhow::Result<Vec<SegmentRecord>> {
        let packed = match bytes.len() % Self::SIZE {
            0 => bytes,
            1 if bytes[0] == SEGMENTS_V1 => &bytes[1..],
            1 if bytes[0] > SEGMENTS_V1 => anyhow::bail!(
                "the store's segment list of {episode} was written by a newer podmine (record version {}): \
                 upgrade the coordinator",
                bytes[0]
            ),
            _ => anyhow::bail!("the store's segment list of {episode} is corrupt ({} bytes)", bytes.len()),
        };
        packed.chunks(Self::SIZE).map(Self::from_bytes).collect()
    }
}

#[derive(Clone)]
pub struct Episodes {
    records: sled::Tree,
    segments: sled::Tree,
    cues: sled::Tree,
    complete: sled::Tree,
}

impl Episodes {
    pub(super) fn open(db: &sled::Db) -> anyhow::Result<Self> {
        Ok(Self {
            records: db.open_tree("episodes")?,
            segments: db.open_tree("segments")?,
            cues: db.open_tree("cues")?,
            complete: db.open_tree("complete")?,
        })
    }

    pub fn get(&self, id: &EpisodeId) -> anyhow::Result<Option<EpisodeRecord>> {
        self.records.get(id.as_str())?.map(|bytes| record::from_json(&bytes, "episode record")).transpose()
    }

    /// Every enqueued episode, in id order.
    pub fn all(&self) -> anyhow::Result<Vec<(EpisodeId, EpisodeRecord)>> {
        self.records
            .iter()
            .map(|entry| {
                let (key, value) = entry?;
                let id = EpisodeId::parse(std::str::from_utf8(&key).context("corrupt episode key")?)?;
                Ok((id, record::from_json(&value, "episode record")?))
            })
            .collect()
    }

    /// Segment records of one episode, by index.
    pub fn segments(&self, id: &EpisodeId) -> anyhow::Result<Vec<(u32, SegmentRecord)>> {
        let Some(bytes) = self.segments.get(id.as_str())? else { return Ok(Vec::new()) };
        Ok((0..).zip(SegmentRecord::unpack(&bytes, id)?).collect())
    }

    /// Writes an episode: its segments (replacing the old list) and their cue
    /// marks, then the record itself (its presence means "all of it is on the
    /// queue"), and forgets that its output file was written. Returns the
    /// segment count of the record it replaced, if any.
    pub(super) fn record(
        &self,
        id: &EpisodeId,
        record: &EpisodeRecord,
        segments: &[SegmentRecord],
        cues: &[Vec<CueMark>],
    ) -> anyhow::Result<Option<u32>> {
        self.segments.insert(id.as_str(), SegmentRecord::pack(segments))?;
        self.cues.insert(id.as_str(), protocol::codec::encode(&cues)?)?;
        self.complete.remove(id.as_str())?;
        let old = self.records.insert(id.as_str(), record::to_json(record)?)?;
        old.map(|bytes| Ok(record::from_json::<EpisodeRecord>(&bytes, "episode record")?.segment_count)).transpose()
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

    /// Bumps a segment's generation (its task gets a fresh message id) and returns it.
    pub fn bump_generation(&self, key: &SegmentKey) -> anyhow::Result<u32> {
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
        self.segments.insert(episode.as_str(), SegmentRecord::pack(&segments))?;
        Ok(generations)
    }

    pub fn mark_complete(&self, id: &EpisodeId) -> anyhow::Result<()> {
        self.complete.insert(id.as_str(), &[])?;
        Ok(())
    }

    pub fn is_complete(&self, id: &EpisodeId) -> anyhow::Result<bool> {
        Ok(self.complete.contains_key(id.as_str())?)
    }

    /// Episodes whose output file is written.
    pub fn complete_count(&self) -> u64 {
        self.complete.len() as u64
    }
}

#[cfg(test)]
pub(super) fn test_record(segment_count: u32) -> EpisodeRecord {
    EpisodeRecord {
        source_path: "a.srt".into(),
        file_hash: "h".into(),
        title: "A".into(),
        format: "SRT".into(),
        segment_count,
        segment_seconds: 30,
        times_estimated: false,
        metadata: serde_json::Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> (tempfile::TempDir, sled::Db, Episodes) {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().temporary(true).path(dir.path().join("t")).open().unwrap();
        let episodes = Episodes::open(&db).unwrap();
        (dir, db, episodes)
    }

    fn seg(n: u8) -> SegmentRecord {
        SegmentRecord { content_hash: ContentHash([n; 16]), generation: 0 }
    }

    #[test]
    fn an_episode_is_recorded_with_its_segments_and_cues_and_replacing_it_says_the_old_count() {
        let (_dir, _db, episodes) = table();
        let id = EpisodeId::parse("show/a").unwrap();
        let cue = CueMark { at: 0, start_ms: 0, end_ms: 1_000 };
        assert_eq!(episodes.record(&id, &test_record(3), &[seg(1), seg(2), seg(3)], &[vec![cue]]).unwrap(), None);
        assert_eq!(episodes.cue_marks(&id).unwrap(), vec![vec![cue]]);
        episodes.mark_complete(&id).unwrap();
        assert_eq!(episodes.record(&id, &test_record(2), &[seg(1), seg(9)], &[]).unwrap(), Some(3));
        assert!(!episodes.is_complete(&id).unwrap(), "a re-recorded episode's file is written again");
        assert_eq!(episodes.get(&id).unwrap(), Some(test_record(2)));
        assert_eq!(episodes.segments(&id).unwrap(), vec![(0, seg(1)), (1, seg(9))]);
        assert_eq!(episodes.cue_marks(&id).unwrap(), Vec::<Vec<CueMark>>::new());
        assert_eq!(episodes.all().unwrap(), vec![(id, test_record(2))]);
    }

    #[test]
    fn generations_are_bumped_in_one_write_and_completion_is_kept() {
        let (_dir, _db, episodes) = table();
        let id = EpisodeId::parse("show/a").unwrap();
        episodes.record(&id, &test_record(3), &[seg(1), seg(2), seg(3)], &[]).unwrap();
        assert_eq!(episodes.bump_generations(&id, &[0, 2, 2]).unwrap(), [1, 1, 2]);
        assert_eq!(episodes.bump_generation(&SegmentKey { episode: id.clone(), index: 1 }).unwrap(), 1);
        let generations: Vec<u32> = episodes.segments(&id).unwrap().iter().map(|(_, s)| s.generation).collect();
        assert_eq!(generations, [1, 1, 2]);
        assert!(episodes.bump_generations(&id, &[3]).unwrap_err().to_string().contains("no segment show/a#3"));
        assert_eq!(episodes.complete_count(), 0);
        episodes.mark_complete(&id).unwrap();
        assert!(episodes.is_complete(&id).unwrap());
        assert_eq!(episodes.complete_count(), 1);
    }

    #[test]
    fn records_written_before_version_bytes_still_read() {
        let (_dir, db, episodes) = table();
        let id = EpisodeId::parse("show/a").unwrap();
        // As builds up to 0dd9fb1 wrote them: bare JSON, bare packed segments.
        db.open_tree("episodes").unwrap().insert("show/a", serde_json::to_vec(&test_record(2)).unwrap()).unwrap();
        let legacy: Vec<u8> = [seg(4), seg(5)].iter().flat_map(|s| s.to_bytes()).collect();
        db.open_tree("segments").unwrap().insert("show/a", legacy).unwrap();
        assert_eq!(episodes.get(&id).unwrap(), Some(test_record(2)));
        assert_eq!(episodes.segments(&id).unwrap(), vec![(0, seg(4)), (1, seg(5))]);
        // Rewritten by this build, with the byte.
        episodes.bump_generations(&id, &[1]).unwrap();
        let stored = db.open_tree("segments").unwrap().get("show/a").unwrap().unwrap();
        assert_eq!((stored[0], stored.len()), (SEGMENTS_V1, 41));
        let mut newer = stored.to_vec();
        newer[0] = SEGMENTS_V1 + 1;
        db.open_tree("segments").unwrap().insert("show/a", newer).unwrap();
        assert!(episodes.segments(&id).unwrap_err().to_string().contains("upgrade the coordinator"));
    }
}
