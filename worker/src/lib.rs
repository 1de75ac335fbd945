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
//! - [`daemon`]: the loop half: `consume` (pulls, heartbeats, settles,
//!   drains), `mine` (the step: one task → one outcome; tests call it),
//!   `outbox` (the only module naming sled), `retry`, `limits` (governor).
//! - [`llm`]: the LLM half: Ollama and OpenAI-compatible clients, errors
//!   classified once as data, `endpoints` (several servers, routing, limits)
//!   and `tune` (`--concurrency auto`).
//! - [`observe`]: `stats` (counters), `liveness` (the record `status`
//!   reads), `metrics` (Prometheus).
//! - [`bench`]: `worker bench`.
//! - [`service`]: `worker service install|uninstall|status` (the `service` crate does the platform's part).
//!
//! What is asked of the model and accepted from it (the spec from flags,
//! prompt, repair, compact answers, grounding) is the `mining` crate's;
//! shared runtime helpers (backoff, NATS outages, stop signals) are in the
//! `runtime` crate; the records that cross process boundaries, and the
//! run's spec in NATS (`protocol::spec_kv`), in `protocol`.

pub mod bench;
pub mod cli;
mod daemon;
mod llm;
mod observe;
pub mod service;
mod settings;

pub use daemon::outbox::{Outbox, OutboxFull};
pub use daemon::{check_llm, run, Connections};
pub use settings::Settings;
