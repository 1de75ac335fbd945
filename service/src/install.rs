//! What every service install shares: its directories (owned by the service's
//! user), the env file copied beside the data (mode 600), the binary installed
//! by rename, then the platform's steps; printed on a dry run, carried out
//! otherwise.

use crate::placement::{Resolved, Target};
use crate::plan::{Plan, Step};
use crate::unit::Unit;
use std::path::{Path, PathBuf};

/// The first steps of an install: `dirs` created, `env_file` copied to
/// `<data root>/<unit name>.env`, the unit's binary installed. Returns them
/// and where the env file lands (what the service's `--env-file` names).
pub fn files(unit: &Unit, at: &Resolved, dirs: &[&Path], env_file: Option<&Path>) -> (Plan, Option<PathBuf>) {
    let owner = Some(at.user.clone());
    let mut plan = Plan::default();
    for dir in dirs {
        plan.push(Step::Dir { path: dir.to_path_buf(), owner: owner.clone() });
    }
    let installed_env = env_file.map(|from| {
        let to = at.data_root.join(format!("{}.env", unit.name));
        plan.push(Step::Secret { from: from.to_path_buf(), to: to.clone(), owner: owner.clone() });
        to
    });
    if let Some(binary) = &unit.installed_binary {
        if let Some(bin_dir) = binary.to.parent() {
            plan.push(Step::Dir { path: bin_dir.to_path_buf(), owner: owner.clone() });
        }
        plan.push(Step::Binary { from: binary.from.clone(), to: binary.to.clone(), owner });
    }
    (plan, installed_env)
}

/// Installs `unit` after `files`; what to tell the user.
pub fn install(unit: &Unit, at: &Resolved, files: Plan) -> anyhow::Result<String> {
    let plan = match at.target {
        Target::Macos => crate::launchd::install(unit, at, files),
        Target::Linux => crate::systemd::install(unit, at, files),
    };
    carry_out(&plan, at, &format!("installed {} (runs as {})", unit.name, at.user))
}

pub fn uninstall(unit: &Unit, at: &Resolved) -> anyhow::Result<String> {
    let plan = match at.target {
        Target::Macos => crate::launchd::uninstall(unit, at),
        Target::Linux => crate::systemd::uninstall(unit, at),
    };
    carry_out(&plan, at, &format!("removed {} (its data and logs stay in {})", unit.name, at.data_root.display()))
}

fn carry_out(plan: &Plan, at: &Resolved, done: &str) -> anyhow::Result<String> {
    if at.dry_run {
        return Ok(format!("{plan}(dry run: nothing was changed)"));
    }
    // PODMINE_SERVICE_ANY_TARGET: tests carry out a macOS install on Linux, with stand-ins for launchctl.
    if at.target != Target::this() && std::env::var_os("PODMINE_SERVICE_ANY_TARGET").is_none() {
        anyhow::bail!("these files are for another system: add --dry-run to print them");
    }
    plan.execute()?;
    let mut report = done.to_owned();
    for line in &plan.after {
        report.push_str("\n  ");
        report.push_str(line);
    }
    Ok(report)
}

/// `program` as an absolute path: as given when it has a `/`, else found on
/// PATH or where Homebrew puts it (launchd's PATH has neither).
pub fn resolve_program(program: &str) -> anyhow::Result<PathBuf> {
    let given = Path::new(program);
    if program.contains('/') {
        let absolute = if given.is_absolute() { given.to_path_buf() } else { std::env::current_dir()?.join(given) };
        anyhow::ensure!(absolute.is_file(), "{} does not exist", absolute.display());
        return Ok(absolute);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let homebrew = ["/opt/homebrew/bin", "/usr/local/bin"].map(PathBuf::from);
    std::env::split_paths(&path)
        .chain(homebrew)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            anyhow::anyhow!("{program} is not installed (not on PATH, nor in /opt/homebrew/bin or /usr/local/bin)")
        })
}
