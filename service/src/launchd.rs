//! macOS: a unit as a launchd plist (a LaunchDaemon in /Library/LaunchDaemons
//! by default, a LaunchAgent in ~/Library/LaunchAgents with `--agent`), and
//! the launchctl steps that replace a running job safely: `bootout`, wait
//! until launchd has let the old job go (a worker drains for up to its drain
//! time; `bootstrap` before then fails), write the plist, `bootstrap`.

use crate::placement::{Resolved, Scope};
use crate::plan::{Explain, Plan, Step};
use crate::unit::Unit;
use std::fmt::Write;
use std::path::PathBuf;
use std::time::Duration;

/// How long after its stop timeout a job may still take to be let go.
const UNLOAD_MARGIN: Duration = Duration::from_secs(15);

/// Where the plist goes.
pub fn plist_path(label: &str, at: &Resolved) -> PathBuf {
    match at.scope {
        Scope::System => PathBuf::from("/Library/LaunchDaemons").join(format!("{label}.plist")),
        Scope::User => at.home.join("Library/LaunchAgents").join(format!("{label}.plist")),
    }
}

/// launchctl's name of the job: `system/<label>` or `gui/<uid>/<label>`.
pub fn service_target(label: &str, at: &Resolved) -> String {
    format!("{}/{label}", domain(at))
}

fn domain(at: &Resolved) -> String {
    match at.scope {
        Scope::System => "system".into(),
        Scope::User => format!("gui/{}", at.uid),
    }
}

/// The plist of `unit`.
pub fn plist(unit: &Unit, at: &Resolved) -> String {
    let mut args = vec![unit.program.to_string_lossy().into_owned()];
    args.extend(unit.args.iter().cloned());
    let mut env = vec![("HOME".to_owned(), at.home.to_string_lossy().into_owned())];
    env.extend(unit.env.iter().cloned());
    let mut body = String::new();
    entry(&mut body, "Label", &string(&unit.label()));
    entry(&mut body, "ProgramArguments", &array(&args));
    if at.scope == Scope::System {
        entry(&mut body, "UserName", &string(&at.user));
    }
    entry(&mut body, "WorkingDirectory", &string(&unit.working_dir.to_string_lossy()));
    entry(&mut body, "EnvironmentVariables", &dict(&env));
    entry(&mut body, "RunAtLoad", "<true/>");
    entry(&mut body, "KeepAlive", "<true/>");
    entry(&mut body, "ThrottleInterval", "<integer>10</integer>");
    entry(&mut body, "ExitTimeOut", &format!("<integer>{}</integer>", unit.stop_timeout.as_secs()));
    entry(&mut body, "StandardOutPath", &string(&unit.log_file.to_string_lossy()));
    entry(&mut body, "StandardErrorPath", &string(&unit.log_file.to_string_lossy()));
    document(&body)
}

/// The sidecar that keeps the Mac from idle sleep while `unit` is installed
/// (`caffeinate -i -s`: no idle sleep, and no system sleep on mains power).
pub fn awake_plist(unit: &Unit, at: &Resolved) -> String {
    let mut body = String::new();
    entry(&mut body, "Label", &string(&format!("{}.awake", unit.label())));
    entry(&mut body, "ProgramArguments", &array(&["/usr/bin/caffeinate".into(), "-i".into(), "-s".into()]));
    if at.scope == Scope::System {
        entry(&mut body, "UserName", &string(&at.user));
    }
    entry(&mut body, "RunAtLoad", "<true/>");
    entry(&mut body, "KeepAlive", "<true/>");
    document(&body)
}

/// Installs (or replaces) `unit`'s job, its files first.
pub fn install(unit: &Unit, at: &Resolved, mut plan: Plan) -> Plan {
    let mut jobs = vec![(unit.label(), plist(unit, at), unit.stop_timeout)];
    if unit.keep_awake {
        jobs.push((format!("{}.awake", unit.label()), awake_plist(unit, at), Duration::ZERO));
    }
    if at.scope == Scope::User {
        plan.push(Step::Dir { path: at.home.join("Library/LaunchAgents"), owner: Some(at.user.clone()) });
    } else {
        // A daemon replaces the user's agent of the same program (an earlier install's).
        for label in std::iter::once(unit.label()).chain(unit.replaces_agents.iter().cloned()) {
            let agent_plist = at.home.join("Library/LaunchAgents").join(format!("{label}.plist"));
            remove_job(&mut plan, format!("gui/{}/{label}", at.uid), unit.stop_timeout, agent_plist);
        }
    }
    for (label, contents, stop_timeout) in jobs {
        let (path, service) = (plist_path(&label, at), service_target(&label, at));
        let owner = (at.scope == Scope::User).then(|| at.user.clone());
        plan.push(bootout(&service));
        plan.push(Step::WaitGone { service, limit: stop_timeout + UNLOAD_MARGIN });
        plan.push(Step::File { path: path.clone(), contents, mode: 0o644, owner });
        plan.push(Step::Run {
            program: "launchctl".into(),
            args: vec!["bootstrap".into(), domain(at), path.to_string_lossy().into_owned()],
            must_succeed: true,
            explain: Explain::Bootstrap { agent: at.scope == Scope::User },
        });
    }
    let service = service_target(&unit.label(), at);
    plan.after.push(format!("state:   launchctl print {service}"));
    plan.after.push(format!("logs:    tail -f '{}'", unit.log_file.display()));
    plan
}

/// Stops `unit`'s job (waiting for it to exit) and removes its plists.
pub fn uninstall(unit: &Unit, at: &Resolved) -> Plan {
    let mut plan = Plan::default();
    for label in [unit.label(), format!("{}.awake", unit.label())] {
        remove_job(&mut plan, service_target(&label, at), unit.stop_timeout, plist_path(&label, at));
    }
    plan
}

/// Stops the job `service` (not loaded is fine), waits until launchd has let
/// it go, and removes its plist.
fn remove_job(plan: &mut Plan, service: String, stop_timeout: Duration, plist: PathBuf) {
    plan.push(bootout(&service));
    plan.push(Step::WaitGone { service, limit: stop_timeout + UNLOAD_MARGIN });
    plan.push(Step::Remove { path: plist });
}

/// `launchctl bootout SERVICE`, which fails harmlessly when it is not loaded.
fn bootout(service: &str) -> Step {
    Step::Run {
        program: "launchctl".into(),
        args: vec!["bootout".into(), service.to_owned()],
        must_succeed: false,
        explain: Explain::Nothing,
    }
}

fn document(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \
         \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n<plist version=\"1.0\">\n<dict>\n{body}</dict>\n</plist>\n"
    )
}

fn entry(body: &mut String, key: &str, value: &str) {
    let _ = writeln!(body, "  <key>{}</key>\n  {value}", escape(key));
}

fn string(value: &str) -> String {
    format!("<string>{}</string>", escape(value))
}

fn array(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|item| format!("    {}", string(item))).collect();
    format!("<array>\n{}\n  </array>", items.join("\n"))
}

fn dict(pairs: &[(String, String)]) -> String {
    let pairs: Vec<String> =
        pairs.iter().map(|(k, v)| format!("    <key>{}</key>\n    {}", escape(k), string(v))).collect();
    format!("<dict>\n{}\n  </dict>", pairs.join("\n"))
}

/// XML's five special characters.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::Target;

    #[test]
    fn text_is_escaped_for_xml() {
        assert_eq!(escape(r#"a&b <c> "d" 'e'"#), "a&amp;b &lt;c&gt; &quot;d&quot; &apos;e&apos;");
    }

    #[test]
    fn a_daemon_names_its_user_and_an_agent_its_gui_domain() {
        let mut at = Resolved {
            target: Target::Macos,
            scope: Scope::System,
            user: "ada".into(),
            uid: 501,
            home: "/Users/ada".into(),
            data_root: "/Users/ada/Library/Application Support/podmine".into(),
            log_dir: "/Users/ada/Library/Logs/podmine".into(),
            dry_run: true,
        };
        assert_eq!(service_target("com.podmine.worker", &at), "system/com.podmine.worker");
        assert_eq!(
            plist_path("com.podmine.worker", &at),
            PathBuf::from("/Library/LaunchDaemons/com.podmine.worker.plist")
        );
        at.scope = Scope::User;
        assert_eq!(service_target("com.podmine.worker", &at), "gui/501/com.podmine.worker");
        assert_eq!(
            plist_path("com.podmine.worker", &at),
            PathBuf::from("/Users/ada/Library/LaunchAgents/com.podmine.worker.plist")
        );
    }
}
