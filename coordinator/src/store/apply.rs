//! How outcomes are recorded: `apply` writes a batch of outcomes in one sled
//! transaction across the tables (the outcome kept per segment, the failures
//! index and counts, the running figures, the series, the stream positions
//! the batch came from), ranking each against what is kept; `forget_failure`
//! undoes a failure for `retry-failed`; orphans are adopted once their
//! episode is enqueued.
//!
//! The ranking rules (one of the run's spec over one of an earlier spec,
//! then a result over a failure; a duplicate changes nothing) are tested in
//! `ranking_tests`.

use super::failures::FailuresTx;
use super::meta::FiguresTx;
use super::outcomes::{key_bytes, OutcomesTx};
use super::positions::{self, Highest};
use super::record::{transaction_error, TxResult};
use super::{series, Incoming, Recorded, SegmentRecord, Settled, Store, Superseded};
use protocol::grounding::Grounding;
use protocol::{EpisodeId, MiningSpec, SegmentKey};
use sled::Transactional;
use std::collections::BTreeMap;

/// The tables one transaction of `apply` writes.
struct Tables<'t> {
    outcomes: OutcomesTx<'t>,
    failures: FailuresTx<'t>,
    figures: FiguresTx<'t>,
    buckets: &'t sled::transaction::TransactionalTree,
}

/// What `apply` knows of an outcome before its transaction (work that must
/// not be redone when sled retries one).
struct Judged<'b> {
    incoming: &'b Incoming,
    key: Vec<u8>,
    /// Whether its content is the enqueued one (`None`: not enqueued here).
    enqueued: Option<bool>,
    /// A result's grounding (a pure function of it).
    grounding: Option<Grounding>,
}

impl Store {
    /// Records a batch of outcomes, and the stream positions they came from,
    /// in one transaction: after a crash the store holds all of it or none,
    /// so the collector resumes from a position that matches its outcomes.
    /// A segment that already has an outcome at least as good is left alone.
    pub fn apply(&self, batch: &[Incoming], now_unix_ms: u64) -> anyhow::Result<Vec<Recorded>> {
        let judged = self.judge(batch)?;
        let current = self.meta.spec()?.map(|spec| spec.mining_spec());
        let current = current.as_ref();
        let (outcomes, orphans) = self.outcomes.trees();
        let (failed, reasons) = self.failures.trees();
        let trees = (outcomes, orphans, failed, reasons, self.meta.tree(), self.series.tree());
        let recorded = trees.transaction(|(outcomes, orphans, failed, reasons, meta, buckets)| {
            let mut tables = Tables {
                outcomes: OutcomesTx { outcomes, orphans },
                failures: FailuresTx { failed, reasons, meta },
                figures: FiguresTx::read(meta)?,
                buckets,
            };
            let mut highest = Highest::new();
            let mut recorded = Vec::with_capacity(judged.len());
            for outcome in &judged {
                let incoming = outcome.incoming;
                if !incoming.stream.is_empty() {
                    let position = highest.entry(incoming.stream).or_default();
                    *position = (*position).max(incoming.sequence);
                }
                recorded.push(record_one(&mut tables, outcome, current, now_unix_ms)?);
            }
            tables.figures.write()?;
            positions::raise_in_tx(meta, &highest)?;
            Ok(recorded)
        });
        recorded.map_err(transaction_error)
    }

    /// Each outcome's key, whether its content is enqueued here, and its grounding.
    fn judge<'b>(&self, batch: &'b [Incoming]) -> anyhow::Result<Vec<Judged<'b>>> {
        let mut enqueued: BTreeMap<&EpisodeId, Vec<SegmentRecord>> = BTreeMap::new();
        let mut judged = Vec::with_capacity(batch.len());
        for incoming in batch {
            let segment = &incoming.settled.task().segment;
            if !enqueued.contains_key(&segment.episode) {
                let records = self.episodes.segments(&segment.episode)?.into_iter().map(|(_, r)| r).collect();
                enqueued.insert(&segment.episode, records);
            }
            let record = enqueued.get(&segment.episode).and_then(|r| r.get(segment.index as usize));
            judged.push(Judged {
                incoming,
                key: key_bytes(&segment.key()),
                enqueued: record.map(|r| r.content_hash == segment.content_hash()),
                grounding: match &incoming.settled {
                    Settled::Mined(result) => Some(mining::grounding::of_result(result)),
                    Settled::Failed(_) => None,
                },
            });
        }
        Ok(judged)
    }

    /// Counts the outcomes kept aside for `episode` now that it is recorded
    /// (those for other content stay stale and are dropped).
    pub(super) fn adopt_orphans(&self, episode: &EpisodeId) -> anyhow::Result<()> {
        let orphans = self.outcomes.orphans_of(episode)?;
        if orphans.is_empty() {
            return Ok(());
        }
        let adopted: Vec<Incoming> = orphans
            .iter()
            .map(|(_, settled)| Incoming { settled: settled.clone(), stream: "", sequence: 0, mined_at_ms: 0 })
            .collect();
        self.apply(&adopted, runtime::clock::unix_now_ms())?;
        // Only once they are counted: an error above leaves them for the next try.
        orphans.iter().try_for_each(|(key, _)| self.outcomes.forget_orphan(key))
    }

    /// Forgets a failure so the segment counts as pending again (`retry-failed`);
    /// one of an earlier spec is no longer counted as superseded either.
    pub fn forget_failure(&self, key: &SegmentKey) -> anyhow::Result<bool> {
        let key = key_bytes(key);
        let (outcomes, orphans) = self.outcomes.trees();
        let (failed, reasons) = self.failures.trees();
        let trees = (outcomes, orphans, failed, reasons, self.meta.tree());
        let current = self.meta.spec()?.map(|spec| spec.mining_spec());
        let forgot = trees.transaction(|(outcomes, orphans, failed, reasons, meta)| {
            let outcomes = OutcomesTx { outcomes, orphans };
            let Some(settled) = outcomes.get(&key)? else { return Ok(false) };
            let Settled::Failed(failure) = &settled else { return Ok(false) };
            outcomes.remove(&key)?;
            FailuresTx { failed, reasons, meta }.remove(&key, failure)?;
            let mut figures = FiguresTx::read(meta)?;
            figures.counters.failed -= 1;
            if !settled.of_spec(current.as_ref()) {
                figures.superseded.count(false, -1);
            }
            figures.write()?;
            Ok(true)
        });
        forgot.map_err(transaction_error)
    }

    /// Every outcome not of `current`, counted afresh and kept as the
    /// superseded figures (a `respec`); their tasks handed to `each`, one
    /// episode at a time.
    pub fn recount_superseded(
        &self,
        current: &MiningSpec,
        each: impl FnMut(Vec<protocol::Task>) -> anyhow::Result<()>,
    ) -> anyhow::Result<Superseded> {
        let superseded = self.outcomes.not_of_spec(current, each)?;
        self.meta.set_superseded(&superseded)?;
        Ok(superseded)
    }
}

/// Records one outcome inside `apply`'s transaction: ranks it against the
/// one kept, and moves every figure a replacement changes.
fn record_one(
    tables: &mut Tables<'_>,
    outcome: &Judged<'_>,
    current: Option<&MiningSpec>,
    now_unix_ms: u64,
) -> TxResult<Recorded> {
    let (settled, key) = (&outcome.incoming.settled, outcome.key.as_slice());
    match outcome.enqueued {
        Some(true) => {}
        Some(false) => return Ok(Recorded::Stale),
        None => {
            tables.outcomes.keep_orphan(key, settled, current)?;
            return Ok(Recorded::Orphan);
        }
    }
    let previous = tables.outcomes.get(key)?;
    let recorded = match &previous {
        None => Recorded::New,
        Some(previous) if settled.rank(current) > previous.rank(current) => Recorded::Replaced,
        Some(_) => return Ok(Recorded::Duplicate),
    };
    tables.outcomes.put(key, settled)?;
    if let Some(previous) = &previous {
        uncount(tables, key, previous, current)?;
    }
    match settled {
        Settled::Mined(result) => {
            tables.figures.counters.mined += 1;
            if let Some(grounding) = &outcome.grounding {
                tables.figures.quality(&result.provenance.spec.model)?.add(grounding);
            }
        }
        Settled::Failed(failure) => {
            tables.figures.counters.failed += 1;
            tables.failures.add(key, failure)?;
        }
    }
    if !settled.of_spec(current) {
        tables.figures.superseded.count(settled.is_mined(), 1);
    }
    let usage = settled.usage();
    tables.figures.counters.usage.add(&usage);
    let mined_at_ms = if outcome.incoming.mined_at_ms > 0 { outcome.incoming.mined_at_ms } else { now_unix_ms };
    series::add_in_tx(tables.buckets, mined_at_ms, &usage)?;
    Ok(recorded)
}

/// Takes a replaced outcome out of the figures (its usage and bucket stay:
/// that work was done).
fn uncount(tables: &mut Tables<'_>, key: &[u8], previous: &Settled, current: Option<&MiningSpec>) -> TxResult<()> {
    match previous {
        Settled::Failed(old) => {
            tables.figures.counters.failed -= 1;
            tables.failures.remove(key, old)?;
        }
        Settled::Mined(old) => {
            tables.figures.counters.mined -= 1;
            tables.figures.quality(&old.provenance.spec.model)?.remove(&mining::grounding::of_result(old));
        }
    }
    if !previous.of_spec(current) {
        tables.figures.superseded.count(previous.is_mined(), -1);
    }
    Ok(())
}
