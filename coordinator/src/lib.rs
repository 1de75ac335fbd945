//! # coordinator: corpus in, tasks out, progress reported
//!
//! ```text
//! corpus/ ─scan─▶ EpisodeFiles ─read─▶ Transcript{cues} ─segment─▶ Segment
//!   ─prepare (compare with store)─▶ Task ─publish (bounded PubAcks)─▶ TASKS
//!   ─all acked─▶ store (episode recorded)
//! ```
//!
//! ## Layout
//! - [`cli`]: arguments and dispatch; `main.rs` only sets up logging and calls it.
//! - [`corpus`], [`transcript`], [`segmenter`]: from the `transcripts` crate
//!   (finding files, the readers, cutting segments), re-exported here.
//! - [`prepare`]: one episode's files → the tasks to publish, given the store.
//! - [`publish`]: bounded in-flight publishing and PubAck classification.
//! - [`reconcile`]: segments the server lost, which `enqueue` publishes again.
//! - [`enqueue`]: the `enqueue` command: the pipeline above, resumable.
//! - [`store`]: the sled checkpoint (the only module that names sled).
//! - [`collect`]: RESULTS/FAILED/advisories → store → `out/<episode>.json`.
//! - [`output`]: the episode files and JSONL export.
//! - [`failures`]: `failed` and `retry-failed`.
//! - [`run`]: one machine, one command; [`embedded`]: its nats-server child.
//! - [`status`]: the `status` command.
//! - [`nats`]: connecting, with errors that say what to start;
//!   [`nats_users`]: passwords for the shipped NATS configs.
//! - [`report`], [`progress`]: the end-of-run summary and the progress bar.

pub use transcripts::{corpus, segmenter, transcript};

pub mod cli;
pub mod collect;
pub mod embedded;
pub mod enqueue;
pub mod failures;
pub mod nats;
pub mod nats_users;
pub mod output;
pub mod prepare;
pub mod progress;
pub mod publish;
pub mod reconcile;
pub mod report;
pub mod run;
pub mod status;
pub mod store;
