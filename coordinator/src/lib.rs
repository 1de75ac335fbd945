//! # coordinator: corpus in, tasks out, outcomes collected, progress reported
//!
//! ```text
//! corpus/ ─scan─▶ EpisodeFiles ─read─▶ Transcript{cues} ─segment─▶ Segment
//!   ─prepare (compare with store)─▶ Task ─publish (bounded PubAcks)─▶ TASKS
//!   ─all acked─▶ store (episode recorded)
//! RESULTS / FAILED / advisories ─collect─▶ store ─episode complete─▶ out/<episode>.json
//! ```
//!
//! ## Layout
//! - [`cli`]: parsing and dispatch; `main.rs` only sets up logging and calls it;
//!   [`cmd`]: one file per command (arguments, `execute`, a report that is `Display`);
//!   [`flags`]: flags several commands share; [`lifecycle`]: opening the store,
//!   stopping on a signal.
//! - [`enqueue`]: the corpus half: `prepare` (one episode's files → tasks,
//!   given the store), `reconcile` (segments the server lost), `report` and
//!   `progress` (what the user sees); [`publish`]: tasks out with bounded
//!   PubAcks (enqueue, `retry-failed`, `respec`, the collector's re-queues).
//! - [`collect`]: the results half: RESULTS/FAILED/advisories → store, and
//!   `output` (the episode files and the JSONL export, as `protocol::output` types).
//! - [`store`]: the sled checkpoint (the only module that names sled).
//! - [`spec`]: the run's mining spec: recorded at enqueue, grown for longer
//!   segments, changed by `respec` (which queues again what it re-mines).
//! - [`status`], [`failures`]: the `status`, `failed` and `retry-failed` commands.
//! - [`run`]: one machine, one command, with its embedded nats-server; the one
//!   place the coordinator and the worker meet (the local worker, in-process).
//! - [`nats`]: connecting, with errors that say what to start;
//!   [`nats_users`]: passwords for the shipped NATS configs.
//!
//! The transcript readers and segmenter are the `transcripts` crate; shared
//! runtime helpers the `runtime` crate.

pub mod cli;
mod cmd;
mod collect;
mod dashboard;
mod enqueue;
mod failures;
mod flags;
mod lifecycle;
mod nats;
mod nats_users;
mod publish;
mod run;
mod spec;
mod status;
mod store;
