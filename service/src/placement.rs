//! The flags every `service` command shares, and where the service's user
//! keeps podmine's files: which system the files are for, a system service
//! (default: a LaunchDaemon, which starts at boot with no login and is not
//! subject to macOS 15's Local Network privacy) or a per-user one
//! (`--agent`), whom it runs as, and whether anything is changed at all.

use anyhow::{bail, Context};
use runtime::dirs::Platform;
use std::path::PathBuf;
use std::process::Command;

#[derive(clap::Args, Clone, Debug, Default)]
pub struct Placement {
    /// Which system the service files are for (default: this one).
    #[arg(long, value_enum)]
    pub target: Option<Target>,
    /// A per-user service instead of a system one: a LaunchAgent on macOS
    /// (runs only while you are logged in; macOS 15 may block its LAN
    /// connections), a systemd user unit on Linux.
    #[arg(long)]
    pub agent: bool,
    /// The user the service runs as (default: the user who ran sudo, else you).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// Print every file it would write, in full, and every command it would
    /// run, and change nothing. Secrets show only as the file they are read from.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Macos,
    Linux,
}

impl Target {
    pub fn this() -> Self {
        match Platform::this() {
            Platform::MacOs => Target::Macos,
            Platform::Linux => Target::Linux,
        }
    }

    pub fn platform(self) -> Platform {
        match self {
            Target::Macos => Platform::MacOs,
            Target::Linux => Platform::Linux,
        }
    }
}

/// System-wide (LaunchDaemon, systemd system unit) or per user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    System,
    User,
}

/// A [`Placement`] with everything looked up.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub target: Target,
    pub scope: Scope,
    pub user: String,
    /// The user's numeric id (a LaunchAgent's domain is `gui/<uid>`).
    pub uid: u32,
    pub home: PathBuf,
    /// podmine's data root for that user (see `runtime::dirs`).
    pub data_root: PathBuf,
    pub log_dir: PathBuf,
    pub dry_run: bool,
}

impl Placement {
    pub fn resolve(&self) -> anyhow::Result<Resolved> {
        let target = self.target.unwrap_or_else(Target::this);
        let user = match &self.user {
            Some(user) => user.clone(),
            None => default_user()?,
        };
        if user.is_empty() || !user.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
            bail!("{user:?} is not a user name");
        }
        let home = home_of(&user)?;
        let platform = target.platform();
        Ok(Resolved {
            target,
            scope: if self.agent { Scope::User } else { Scope::System },
            uid: uid_of(&user)?,
            data_root: platform.data_root(&home),
            log_dir: platform.log_dir(&home),
            home,
            user,
            dry_run: self.dry_run,
        })
    }
}

/// `$SUDO_USER` (the user behind `sudo`), else this user.
fn default_user() -> anyhow::Result<String> {
    if let Ok(user) = std::env::var("SUDO_USER") {
        if !user.is_empty() && user != "root" {
            return Ok(user);
        }
    }
    command_output(Command::new("id").arg("-un")).context("cannot tell who you are (`id -un`)")
}

/// This user's `HOME` when it is this user; else the home the system has for it.
fn home_of(user: &str) -> anyhow::Result<PathBuf> {
    let me = command_output(Command::new("id").arg("-un")).unwrap_or_default();
    if me == user && std::env::var("SUDO_USER").is_err() {
        return Ok(runtime::dirs::home());
    }
    // The shell's tilde expansion asks the system's user database (dscl's on macOS).
    let home = command_output(Command::new("sh").arg("-c").arg(format!("echo ~{user}")))?;
    if !home.starts_with('/') {
        bail!("there is no user {user} on this machine (its home is unknown): give another --user");
    }
    Ok(PathBuf::from(home))
}

fn uid_of(user: &str) -> anyhow::Result<u32> {
    let uid = command_output(Command::new("id").args(["-u", user]))
        .with_context(|| format!("there is no user {user} on this machine: give another --user"))?;
    uid.parse().with_context(|| format!("`id -u {user}` said {uid:?}"))
}

fn command_output(command: &mut Command) -> anyhow::Result<String> {
    let out = command.output().with_context(|| format!("cannot run {command:?}"))?;
    if !out.status.success() {
        bail!("{command:?} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
