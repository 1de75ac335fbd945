//! What opening a store written by an older build adds, once: the running
//! figures that build did not keep (totals, the failures index and reason
//! counts, grounding figures, failure counts by kind), each counted in one
//! pass and marked done. Records themselves need no rewrite: every table
//! reads the layouts older builds wrote ([`super::record`]).

use super::meta::{Totals, Upgrade};
use super::{Settled, Store};
use protocol::FailureKind;
use std::collections::BTreeMap;

impl Store {
    /// Adds the running figures a store of an older version did not keep.
    pub(super) fn upgrade(&self) -> anyhow::Result<()> {
        // The failures index first: counting by kind reads through it.
        if !self.meta.has_totals()? {
            let mut totals = Totals::default();
            for (_, record) in self.episodes.all()? {
                totals.episodes += 1;
                totals.segments += u64::from(record.segment_count);
            }
            self.index_failures()?;
            self.meta.set_totals(&totals)?;
        }
        if !self.meta.done(Upgrade::QualityCounted)? {
            self.count_quality()?;
            self.meta.mark_done(Upgrade::QualityCounted)?;
        }
        if !self.meta.done(Upgrade::FailureKindsCounted)? {
            self.count_failure_kinds()?;
            self.meta.mark_done(Upgrade::FailureKindsCounted)?;
        }
        Ok(())
    }

    /// The grounding figures of the mined outcomes, per model.
    fn count_quality(&self) -> anyhow::Result<()> {
        let mut quality: BTreeMap<String, super::Quality> = BTreeMap::new();
        for entry in self.outcomes.all() {
            if let (_, Settled::Mined(result)) = entry? {
                let figures = quality.entry(result.provenance.spec.model.clone()).or_default();
                figures.add(&mining::grounding::of_result(&result));
            }
        }
        quality.iter().try_for_each(|(model, figures)| self.meta.set_quality(model, figures))
    }

    /// The failures by kind (those of a store written before kinds are all `unknown`).
    fn count_failure_kinds(&self) -> anyhow::Result<()> {
        let mut kinds: BTreeMap<FailureKind, u64> = BTreeMap::new();
        for failure in self.failed()? {
            *kinds.entry(failure.kind).or_default() += 1;
        }
        self.failures.set_kinds(&kinds)
    }

    /// The failures index and reason counts of a store written by a version
    /// that kept neither.
    fn index_failures(&self) -> anyhow::Result<()> {
        for entry in self.outcomes.all() {
            if let (key, Settled::Failed(failure)) = entry? {
                self.failures.index(&key, &failure)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::episodes::test_record;
    use super::super::outcomes::fixtures::{failed, store_with_episode, task};
    use super::super::{Incoming, SegmentRecord};
    use super::*;
    use protocol::{ContentHash, EpisodeId, MiningSpec, Provenance, SegmentResult, Task, Usage, WorkKey};

    fn reopen(dir: &std::path::Path) -> Store {
        // sled's background flusher lets go of the lock shortly after a drop.
        Store::open(dir, std::time::Duration::from_secs(10)).unwrap()
    }

    #[tokio::test]
    async fn grounding_figures_are_kept_and_counted_once_for_a_store_that_lacked_them() {
        let dir = tempfile::tempdir().unwrap();
        let id = EpisodeId::parse("show/a").unwrap();
        let segment = protocol::Segment {
            episode: id.clone(),
            index: 0,
            t0_ms: 0,
            t1_ms: 30_000,
            speaker: None,
            text: "Rates rose because inflation did not cool.".into(),
            times_estimated: false,
        };
        let mined = serde_json::json!({"claims": [
            {"claim_text": "Rates rose on inflation", "evidence_quote": "rates rose because inflation"},
            {"claim_text": "Gold hit a record high", "evidence_quote": "gold hit a record"}
        ], "jargon": [], "people": [], "mental_models": []});
        let spec =
            MiningSpec { prompt_hash: "p".into(), schema_hash: "s".into(), model: "m".into(), options: "{}".into() };
        let result = SegmentResult {
            task: Task {
                segment: segment.clone(),
                episode_title: "A".into(),
                source_path: "a.srt".into(),
                episode_segments: 1,
                generation: 0,
            },
            work_key: WorkKey(ContentHash::of_bytes(b"w")),
            mined_json: mined.to_string(),
            repairs: Vec::new(),
            provenance: Provenance { spec, worker: "w".into(), attempts: 1, delivery: 1, usage: Usage::default() },
        };
        let want = super::super::Quality {
            mined: 1,
            empty: 0,
            items: 2,
            ungrounded_items: 1,
            quotes: 2,
            ungrounded_quotes: 1,
        };
        {
            let store = Store::open(dir.path(), std::time::Duration::ZERO).unwrap();
            let segment_record = SegmentRecord { content_hash: segment.content_hash(), generation: 0 };
            store.record_episode(&id, &test_record(1), &[segment_record], &[]).unwrap();
            let incoming =
                Incoming { settled: Settled::Mined(result.clone()), stream: "R", sequence: 1, mined_at_ms: 0 };
            store.apply(std::slice::from_ref(&incoming), 0).unwrap();
            store.apply(&[Incoming { sequence: 2, ..incoming }], 0).unwrap(); // a duplicate counts nothing
            assert_eq!(store.meta.quality().unwrap()["m"], want);
            // As a store written before the figures were kept.
            store.meta.tree().remove(Upgrade::QualityCounted.key()).unwrap();
            store.meta.tree().remove("quality/m").unwrap();
            store.flush().await.unwrap();
        }
        assert_eq!(reopen(dir.path()).meta.quality().unwrap()["m"], want, "counted once on open");
    }

    #[tokio::test]
    async fn a_store_without_totals_index_or_kind_counts_gets_them_on_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = store_with_episode(dir.path(), 3);
            let failure = failed(task("show/a", 1), "m", FailureKind::Unknown);
            store.apply(&[Incoming { settled: failure, stream: "F", sequence: 1, mined_at_ms: 0 }], 0).unwrap();
            // As a store from before totals, the failures index, reasons and kinds.
            let meta = store.meta.tree();
            for key in [&b"totals"[..], Upgrade::FailureKindsCounted.key(), b"failure-kind/unknown"] {
                meta.remove(key).unwrap();
            }
            let (failed, reasons) = store.failures.trees();
            failed.clear().unwrap();
            reasons.clear().unwrap();
            store.flush().await.unwrap();
        }
        let store = reopen(dir.path());
        assert_eq!(store.meta.totals().unwrap(), Totals { episodes: 1, segments: 3 });
        assert_eq!(store.failed().unwrap().len(), 1);
        assert_eq!(store.failures.reasons().unwrap()["unknown happened"], 1);
        assert_eq!(store.failures.kinds().unwrap()[&FailureKind::Unknown], 1);
    }
}
