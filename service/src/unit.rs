//! What a service runs: the program (an absolute path resolved at install
//! time: launchd's PATH has no /opt/homebrew/bin), its arguments, the user,
//! where it works and logs, how long it may take to stop, and whether it
//! keeps its Mac awake.

use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq)]
pub struct Unit {
    /// `worker`, `collector`, `nats`: in labels (`com.podmine.worker`) and unit names (`podmine-worker`).
    pub name: String,
    pub description: String,
    /// Absolute.
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Environment that is not secret (`RUST_LOG`); secrets come from `--env-file`.
    pub env: Vec<(String, String)>,
    /// The user it runs as.
    pub user: String,
    pub working_dir: PathBuf,
    /// Where launchd writes its output (`<log dir>/<name>.log`); systemd uses the journal.
    pub log_file: PathBuf,
    /// How long it may take to stop after SIGTERM before it is killed: above
    /// its own drain time (launchd's `ExitTimeOut`, systemd's `TimeoutStopSec`).
    pub stop_timeout: Duration,
    /// Keeps its Mac from idle sleep while it runs (a sidecar job running `caffeinate -i -s`).
    pub keep_awake: bool,
    /// Whether the program is one of podmine's binaries, installed by copy and rename next to the data.
    pub installed_binary: Option<InstalledBinary>,
    /// Labels of per-user LaunchAgents an earlier podmine installed for the
    /// same program (`deploy/install-*.sh`): stopped and removed when this
    /// one is installed as a daemon, so the two never run side by side.
    pub replaces_agents: Vec<String>,
}

/// A binary copied to where the service runs it from (never under ~/Documents,
/// which launchd jobs cannot read), by writing a new file and renaming it over
/// the old one, so a running copy is never rewritten.
#[derive(Clone, Debug, PartialEq)]
pub struct InstalledBinary {
    pub from: PathBuf,
    pub to: PathBuf,
}

impl Unit {
    pub fn label(&self) -> String {
        format!("com.podmine.{}", self.name)
    }

    pub fn systemd_name(&self) -> String {
        format!("podmine-{}.service", self.name)
    }
}
