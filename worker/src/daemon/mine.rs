//! The worker's core step: one task in, one [`Outcome`] out. No acks, no
//! JetStream delivery state: the consume loop turns outcomes into acks, and
//! tests call this step directly.

use super::retry;
use crate::llm::endpoints::Endpoints;
use crate::llm::{ChatReply, ChatRequest, ErrorKind, LlmError};
use crate::observe::Counters;
use async_nats::jetstream;
use mining::Mining;
use mining::{Rejected, RejectedKind};
use protocol::task::CueMark;
use protocol::{codec, subjects, FailureKind, FailureRecord, Provenance, SegmentResult, Task, Usage, WorkKey};
use runtime::Backoff;
use std::sync::Arc;

/// Asks per task for unusable output (invalid JSON, truncated) before the
/// segment is failed with its raw output. Each ask uses another seed.
pub const MAX_ASKS: u32 = 3;

/// How one task ended.
#[derive(Debug)]
pub enum Outcome {
    Mined(Box<SegmentResult>),
    /// Unusable after [`MAX_ASKS`], or refused by the server: a dead letter.
    Failed(Box<FailureRecord>),
    /// A result with the same work key is already published.
    AlreadyDone,
    /// The server stayed unavailable through the retry budget: hand it back.
    Retry(String),
    /// The model is not on the server: pause pulling; retry this task later.
    ModelMissing(String),
}

/// What a worker needs to mine: its LLM client, the run's spec and its identity.
pub struct Miner {
    /// The LLM server(s) calls go to.
    pub llm: Arc<Endpoints>,
    /// The run's mining spec: prompt, schema, options, context size.
    pub mining: Mining,
    pub worker_id: String,
    /// Retries in place of a transient LLM error.
    pub retry: Backoff,
    /// RESULTS, for "is this work already done?".
    pub results: jetstream::stream::Stream,
    /// Where LLM trouble is reported (liveness, so `status` shows backoff).
    pub counters: Arc<Counters>,
}

impl Miner {
    pub fn new(
        llm: Arc<Endpoints>,
        mining: Mining,
        worker_id: String,
        results: jetstream::stream::Stream,
        counters: Arc<Counters>,
    ) -> Self {
        Self { llm, mining, worker_id, retry: retry::IN_PLACE, results, counters }
    }

    pub fn work_key(&self, task: &Task) -> WorkKey {
        WorkKey::derive(&task.segment.content_hash(), &self.mining.work)
    }

    /// Mines one task delivered for the `delivery`-th time; `cues` are its
    /// segment's cue marks (a compact-answer run's task carries them).
    pub async fn mine(&self, task: &Task, cues: &[CueMark], delivery: u64) -> Outcome {
        let work_key = self.work_key(task);
        if self.already_done(task, &work_key).await {
            return Outcome::AlreadyDone;
        }
        let prompt = &self.mining.prompt;
        let question = self.mining.question(task, cues);
        let user = &question.user;
        let (num_predict, num_ctx) = (self.mining.spec.num_predict, self.mining.spec.num_ctx);
        let mut usage = Usage::default();
        let needed = self.mining.context_needed(user);
        if needed > num_ctx {
            let reason = format!(
                "the segment needs a context of about {needed} tokens (prompt, schema, segment and {num_predict} \
                 output tokens) and the run's num_ctx is {num_ctx}: it would be cut. Raise it with \
                 `coordinator respec --num-ctx {needed}`, then `coordinator retry-failed`"
            );
            let why = Why { kind: FailureKind::ContextTooSmall, reason, raw_output: None };
            return self.failed(task, work_key, why, 0, delivery, usage);
        }
        let mut last_raw = None;
        let mut last_problem = Rejected::new(RejectedKind::NotJson, "no answer");
        for ask in 0..MAX_ASKS {
            let request = ChatRequest::new(prompt, user, num_ctx, seed(&work_key, ask));
            let reply = match self.call_with_retries(&request).await {
                Ok(reply) => reply,
                Err(err) if err.is_transient() => return Outcome::Retry(err.detail),
                Err(err) if err.kind == ErrorKind::ModelMissing => return Outcome::ModelMissing(err.detail),
                Err(err) => {
                    let why = Why { kind: FailureKind::RefusedByServer, reason: err.to_string(), raw_output: last_raw };
                    return self.failed(task, work_key, why, ask + 1, delivery, usage);
                }
            };
            usage.add(&reply.usage);
            let provenance = |attempts| self.provenance(attempts, delivery, usage);
            if reply.truncated {
                last_problem = Rejected::truncated(num_predict);
                last_raw = Some(reply.content);
                continue;
            }
            match self.mining.accept(&question, &reply.content, task) {
                Ok(repaired) => {
                    return Outcome::Mined(Box::new(SegmentResult {
                        task: task.clone(),
                        work_key,
                        mined_json: repaired.output.to_string(),
                        repairs: repaired.repairs,
                        provenance: provenance(ask + 1),
                    }));
                }
                Err(problem) => {
                    last_problem = problem;
                    last_raw = Some(reply.content);
                }
            }
        }
        let kind = match last_problem.kind() {
            RejectedKind::Truncated => FailureKind::OutputTruncated,
            _ => FailureKind::UnusableAnswer,
        };
        let why = Why {
            kind,
            reason: format!("unusable output after {MAX_ASKS} asks: {last_problem}"),
            raw_output: last_raw,
        };
        self.failed(task, work_key, why, MAX_ASKS, delivery, usage)
    }

    fn failed(&self, task: &Task, work_key: WorkKey, why: Why, attempts: u32, delivery: u64, usage: Usage) -> Outcome {
        Outcome::Failed(Box::new(FailureRecord {
            task: task.clone(),
            work_key,
            kind: why.kind,
            reason: why.reason,
            raw_output: why.raw_output,
            provenance: self.provenance(attempts, delivery, usage),
        }))
    }

    /// A failure record for a task the server stayed unavailable for through its last delivery.
    pub fn gave_up(&self, task: &Task, reason: String, delivery: u64) -> FailureRecord {
        FailureRecord {
            task: task.clone(),
            work_key: self.work_key(task),
            kind: FailureKind::LlmUnavailable,
            reason: format!("LLM unavailable on the final delivery ({delivery}): {reason}"),
            raw_output: None,
            provenance: self.provenance(0, delivery, Usage::default()),
        }
    }

    fn provenance(&self, attempts: u32, delivery: u64, usage: Usage) -> Provenance {
        Provenance { spec: self.mining.work.clone(), worker: self.worker_id.clone(), attempts, delivery, usage }
    }

    /// One LLM call, retried in place for transient errors within the budget.
    async fn call_with_retries(&self, request: &ChatRequest<'_>) -> Result<ChatReply, LlmError> {
        let mut delays = self.retry.delays();
        loop {
            match self.llm.chat(request).await {
                Err(err) if err.is_transient() => {
                    self.counters.llm_failed(&err.detail);
                    match delays.next() {
                        Some(delay) => {
                            tracing::warn!(reason = %err.detail, retry_in = ?delay, "LLM call failed; backing off");
                            tokio::time::sleep(delay).await;
                        }
                        None => return Err(err),
                    }
                }
                other => {
                    if other.is_ok() {
                        self.counters.llm_answered();
                    }
                    return other;
                }
            }
        }
    }

    async fn already_done(&self, task: &Task, work_key: &WorkKey) -> bool {
        let subject = subjects::result(&task.segment.key());
        match self.results.direct_get_last_for_subject(subject).await {
            Ok(message) => codec::decode::<SegmentResult>(&message.payload).is_ok_and(|r| r.work_key == *work_key),
            Err(_) => false,
        }
    }
}

/// Why a segment failed: its kind, the detail, the model's last answer.
struct Why {
    kind: FailureKind,
    reason: String,
    raw_output: Option<String>,
}

/// A different, reproducible seed for each ask of each work item.
fn seed(work_key: &WorkKey, ask: u32) -> u64 {
    let mut bytes = [0; 8];
    bytes.copy_from_slice(&work_key.0 .0[..8]);
    u64::from_le_bytes(bytes).wrapping_add(u64::from(ask)) & 0x7fff_ffff
}
