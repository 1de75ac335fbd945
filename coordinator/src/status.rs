//! `coordinator status`: what has been done, from the store alone, plus what
//! the server says about the queue when it answers.
//!
//! `--json` prints one object whose fields are documented in README.md;
//! fields whose data comes with later features (results, workers, rates) are
//! present with zero values so scripts can rely on the shape.

use crate::store::Store;
use async_nats::jetstream;
use serde::Serialize;

#[derive(Debug, Serialize, PartialEq)]
pub struct Status {
    pub segments: SegmentCounts,
    pub episodes: EpisodeCounts,
    pub rate: Rate,
    /// Seconds until every segment is settled at the current rate; null without a rate.
    pub eta_s: Option<f64>,
    pub workers: Vec<serde_json::Value>,
    pub queue: Queue,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct SegmentCounts {
    pub total: u64,
    pub done: u64,
    pub failed: u64,
    /// Enqueued and neither done nor failed.
    pub pending: u64,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct EpisodeCounts {
    pub total: u64,
    pub complete: u64,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Rate {
    pub segments_per_s: f64,
    pub output_tokens_per_s: f64,
}

/// The live view of the task queue; `reachable: false` when no server answered.
#[derive(Debug, Serialize, PartialEq)]
pub struct Queue {
    pub reachable: bool,
    /// Tasks waiting or in progress on the TASKS stream.
    pub tasks: Option<u64>,
}

pub async fn gather(store: &Store, js: Option<&jetstream::Context>) -> anyhow::Result<Status> {
    let totals = store.totals()?;
    let (done, failed, complete) = (0, 0, 0);
    let tasks = match js {
        Some(js) => match js.get_stream(protocol::streams::TASKS).await {
            Ok(mut stream) => stream.info().await.ok().map(|info| info.state.messages),
            Err(_) => None,
        },
        None => None,
    };
    Ok(Status {
        segments: SegmentCounts { total: totals.segments, done, failed, pending: totals.segments - done - failed },
        episodes: EpisodeCounts { total: totals.episodes, complete },
        rate: Rate { segments_per_s: 0.0, output_tokens_per_s: 0.0 },
        eta_s: None,
        workers: Vec::new(),
        queue: Queue { reachable: tasks.is_some(), tasks },
    })
}

/// The human-readable form.
pub fn render(status: &Status) -> String {
    let queue = match status.queue.tasks {
        Some(tasks) => format!("{tasks} task(s) on the queue"),
        None => "no NATS server answered: live queue figures are missing".to_owned(),
    };
    format!(
        "episodes: {} enqueued, {} complete\nsegments: {} total, {} done, {} failed, {} pending\nqueue: {queue}\n",
        status.episodes.total,
        status.episodes.complete,
        status.segments.total,
        status.segments.done,
        status.segments.failed,
        status.segments.pending,
    )
}
