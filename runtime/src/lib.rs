//! # runtime: what both binaries need from the machine they run on
//!
//! Not podmine's contracts (those are in `protocol`), but the few general
//! helpers the worker and the coordinator share, so neither depends on the
//! other for them.
//!
//! ## Layout
//! - [`backoff`]: [`Backoff`], the one retry policy every wait loop uses (the
//!   only module that names the `backoff` crate).
//! - [`outage`]: waiting out NATS outages with backoff and few log lines.
//! - [`shutdown`]: SIGTERM/SIGINT as a graceful stop.
//! - [`clock`]: wall-clock milliseconds, as records and stores keep them.
//! - [`logging`]: the tracing set-up both binaries share (colour only on a terminal).
//! - [`full_disk`]: telling a full disk from other errors, and waiting for space.
//! - [`cli`]: checks both command lines share (every flag has help text).
//! - [`dirs`]: where data and logs go on each platform when no `--data-dir` is given.
//! - [`env_file`]: `--env-file`, the NATS login read at start from a private file.
//! - [`start`]: how both binaries start (env file, then the async runtime).

pub mod backoff;
pub mod cli;
pub mod clock;
pub mod dirs;
pub mod env_file;
pub mod full_disk;
pub mod logging;
pub mod outage;
pub mod shutdown;
pub mod start;

pub use backoff::Backoff;
pub use outage::Outage;
