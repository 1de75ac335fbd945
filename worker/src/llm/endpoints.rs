//! The LLM servers one worker calls (`--llm A --llm B`: two servers on one
//! Mac, or a GPU box beside it). Each has its own in-flight limit (fixed or
//! tuned, see [`super::tune`]); a call goes to the endpoint with the fewest
//! outstanding calls relative to its measured rate; an endpoint that stops
//! answering is skipped, then tried again after a backoff ([`SKIPPED`]) while
//! the others carry the load. Each endpoint keeps its call latency histogram
//! (the metrics show it).

use super::reloads::LoadWatch;
use super::tune::{CallOutcome, Controller, Sample};
use super::{ChatReply, ChatRequest, ErrorKind, LlmClient, LlmError};
use prometheus_client::metrics::histogram::Histogram;
use protocol::liveness::{CurvePoint, EndpointRecord};
use runtime::backoff::{Backoff, Delays};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// `--concurrency`: a number per endpoint, or `auto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Concurrency {
    Fixed(usize),
    Auto,
}

impl std::str::FromStr for Concurrency {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, String> {
        match value {
            "auto" => Ok(Self::Auto),
            n => match n.parse::<usize>() {
                Ok(n) if (1..=256).contains(&n) => Ok(Self::Fixed(n)),
                _ => Err(format!("`{n}`: expected `auto` or a number from 1 to 256")),
            },
        }
    }
}

/// How long an unreachable endpoint is skipped: 1 s, doubling to a minute.
pub const SKIPPED: Backoff = Backoff::exponential(Duration::from_secs(1), Duration::from_secs(60));

/// Upper bounds (seconds) of the call latency buckets: local LLM calls take
/// from a tenth of a second (a tiny model) to minutes (a big one, queued).
const LATENCY_BUCKETS: [f64; 12] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0];

struct Endpoint {
    client: LlmClient,
    state: Mutex<State>,
    latency: Histogram,
}

struct State {
    controller: Controller,
    outstanding: usize,
    /// Skipped until then after failing to connect.
    dead_until: Option<Instant>,
    skipped_for: Delays,
    loads: LoadWatch,
}

pub struct Endpoints {
    endpoints: Vec<Endpoint>,
    /// Signalled when a call ends or a limit changes.
    freed: Notify,
}

/// A call slot on one endpoint, returned when dropped.
pub struct Lease<'a> {
    owner: &'a Endpoints,
    index: usize,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        lock(&self.owner.endpoints[self.index].state).outstanding -= 1;
        self.owner.freed.notify_waiters();
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Endpoints {
    pub fn new(clients: Vec<LlmClient>, concurrency: Concurrency, max_concurrency: usize) -> Self {
        let now = Instant::now();
        let endpoints = clients
            .into_iter()
            .map(|client| Endpoint {
                client,
                state: Mutex::new(State {
                    controller: match concurrency {
                        Concurrency::Fixed(n) => Controller::fixed(n),
                        Concurrency::Auto => Controller::auto(max_concurrency, now),
                    },
                    outstanding: 0,
                    dead_until: None,
                    skipped_for: SKIPPED.delays(),
                    loads: LoadWatch::default(),
                }),
                latency: Histogram::new(LATENCY_BUCKETS),
            })
            .collect();
        Self { endpoints, freed: Notify::new() }
    }

    /// The first endpoint's client: model and generation settings are the same on all.
    pub fn primary(&self) -> &LlmClient {
        &self.endpoints[0].client
    }

    /// Calls all endpoints may have in flight now (reachable ones; all if none is).
    pub fn capacity(&self) -> usize {
        let now = Instant::now();
        let states: Vec<_> = self.endpoints.iter().map(|e| lock(&e.state)).collect();
        let alive: usize =
            states.iter().filter(|s| s.dead_until.is_none_or(|t| t <= now)).map(|s| s.controller.limit()).sum();
        if alive > 0 {
            alive
        } else {
            states.iter().map(|s| s.controller.limit()).min().unwrap_or(1)
        }
    }

    /// Waits until some endpoint can take a call, and takes the best one.
    pub async fn acquire(&self) -> Lease<'_> {
        loop {
            let freed = self.freed.notified();
            if let Some(index) = self.pick(Instant::now()) {
                return Lease { owner: self, index };
            }
            // A slot frees, a limit changes, or a dead endpoint's backoff ends.
            let _ = tokio::time::timeout(Duration::from_millis(500), freed).await;
        }
    }

    /// Fewest outstanding calls relative to measured rate, among endpoints
    /// below their limit; a dead one only when its backoff is over.
    fn pick(&self, now: Instant) -> Option<usize> {
        let mut best: Option<(f64, usize)> = None;
        for (index, endpoint) in self.endpoints.iter().enumerate() {
            let state = lock(&endpoint.state);
            if state.outstanding >= state.controller.limit() || state.dead_until.is_some_and(|t| t > now) {
                continue;
            }
            let rate = state.controller.curve().get(&state.controller.limit()).map_or(1.0, |p| p.calls_per_s);
            let load = (state.outstanding + 1) as f64 / rate.max(1e-6);
            if best.is_none_or(|(b, _)| load < b) {
                best = Some((load, index));
            }
        }
        let (_, index) = best?;
        lock(&self.endpoints[index].state).outstanding += 1;
        Some(index)
    }

    /// One call on the best endpoint, measured for its controller.
    pub async fn chat(&self, request: &ChatRequest<'_>) -> Result<ChatReply, LlmError> {
        let lease = self.acquire().await;
        let endpoint = &self.endpoints[lease.index];
        let started = Instant::now();
        let reply = endpoint.client.chat(request).await;
        let finished = Instant::now();
        endpoint.latency.observe(finished.duration_since(started).as_secs_f64());
        let (outcome, output_tokens) = match &reply {
            Ok(reply) => (CallOutcome::Answered, reply.usage.output_tokens),
            Err(err) if err.kind == ErrorKind::Overloaded => (CallOutcome::Overloaded, 0),
            Err(_) => (CallOutcome::Failed, 0),
        };
        let mut state = lock(&endpoint.state);
        match &reply {
            Err(err) if err.kind == ErrorKind::Unreachable && self.endpoints.len() > 1 => {
                let skip = state.skipped_for.next().unwrap_or(SKIPPED.max);
                if state.dead_until.is_none() {
                    tracing::warn!(endpoint = %endpoint.client.endpoint, retry_in = ?skip,
                        "LLM endpoint unreachable: sending calls to the others");
                }
                state.dead_until = Some(finished + skip);
            }
            Ok(_) if state.dead_until.take().is_some() => {
                state.skipped_for.reset();
                tracing::info!(endpoint = %endpoint.client.endpoint, "LLM endpoint answers again");
            }
            _ => {}
        }
        if let Ok(reply) = &reply {
            if let Some(reload) = state.loads.observe(reply.load_ms, request.num_ctx, finished) {
                tracing::warn!(endpoint = %endpoint.client.endpoint, load_ms = reload.load_ms,
                    "the LLM server reloaded the model: {}", reload.cause);
            }
        }
        if let Some(limit) = state.controller.record(Sample { started, finished, output_tokens, outcome }) {
            tracing::info!(endpoint = %endpoint.client.endpoint, limit, "LLM calls in flight adjusted");
        }
        drop(state);
        drop(lease);
        reply
    }

    /// Ok when any endpoint serves the model; else the first error.
    pub async fn check_model(&self) -> Result<(), LlmError> {
        let mut first_error = None;
        for endpoint in &self.endpoints {
            match endpoint.client.check_model().await {
                Ok(()) => return Ok(()),
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        Err(first_error.unwrap_or_else(|| LlmError::new(ErrorKind::BadRequest, "no LLM endpoint given")))
    }

    /// Each endpoint's call latency histogram, for the metrics.
    pub fn latencies(&self) -> impl Iterator<Item = (&str, &Histogram)> {
        self.endpoints.iter().map(|e| (e.client.endpoint.as_str(), &e.latency))
    }

    /// Each endpoint as the liveness record and the metrics show it.
    pub fn status(&self) -> Vec<EndpointRecord> {
        self.endpoints
            .iter()
            .map(|endpoint| {
                let state = lock(&endpoint.state);
                EndpointRecord {
                    url: endpoint.client.endpoint.clone(),
                    auto: state.controller.is_auto(),
                    limit: state.controller.limit() as u64,
                    outstanding: state.outstanding as u64,
                    // Set by a failed connection, cleared only by an answer.
                    unreachable: state.dead_until.is_some(),
                    reloads: state.loads.reloads,
                    last_reload: state.loads.last_reload(),
                    curve: state
                        .controller
                        .curve()
                        .iter()
                        .map(|(calls, p)| {
                            let point = CurvePoint {
                                output_tokens_per_s: p.output_tokens_per_s,
                                calls_per_s: p.calls_per_s,
                                p95_latency_ms: p.p95_latency_ms,
                                windows: p.windows,
                            };
                            (*calls as u64, point)
                        })
                        .collect(),
                }
            })
            .collect()
    }
}
