//! # podmine-tests: the integration-test harness
//!
//! Starts real `nats-server` processes on free ports with temp store dirs
//! ([`NatsServer`]), kills (`SIGKILL`) and restarts them on the same port and
//! store, and finds the workspace's binaries. No broker is mocked.
//!
//! ## Layout
//! - [`nats`]: the server harness; [`cluster`]: three of them from the shipped cluster configs.
//! - [`fake_llm`]: a fake Ollama/OpenAI server with a capacity model and faults.
//! - [`mining`]: a corpus enqueued by the real coordinator, and real worker processes.
//! - [`binaries`]: paths of the built `coordinator` and `worker` binaries.
//! - [`wait`]: bounded polling, instead of fixed sleeps.
//! - [`auth`]: NATS users made by `coordinator nats-users`, for the shipped configs.
//! - [`outputs`]: reading out/ back, each segment checked to appear once.
//! - [`netns`]: a network namespace with its own address (a worker on "another Mac").
//! - [`procstat`]: peak RSS and disk use of the processes a benchmark runs.
//! - [`users`]: the users' prompt, schema and transcript Markdown, as data.
//! - [`browser`]: headless Chromium through ChromeDriver (the dashboard's test).
//! - [`files`]: folders copied whole (stores, fixtures).

pub mod auth;
pub mod binaries;
pub mod browser;
pub mod cluster;
pub mod fake_llm;
pub mod files;
pub mod mining;
pub mod nats;
pub mod netns;
pub mod outputs;
pub mod procstat;
pub mod users;
pub mod wait;

pub use nats::{NatsOptions, NatsServer};
