//! Prometheus metrics on `--metrics-addr` (127.0.0.1:9464 by default: only
//! this machine; `off` disables): tasks by outcome, LLM call latency
//! histogram per endpoint, tokens, tasks and calls in flight, and each
//! endpoint's concurrency limit.
//!
//! `prometheus-client` writes the text format (OpenMetrics) from the live
//! counters at each scrape; axum serves it on `/metrics` (and `/`).

use super::Counters;
use crate::llm::endpoints::Endpoints;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::TypedMetric;
use prometheus_client::registry::Registry;
use protocol::liveness::EndpointRecord;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// What a scrape reads: the worker's counters and its endpoints.
#[derive(Clone)]
struct Live {
    counters: Arc<Counters>,
    endpoints: Arc<Endpoints>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").finish_non_exhaustive()
    }
}

impl Collector for Live {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let counters = &self.counters;
        let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
        let tasks = [
            ("mined", load(&counters.mined)),
            ("failed", load(&counters.failed)),
            ("handed_back", load(&counters.retried)),
        ];
        let mut family = encoder.encode_descriptor(
            "podmine_worker_tasks",
            "Tasks settled by this worker, by outcome.",
            None,
            ConstCounter::<u64>::TYPE,
        )?;
        for (outcome, value) in tasks {
            ConstCounter::new(value).encode(family.encode_family(&[("outcome", outcome)])?)?;
        }
        for (name, help, value) in [
            ("podmine_worker_output_tokens", "Output tokens of mined results.", load(&counters.output_tokens)),
            ("podmine_worker_prompt_tokens", "Prompt tokens of mined results.", load(&counters.prompt_tokens)),
            (
                "podmine_worker_cached_prompt_tokens",
                "Prompt tokens served from the prefix cache.",
                load(&counters.cached_prompt_tokens),
            ),
            ("podmine_worker_llm_errors", "LLM calls that failed and were retried.", load(&counters.llm_errors)),
        ] {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(name, help, None, counter.metric_type())?)?;
        }
        let in_flight = ConstGauge::new(counters.in_flight.load(Ordering::Relaxed) as i64);
        in_flight.encode(encoder.encode_descriptor(
            "podmine_worker_tasks_in_flight",
            "Tasks pulled and not yet settled.",
            None,
            in_flight.metric_type(),
        )?)?;
        let status = self.endpoints.status();
        type Field = fn(&EndpointRecord) -> u64;
        let gauges: [(&str, &str, Field); 2] = [
            ("podmine_worker_llm_concurrency_limit", "Calls allowed in flight per endpoint (auto or fixed).", |e| {
                e.limit
            }),
            ("podmine_worker_llm_calls_in_flight", "LLM calls in flight per endpoint.", |e| e.outstanding),
        ];
        for (name, help, value) in gauges {
            let mut family = encoder.encode_descriptor(name, help, None, ConstGauge::<i64>::TYPE)?;
            for endpoint in &status {
                let gauge = ConstGauge::new(value(endpoint) as i64);
                gauge.encode(family.encode_family(&[("endpoint", endpoint.url.as_str())])?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "podmine_worker_llm_call_seconds",
            "LLM call latency per endpoint (answered or not).",
            None,
            prometheus_client::metrics::MetricType::Histogram,
        )?;
        for (url, histogram) in self.endpoints.latencies() {
            histogram.encode(family.encode_family(&[("endpoint", url)])?)?;
        }
        Ok(())
    }
}

/// The exposition text for the current state.
pub fn render(counters: Arc<Counters>, endpoints: Arc<Endpoints>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Live { counters, endpoints }));
    let mut text = String::new();
    if let Err(err) = prometheus_client::encoding::text::encode(&mut text, &registry) {
        tracing::warn!(error = %err, "cannot encode the metrics");
    }
    text
}

/// The OpenMetrics text format's content type.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves the metrics on `addr` until `cancel`. A port already taken (a
/// second worker on the machine) is reported and skipped, not fatal.
pub async fn serve(addr: String, counters: Arc<Counters>, endpoints: Arc<Endpoints>, cancel: CancellationToken) {
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(listener) => listener,
        Err(err) => {
            return tracing::warn!(%addr, error = %err, "no metrics: cannot listen (pass another --metrics-addr)");
        }
    };
    // The address bound (`--metrics-addr 127.0.0.1:0` picks a port): what to scrape.
    let bound = listener.local_addr().map_or(addr.clone(), |a| a.to_string());
    tracing::info!("Prometheus metrics at http://{bound}/metrics");
    let live = Live { counters, endpoints };
    let scrape = move || {
        let live = live.clone();
        async move { ([(axum::http::header::CONTENT_TYPE, CONTENT_TYPE)], render(live.counters, live.endpoints)) }
    };
    let app = axum::Router::new()
        .route("/metrics", axum::routing::get(scrape.clone()))
        .route("/", axum::routing::get(scrape));
    if let Err(err) = axum::serve(listener, app).with_graceful_shutdown(cancel.cancelled_owned()).await {
        tracing::warn!(%addr, error = %err, "the metrics server stopped");
    }
}
