//! # worker: tasks in, mined results out
//!
//! ```text
//! TASKS ─pull (one per free slot)─▶ mine: prompt ▶ LLM (progress heartbeats) ▶ repair
//!   ─▶ outbox (sled) ─publish, PubAck─▶ RESULTS ─▶ double_ack task
//!   (unusable ▶ FAILED ▶ term; unavailable ▶ nak with delay; model missing ▶ pause)
//! ```
//!
//! ## Layout
//! - [`cli`]: flags; `main.rs` sets up logging, builds [`Settings`], connects
//!   and calls [`run`], handing it what it talks to ([`Connections`]).
//! - [`settings`]: [`Settings`], typed, from the flags (or from `coordinator run`).
//! - [`spec`]: the run's mining spec as flags build it, compare with it, and
//!   read it from NATS (the coordinator records it with the same module).
//! - [`daemon`]: the loop half: `consume` (pulls, heartbeats, settles,
//!   drains), `mine` (the step: one task → one outcome; tests call it),
//!   `outbox` (the only module naming sled), `retry`, `limits` (governor).
//! - [`llm`]: the LLM half: Ollama and OpenAI-compatible clients, errors
//!   classified once as data, `endpoints` (several servers, routing, limits)
//!   and `tune` (`--concurrency auto`).
//! - [`answer`], what is asked and accepted: `prompt` (default prompt and
//!   schema, hashes, context sizing), `repair` (validation of the model's JSON).
//! - [`observe`]: `stats` (counters), `liveness` (the record `status`
//!   reads), `metrics` (Prometheus).
//! - [`bench`]: `worker bench`.
//!
//! Shared runtime helpers (backoff, NATS outages, stop signals) are in the
//! `runtime` crate; the records that cross process boundaries in `protocol`.

mod answer;
pub mod bench;
pub mod cli;
mod daemon;
mod llm;
mod observe;
mod settings;
pub mod spec;

/// Compact answers (groundwork of issue 16: built and tested, not yet a mode
/// of the run's spec).
pub use answer::compact;
pub use daemon::outbox::{Outbox, OutboxFull};
pub use daemon::{check_llm, run, Connections, SPEC_POLL};
pub use settings::Settings;
