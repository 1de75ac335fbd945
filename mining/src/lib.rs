//! # mining: what is asked of the model and what is accepted from it
//!
//! ```text
//! flags ─LocalMining─▶ RunSpec (defaults, differences, context size)
//! RunSpec ─Mining::new─▶ Prompt (encoded once) + Generation
//! Task (+ cue marks) ─Mining::question─▶ Question (user message, numbered sentences)
//! model's reply ─Mining::accept─▶ compact expansion ▶ repair ▶ Repaired | Rejected{kind}
//! mined result ─grounding─▶ Grounding (quotes and times checked against the segment)
//! ```
//!
//! Pure: no NATS, HTTP, sled or network runtime in its tree. The worker
//! sends the requests and the coordinator records the spec; both decide
//! what to ask and accept with this crate.
//!
//! ## Layout
//! - [`flags`]: [`MiningFlags`], the flags `coordinator enqueue`/`respec`/`run`,
//!   `worker run` and `worker bench` flatten.
//! - [`spec`]: the run's spec from flags ([`spec::LocalMining`]): defaults,
//!   disagreements with the recorded spec, context sizing.
//! - [`ask`]: [`Mining`], the spec a worker mines with, and [`ask::Question`].
//! - [`prompt`]: the default prompt and schema, the user message, context sizes.
//! - [`repair`]: validation and repair of an answer against the schema in use.
//! - [`compact`]: compact answers (cited sentence numbers) expanded into the full shape.
//! - [`sentences`]: a segment's numbered sentences, timed from its cue marks.
//! - [`grounding`]: whether an answer's quotes and times are in its segment.
//! - [`rejected`]: [`Rejected`], why an answer is not accepted, by kind.

pub mod ask;
pub mod compact;
pub mod flags;
pub mod grounding;
pub mod prompt;
pub mod rejected;
pub mod repair;
pub mod sentences;
pub mod spec;

pub use ask::{Generation, Mining, Question};
pub use flags::MiningFlags;
pub use rejected::{Rejected, RejectedKind};
