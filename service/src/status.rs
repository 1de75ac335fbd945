//! `service status`: whether the service's file is installed, and what the
//! service manager says of the job (launchd's state, pid and last exit; a
//! systemd unit's status). No secret is in either: they live in files the
//! program reads at start.

use crate::placement::{Resolved, Target};
use crate::unit::Unit;
use std::process::Command;

/// A report of `unit`'s service on this machine.
pub fn report(unit: &Unit, at: &Resolved) -> String {
    let (path, command, args): (std::path::PathBuf, &str, Vec<String>) = match at.target {
        Target::Macos => (
            crate::launchd::plist_path(&unit.label(), at),
            "launchctl",
            vec!["print".into(), crate::launchd::service_target(&unit.label(), at)],
        ),
        Target::Linux => {
            let mut args = Vec::new();
            if at.scope == crate::placement::Scope::User {
                args.push("--user".to_owned());
            }
            args.extend(["status".into(), "--no-pager".into(), unit.systemd_name()]);
            (crate::systemd::unit_path(&unit.systemd_name(), at), "systemctl", args)
        }
    };
    let mut report =
        format!("{}: {} {}\n", unit.name, path.display(), if path.exists() { "installed" } else { "not installed" });
    match Command::new(command).args(&args).output() {
        Ok(out) => {
            let said = String::from_utf8_lossy(&out.stdout);
            let wanted = ["state =", "pid =", "last exit code =", "Active:", "Main PID:", "program ="];
            for line in said.lines().filter(|line| wanted.iter().any(|w| line.trim_start().starts_with(w))) {
                report.push_str(&format!("  {}\n", line.trim()));
            }
            if !out.status.success() {
                report.push_str(&format!("  {command} knows no such job (not loaded)\n"));
            }
        }
        Err(err) => report.push_str(&format!("  cannot run {command}: {err}\n")),
    }
    report
}
