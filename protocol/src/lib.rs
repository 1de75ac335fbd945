//! # protocol: what the coordinator and the workers agree on
//!
//! Everything that crosses the wire or names a place on the server is declared
//! here once, so binaries and tests call the same builders.
//!
//! ## Layout
//! - [`ids`]: the identities idempotency rests on: [`EpisodeId`], [`SegmentKey`],
//!   [`ContentHash`] (and the message id derived from it).
//! - [`timestamp`]: milliseconds ⇄ `HH:MM:SS` and the timestamp spellings transcripts use.
//! - [`task`]: [`Segment`] and [`Task`], the unit of work one worker mines.
//! - [`result`]: [`SegmentResult`], [`FailureRecord`] (with its [`FailureKind`]),
//!   [`WorkKey`]: what workers publish.
//! - [`spec`]: [`spec::RunSpec`], the run's one mining spec (model, prompt, schema,
//!   options, context size) that the coordinator records and every worker mines with.
//! - [`subjects`]: subject names for tasks, results and dead letters.
//! - [`liveness`]: [`liveness::WorkerRecord`], what each worker says about itself
//!   in a KV bucket and `status` reads back.
//! - [`status`]: [`status::Status`], what `coordinator status --json` prints
//!   and the dashboard and tests read.
//! - [`grounding`]: grounding findings as records (the check itself is `mining::grounding`).
//! - [`output`]: [`output::EpisodeFile`] and [`output::ExportLine`], the output
//!   users parse, with their published JSON Schemas.
//! - [`codec`]: the one place that names the binary encoding (versioned).
//!
//! Behind the `nats` feature (on by default), what talks to the server:
//! - [`connect`]: the NATS flags every binary shares (URL, credentials, TLS) and
//!   connecting with errors that say what to start or fix.
//! - [`streams`]: JetStream stream and consumer settings, and `ensure_streams`.
//! - [`spec_kv`]: the run's spec in its KV bucket (record, fetch).
//!
//! What is asked of the model and accepted from it (prompt, repair, compact
//! answers, sentences, grounding) is the `mining` crate's.

pub mod codec;
#[cfg(feature = "nats")]
pub mod connect;
pub mod grounding;
pub mod ids;
pub mod liveness;
pub mod output;
pub mod result;
pub mod spec;
#[cfg(feature = "nats")]
pub mod spec_kv;
pub mod status;
#[cfg(feature = "nats")]
pub mod streams;
pub mod subjects;
pub mod task;
pub mod timestamp;

pub use ids::{ContentHash, EpisodeId, IdError, SegmentKey};
pub use result::{FailureKind, FailureRecord, MiningSpec, Provenance, SegmentResult, Usage, WorkKey};
pub use task::{Segment, Task};
