//! Prometheus text metrics on `--metrics-addr` (127.0.0.1:9464 by default:
//! only this machine; `off` disables): tasks by outcome, LLM call latency
//! histogram per endpoint, tokens, tasks and calls in flight, and each
//! endpoint's concurrency limit. A tiny HTTP server: every GET gets the text
//! exposition format (version 0.0.4).

use crate::endpoints::Endpoints;
use crate::liveness::Counters;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// Upper bounds (seconds) of the latency buckets: local LLM calls take from
/// a tenth of a second (a tiny model) to minutes (a big one, queued).
const BUCKETS: [f64; 12] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0];

/// A latency histogram (cumulative buckets, as Prometheus wants them).
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        for (bound, count) in BUCKETS.iter().zip(&self.counts) {
            if seconds <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        for (bound, count) in BUCKETS.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {}", count.load(Ordering::Relaxed));
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

/// The exposition text for the current state.
pub fn render(counters: &Counters, endpoints: &Endpoints) -> String {
    let mut out = String::new();
    let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
    out.push_str("# HELP podmine_worker_tasks_total Tasks settled by this worker, by outcome.\n");
    out.push_str("# TYPE podmine_worker_tasks_total counter\n");
    for (outcome, value) in
        [("mined", load(&counters.mined)), ("failed", load(&counters.failed)), ("handed_back", load(&counters.retried))]
    {
        let _ = writeln!(out, "podmine_worker_tasks_total{{outcome=\"{outcome}\"}} {value}");
    }
    for (name, help, value) in [
        ("output_tokens", "Output tokens of mined results.", load(&counters.output_tokens)),
        ("prompt_tokens", "Prompt tokens of mined results.", load(&counters.prompt_tokens)),
        ("cached_prompt_tokens", "Prompt tokens served from the prefix cache.", load(&counters.cached_prompt_tokens)),
        ("llm_errors", "LLM calls that failed and were retried.", load(&counters.llm_errors)),
    ] {
        let _ = writeln!(out, "# HELP podmine_worker_{name}_total {help}\n# TYPE podmine_worker_{name}_total counter");
        let _ = writeln!(out, "podmine_worker_{name}_total {value}");
    }
    out.push_str("# HELP podmine_worker_tasks_in_flight Tasks pulled and not yet settled.\n");
    out.push_str("# TYPE podmine_worker_tasks_in_flight gauge\n");
    let _ = writeln!(out, "podmine_worker_tasks_in_flight {}", counters.in_flight.load(Ordering::Relaxed));
    let status = endpoints.status();
    out.push_str("# HELP podmine_worker_llm_concurrency_limit Calls allowed in flight per endpoint (auto or fixed).\n");
    out.push_str("# TYPE podmine_worker_llm_concurrency_limit gauge\n");
    for endpoint in &status {
        let _ =
            writeln!(out, "podmine_worker_llm_concurrency_limit{{endpoint=\"{}\"}} {}", endpoint.url, endpoint.limit);
    }
    out.push_str("# HELP podmine_worker_llm_calls_in_flight LLM calls in flight per endpoint.\n");
    out.push_str("# TYPE podmine_worker_llm_calls_in_flight gauge\n");
    for endpoint in &status {
        let _ = writeln!(
            out,
            "podmine_worker_llm_calls_in_flight{{endpoint=\"{}\"}} {}",
            endpoint.url, endpoint.outstanding
        );
    }
    out.push_str("# HELP podmine_worker_llm_call_seconds LLM call latency per endpoint (answered or not).\n");
    out.push_str("# TYPE podmine_worker_llm_call_seconds histogram\n");
    for (url, histogram) in endpoints.latencies() {
        histogram.render(&mut out, "podmine_worker_llm_call_seconds", &format!("endpoint=\"{url}\""));
    }
    out
}

/// Serves the metrics on `addr` until `cancel`. A port already taken (a
/// second worker on the machine) is reported and skipped, not fatal.
pub async fn serve(addr: String, counters: Arc<Counters>, endpoints: Arc<Endpoints>, cancel: CancellationToken) {
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(listener) => listener,
        Err(err) => {
            return tracing::warn!(%addr, error = %err, "no metrics: cannot listen (pass another --metrics-addr)");
        }
    };
    tracing::info!(%addr, "Prometheus metrics at http://{addr}/metrics");
    loop {
        let (mut stream, _) = tokio::select! {
            _ = cancel.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(_) => continue,
            },
        };
        let body = render(&counters, &endpoints);
        tokio::spawn(async move {
            // Read the request head before answering: closing with unread
            // bytes would reset the connection under the client.
            let mut request = Vec::new();
            let mut chunk = [0u8; 1024];
            let read_head = async {
                while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16 * 1024 {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&chunk[..n]),
                    }
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(2), read_head).await;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body.as_bytes()).await;
        });
    }
}
