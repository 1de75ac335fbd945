//! NATS users for tests of the shipped configs: made by the real
//! `coordinator nats-users`, read back as the environment each side gets.

use crate::binaries;
use std::path::Path;
use std::process::Command;

pub struct NatsUsers {
    /// nats-server's environment (the bcrypt hashes deploy/nats/users.conf reads).
    pub server_env: Vec<(String, String)>,
    /// `NATS_USER`/`NATS_PASSWORD` for the coordinator and the worker.
    pub coordinator: Vec<(String, String)>,
    pub worker: Vec<(String, String)>,
}

impl NatsUsers {
    /// Runs `coordinator nats-users --dir <dir>` and reads the three files.
    pub fn make(dir: &Path) -> Self {
        let out = Command::new(binaries::coordinator())
            .args(["nats-users", "--dir"])
            .arg(dir)
            .output()
            .expect("run coordinator nats-users");
        assert!(out.status.success(), "nats-users failed: {}", String::from_utf8_lossy(&out.stderr));
        Self {
            server_env: read_env(&dir.join("server.env")),
            coordinator: read_env(&dir.join("coordinator.env")),
            worker: read_env(&dir.join("worker.env")),
        }
    }

    pub fn worker_password(&self) -> &str {
        value(&self.worker, "NATS_PASSWORD")
    }

    pub fn coordinator_password(&self) -> &str {
        value(&self.coordinator, "NATS_PASSWORD")
    }
}

fn value<'a>(env: &'a [(String, String)], key: &str) -> &'a str {
    env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).unwrap_or_else(|| panic!("{key} missing"))
}

/// `KEY=value` lines as a shell would read them (one level of single quotes removed).
pub fn read_env(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.lines()
        .filter(|line| !line.starts_with('#') && line.contains('='))
        .map(|line| {
            let (key, value) = line.split_once('=').expect("KEY=value");
            let value = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')).unwrap_or(value);
            (key.to_owned(), value.to_owned())
        })
        .collect()
}
