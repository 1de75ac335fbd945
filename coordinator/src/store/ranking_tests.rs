//! `Store::apply`'s ranking rules, tested directly on a temp store: a result
//! of the run's spec replaces one of another spec; a result replaces a
//! failure (never the reverse); a duplicate changes no counter; the totals,
//! the superseded figures and the grounding figures follow a replacement;
//! failures are counted by kind through replacements and retries; the series
//! counts an outcome when it was mined, not when it was collected.

use super::meta::Counters;
use super::{EpisodeRecord, Incoming, Quality, Recorded, SegmentRecord, Settled, Store, Superseded};
use protocol::spec::{AnswerMode, RunSpec};
use protocol::{
    EpisodeId, FailureKind, FailureRecord, MiningSpec, Provenance, Segment, SegmentResult, Task, Usage, WorkKey,
};

const TEXT: &str = "Rates rose because inflation did not cool.";

fn run_spec(model: &str) -> RunSpec {
    RunSpec {
        format: 1,
        revision: 1,
        model: model.into(),
        instructions: "Mine.".into(),
        schema: serde_json::json!({"type": "object"}),
        num_predict: 400,
        temperature: 0.3,
        answers: AnswerMode::Full,
        num_ctx: 8_192,
        num_ctx_fixed: false,
        longest_user_chars: 0,
        set_by: "test".into(),
        set_at_ms: 0,
    }
}

fn task() -> Task {
    let segment = Segment {
        episode: EpisodeId::parse("show/a").unwrap_or_else(|e| panic!("{e}")),
        index: 0,
        t0_ms: 0,
        t1_ms: 30_000,
        speaker: None,
        text: TEXT.into(),
        times_estimated: false,
    };
    Task { segment, episode_title: "A".into(), source_path: "a.srt".into(), episode_segments: 1, generation: 0 }
}

/// A temp store with one episode of one segment, and the run's spec (model `new`).
fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = Store::open(dir.path(), std::time::Duration::ZERO).unwrap_or_else(|e| panic!("{e}"));
    let record = EpisodeRecord {
        source_path: "a.srt".into(),
        file_hash: "h".into(),
        title: "A".into(),
        format: "SRT".into(),
        segment_count: 1,
        segment_seconds: 30,
        times_estimated: false,
        metadata: serde_json::Map::new(),
    };
    let segment = SegmentRecord { content_hash: task().segment.content_hash(), generation: 0 };
    store.record_episode(&task().segment.episode, &record, &[segment], &[]).unwrap_or_else(|e| panic!("{e}"));
    store.meta.set_spec(&run_spec("new")).unwrap_or_else(|e| panic!("{e}"));
    (dir, store)
}

fn provenance(spec: MiningSpec, output_tokens: u64) -> Provenance {
    Provenance {
        spec,
        worker: "w".into(),
        attempts: 1,
        delivery: 1,
        usage: Usage { output_tokens, ..Usage::default() },
    }
}

/// A result of `model`'s spec quoting `quote` (grounded when it is in the segment).
fn mined(model: &str, quote: &str, output_tokens: u64) -> Incoming {
    let mined = serde_json::json!({"claims": [{"claim_text": "c", "evidence_quote": quote}],
        "jargon": [], "people": [], "mental_models": []});
    let spec = run_spec(model).mining_spec();
    incoming(Settled::Mined(SegmentResult {
        task: task(),
        work_key: WorkKey::derive(&task().segment.content_hash(), &spec),
        mined_json: mined.to_string(),
        repairs: Vec::new(),
        provenance: provenance(spec, output_tokens),
    }))
}

fn failed(model: &str) -> Incoming {
    let spec = run_spec(model).mining_spec();
    incoming(Settled::Failed(FailureRecord {
        task: task(),
        work_key: WorkKey::derive(&task().segment.content_hash(), &spec),
        kind: FailureKind::UnusableAnswer,
        reason: "unusable output after 3 asks".into(),
        raw_output: Some("{".into()),
        provenance: provenance(spec, 50),
    }))
}

fn incoming(settled: Settled) -> Incoming {
    Incoming { settled, stream: "S", sequence: 1, mined_at_ms: 0 }
}

fn apply(store: &Store, one: Incoming) -> Recorded {
    let recorded = store.apply(&[one], 0).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(recorded.len(), 1);
    recorded[0]
}

fn kept_model(store: &Store) -> String {
    let kept = store.outcomes.get(&task().segment.key()).unwrap_or_else(|e| panic!("{e}"));
    kept.map(|s| s.spec().model.clone()).unwrap_or_default()
}

fn counters(store: &Store) -> Counters {
    store.meta.counters().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_result_of_the_runs_spec_replaces_one_of_another_spec_and_not_the_reverse() {
    let (_dir, store) = store();
    assert_eq!(apply(&store, mined("old", "gold hit a record", 100)), Recorded::New);
    assert_eq!(store.meta.superseded().unwrap_or_default(), Superseded { mined: 1, failed: 0 });
    assert_eq!(store.meta.settled_of_spec().unwrap_or_default(), (0, 0), "not done under the run's spec");
    assert_eq!(apply(&store, mined("new", "rates rose because inflation", 30)), Recorded::Replaced);
    assert_eq!(kept_model(&store), "new");
    assert_eq!(store.meta.superseded().unwrap_or_default(), Superseded::default());
    assert_eq!(store.meta.settled_of_spec().unwrap_or_default(), (1, 0));
    // An older spec's result arriving late changes nothing.
    assert_eq!(apply(&store, mined("old", "gold hit a record", 100)), Recorded::Duplicate);
    assert_eq!(kept_model(&store), "new");
}

#[test]
fn a_result_replaces_a_failure_and_a_failure_never_replaces_a_result() {
    let (_dir, store) = store();
    assert_eq!(apply(&store, failed("new")), Recorded::New);
    assert_eq!((counters(&store).mined, counters(&store).failed), (0, 1));
    assert_eq!(store.failures.kinds().unwrap_or_default().len(), 1);
    assert_eq!(apply(&store, mined("new", "rates rose", 30)), Recorded::Replaced);
    assert_eq!((counters(&store).mined, counters(&store).failed), (1, 0));
    assert!(store.failures.reasons().unwrap_or_default().is_empty(), "the failure's reason is no longer counted");
    assert!(store.failures.kinds().unwrap_or_default().is_empty());
    assert!(store.failed().unwrap_or_default().is_empty());
    assert_eq!(apply(&store, failed("new")), Recorded::Duplicate);
    assert_eq!((counters(&store).mined, counters(&store).failed), (1, 0));
}

#[test]
fn a_duplicate_changes_no_counter() {
    let (_dir, store) = store();
    apply(&store, mined("new", "rates rose", 30));
    let (before, quality) = (counters(&store), store.meta.quality().unwrap_or_default());
    assert_eq!(apply(&store, mined("new", "rates rose", 30)), Recorded::Duplicate);
    assert_eq!(counters(&store), before);
    assert_eq!(store.meta.quality().unwrap_or_default(), quality);
}

#[test]
fn totals_and_grounding_follow_a_replacement() {
    let (_dir, store) = store();
    apply(&store, mined("old", "gold hit a record", 100));
    assert_eq!(counters(&store).usage.output_tokens, 100);
    let old = store.meta.quality().unwrap_or_default()["old"];
    assert_eq!((old.mined, old.items, old.ungrounded_items), (1, 1, 1), "the old answer's quote is not in the segment");
    apply(&store, mined("new", "rates rose because inflation", 30));
    let quality = store.meta.quality().unwrap_or_default();
    assert_eq!(quality.get("old").copied().unwrap_or_default(), Quality::default(), "the replaced answer is taken out");
    let new = quality["new"];
    assert_eq!((new.mined, new.items, new.ungrounded_items), (1, 1, 0));
    let counters = counters(&store);
    assert_eq!((counters.mined, counters.failed), (1, 0));
    assert_eq!(counters.usage.output_tokens, 130, "usage counts what both answers cost");
}

#[test]
fn failures_are_counted_by_kind_through_replacements_and_retries() {
    use super::outcomes::fixtures::{failed, mined, store_with_episode, task};
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_episode(dir.path(), 3);
    let failure = |index: u32, kind| Incoming {
        settled: failed(task("show/a", index), "m", kind),
        stream: "F",
        sequence: u64::from(index) + 1,
        mined_at_ms: 0,
    };
    let kinds = |store: &Store| store.failures.kinds().unwrap().into_iter().collect::<Vec<_>>();
    let batch = [
        failure(0, FailureKind::UnusableAnswer),
        failure(1, FailureKind::UnusableAnswer),
        failure(2, FailureKind::ContextTooSmall),
    ];
    store.apply(&batch, 0).unwrap();
    assert_eq!(kinds(&store), [(FailureKind::ContextTooSmall, 1), (FailureKind::UnusableAnswer, 2)]);
    // A second failure of a segment that already failed changes nothing.
    store.apply(&[failure(0, FailureKind::LlmUnavailable)], 0).unwrap();
    assert_eq!(kinds(&store), [(FailureKind::ContextTooSmall, 1), (FailureKind::UnusableAnswer, 2)]);
    // A result replaces a failure; retry-failed forgets one.
    let result = Incoming { settled: mined(task("show/a", 0), "m"), stream: "R", sequence: 9, mined_at_ms: 0 };
    assert_eq!(store.apply(&[result], 0).unwrap(), [Recorded::Replaced]);
    assert!(store.forget_failure(&task("show/a", 2).segment.key()).unwrap());
    assert!(!store.forget_failure(&task("show/a", 0).segment.key()).unwrap(), "a result is not a failure to forget");
    assert_eq!(kinds(&store), [(FailureKind::UnusableAnswer, 1)]);
    assert_eq!(store.failed().unwrap().iter().map(|f| f.kind).collect::<Vec<_>>(), [FailureKind::UnusableAnswer]);
    assert_eq!((store.meta.counters().unwrap().mined, store.meta.counters().unwrap().failed), (1, 1));
}

#[test]
fn the_series_counts_outcomes_when_mined_not_when_collected_and_positions_follow_the_batch() {
    use super::outcomes::fixtures::{mined, store_with_episode, task};
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_episode(dir.path(), 3);
    let at = |index: u32, mined_at_ms: u64| {
        let mut settled = mined(task("show/a", index), "m");
        if let Settled::Mined(result) = &mut settled {
            result.provenance.usage.output_tokens = 100;
        }
        Incoming { settled, stream: "R", sequence: u64::from(index) + 11, mined_at_ms }
    };
    // Mined over three minutes, collected all at once an hour later (a catch-up).
    let hour_later = 3_600_000 + 10 * 60_000;
    store.apply(&[at(0, 600_000), at(1, 660_000), at(2, 780_000)], hour_later).unwrap();
    let (width, points) = store.series.points(60_000, 720).unwrap();
    assert_eq!(width, 60_000);
    assert_eq!(points, vec![(600_000, 1, 100), (660_000, 1, 100), (720_000, 0, 0), (780_000, 1, 100)]);
    assert_eq!(store.positions.get("R").unwrap(), 13, "the batch's highest sequence");
}

#[test]
fn forgetting_a_failure_of_an_earlier_spec_takes_it_out_of_the_superseded_figures() {
    let (_dir, store) = store();
    assert_eq!(apply(&store, failed("old")), Recorded::New);
    assert_eq!(store.meta.superseded().unwrap(), Superseded { mined: 0, failed: 1 });
    assert!(store.forget_failure(&task().segment.key()).unwrap());
    assert_eq!(store.meta.superseded().unwrap(), Superseded::default());
    assert_eq!(counters(&store).failed, 0);
}
