//! `worker service install|uninstall|status`: this Mac's worker as a
//! service that starts at boot (a LaunchDaemon running as you; `--agent`
//! for a LaunchAgent), survives reboots, sleep and upgrades. The binary is
//! installed beside the data by rename; `worker run`'s own flags follow `--`
//! and are checked here, before anything is installed.

use crate::cli::{Action, Cli, Command, InstallArgs, ServiceArgs};
use anyhow::Context;
use clap::Parser;
use service::unit::{InstalledBinary, Unit};
use std::path::PathBuf;
use std::time::Duration;

/// What `worker service …` did (or would do, on a dry run).
pub fn execute(args: ServiceArgs) -> anyhow::Result<String> {
    match args.action {
        Action::Install(install) => {
            let at = install.placement.resolve()?;
            let data_dir = install.data_dir.clone().unwrap_or_else(|| at.data_root.join("worker"));
            let drain = drain_timeout(&install, &data_dir)?;
            let mut unit = unit(&at, data_dir.clone(), drain)?;
            let (files, env) = service::install::files(
                &unit,
                &at,
                &[&at.data_root, &data_dir, &at.log_dir],
                install.env_file.as_deref(),
            );
            unit.args = run_args(&install, &data_dir, env.as_deref());
            service::install::install(&unit, &at, files)
        }
        Action::Uninstall(placement) => {
            let at = placement.resolve()?;
            let data_dir = at.data_root.join("worker");
            service::install::uninstall(&unit(&at, data_dir, DEFAULT_DRAIN)?, &at)
        }
        Action::Status(placement) => {
            let at = placement.resolve()?;
            let data_dir = at.data_root.join("worker");
            Ok(service::status::report(&unit(&at, data_dir, DEFAULT_DRAIN)?, &at))
        }
    }
}

const DEFAULT_DRAIN: Duration = Duration::from_secs(60);

/// How long the service manager lets the worker drain after SIGTERM before killing it.
const STOP_MARGIN: Duration = Duration::from_secs(30);

fn unit(at: &service::placement::Resolved, data_dir: PathBuf, drain: Duration) -> anyhow::Result<Unit> {
    let this = std::env::current_exe().context("cannot tell where this worker binary is")?;
    let installed = at.data_root.join("bin/worker");
    Ok(Unit {
        name: "worker".into(),
        description: "podmine worker (mines podcast segments with the local LLM)".into(),
        program: installed.clone(),
        args: Vec::new(),
        env: vec![("RUST_LOG".into(), "info".into())],
        user: at.user.clone(),
        working_dir: data_dir,
        log_file: at.log_dir.join("worker.log"),
        stop_timeout: drain + STOP_MARGIN,
        keep_awake: false, // the worker keeps its Mac awake itself while it has tasks
        installed_binary: Some(InstalledBinary { from: this, to: installed }),
        replaces_agents: Vec::new(), // the earlier agent had the same label: replaced as such
    })
}

/// `worker run …` as the service runs it.
fn run_args(install: &InstallArgs, data_dir: &std::path::Path, env_file: Option<&std::path::Path>) -> Vec<String> {
    let mut args = vec!["run".to_owned()];
    if let Some(env_file) = env_file {
        args.extend([runtime::env_file::FLAG.to_owned(), env_file.to_string_lossy().into_owned()]);
    }
    args.extend(["--nats".into(), install.nats.clone(), "--data-dir".into(), data_dir.to_string_lossy().into_owned()]);
    args.extend(install.run_flags.iter().cloned());
    args
}

/// The drain time the service's `worker run` will have, from its flags
/// (which are checked here: a typo fails now, not at every start).
fn drain_timeout(install: &InstallArgs, data_dir: &std::path::Path) -> anyhow::Result<Duration> {
    let args = [vec!["worker".to_owned()], run_args(install, data_dir, None)].concat();
    let cli = Cli::try_parse_from(&args).context("the worker flags after `--` are not `worker run`'s")?;
    match cli.command {
        Command::Run(run) => Ok(run.options.drain_timeout),
        _ => unreachable!("built as `worker run`"),
    }
}
