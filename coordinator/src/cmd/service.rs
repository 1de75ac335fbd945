//! `coordinator service install|uninstall|status nats|collector`: the always-on
//! Mac's NATS server and collector as services that start at boot (a
//! LaunchDaemon running as you by default; `--agent` for a LaunchAgent),
//! keep the Mac awake, and survive upgrades. nats-server gets podmine's
//! config with the password hashes in a file only its user can read; the
//! collector reads its NATS login from `--env-file` at start.

use super::Report;
use anyhow::Context;
use clap::{Args as ClapArgs, Parser, Subcommand, ValueEnum};
use service::placement::{Placement, Resolved};
use service::plan::{Plan, Step};
use service::unit::{InstalledBinary, Unit};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `coordinator service`'s arguments (its help text is the subcommand's, in `cli.rs`).
#[derive(Debug, ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, Subcommand)]
pub enum Action {
    /// Install (or upgrade) a service and start it.
    Install(InstallArgs),
    /// Stop a service (waiting for it to exit) and remove it; its data stays.
    Uninstall(Which),
    /// Whether a service is installed, and what launchd or systemd says of it.
    Status(Which),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// nats-server with podmine's single-node config and users.
    Nats,
    /// `coordinator collect --follow`: stores outcomes, writes episode files, serves the dashboard.
    Collector,
}

#[derive(Debug, ClapArgs)]
pub struct Which {
    /// Which service.
    #[arg(value_enum)]
    pub service: Kind,
    #[command(flatten)]
    pub placement: Placement,
}

#[derive(Debug, ClapArgs)]
pub struct InstallArgs {
    /// Which service.
    #[arg(value_enum)]
    pub service: Kind,
    #[command(flatten)]
    pub placement: Placement,
    /// nats: server.env (the password hashes); collector: coordinator.env
    /// (its login); both as `coordinator nats-users` wrote them.
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<PathBuf>,
    /// collector: the NATS server it reads from.
    #[arg(long, env = "NATS_URL", default_value = "nats://127.0.0.1:4222", value_name = "URL")]
    pub nats: String,
    /// collector: where the episode files go (default: `out` in the data root).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// nats: the nats-server binary (default: on PATH, or Homebrew's).
    #[arg(long, default_value = "nats-server", value_name = "PATH")]
    pub nats_server_bin: String,
    /// nats: the port it listens on (all addresses: the workers' Macs connect to it).
    #[arg(long, default_value_t = 4222)]
    pub port: u16,
    /// collector: `coordinator collect`'s own flags after `--`, e.g.
    /// `-- --dashboard 0.0.0.0:8080 --dashboard-allow-host mac-studio.local`.
    #[arg(last = true, value_name = "COLLECT FLAGS")]
    pub collect_flags: Vec<String>,
}

/// What was done (or, on a dry run, would be).
pub struct Done(String);

impl std::fmt::Display for Done {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}", self.0)
    }
}

impl Report for Done {}

/// nats-server's stop after SIGTERM (it flushes its store) and the collector's
/// (it finishes a batch and flushes the store).
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// The single-node config and users that `deploy/nats/` ships.
const SINGLE_NODE_CONF: &str = include_str!("../../../deploy/nats/single-node.conf");
const USERS_CONF: &str = include_str!("../../../deploy/nats/users.conf");

pub fn execute(args: Args, data_dir: &Path) -> anyhow::Result<Done> {
    let report = match args.action {
        Action::Install(install) => {
            let at = install.placement.resolve()?;
            match install.service {
                Kind::Nats => install_nats(&install, &at)?,
                Kind::Collector => install_collector(&install, &at, data_dir)?,
            }
        }
        Action::Uninstall(which) => {
            let at = which.placement.resolve()?;
            service::install::uninstall(&bare_unit(which.service, &at), &at)?
        }
        Action::Status(which) => {
            let at = which.placement.resolve()?;
            service::status::report(&bare_unit(which.service, &at), &at)
        }
    };
    Ok(Done(report))
}

/// A unit with what uninstall and status need (its name and stop time).
fn bare_unit(kind: Kind, at: &Resolved) -> Unit {
    let name = match kind {
        Kind::Nats => "nats",
        Kind::Collector => "collector",
    };
    Unit {
        name: name.into(),
        description: String::new(),
        program: PathBuf::new(),
        args: Vec::new(),
        env: Vec::new(),
        user: at.user.clone(),
        working_dir: at.data_root.clone(),
        log_file: at.log_dir.join(format!("{name}.log")),
        stop_timeout: STOP_TIMEOUT,
        keep_awake: true,
        installed_binary: None,
        // deploy/install-nats.sh's agent, before the services were the binaries'.
        replaces_agents: if kind == Kind::Nats { vec!["com.podmine.nats-server".into()] } else { Vec::new() },
    }
}

fn install_nats(install: &InstallArgs, at: &Resolved) -> anyhow::Result<String> {
    let server_env = install.env_file.as_deref().context(
        "--env-file server.env is required: nats-server's password hashes (`coordinator nats-users` makes it)",
    )?;
    let program = service::install::resolve_program(&install.nats_server_bin)
        .context("nats-server is needed: `brew install nats-server` (macOS), or give --nats-server-bin")?;
    let dir = at.data_root.join("nats");
    let (store, config) = (dir.join("store"), dir.join("podmine.conf"));
    let unit = Unit {
        description: "nats-server for podmine".into(),
        program: program.clone(),
        args: vec!["-c".into(), config.to_string_lossy().into_owned()],
        working_dir: dir.clone(),
        ..bare_unit(Kind::Nats, at)
    };
    let (mut files, _) = service::install::files(&unit, at, &[&at.data_root, &dir, &store, &at.log_dir], None);
    files.push(Step::Derived {
        from: server_env.to_path_buf(),
        to: dir.join("users.conf"),
        what: "podmine's NATS users (deploy/nats/users.conf)".into(),
        build: users_conf,
        owner: Some(at.user.clone()),
    });
    let contents = nats_config(&store, install.port);
    files.push(Step::File { path: config.clone(), contents, mode: 0o644, owner: Some(at.user.clone()) });
    if !at.dry_run {
        files.push(Plan::run(&program.to_string_lossy(), &["-t", "-c", &config.to_string_lossy()]));
    }
    service::install::install(&unit, at, files)
}

/// podmine's single-node config with its store at `store` and its port.
fn nats_config(store: &Path, port: u16) -> String {
    let mut config =
        String::from("# Written by `coordinator service install nats` from deploy/nats/single-node.conf.\n");
    for line in SINGLE_NODE_CONF.lines().filter(|line| !line.starts_with('#')) {
        let line = if line.trim_start().starts_with("store_dir:") {
            format!("  store_dir: \"{}\"", store.display())
        } else if line.starts_with("listen:") {
            format!("listen: 0.0.0.0:{port}")
        } else {
            line.to_owned()
        };
        config.push_str(&line);
        config.push('\n');
    }
    config
}

/// users.conf with the hashes of server.env defined at its top (nats-server
/// does not share variables between included files, and launchd cannot load
/// an env file).
fn users_conf(server_env: &[u8]) -> anyhow::Result<Vec<u8>> {
    let text = String::from_utf8_lossy(server_env);
    let mut out = String::from("# The password hashes (from server.env): keep this file private.\n");
    for variable in crate::nats_users::HASH_VARIABLES.map(|(_, variable)| variable) {
        let hash = text
            .lines()
            .find_map(|line| line.strip_prefix(variable)?.strip_prefix('='))
            .with_context(|| format!("no {variable} in it: is it the server.env `coordinator nats-users` wrote?"))?;
        let hash = hash.trim().trim_matches('\'').trim_matches('"');
        out.push_str(&format!("{variable}: \"{hash}\"\n"));
    }
    out.push_str(USERS_CONF);
    Ok(out.into_bytes())
}

fn install_collector(install: &InstallArgs, at: &Resolved, data_dir: &Path) -> anyhow::Result<String> {
    // The global --data-dir, unless it is this user's default (the service's user may be another).
    let data_dir = if data_dir == runtime::dirs::default_data_dir("coordinator") {
        at.data_root.join("coordinator")
    } else {
        data_dir.to_path_buf()
    };
    let out = install.out.clone().unwrap_or_else(|| at.data_root.join("out"));
    let installed = at.data_root.join("bin/coordinator");
    let this = std::env::current_exe().context("cannot tell where this coordinator binary is")?;
    let mut unit = Unit {
        description: "podmine collector (stores outcomes, writes episode files, serves the dashboard)".into(),
        program: installed.clone(),
        env: vec![("RUST_LOG".into(), "info".into())],
        working_dir: data_dir.clone(),
        installed_binary: Some(InstalledBinary { from: this, to: installed }),
        ..bare_unit(Kind::Collector, at)
    };
    let dirs = [at.data_root.as_path(), &data_dir, &out, &at.log_dir];
    let (files, env) = service::install::files(&unit, at, &dirs, install.env_file.as_deref());
    let mut collect = vec!["--follow".to_owned(), "--nats".into(), install.nats.clone()];
    if let Some(env) = env {
        collect.extend([runtime::env_file::FLAG.into(), env.to_string_lossy().into_owned()]);
    }
    collect.extend(["--out".into(), out.to_string_lossy().into_owned()]);
    collect.extend(install.collect_flags.iter().cloned());
    // A typo in the collect flags fails now, not at every start.
    CollectLine::try_parse_from(std::iter::once("collect".to_owned()).chain(collect.iter().cloned()))
        .context("the flags after `--` are not `coordinator collect`'s")?;
    unit.args =
        [vec!["--data-dir".to_owned(), data_dir.to_string_lossy().into_owned(), "collect".into()], collect].concat();
    service::install::install(&unit, at, files)
}

/// `coordinator collect`'s command line alone, to check the service's.
#[derive(clap::Parser)]
struct CollectLine {
    #[command(flatten)]
    _args: super::collect::Args,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_users_file_defines_the_hashes_it_uses() {
        let server_env = b"# hashes\nPODMINE_COORDINATOR_PASSWORD_HASH='\"$2b$11$abc\"'\nPODMINE_WORKER_PASSWORD_HASH='\"$2b$11$def\"'\n";
        let conf = String::from_utf8(users_conf(server_env).unwrap()).unwrap();
        assert!(conf.starts_with("# The password hashes"));
        assert!(conf.contains("PODMINE_COORDINATOR_PASSWORD_HASH: \"$2b$11$abc\"\n"), "{conf}");
        assert!(conf.contains("PODMINE_WORKER_PASSWORD_HASH: \"$2b$11$def\"\n"), "{conf}");
        assert!(conf.contains("authorization {"));
        assert!(users_conf(b"NATS_USER=worker\n").unwrap_err().to_string().contains("server.env"));
    }

    #[test]
    fn the_config_has_an_absolute_store_and_the_port() {
        let config = nats_config(Path::new("/Users/ada/Library/Application Support/podmine/nats/store"), 4333);
        assert!(
            config.contains("store_dir: \"/Users/ada/Library/Application Support/podmine/nats/store\""),
            "{config}"
        );
        assert!(config.contains("listen: 0.0.0.0:4333") && config.contains("include \"users.conf\""), "{config}");
    }
}
