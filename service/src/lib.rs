//! # service: podmine's programs as services that survive reboots, sleep and upgrades
//!
//! `worker service install|uninstall|status` and `coordinator service …
//! nats|collector` describe what to run ([`unit::Unit`]); this crate turns
//! that into a plan of steps ([`plan::Plan`]: files written in full, binaries
//! installed by rename, commands run) for macOS (launchd, [`launchd`]) or
//! Linux (systemd, [`systemd`]), prints it (`--dry-run`) or carries it out.
//!
//! ## Layout
//! - [`unit`]: what a service runs, as whom, with which files and limits.
//! - [`placement`]: the flags every `service` command shares: target,
//!   agent or daemon, user, dry run; and where the user's files go.
//! - [`launchd`]: plists (LaunchDaemon by default, LaunchAgent with
//!   `--agent`) and the launchctl steps, waiting for an old job to exit.
//! - [`systemd`]: units (system, or `--user`) and the systemctl steps.
//! - [`plan`]: the steps, printed or carried out; binaries land by rename.
//! - [`install`]: what every install shares (directories, env file, binary), then the platform's steps.
//! - [`status`]: what `service status` reports.
//!
//! Secrets never enter a plist or unit: programs read them at start from
//! `--env-file` (see `runtime::env_file`); nats-server reads its password
//! hashes from a config file only its user can read.

pub mod install;
pub mod launchd;
pub mod placement;
pub mod plan;
pub mod status;
pub mod systemd;
pub mod unit;

pub use placement::{Placement, Target};
pub use plan::Plan;
pub use unit::Unit;
