//! Linux: a unit as a systemd unit, a system one (`/etc/systemd/system`,
//! with `User=`) by default or a user one (`~/.config/systemd/user`) with
//! `--agent`. systemd waits for the old process to stop on a restart by
//! itself, up to `TimeoutStopSec`.

use crate::placement::{Resolved, Scope};
use crate::plan::{Plan, Step};
use crate::unit::Unit;
use std::fmt::Write;
use std::path::PathBuf;

pub fn unit_path(name: &str, at: &Resolved) -> PathBuf {
    match at.scope {
        Scope::System => PathBuf::from("/etc/systemd/system").join(name),
        Scope::User => at.home.join(".config/systemd/user").join(name),
    }
}

/// The unit file of `unit`.
pub fn unit_file(unit: &Unit, at: &Resolved) -> String {
    let mut command = vec![unit.program.to_string_lossy().into_owned()];
    command.extend(unit.args.iter().cloned());
    let exec: Vec<String> = command.iter().map(|word| quote(word)).collect();
    let mut text = String::new();
    let _ = writeln!(text, "[Unit]\nDescription={}", unit.description);
    text.push_str("After=network-online.target\nWants=network-online.target\n\n[Service]\nType=simple\n");
    if at.scope == Scope::System {
        let _ = writeln!(text, "User={}", at.user);
    }
    // A path, not a command line: no quotes (spaces are fine), specifiers escaped.
    let _ = writeln!(text, "WorkingDirectory={}", unit.working_dir.to_string_lossy().replace('%', "%%"));
    for (key, value) in &unit.env {
        let _ = writeln!(text, "Environment={}", quote(&format!("{key}={value}")));
    }
    let _ = writeln!(text, "ExecStart={}", exec.join(" "));
    text.push_str("KillSignal=SIGTERM\n");
    let _ = writeln!(text, "TimeoutStopSec={}", unit.stop_timeout.as_secs());
    text.push_str("Restart=always\nRestartSec=10\n\n[Install]\n");
    let _ =
        writeln!(text, "WantedBy={}", if at.scope == Scope::System { "multi-user.target" } else { "default.target" });
    text
}

fn systemctl(at: &Resolved, args: &[&str]) -> Step {
    let mut all = Vec::new();
    if at.scope == Scope::User {
        all.push("--user");
    }
    all.extend_from_slice(args);
    Plan::run("systemctl", &all)
}

pub fn install(unit: &Unit, at: &Resolved, mut plan: Plan) -> Plan {
    let (name, path) = (unit.systemd_name(), unit_path(&unit.systemd_name(), at));
    if at.scope == Scope::User {
        plan.push(Step::Dir { path: at.home.join(".config/systemd/user"), owner: Some(at.user.clone()) });
    }
    plan.push(Step::File { path, contents: unit_file(unit, at), mode: 0o644, owner: None });
    plan.push(systemctl(at, &["daemon-reload"]));
    plan.push(systemctl(at, &["enable", &name]));
    plan.push(systemctl(at, &["restart", &name]));
    let user = if at.scope == Scope::User { "--user " } else { "" };
    plan.after.push(format!("state:   systemctl {user}status {name}"));
    plan.after.push(format!("logs:    journalctl {user}-u {name} -f"));
    if at.scope == Scope::User {
        plan.after.push(format!("keep it running after you log out: loginctl enable-linger {}", at.user));
    }
    plan
}

pub fn uninstall(unit: &Unit, at: &Resolved) -> Plan {
    let name = unit.systemd_name();
    let mut plan = Plan::default();
    plan.push(Step::Run {
        program: "systemctl".into(),
        args: [
            if at.scope == Scope::User { vec!["--user".to_owned()] } else { vec![] },
            vec!["disable".into(), "--now".into(), name.clone()],
        ]
        .concat(),
        must_succeed: false,
        explain: crate::plan::Explain::Nothing,
    });
    plan.push(Step::Remove { path: unit_path(&name, at) });
    plan.push(systemctl(at, &["daemon-reload"]));
    plan
}

/// A word of a systemd command line: double-quoted, `\` and `"` escaped,
/// `%` (a specifier) doubled, `$` (a variable) doubled.
pub fn quote(word: &str) -> String {
    let escaped = word.replace('\\', "\\\\").replace('"', "\\\"").replace('%', "%%").replace('$', "$$");
    format!("\"{escaped}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_so_systemd_reads_them_back_as_given() {
        assert_eq!(quote("/a b/worker"), "\"/a b/worker\"");
        assert_eq!(quote(r#"50% "x" $HOME \"#), r#""50%% \"x\" $$HOME \\""#);
    }
}
