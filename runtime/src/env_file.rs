//! `--env-file FILE`: the NATS login (and the other settings a service needs)
//! read at start from a file only its user can read, as `coordinator
//! nats-users` writes it, so a launchd plist or systemd unit names the file
//! and never holds a password.
//!
//! Read before the command line is parsed (clap reads `NATS_URL`,
//! `NATS_USER`, `NATS_TLS_CA`, … from the environment), and before any
//! thread starts: `KEY=VALUE` lines, `#` comments and blank lines; only
//! podmine's and NATS's own keys (`NATS_*`, `PODMINE_*`, `OLLAMA_HOST`). A
//! variable already set in the environment wins, as with any dotenv file.

use anyhow::Context;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The flag both binaries accept on the commands that connect to NATS.
pub const FLAG: &str = "--env-file";

/// The file named by `--env-file FILE` or `--env-file=FILE` in `args`, if any.
pub fn named_in(args: &[OsString]) -> Option<PathBuf> {
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let arg = arg.to_string_lossy();
        if arg == "--" {
            return None;
        }
        if arg == FLAG {
            return args.next().map(PathBuf::from);
        }
        if let Some(path) = arg.strip_prefix("--env-file=") {
            return Some(PathBuf::from(path));
        }
    }
    None
}

/// The settings in `path`, as `(key, value)`, in file order.
pub fn read(path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the env file {} (given with {FLAG})", path.display()))?;
    let mut settings = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            anyhow::bail!("{}:{}: not KEY=VALUE: {line:?}", path.display(), number + 1);
        };
        let (key, value) = (key.trim(), unquote(value.trim()));
        if !wanted(key) {
            anyhow::bail!(
                "{}:{}: {key} is not a podmine or NATS setting (NATS_*, PODMINE_*, OLLAMA_HOST)",
                path.display(),
                number + 1
            );
        }
        settings.push((key.to_owned(), value.to_owned()));
    }
    Ok(settings)
}

fn wanted(key: &str) -> bool {
    key.starts_with("NATS_") || key.starts_with("PODMINE_") || key == "OLLAMA_HOST"
}

fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = value.strip_prefix(quote).and_then(|v| v.strip_suffix(quote)) {
            return inner;
        }
    }
    value
}

/// Loads the env file named in this process's arguments into its
/// environment. Call first thing in `main`, before any thread starts.
pub fn load_from_args() -> anyhow::Result<()> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let Some(path) = named_in(&args) else { return Ok(()) };
    for (key, value) in read(&path)? {
        if std::env::var_os(&key).is_none() {
            // Before any other thread exists (see the function's docs).
            std::env::set_var(&key, value);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_found_in_either_spelling_and_not_after_a_double_dash() {
        let args = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(named_in(&args(&["worker", "run", "--env-file", "w.env"])), Some("w.env".into()));
        assert_eq!(named_in(&args(&["worker", "run", "--env-file=/a b/w.env"])), Some("/a b/w.env".into()));
        assert_eq!(named_in(&args(&["coordinator", "run", "--", "--env-file", "x"])), None);
        assert_eq!(named_in(&args(&["worker", "run"])), None);
    }

    #[test]
    fn settings_are_read_as_nats_users_writes_them_and_other_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("worker.env");
        std::fs::write(&path, "# written by coordinator nats-users\nNATS_USER=worker\nNATS_PASSWORD=\"s3 cr=t\"\n\nexport NATS_TLS_CA=/x/ca.pem\n").unwrap();
        let settings = read(&path).unwrap();
        assert_eq!(
            settings,
            [
                ("NATS_USER".to_owned(), "worker".to_owned()),
                ("NATS_PASSWORD".to_owned(), "s3 cr=t".to_owned()),
                ("NATS_TLS_CA".to_owned(), "/x/ca.pem".to_owned())
            ]
        );
        std::fs::write(&path, "PATH=/evil\n").unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains("worker.env:1") && err.contains("PATH is not a podmine or NATS setting"), "{err}");
        let err = read(&dir.path().join("missing.env")).unwrap_err().to_string();
        assert!(err.contains("missing.env") && err.contains("--env-file"), "{err}");
    }
}
