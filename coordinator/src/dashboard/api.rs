//! The figures the page shows, as JSON (documented in README "Dashboard"):
//! the status object, the run's time series, failures grouped by kind with
//! their raw outputs, and episodes by name with their progress. Each reads
//! the store directly; none scans every outcome.

use crate::store::Store;
use protocol::FailureKind;
use serde::Serialize;
use std::collections::BTreeMap;

/// Points of the time series at most (a week at 15 minutes a point, a day at 2).
const MAX_POINTS: u64 = 720;
/// Failures listed under each kind (the count is of all of them).
const LISTED_PER_KIND: usize = 20;
/// Characters of a raw output shown (the output file has all of it).
const RAW_CHARS: usize = 4_000;
/// Episodes listed per search.
const EPISODES_LISTED: usize = 50;

/// Throughput over the whole run, by when the outcomes were mined.
#[derive(Debug, Serialize)]
pub struct Series {
    /// Width of each point in seconds (60, or wider for a long run).
    pub point_s: u64,
    /// `[start unix ms, segments, output tokens]` per point, in time order.
    pub points: Vec<crate::store::series::SeriesPoint>,
}

pub fn series(store: &Store) -> anyhow::Result<Series> {
    let (width_ms, points) = store.series.points(60_000, MAX_POINTS)?;
    Ok(Series { point_s: width_ms / 1000, points })
}

/// Failures of one kind.
#[derive(Debug, Serialize)]
pub struct FailureGroup {
    /// The kind (`unusable-answer`, …): what "retry this kind" sends back.
    pub kind: FailureKind,
    /// What the kind means, for the page.
    pub meaning: &'static str,
    pub count: u64,
    /// The first few, each with its reason and raw output.
    pub segments: Vec<FailedSegment>,
}

#[derive(Debug, Serialize)]
pub struct FailedSegment {
    pub segment: String,
    /// The whole reason: what happened and what to do.
    pub reason: String,
    pub attempts: u32,
    pub raw_output: Option<String>,
    /// Whether `raw_output` was cut (the episode file holds all of it).
    pub raw_output_cut: bool,
}

/// Failures grouped by kind, most frequent first.
pub fn failures(store: &Store) -> anyhow::Result<Vec<FailureGroup>> {
    let group = |kind: FailureKind, count| FailureGroup { kind, meaning: kind.meaning(), count, segments: Vec::new() };
    let mut groups: BTreeMap<FailureKind, FailureGroup> =
        store.failures.kinds()?.into_iter().map(|(kind, count)| (kind, group(kind, count))).collect();
    for failure in store.failed()? {
        let group = groups.entry(failure.kind).or_insert_with(|| group(failure.kind, 1));
        if group.segments.len() < LISTED_PER_KIND {
            let raw = failure.raw_output.as_deref();
            group.segments.push(FailedSegment {
                segment: failure.task.segment.key().to_string(),
                reason: failure.reason.clone(),
                attempts: failure.provenance.attempts,
                raw_output: raw.map(|r| r.chars().take(RAW_CHARS).collect()),
                raw_output_cut: raw.is_some_and(|r| r.chars().count() > RAW_CHARS),
            });
        }
    }
    let mut groups: Vec<FailureGroup> = groups.into_values().filter(|g| g.count > 0).collect();
    groups.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.kind.cmp(&b.kind)));
    Ok(groups)
}

/// Episodes whose id or title contains the search.
#[derive(Debug, Serialize)]
pub struct Episodes {
    pub total: usize,
    pub matching: usize,
    pub episodes: Vec<EpisodeRow>,
}

#[derive(Debug, Serialize)]
pub struct EpisodeRow {
    pub id: String,
    pub title: String,
    pub segments: u32,
    /// Segments with an outcome (mined or failed).
    pub settled: u64,
    pub complete: bool,
    /// Where the page links its output file (once written).
    pub file: Option<String>,
}

/// The first [`EPISODES_LISTED`] episodes matching `search` (case aside),
/// incomplete ones first.
pub fn episodes(store: &Store, search: &str) -> anyhow::Result<Episodes> {
    let search = search.trim().to_lowercase();
    let all = store.episodes.all()?;
    let total = all.len();
    let mut matching: Vec<_> = all
        .into_iter()
        .filter(|(id, record)| {
            search.is_empty()
                || id.as_str().to_lowercase().contains(&search)
                || record.title.to_lowercase().contains(&search)
        })
        .map(|(id, record)| Ok((store.episodes.is_complete(&id)?, id, record)))
        .collect::<anyhow::Result<_>>()?;
    let count = matching.len();
    matching.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.as_str().cmp(b.1.as_str())));
    let episodes = matching
        .into_iter()
        .take(EPISODES_LISTED)
        .map(|(complete, id, record)| {
            Ok(EpisodeRow {
                settled: if complete { u64::from(record.segment_count) } else { store.outcomes.settled_in(&id)? },
                file: complete.then(|| format!("/out/{}.json", id.as_str())),
                id: id.to_string(),
                title: record.title,
                segments: record.segment_count,
                complete,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(Episodes { total, matching: count, episodes })
}
