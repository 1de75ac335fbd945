//! An install or uninstall as a list of steps, built without touching the
//! machine: `--dry-run` prints it (every file in full, every command), and
//! otherwise it is carried out in order, stopping at the first step that
//! fails with what to do about it.

use anyhow::{bail, Context};
use std::fmt;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub enum Step {
    /// A directory (and its parents), owned by `owner` when run as root.
    Dir { path: PathBuf, owner: Option<String> },
    /// A file written in full: a new file renamed over the old one.
    File { path: PathBuf, contents: String, mode: u32, owner: Option<String> },
    /// A file of secrets copied (mode 600); its contents are never printed.
    Secret { from: PathBuf, to: PathBuf, owner: Option<String> },
    /// A file of secrets made at install time from `from` by `build` (mode
    /// 600), described by `what`; never printed.
    Derived {
        from: PathBuf,
        to: PathBuf,
        what: String,
        build: fn(&[u8]) -> anyhow::Result<Vec<u8>>,
        owner: Option<String>,
    },
    /// A binary copied next to `to` and renamed over it: a running copy keeps
    /// its old file, and macOS checks the new file's signature afresh.
    Binary { from: PathBuf, to: PathBuf, owner: Option<String> },
    /// A command; `must_succeed: false` for one that fails harmlessly (stopping what is not running).
    Run { program: String, args: Vec<String>, must_succeed: bool, explain: Explain },
    /// Waits until launchd has no job `service` (`system/<label>`, `gui/<uid>/<label>`):
    /// an old job may still be draining after `bootout` returned.
    WaitGone { service: String, limit: Duration },
    /// A file removed if present.
    Remove { path: PathBuf },
}

/// What a failed command means, for the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Explain {
    Nothing,
    /// `launchctl bootstrap` of a job in `domain`.
    Bootstrap {
        agent: bool,
    },
}

#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// Lines for the user once it is done (how to follow the logs, …).
    pub after: Vec<String>,
}

impl Plan {
    pub fn push(&mut self, step: Step) {
        self.steps.push(step);
    }

    pub fn run(program: &str, args: &[&str]) -> Step {
        Step::Run {
            program: program.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            must_succeed: true,
            explain: Explain::Nothing,
        }
    }

    /// Carries the steps out in order.
    pub fn execute(&self) -> anyhow::Result<()> {
        let as_root = is_root();
        for step in &self.steps {
            execute(step, as_root)?;
        }
        Ok(())
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn execute(step: &Step, as_root: bool) -> anyhow::Result<()> {
    let chown = |path: &std::path::Path, owner: &Option<String>| -> anyhow::Result<()> {
        match owner {
            Some(owner) if as_root => run_checked("chown", &[owner.as_str(), &path.to_string_lossy()]),
            _ => Ok(()),
        }
    };
    match step {
        Step::Dir { path, owner } => {
            std::fs::create_dir_all(path).with_context(|| format!("cannot create {}", path.display()))?;
            chown(path, owner)
        }
        Step::File { path, contents, mode, owner } => {
            write_by_rename(path, contents.as_bytes(), *mode)?;
            chown(path, owner)
        }
        Step::Secret { from, to, owner } => {
            let bytes = std::fs::read(from).with_context(|| format!("cannot read {}", from.display()))?;
            write_by_rename(to, &bytes, 0o600)?;
            chown(to, owner)
        }
        Step::Derived { from, to, build, owner, .. } => {
            let bytes = std::fs::read(from).with_context(|| format!("cannot read {}", from.display()))?;
            let built = build(&bytes).with_context(|| format!("cannot use {}", from.display()))?;
            write_by_rename(to, &built, 0o600)?;
            chown(to, owner)
        }
        Step::Binary { from, to, owner } => {
            let bytes = std::fs::read(from).with_context(|| format!("cannot read {}", from.display()))?;
            write_by_rename(to, &bytes, 0o755)?;
            chown(to, owner)
        }
        Step::Run { program, args, must_succeed, explain } => {
            let out = Command::new(program)
                .args(args)
                .output()
                .with_context(|| format!("cannot run {program}: is it installed and on PATH?"))?;
            if out.status.success() || !must_succeed {
                return Ok(());
            }
            let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            bail!("`{program} {}` failed: {}{}", args.join(" "), said.trim(), explanation(*explain, &said))
        }
        Step::WaitGone { service, limit } => wait_gone(service, *limit),
        Step::Remove { path } => match std::fs::remove_file(path) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                Err(err).with_context(|| format!("cannot remove {}", path.display()))
            }
            _ => Ok(()),
        },
    }
}

fn run_checked(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new(program).args(args).status().with_context(|| format!("cannot run {program}"))?;
    if !status.success() {
        bail!("`{program} {}` failed", args.join(" "));
    }
    Ok(())
}

/// Writes `<path>.new`, then renames it over `path` (the directory must exist).
fn write_by_rename(path: &std::path::Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut fresh = path.as_os_str().to_owned();
    fresh.push(".new");
    let fresh = PathBuf::from(fresh);
    let _ = std::fs::remove_file(&fresh);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&fresh)
        .with_context(|| format!("cannot write {}", fresh.display()))?;
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    file.write_all(bytes).with_context(|| format!("cannot write {}", fresh.display()))?;
    file.sync_all()?;
    std::fs::rename(&fresh, path).with_context(|| format!("cannot rename {} over {}", fresh.display(), path.display()))
}

/// Polls `launchctl print SERVICE` until launchd no longer knows the job
/// (it answers "in progress" meanwhile, as a draining worker does).
fn wait_gone(service: &str, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    let mut said = false;
    loop {
        let out = Command::new("launchctl").args(["print", service]).output().context("cannot run launchctl")?;
        if !out.status.success() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "the old {service} is still running {limit:?} after it was told to stop: see `launchctl print {service}`; \
                 stop it (`sudo launchctl kill SIGKILL {service}`) and run the install again"
            );
        }
        if !said {
            eprintln!("waiting for the old {service} to finish its work and exit (up to {limit:?})");
            said = true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// What a refused `launchctl bootstrap` means (launchd's error numbers say little).
fn explanation(explain: Explain, said: &str) -> String {
    let Explain::Bootstrap { agent } = explain else { return String::new() };
    let over_ssh = std::env::var_os("SSH_CONNECTION").is_some() || std::env::var_os("SSH_TTY").is_some();
    if agent && (over_ssh || said.contains(": 5:") || said.contains("Input/output error")) {
        "\nA LaunchAgent loads into the session of a user logged in at the Mac's screen; over SSH, or with nobody \
         logged in, there is none. Install the default LaunchDaemon instead (`sudo … service install` without \
         --agent): it runs at boot with no login."
            .into()
    } else if said.contains(": 5:") || said.contains("Input/output error") {
        "\nlaunchd refused the job: an old one may still be unloading, or the plist is invalid. Check with \
         `launchctl print system/com.podmine.…` and `plutil -lint` on the plist, then run the install again. A \
         LaunchDaemon must be installed with sudo."
            .into()
    } else {
        "\nCheck the plist with `plutil -lint`, and the job with `launchctl print`.".into()
    }
}

impl fmt::Display for Plan {
    /// The dry run: every file in full (secrets by path only), every command.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for step in &self.steps {
            match step {
                Step::Dir { path, owner } => writeln!(f, "mkdir -p {}{}", quote(path), owned(owner))?,
                Step::File { path, contents, mode, owner } => {
                    writeln!(f, "--- file {} (mode {mode:o}){}", path.display(), owned(owner))?;
                    f.write_str(contents)?;
                    if !contents.ends_with('\n') {
                        writeln!(f)?;
                    }
                    writeln!(f, "--- end of {}", path.display())?;
                }
                Step::Secret { from, to, owner } => writeln!(
                    f,
                    "copy {} to {} (mode 600){} -- secrets: the service reads them from there at start",
                    quote(from),
                    quote(to),
                    owned(owner)
                )?,
                Step::Derived { from, to, what, owner, .. } => writeln!(
                    f,
                    "write {} (mode 600){}: {what}, with the secrets of {} -- not shown",
                    quote(to),
                    owned(owner),
                    quote(from)
                )?,
                Step::Binary { from, to, owner } => writeln!(
                    f,
                    "install {} as {} (written beside it, then renamed over it){}",
                    quote(from),
                    quote(to),
                    owned(owner)
                )?,
                Step::Run { program, args, .. } => {
                    let args: Vec<String> = args.iter().map(|a| quote(std::path::Path::new(a))).collect();
                    writeln!(f, "{program} {}", args.join(" "))?
                }
                Step::WaitGone { service, limit } => {
                    writeln!(f, "wait until `launchctl print {service}` no longer finds it (up to {limit:?})")?
                }
                Step::Remove { path } => writeln!(f, "rm -f {}", quote(path))?,
            }
        }
        Ok(())
    }
}

fn owned(owner: &Option<String>) -> String {
    owner.as_ref().map(|o| format!(", owned by {o}")).unwrap_or_default()
}

/// A path or argument as a shell would need it (single quotes when it has anything special).
pub fn quote(path: &std::path::Path) -> String {
    let text = path.to_string_lossy();
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "/._-=:,@+%".contains(c)) {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binary_lands_by_rename_so_a_running_copy_keeps_its_file() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let (new, installed) = (dir.path().join("new-worker"), dir.path().join("worker"));
        std::fs::write(&installed, b"old").unwrap();
        std::fs::write(&new, b"new").unwrap();
        let old_inode = std::fs::metadata(&installed).unwrap().ino();
        let running = std::fs::File::open(&installed).unwrap(); // as a running process holds it
        execute(&Step::Binary { from: new, to: installed.clone(), owner: None }, false).unwrap();
        assert_eq!(std::fs::read(&installed).unwrap(), b"new");
        assert_ne!(std::fs::metadata(&installed).unwrap().ino(), old_inode);
        assert_eq!(std::fs::metadata(&installed).unwrap().permissions().mode() & 0o777, 0o755);
        let mut held = String::new();
        std::io::Read::read_to_string(&mut &running, &mut held).unwrap();
        assert_eq!(held, "old", "the running copy's file is untouched");
    }

    #[test]
    fn a_dry_run_prints_files_in_full_and_secrets_by_path_only() {
        let mut plan = Plan::default();
        plan.push(Step::Secret { from: "/a/worker.env".into(), to: "/b/worker.env".into(), owner: None });
        plan.push(Step::File { path: "/b/x.plist".into(), contents: "<plist/>".into(), mode: 0o644, owner: None });
        plan.push(Plan::run("launchctl", &["bootstrap", "system", "/b/x.plist"]));
        let printed = plan.to_string();
        assert!(printed.contains("copy /a/worker.env to /b/worker.env (mode 600)"), "{printed}");
        assert!(printed.contains("--- file /b/x.plist (mode 644)\n<plist/>\n--- end of /b/x.plist"), "{printed}");
        assert!(printed.contains("launchctl bootstrap system /b/x.plist"), "{printed}");
        assert_eq!(
            quote(std::path::Path::new("/Users/a/Library/Application Support")),
            "'/Users/a/Library/Application Support'"
        );
    }
}
