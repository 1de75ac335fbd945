//! Settled segments in the store: one outcome per segment key, written
//! idempotently, with running counters and 10-second completion buckets for
//! `status` (rates, ETA, where the time goes).

use super::{segment_key_bytes, Store};
use anyhow::Context;
use protocol::{codec, FailureRecord, SegmentKey, SegmentResult, Usage};
use serde::{Deserialize, Serialize};

/// How a segment ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Settled {
    Mined(SegmentResult),
    Failed(FailureRecord),
}

impl Settled {
    pub fn task(&self) -> &protocol::Task {
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
}

/// What recording an outcome did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// First outcome for the segment.
    New,
    /// A mined result replaced a failure (after `retry-failed`).
    Replaced,
    /// The segment already had this or a better outcome: nothing changed.
    Duplicate,
    /// For content the segment no longer has (the file was edited), or not enqueued here.
    Stale,
}

/// Running totals kept beside the outcomes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    pub mined: u64,
    pub failed: u64,
    pub usage: Usage,
}

/// Width of a completion bucket.
pub const BUCKET_MS: u64 = 10_000;

/// Segments and output tokens settled in one bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    pub segments: u64,
    pub output_tokens: u64,
    /// When the bucket's first segment settled (unix ms): rates over a window
    /// that began mid-bucket stay exact.
    pub first_ms: u64,
}

const COUNTERS: &[u8] = b"counters";

impl Store {
    pub fn outcome(&self, key: &SegmentKey) -> anyhow::Result<Option<Settled>> {
        self.outcomes.get(segment_key_bytes(key))?.map(|v| codec::decode(&v).context("corrupt outcome")).transpose()
    }

    /// Records an outcome unless the segment already has one at least as good.
    pub fn record_outcome(&self, settled: &Settled, now_unix_ms: u64) -> anyhow::Result<Recorded> {
        let segment = &settled.task().segment;
        let key = segment.key();
        let current = self.segments(&key.episode)?.into_iter().find(|(i, _)| *i == key.index).map(|(_, r)| r);
        if current.is_none_or(|r| r.content_hash != segment.content_hash()) {
            return Ok(Recorded::Stale);
        }
        let recorded = match (self.outcome(&key)?, settled) {
            (None, _) => Recorded::New,
            (Some(Settled::Failed(_)), Settled::Mined(_)) => Recorded::Replaced,
            (Some(_), _) => return Ok(Recorded::Duplicate),
        };
        self.outcomes.insert(segment_key_bytes(&key), codec::encode(settled)?)?;
        let mut counters = self.counters()?;
        match (recorded, settled) {
            (Recorded::Replaced, _) => {
                counters.failed -= 1;
                counters.mined += 1;
            }
            (_, Settled::Mined(_)) => counters.mined += 1,
            (_, Settled::Failed(_)) => counters.failed += 1,
        }
        let usage = settled.usage();
        counters.usage.add(&usage);
        self.meta.insert(COUNTERS, codec::encode(&counters)?)?;
        let bucket_key = (now_unix_ms / BUCKET_MS).to_be_bytes();
        let mut bucket: Bucket =
            self.buckets.get(bucket_key)?.map(|v| codec::decode(&v)).transpose()?.unwrap_or_default();
        if bucket.segments == 0 {
            bucket.first_ms = now_unix_ms;
        }
        bucket.segments += 1;
        bucket.output_tokens += usage.output_tokens;
        self.buckets.insert(bucket_key, codec::encode(&bucket)?)?;
        Ok(recorded)
    }

    /// Forgets a failure so the segment counts as pending again (`retry-failed`).
    pub fn forget_failure(&self, key: &SegmentKey) -> anyhow::Result<bool> {
        let Some(Settled::Failed(_)) = self.outcome(key)? else { return Ok(false) };
        self.outcomes.remove(segment_key_bytes(key))?;
        let mut counters = self.counters()?;
        counters.failed -= 1;
        self.meta.insert(COUNTERS, codec::encode(&counters)?)?;
        Ok(true)
    }

    pub fn counters(&self) -> anyhow::Result<Counters> {
        Ok(self.meta.get(COUNTERS)?.map(|v| codec::decode(&v)).transpose()?.unwrap_or_default())
    }

    /// How many of an episode's segments are settled (keys only, nothing decoded).
    pub fn settled_in_episode(&self, episode: &protocol::EpisodeId) -> usize {
        let mut prefix = episode.as_str().as_bytes().to_vec();
        prefix.push(0);
        self.outcomes.scan_prefix(prefix).keys().count()
    }

    /// Outcomes of one episode, by index.
    pub fn episode_outcomes(&self, episode: &protocol::EpisodeId) -> anyhow::Result<Vec<Settled>> {
        let mut prefix = episode.as_str().as_bytes().to_vec();
        prefix.push(0);
        self.outcomes.scan_prefix(prefix).values().map(|v| Ok(codec::decode(&v?)?)).collect()
    }

    /// Every failure (for `failed`, `retry-failed` and `status`).
    pub fn failures(&self) -> anyhow::Result<Vec<FailureRecord>> {
        let mut out = Vec::new();
        for value in self.outcomes.iter().values() {
            if let Settled::Failed(failure) = codec::decode(&value?)? {
                out.push(failure);
            }
        }
        Ok(out)
    }

    /// Completion buckets that start at or after `since_unix_ms` (rounded down to a bucket).
    pub fn buckets_since(&self, since_unix_ms: u64) -> anyhow::Result<Vec<Bucket>> {
        self.buckets
            .range((since_unix_ms / BUCKET_MS).to_be_bytes()..)
            .values()
            .map(|v| Ok(codec::decode(&v?)?))
            .collect()
    }
}
