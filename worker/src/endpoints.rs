//! The LLM servers one worker calls (`--llm A --llm B`: two servers on one
//! Mac, or a GPU box beside it). Each has its own in-flight limit (fixed or
//! tuned, see [`crate::tune`]); a call goes to the endpoint with the fewest
//! outstanding calls relative to its measured rate; an endpoint that stops
//! answering is skipped, then tried again after a backoff (1 s, doubling to
//! a minute) while the others carry the load.

use crate::llm::{ChatReply, ChatRequest, LlmClient, LlmError};
use crate::tune::{CallOutcome, Controller, Point, Sample};
use std::collections::BTreeMap;
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

const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

struct Endpoint {
    client: LlmClient,
    state: Mutex<State>,
    latency: crate::metrics::Histogram,
}

struct State {
    controller: Controller,
    outstanding: usize,
    /// Skipped until then after failing to connect.
    dead_until: Option<Instant>,
    backoff: Duration,
}

/// What `status` shows of one endpoint.
#[derive(Clone, Debug, serde::Serialize)]
pub struct EndpointStatus {
    pub url: String,
    pub auto: bool,
    pub limit: usize,
    pub outstanding: usize,
    pub unreachable: bool,
    /// Measured output tokens/s and p95 latency at each limit tried.
    pub curve: BTreeMap<usize, Point>,
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
                    backoff: FIRST_BACKOFF,
                }),
                latency: crate::metrics::Histogram::default(),
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
        endpoint.latency.observe(finished.duration_since(started));
        let (outcome, output_tokens) = match &reply {
            Ok(reply) => (CallOutcome::Answered, reply.usage.output_tokens),
            Err(err) if err.is_overload() => (CallOutcome::Overloaded, 0),
            Err(_) => (CallOutcome::Failed, 0),
        };
        let mut state = lock(&endpoint.state);
        match &reply {
            Err(err) if err.is_unreachable() && self.endpoints.len() > 1 => {
                if state.dead_until.is_none() {
                    tracing::warn!(endpoint = %endpoint.client.endpoint, retry_in = ?state.backoff,
                        "LLM endpoint unreachable: sending calls to the others");
                }
                state.dead_until = Some(finished + state.backoff);
                state.backoff = (state.backoff * 2).min(MAX_BACKOFF);
            }
            Ok(_) if state.dead_until.take().is_some() => {
                state.backoff = FIRST_BACKOFF;
                tracing::info!(endpoint = %endpoint.client.endpoint, "LLM endpoint answers again");
            }
            _ => {}
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
        Err(first_error.unwrap_or_else(|| LlmError::Permanent("no LLM endpoint given".into())))
    }

    /// Each endpoint's call latency histogram, for the metrics.
    pub fn latencies(&self) -> impl Iterator<Item = (&str, &crate::metrics::Histogram)> {
        self.endpoints.iter().map(|e| (e.client.endpoint.as_str(), &e.latency))
    }

    pub fn status(&self) -> Vec<EndpointStatus> {
        self.endpoints
            .iter()
            .map(|endpoint| {
                let state = lock(&endpoint.state);
                EndpointStatus {
                    url: endpoint.client.endpoint.clone(),
                    auto: state.controller.is_auto(),
                    limit: state.controller.limit(),
                    outstanding: state.outstanding,
                    // Set by a failed connection, cleared only by an answer.
                    unreachable: state.dead_until.is_some(),
                    curve: state.controller.curve().clone(),
                }
            })
            .collect()
    }
}
