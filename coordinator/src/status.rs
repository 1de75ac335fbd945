//! `coordinator status`: what has been done, from the store alone, plus the
//! live parts (queue, workers) when a server answers.
//!
//! `--json` prints one object whose fields are documented in docs/commands.md.

use crate::store::Store;
use async_nats::jetstream;
use futures::TryStreamExt;
use protocol::liveness::{self, WorkerRecord};
pub use protocol::status::{EpisodeCounts, Grounding, PerSegment, Queue, Rate, SegmentCounts, SpecSummary, Status};
use runtime::clock::unix_now_ms;
use std::path::Path;

/// (segments/s, output tokens/s) over the last `window_ms`.
fn rate_over(store: &Store, now_ms: u64, window_ms: u64) -> anyhow::Result<(f64, f64)> {
    let buckets = store.series.since(now_ms.saturating_sub(window_ms))?;
    let Some(first) = buckets.iter().map(|b| b.first_ms).min() else { return Ok((0.0, 0.0)) };
    let since = first.max(now_ms.saturating_sub(window_ms));
    let seconds = (now_ms.saturating_sub(since) as f64 / 1000.0).max(1.0);
    let segments: u64 = buckets.iter().map(|b| b.segments).sum();
    let tokens: u64 = buckets.iter().map(|b| b.output_tokens).sum();
    Ok((segments as f64 / seconds, tokens as f64 / seconds))
}

pub async fn gather(store: &Store, js: Option<&jetstream::Context>) -> anyhow::Result<Status> {
    let totals = store.meta.totals()?;
    let counters = store.meta.counters()?;
    let (done, failed) = store.meta.settled_of_spec()?;
    let pending = totals.segments.saturating_sub(done + failed);
    // Averages are over every outcome kept, of whichever spec.
    let settled = counters.mined + counters.failed;
    let now = unix_now_ms();
    let (one, _) = rate_over(store, now, 60_000)?;
    let (five, five_tokens) = rate_over(store, now, 300_000)?;
    let (fifteen, _) = rate_over(store, now, 900_000)?;
    let failures = store.failures.reasons()?;
    let average = |sum: u64| if settled > 0 { sum as f64 / settled as f64 } else { 0.0 };
    let usage = counters.usage;
    let (tasks, workers) = match js {
        Some(js) => (queued_tasks(js).await, live_workers(js).await),
        None => (None, Vec::new()),
    };
    let reloads = workers_reloads(&workers);
    Ok(Status {
        as_of_unix_ms: now,
        segments: SegmentCounts {
            total: totals.segments,
            done,
            failed,
            pending,
            superseded: store.meta.superseded()?.total(),
        },
        episodes: EpisodeCounts { total: totals.episodes, complete: store.episodes.complete_count() },
        rate: Rate {
            segments_per_s: five,
            output_tokens_per_s: five_tokens,
            segments_per_s_1m: one,
            segments_per_s_5m: five,
            segments_per_s_15m: fifteen,
        },
        eta_s: (five > 0.0).then(|| pending as f64 / five),
        workers,
        queue: Queue { reachable: tasks.is_some(), tasks },
        failures,
        failures_by_kind: store.failures.kinds()?,
        catching_up: None,
        spec: store.meta.spec()?.as_ref().map(SpecSummary::of),
        reloads,
        grounding: store
            .meta
            .quality()?
            .into_iter()
            .map(|(model, figures)| {
                let share =
                    if figures.items > 0 { figures.ungrounded_items as f64 / figures.items as f64 } else { 0.0 };
                (model, Grounding { figures, ungrounded_share: share })
            })
            .collect(),
        per_segment: PerSegment {
            queue_ms: average(usage.queue_ms),
            prefill_ms: average(usage.prefill_ms),
            decode_ms: average(usage.decode_ms),
            prompt_tokens: average(usage.prompt_tokens),
            cached_prompt_tokens: average(usage.cached_prompt_tokens),
            output_tokens: average(usage.output_tokens),
        },
    })
}

/// The live parts of a status (tasks queued, the workers' records), or
/// `None` when NATS does not answer within `limit` (a page polling every
/// few seconds must not wait out the client's request timeout).
pub async fn live_parts(js: &jetstream::Context, limit: std::time::Duration) -> Option<(u64, Vec<WorkerRecord>)> {
    let live = async {
        let tasks = queued_tasks(js).await?;
        Some((tasks, live_workers(js).await))
    };
    tokio::time::timeout(limit, live).await.ok().flatten()
}

/// Puts live parts (see [`live_parts`]) into `status`; `None`: NATS did not answer.
pub fn with_live(status: &mut Status, live: Option<(u64, Vec<WorkerRecord>)>) {
    match live {
        Some((tasks, workers)) => {
            status.queue = Queue { reachable: true, tasks: Some(tasks) };
            status.reloads = workers_reloads(&workers);
            status.workers = workers;
        }
        None => status.queue = Queue { reachable: false, tasks: None },
    }
}

async fn queued_tasks(js: &jetstream::Context) -> Option<u64> {
    let mut stream = js.get_stream(protocol::streams::TASKS).await.ok()?;
    stream.info().await.ok().map(|info| info.state.messages)
}

/// Liveness records of the workers seen in the last [`liveness::TTL`].
async fn live_workers(js: &jetstream::Context) -> Vec<WorkerRecord> {
    let Ok(store) = js.get_key_value(liveness::BUCKET).await else { return Vec::new() };
    let Ok(keys) = store.keys().await else { return Vec::new() };
    let keys: Vec<String> = keys.try_collect().await.unwrap_or_default();
    let mut workers = Vec::new();
    for key in keys {
        if let Ok(Some(value)) = store.get(&key).await {
            match serde_json::from_slice::<WorkerRecord>(&value) {
                Ok(record) => workers.push(record),
                Err(err) => tracing::warn!(%key, error = %err, "unreadable worker record: not shown"),
            }
        }
    }
    workers.sort_by(|a, b| a.identity.worker.cmp(&b.identity.worker));
    workers
}

/// Writes the store's view (no live parts) where `status` finds it while a
/// collector holds the store.
pub async fn write_snapshot(store: &Store, path: &Path, catching_up: Option<u64>) -> anyhow::Result<()> {
    let mut status = gather(store, None).await?;
    status.catching_up = catching_up;
    let temp = path.with_extension("json.tmp");
    std::fs::write(&temp, serde_json::to_vec(&status)?)?;
    std::fs::rename(temp, path)?;
    Ok(())
}

/// The snapshot a running collector keeps, with the live parts filled in now.
pub async fn from_snapshot(path: &Path, js: Option<&jetstream::Context>) -> anyhow::Result<Status> {
    let mut status: Status = serde_json::from_slice(&std::fs::read(path)?)?;
    // The snapshot is up to a second old: count the time since against the ETA.
    let age_s = unix_now_ms().saturating_sub(status.as_of_unix_ms) as f64 / 1000.0;
    status.eta_s = status.eta_s.map(|eta| (eta - age_s).max(0.0));
    if let Some(js) = js {
        status.queue.tasks = queued_tasks(js).await;
        status.queue.reachable = status.queue.tasks.is_some();
        status.workers = live_workers(js).await;
        status.reloads = workers_reloads(&status.workers);
    }
    Ok(status)
}

fn workers_reloads(workers: &[WorkerRecord]) -> u64 {
    workers.iter().flat_map(|w| &w.endpoints).map(|e| e.reloads).sum()
}

/// The human-readable form.
pub fn render(status: &Status) -> String {
    let mut out = progress_lines(status);
    out += &quality_lines(status);
    out += &format!("workers: {}\n", status.workers.len());
    out += &workers_table(&status.workers, status.as_of_unix_ms / 1000);
    out += &failure_lines(status);
    out
}

/// The spec, the counts, the rates and the ETA.
fn progress_lines(status: &Status) -> String {
    let mut out = String::new();
    if let Some(spec) = &status.spec {
        out += &format!(
            "spec: revision {}, model {}, prompt {}, schema {}, {} answers, num_ctx {}, num_predict {}, temperature {} \
             (set by {})\n",
            spec.revision,
            spec.model,
            spec.prompt_hash,
            spec.schema_hash,
            spec.answers,
            spec.num_ctx,
            spec.num_predict,
            spec.temperature,
            spec.set_by
        );
    }
    out += &format!(
        "episodes: {} enqueued, {} complete\nsegments: {} total, {} done, {} failed, {} pending\n",
        status.episodes.total,
        status.episodes.complete,
        status.segments.total,
        status.segments.done,
        status.segments.failed,
        status.segments.pending,
    );
    if status.segments.superseded > 0 {
        out += &format!(
            "  of the pending, {} were settled with an earlier spec and are queued again (their old outcomes stay \
             in the output until replaced)\n",
            status.segments.superseded
        );
    }
    let r = &status.rate;
    out += &format!(
        "rate: {:.3} seg/s (1 m {:.3}, 5 m {:.3}, 15 m {:.3}), {:.1} output tok/s\n",
        r.segments_per_s, r.segments_per_s_1m, r.segments_per_s_5m, r.segments_per_s_15m, r.output_tokens_per_s
    );
    out += &match status.eta_s {
        Some(eta) => format!("eta: {}\n", human_duration(eta)),
        None => "eta: unknown (no segments settled in the last 5 minutes)\n".to_owned(),
    };
    out
}

/// Where the time goes, the queue, catching up, grounding and reloads.
fn quality_lines(status: &Status) -> String {
    let p = &status.per_segment;
    let mut out = format!(
        "per segment: queue {:.0} ms, prefill {:.0} ms, decode {:.0} ms; prompt {:.0} tokens ({:.0} cached), output {:.0} tokens\n",
        p.queue_ms, p.prefill_ms, p.decode_ms, p.prompt_tokens, p.cached_prompt_tokens, p.output_tokens
    );
    out += &match status.queue.tasks {
        Some(tasks) => format!("queue: {tasks} task(s)\n"),
        None => "queue: no NATS server answered: live figures (queue, workers) are missing\n".to_owned(),
    };
    if let Some(left) = status.catching_up {
        out += &format!("collector: catching up with the streams, {left} message(s) to replay (no LLM calls)\n");
    }
    for (model, Grounding { figures: g, ungrounded_share }) in &status.grounding {
        out += &format!(
            "grounding ({model}): {} item(s), {:.1}% ungrounded ({} of {} quotes not in their segment); \
             {} empty segment(s) of real speech of {} mined\n",
            g.items,
            ungrounded_share * 100.0,
            g.ungrounded_quotes,
            g.quotes,
            g.empty,
            g.mined
        );
    }
    if status.reloads > 0 {
        out += &format!(
            "model reloads: {} reported by the LLM servers (each costs seconds and the prompt cache; see the \
             workers below for the likely cause)\n",
            status.reloads
        );
    }
    out
}

/// Failures by kind, then by reason.
fn failure_lines(status: &Status) -> String {
    let mut out = String::new();
    if !status.failures_by_kind.is_empty() {
        out += "failures by kind (`coordinator retry-failed --kind KIND` retries one):\n";
        for (kind, count) in &status.failures_by_kind {
            out += &format!("  {count:>6}  {kind:<18} {}\n", kind.meaning());
        }
    }
    if !status.failures.is_empty() {
        out += "failures by reason (see `coordinator failed`):\n";
        for (reason, count) in &status.failures {
            out += &format!("  {count:>6}  {reason}\n");
        }
    }
    out
}

/// One aligned row per worker, then one line per LLM server it calls.
fn workers_table(workers: &[WorkerRecord], now_s: u64) -> String {
    if workers.is_empty() {
        return String::new();
    }
    let header =
        ["worker", "model", "concurrency", "in flight", "mined", "failed", "handed back", "output tokens", "seen"];
    let rows: Vec<Vec<String>> = workers
        .iter()
        .map(|w| {
            vec![
                w.identity.worker.clone(),
                w.identity.model.clone(),
                format!("{} (limit {})", w.identity.concurrency, w.concurrency_limit),
                w.in_flight.to_string(),
                w.mined.to_string(),
                w.failed.to_string(),
                w.retried.to_string(),
                w.output_tokens.to_string(),
                format!("{} s ago", now_s.saturating_sub(w.unix_time)),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).chain([header[c].len()]).max().unwrap_or(0))
        .collect();
    // Text columns left-aligned, counts right-aligned.
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, width))| if c < 3 { format!("{cell:<width$}") } else { format!("{cell:>width$}") })
            .collect();
        format!("  {}\n", padded.join("  ").trim_end())
    };
    let mut out = line(&header.map(str::to_owned));
    for (w, row) in workers.iter().zip(&rows) {
        out += &line(row);
        for endpoint in &w.endpoints {
            let curve: Vec<String> =
                endpoint.curve.iter().map(|(calls, p)| format!("{calls}:{:.0}", p.output_tokens_per_s)).collect();
            out += &format!(
                "    LLM server {} limit {} ({}), {} in flight{}{}\n",
                endpoint.url,
                endpoint.limit,
                if endpoint.auto { "auto" } else { "fixed" },
                endpoint.outstanding,
                if endpoint.unreachable { ", UNREACHABLE" } else { "" },
                if curve.is_empty() {
                    String::new()
                } else {
                    format!("; output tok/s by calls in flight: {}", curve.join(" "))
                }
            );
        }
        if let Some(refused) = &w.refused {
            out += &format!("    NOT PULLING: {refused}\n");
        }
        for endpoint in w.endpoints.iter().filter(|e| e.reloads > 0) {
            if let Some(reload) = &endpoint.last_reload {
                out += &format!(
                    "    {} model reload(s) at {}, the last {} s ago ({} ms): {}\n",
                    endpoint.reloads, endpoint.url, reload.ago_s, reload.load_ms, reload.cause
                );
            }
        }
        if let Some(backoff) = &w.llm_backoff {
            out += &format!(
                "    LLM backing off for {} s: {} (check the LLM server on that machine)\n",
                backoff.for_s, backoff.reason
            );
        }
    }
    out
}

fn human_duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s / 60) % 60),
    }
}
