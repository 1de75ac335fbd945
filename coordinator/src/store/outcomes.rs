//! Settled segments in the store: one outcome per segment key, written
//! idempotently, in batches, each batch in one sled transaction together with
//! the stream positions it came from, the running counters, the failure
//! reasons, the grounding figures per model and the 10-second completion
//! buckets `status` reads (rates, ETA, where the time goes). Nothing here
//! scans the outcomes to answer `status`.

use super::{segment_key_bytes, Store};
use anyhow::Context;
use protocol::codec::{self, CodecError};
use protocol::result::FailureRecordV1;
use protocol::{FailureKind, FailureRecord, MiningSpec, SegmentKey, SegmentResult, Usage};
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionalTree};
use sled::Transactional;
use std::collections::BTreeMap;

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

    pub fn spec(&self) -> &MiningSpec {
        match self {
            Settled::Mined(r) => &r.provenance.spec,
            Settled::Failed(f) => &f.provenance.spec,
        }
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
    fn rank(&self, current: Option<&MiningSpec>) -> (bool, bool) {
        (self.of_spec(current), matches!(self, Settled::Mined(_)))
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

/// Outcomes kept whose spec is not the run's (after `respec`, or from a
/// worker that mined with other settings): kept in the output until replaced,
/// not counted as done. Kept as JSON under its own key (the counters' binary
/// layout stays as older stores have it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Superseded {
    pub mined: u64,
    pub failed: u64,
}

impl Superseded {
    fn count(&mut self, settled: &Settled, delta: i64) {
        let field = match settled {
            Settled::Mined(_) => &mut self.mined,
            Settled::Failed(_) => &mut self.failed,
        };
        *field = field.saturating_add_signed(delta);
    }

    pub fn total(&self) -> u64 {
        self.mined + self.failed
    }
}

const SUPERSEDED: &[u8] = b"superseded";

/// Running totals kept beside the outcomes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    pub mined: u64,
    pub failed: u64,
    pub usage: Usage,
}

/// Running grounding figures of one model's mined segments (kept as JSON
/// under `quality/<model>` in the meta tree).
pub use protocol::status::GroundingFigures as Quality;

pub(super) const QUALITY: &str = "quality/";

/// Width of a completion bucket (keyed by when its outcomes were mined).
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

/// How many characters of a failure's reason it is counted under.
pub const REASON_CHARS: usize = 80;

const COUNTERS: &[u8] = b"counters";
const POSITION: &str = "position/";

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

/// The reason a failure is counted under.
pub fn reason_key(reason: &str) -> String {
    reason.chars().take(REASON_CHARS).collect()
}

fn abort(err: impl std::fmt::Display) -> ConflictableTransactionError<anyhow::Error> {
    ConflictableTransactionError::Abort(anyhow::anyhow!("{err}"))
}

fn decode_in_tx<T: serde::de::DeserializeOwned>(
    bytes: Option<sled::IVec>,
) -> Result<Option<T>, ConflictableTransactionError<anyhow::Error>> {
    bytes.map(|v| codec::decode(&v)).transpose().map_err(abort)
}

fn settled_in_tx(bytes: Option<sled::IVec>) -> Result<Option<Settled>, ConflictableTransactionError<anyhow::Error>> {
    bytes.map(|v| Settled::decode(&v)).transpose().map_err(abort)
}

/// Where the failures of each kind are counted in the meta tree (`failure-kind/<name>`).
pub(super) const FAILURE_KIND: &str = "failure-kind/";

fn add_kind(
    meta: &TransactionalTree,
    kind: FailureKind,
    delta: i64,
) -> Result<(), ConflictableTransactionError<anyhow::Error>> {
    add_count(meta, &format!("{FAILURE_KIND}{kind}"), delta)
}

fn add_reason(
    reasons: &TransactionalTree,
    reason: &str,
    delta: i64,
) -> Result<(), ConflictableTransactionError<anyhow::Error>> {
    add_count(reasons, &reason_key(reason), delta)
}

/// A running count under `key` (big-endian u64), removed when it reaches 0.
fn add_count(
    tree: &TransactionalTree,
    key: &str,
    delta: i64,
) -> Result<(), ConflictableTransactionError<anyhow::Error>> {
    let count = tree.get(key.as_bytes())?.map_or(0, |v| u64_from(&v)) as i64 + delta;
    if count > 0 {
        tree.insert(key.as_bytes(), &(count as u64).to_be_bytes())?;
    } else {
        tree.remove(key.as_bytes())?;
    }
    Ok(())
}

/// One model's grounding figures inside a transaction: read once, then updated in `quality`.
fn quality_entry<'q>(
    quality: &'q mut BTreeMap<String, Quality>,
    meta: &TransactionalTree,
    model: &str,
) -> Result<&'q mut Quality, ConflictableTransactionError<anyhow::Error>> {
    if !quality.contains_key(model) {
        let key = format!("{QUALITY}{model}");
        let stored = meta.get(key.as_bytes())?.map(|v| serde_json::from_slice(&v)).transpose();
        quality.insert(model.to_owned(), stored.map_err(abort)?.unwrap_or_default());
    }
    Ok(quality.get_mut(model).expect("just inserted"))
}

pub(super) fn u64_from(bytes: &[u8]) -> u64 {
    bytes.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

impl Store {
    /// Segments of `episode` with an outcome (of any spec).
    pub fn settled_in(&self, episode: &protocol::EpisodeId) -> anyhow::Result<u64> {
        let mut prefix = episode.as_str().as_bytes().to_vec();
        prefix.push(0);
        let mut count = 0;
        for key in self.outcomes.scan_prefix(prefix).keys() {
            key?;
            count += 1;
        }
        Ok(count)
    }

    pub fn outcome(&self, key: &SegmentKey) -> anyhow::Result<Option<Settled>> {
        self.outcomes.get(segment_key_bytes(key))?.map(|v| Settled::decode(&v).context("corrupt outcome")).transpose()
    }

    /// Records a batch of outcomes, and the stream positions they came from,
    /// in one transaction: after a crash the store holds all of it or none,
    /// so the collector resumes from a position that matches its outcomes.
    /// A segment that already has an outcome at least as good is left alone.
    pub fn apply(&self, batch: &[Incoming], now_unix_ms: u64) -> anyhow::Result<Vec<Recorded>> {
        // Whether each outcome is for content enqueued here (read outside the transaction).
        let mut current: BTreeMap<&protocol::EpisodeId, Vec<super::SegmentRecord>> = BTreeMap::new();
        let mut matches = Vec::with_capacity(batch.len());
        for incoming in batch {
            let segment = &incoming.settled.task().segment;
            if !current.contains_key(&segment.episode) {
                let records = self.segments(&segment.episode)?.into_iter().map(|(_, r)| r).collect();
                current.insert(&segment.episode, records);
            }
            let record = current.get(&segment.episode).and_then(|r| r.get(segment.index as usize));
            matches.push(record.map(|r| r.content_hash == segment.content_hash()));
        }
        // Grounding is a pure function of a result: computed once, outside the
        // transaction (which sled may run more than once).
        let groundings: Vec<Option<protocol::grounding::Grounding>> = batch
            .iter()
            .map(|incoming| match &incoming.settled {
                Settled::Mined(result) => Some(mining::grounding::of_result(result)),
                Settled::Failed(_) => None,
            })
            .collect();
        let current = self.spec()?.map(|spec| spec.mining_spec());
        let current = current.as_ref();
        let trees = (&self.outcomes, &self.meta, &self.buckets, &self.reasons, &self.failed, &self.orphans);
        let recorded = trees.transaction(|(outcomes, meta, buckets, reasons, failed, orphans)| {
            let mut counters: Counters = decode_in_tx(meta.get(COUNTERS)?)?.unwrap_or_default();
            let mut superseded: Superseded = meta
                .get(SUPERSEDED)?
                .map(|v| serde_json::from_slice(&v))
                .transpose()
                .map_err(abort)?
                .unwrap_or_default();
            let mut positions: BTreeMap<&str, u64> = BTreeMap::new();
            let mut recorded = Vec::with_capacity(batch.len());
            let mut quality: BTreeMap<String, Quality> = BTreeMap::new();
            for ((incoming, matches), grounding) in batch.iter().zip(&matches).zip(&groundings) {
                if !incoming.stream.is_empty() {
                    let position = positions.entry(incoming.stream).or_default();
                    *position = (*position).max(incoming.sequence);
                }
                let settled = &incoming.settled;
                let key = segment_key_bytes(&settled.task().segment.key());
                match matches {
                    Some(true) => {}
                    Some(false) => {
                        recorded.push(Recorded::Stale);
                        continue;
                    }
                    None => {
                        // Keep the better of what is kept aside.
                        let kept = settled_in_tx(orphans.get(&key)?)?;
                        if kept.is_none_or(|kept| settled.rank(current) > kept.rank(current)) {
                            orphans.insert(key.as_slice(), settled.encode().map_err(abort)?)?;
                        }
                        recorded.push(Recorded::Orphan);
                        continue;
                    }
                }
                let previous = settled_in_tx(outcomes.get(&key)?)?;
                let outcome = match &previous {
                    None => Recorded::New,
                    Some(previous) if settled.rank(current) > previous.rank(current) => Recorded::Replaced,
                    Some(_) => {
                        recorded.push(Recorded::Duplicate);
                        continue;
                    }
                };
                outcomes.insert(key.as_slice(), settled.encode().map_err(abort)?)?;
                if let Some(previous) = &previous {
                    match previous {
                        Settled::Failed(old) => {
                            counters.failed -= 1;
                            add_reason(reasons, &old.reason, -1)?;
                            add_kind(meta, old.kind, -1)?;
                            failed.remove(key.as_slice())?;
                        }
                        Settled::Mined(old) => {
                            counters.mined -= 1;
                            quality_entry(&mut quality, meta, &old.provenance.spec.model)?
                                .remove(&mining::grounding::of_result(old));
                        }
                    }
                    if !previous.of_spec(current) {
                        superseded.count(previous, -1);
                    }
                }
                match settled {
                    Settled::Mined(_) => counters.mined += 1,
                    Settled::Failed(failure) => {
                        counters.failed += 1;
                        add_reason(reasons, &failure.reason, 1)?;
                        add_kind(meta, failure.kind, 1)?;
                        failed.insert(key.as_slice(), &[])?;
                    }
                }
                if !settled.of_spec(current) {
                    superseded.count(settled, 1);
                }
                if let (Settled::Mined(result), Some(grounding)) = (settled, grounding) {
                    quality_entry(&mut quality, meta, &result.provenance.spec.model)?.add(grounding);
                }
                let usage = settled.usage();
                counters.usage.add(&usage);
                let at_ms = if incoming.mined_at_ms > 0 { incoming.mined_at_ms } else { now_unix_ms };
                let bucket_key = (at_ms / BUCKET_MS).to_be_bytes();
                let mut bucket: Bucket = decode_in_tx(buckets.get(bucket_key)?)?.unwrap_or_default();
                if bucket.segments == 0 || at_ms < bucket.first_ms {
                    bucket.first_ms = at_ms;
                }
                bucket.segments += 1;
                bucket.output_tokens += usage.output_tokens;
                buckets.insert(&bucket_key, codec::encode(&bucket).map_err(abort)?)?;
                recorded.push(outcome);
            }
            meta.insert(COUNTERS, codec::encode(&counters).map_err(abort)?)?;
            meta.insert(SUPERSEDED, serde_json::to_vec(&superseded).map_err(abort)?)?;
            for (model, figures) in quality {
                let key = format!("{QUALITY}{model}");
                meta.insert(key.as_bytes(), serde_json::to_vec(&figures).map_err(abort)?)?;
            }
            for (stream, sequence) in positions {
                let key = format!("{POSITION}{stream}");
                let stored = meta.get(key.as_bytes())?.map_or(0, |v| u64_from(&v));
                meta.insert(key.as_bytes(), &sequence.max(stored).to_be_bytes())?;
            }
            Ok(recorded)
        });
        recorded.map_err(super::transaction_error)
    }

    /// Outcomes kept of an earlier spec than the run's.
    pub fn superseded(&self) -> anyhow::Result<Superseded> {
        Ok(self.meta.get(SUPERSEDED)?.map(|v| serde_json::from_slice(&v)).transpose()?.unwrap_or_default())
    }

    /// (mined, failed) under the run's spec: what `status` calls done and
    /// failed, and what a run waits for.
    pub fn settled_of_spec(&self) -> anyhow::Result<(u64, u64)> {
        let (counters, superseded) = (self.counters()?, self.superseded()?);
        Ok((counters.mined.saturating_sub(superseded.mined), counters.failed.saturating_sub(superseded.failed)))
    }

    /// Every outcome not of `current`, counted afresh and kept as the
    /// superseded figures (a `respec`); their tasks handed to `each`, one
    /// episode at a time (memory stays flat at 840k segments).
    pub fn recount_superseded(
        &self,
        current: &MiningSpec,
        each: impl FnMut(Vec<protocol::Task>) -> anyhow::Result<()>,
    ) -> anyhow::Result<Superseded> {
        let superseded = self.not_of_spec(current, each)?;
        self.meta.insert(SUPERSEDED, serde_json::to_vec(&superseded)?)?;
        Ok(superseded)
    }

    /// The outcomes not of `current`, counted, their tasks handed to `each`
    /// an episode at a time (nothing written). One pass over the outcomes.
    pub fn not_of_spec(
        &self,
        current: &MiningSpec,
        mut each: impl FnMut(Vec<protocol::Task>) -> anyhow::Result<()>,
    ) -> anyhow::Result<Superseded> {
        let mut superseded = Superseded::default();
        let mut episode: Vec<protocol::Task> = Vec::new();
        for value in self.outcomes.iter().values() {
            let settled = Settled::decode(&value?).context("corrupt outcome")?;
            if settled.of_spec(Some(current)) {
                continue;
            }
            superseded.count(&settled, 1);
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

    /// The last sequence of `stream` whose messages are all applied (0: none yet).
    pub fn position(&self, stream: &str) -> anyhow::Result<u64> {
        Ok(self.meta.get(format!("{POSITION}{stream}"))?.map_or(0, |v| u64_from(&v)))
    }

    /// Marks `stream` applied up to `sequence` (messages with no outcome, such as advisories).
    pub fn advance(&self, stream: &str, sequence: u64) -> anyhow::Result<()> {
        let key = format!("{POSITION}{stream}");
        self.meta.fetch_and_update(key.as_bytes(), |old| {
            Some(sequence.max(old.map_or(0, u64_from)).to_be_bytes().to_vec())
        })?;
        Ok(())
    }

    /// The outcome kept aside for a segment not enqueued here when it arrived.
    pub fn orphan(&self, key: &SegmentKey) -> anyhow::Result<Option<Settled>> {
        self.orphans.get(segment_key_bytes(key))?.map(|v| Settled::decode(&v).context("corrupt outcome")).transpose()
    }

    /// Counts the outcomes kept aside for `episode` now that it is recorded
    /// (those for other content stay stale and are dropped).
    pub(super) fn adopt_orphans(&self, episode: &protocol::EpisodeId) -> anyhow::Result<()> {
        let mut prefix = episode.as_str().as_bytes().to_vec();
        prefix.push(0);
        let (mut adopted, mut keys) = (Vec::new(), Vec::new());
        for entry in self.orphans.scan_prefix(&prefix) {
            let (key, value) = entry?;
            adopted.push(Incoming { settled: Settled::decode(&value)?, stream: "", sequence: 0, mined_at_ms: 0 });
            keys.push(key);
        }
        if !adopted.is_empty() {
            self.apply(&adopted, runtime::clock::unix_now_ms())?;
        }
        // Only once they are counted: an error above leaves them for the next try.
        for key in keys {
            self.orphans.remove(key)?;
        }
        Ok(())
    }

    /// Forgets a failure so the segment counts as pending again (`retry-failed`).
    pub fn forget_failure(&self, key: &SegmentKey) -> anyhow::Result<bool> {
        let key = segment_key_bytes(key);
        let trees = (&self.outcomes, &self.meta, &self.reasons, &self.failed);
        let forgot = trees.transaction(|(outcomes, meta, reasons, failed)| {
            let Some(Settled::Failed(failure)) = settled_in_tx(outcomes.get(&key)?)? else {
                return Ok(false);
            };
            outcomes.remove(key.as_slice())?;
            failed.remove(key.as_slice())?;
            add_reason(reasons, &failure.reason, -1)?;
            add_kind(meta, failure.kind, -1)?;
            let mut counters: Counters = decode_in_tx(meta.get(COUNTERS)?)?.unwrap_or_default();
            counters.failed -= 1;
            meta.insert(COUNTERS, codec::encode(&counters).map_err(abort)?)?;
            Ok(true)
        });
        forgot.map_err(super::transaction_error)
    }

    pub fn counters(&self) -> anyhow::Result<Counters> {
        Ok(self.meta.get(COUNTERS)?.map(|v| codec::decode(&v)).transpose()?.unwrap_or_default())
    }

    /// Failures counted by reason (its first [`REASON_CHARS`] characters).
    /// Grounding figures per model.
    pub fn quality(&self) -> anyhow::Result<BTreeMap<String, Quality>> {
        self.meta
            .scan_prefix(QUALITY)
            .map(|entry| {
                let (key, value) = entry?;
                let model = String::from_utf8_lossy(&key[QUALITY.len()..]).into_owned();
                Ok((model, serde_json::from_slice(&value).context("corrupt grounding figures")?))
            })
            .collect()
    }

    /// Counts the grounding figures of a store written before they were kept
    /// (once: one pass over the mined outcomes).
    pub(super) fn count_quality(&self) -> anyhow::Result<()> {
        let mut quality: BTreeMap<String, Quality> = BTreeMap::new();
        for entry in self.outcomes.iter() {
            let (_, value) = entry?;
            if let Settled::Mined(result) = Settled::decode(&value).context("corrupt outcome")? {
                quality
                    .entry(result.provenance.spec.model.clone())
                    .or_default()
                    .add(&mining::grounding::of_result(&result));
            }
        }
        for (model, figures) in quality {
            self.meta.insert(format!("{QUALITY}{model}").as_bytes(), serde_json::to_vec(&figures)?)?;
        }
        Ok(())
    }

    /// Failures counted by kind.
    pub fn failure_kinds(&self) -> anyhow::Result<BTreeMap<FailureKind, u64>> {
        self.meta
            .scan_prefix(FAILURE_KIND)
            .map(|entry| {
                let (key, value) = entry?;
                Ok((FailureKind::from_name(&String::from_utf8_lossy(&key[FAILURE_KIND.len()..])), u64_from(&value)))
            })
            .collect()
    }

    /// Counts the failures by kind of a store written before kinds were kept
    /// (once: one pass over the failures; theirs are all `unknown`).
    pub(super) fn count_failure_kinds(&self) -> anyhow::Result<()> {
        let mut kinds: BTreeMap<FailureKind, u64> = BTreeMap::new();
        for failure in self.failures()? {
            *kinds.entry(failure.kind).or_default() += 1;
        }
        for (kind, count) in kinds {
            self.meta.insert(format!("{FAILURE_KIND}{kind}").as_bytes(), &count.to_be_bytes())?;
        }
        Ok(())
    }

    pub fn failure_reasons(&self) -> anyhow::Result<BTreeMap<String, u64>> {
        self.reasons
            .iter()
            .map(|entry| {
                let (key, value) = entry?;
                Ok((String::from_utf8_lossy(&key).into_owned(), u64_from(&value)))
            })
            .collect()
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
        self.outcomes.scan_prefix(prefix).values().map(|v| Ok(Settled::decode(&v?)?)).collect()
    }

    /// Every failure (for `failed` and `retry-failed`), from the index of failed segments.
    pub fn failures(&self) -> anyhow::Result<Vec<FailureRecord>> {
        let mut out = Vec::new();
        for key in self.failed.iter().keys() {
            if let Some(value) = self.outcomes.get(key?)? {
                if let Settled::Failed(failure) = Settled::decode(&value)? {
                    out.push(failure);
                }
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

    /// The whole run's throughput, by when its outcomes were mined, in
    /// points of `width_ms` or wider (a multiple of [`BUCKET_MS`], widened so
    /// a long run gives at most `max_points`): (start unix ms, segments,
    /// output tokens), in time order, empty points included.
    pub fn series(&self, width_ms: u64, max_points: u64) -> anyhow::Result<(u64, Vec<SeriesPoint>)> {
        let index = |key: &[u8]| -> u64 {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&key[..8.min(key.len())]);
            u64::from_be_bytes(bytes)
        };
        let (Some(first), Some(last)) = (self.buckets.first()?, self.buckets.last()?) else {
            return Ok((width_ms, Vec::new()));
        };
        let (first, last) = (index(&first.0) * BUCKET_MS, index(&last.0) * BUCKET_MS);
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
            let point = &mut points[((index(&key) * BUCKET_MS - start) / width) as usize];
            point.1 += bucket.segments;
            point.2 += bucket.output_tokens;
        }
        Ok((width, points))
    }

    /// Rebuilds the failure index and reason counts of a store written by a
    /// version that kept neither (one scan, once).
    pub(super) fn index_failures(&self) -> anyhow::Result<()> {
        for entry in self.outcomes.iter() {
            let (key, value) = entry?;
            if let Settled::Failed(failure) = Settled::decode(&value)? {
                self.failed.insert(&key, &[])?;
                let reason = reason_key(&failure.reason);
                self.reasons.fetch_and_update(reason.as_bytes(), |old| {
                    Some((old.map_or(0, u64_from) + 1).to_be_bytes().to_vec())
                })?;
            }
        }
        Ok(())
    }
}
