//! A mining set-up for tests: a nats-server, a corpus enqueued by the real
//! `coordinator`, and `worker` processes started and killed for real.

use crate::{binaries, NatsServer};
use futures::TryStreamExt;
use protocol::{codec, streams, FailureRecord, SegmentResult};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Mining {
    pub server: NatsServer,
    pub corpus: tempfile::TempDir,
    pub scratch: tempfile::TempDir,
    /// Segments enqueued.
    pub segments: u64,
}

impl Mining {
    /// Enqueues `files` (name, contents) with the real coordinator.
    pub fn enqueue(files: &[(&str, &[u8])]) -> Self {
        Self::enqueue_with(files, &[])
    }

    /// [`Self::enqueue`] with the run's mining spec set by `spec_flags`
    /// (`--model`, `--schema`, …: the coordinator's flags of the same names).
    pub fn enqueue_with(files: &[(&str, &[u8])], spec_flags: &[&str]) -> Self {
        let corpus = tempfile::tempdir().expect("corpus dir");
        for (name, bytes) in files {
            let path = corpus.path().join(name);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, bytes).expect("write corpus file");
        }
        let server = NatsServer::start();
        let scratch = tempfile::tempdir().expect("scratch dir");
        let out = Command::new(binaries::coordinator())
            .args([
                "--data-dir",
                &scratch.path().join("coordinator").to_string_lossy(),
                "enqueue",
                "--nats",
                &server.url(),
            ])
            .arg(corpus.path())
            .args(spec_flags)
            .output()
            .expect("run coordinator");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "enqueue failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
        let mut mining = Self { server, corpus, scratch, segments: 0 };
        mining.segments = mining.status().segments.total;
        mining
    }

    /// `coordinator status --json`, as its type (`protocol::status::Status`).
    pub fn status(&self) -> protocol::status::Status {
        let out = self.coordinator().args(["status", "--json", "--nats", &self.server.url()]).output().expect("status");
        assert!(out.status.success(), "status failed: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("status --json is not a Status ({e}): {}", String::from_utf8_lossy(&out.stdout)))
    }

    /// Starts `worker run` with its own data dir `name`, logging to `<scratch>/<name>.log`.
    pub fn worker(&self, name: &str, llm: &str, extra: &[&str]) -> Process {
        let log = std::fs::File::create(self.log_path(name)).expect("worker log");
        Command::new(binaries::worker())
            .args(["run", "--nats", &self.server.url(), "--llm", llm, "--data-dir"])
            .arg(self.scratch.path().join(name))
            .args(extra)
            .env("RUST_LOG", "info")
            .env_remove("PODMINE_TEST_PAUSE_BEFORE_PUBLISH")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map(Process)
            .expect("start worker")
    }

    /// `coordinator` with this set-up's data dir (where `enqueue` recorded the corpus).
    pub fn coordinator(&self) -> Command {
        let mut command = Command::new(binaries::coordinator());
        command.arg("--data-dir").arg(self.scratch.path().join("coordinator")).env_remove("NATS_URL");
        command
    }

    /// `coordinator collect` into `<scratch>/out`, until every segment is settled.
    pub fn collect(&self) -> Process {
        let log = std::fs::File::create(self.log_path("collect")).expect("collect log");
        self.coordinator()
            .args(["collect", "--nats", &self.server.url(), "--out"])
            .arg(self.out_dir())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map(Process)
            .expect("start collect")
    }

    pub fn out_dir(&self) -> PathBuf {
        self.scratch.path().join("out")
    }

    pub fn log_path(&self, name: &str) -> PathBuf {
        self.scratch.path().join(format!("{name}.log"))
    }

    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.log_path(name)).unwrap_or_default()
    }

    async fn js(&self) -> async_nats::jetstream::Context {
        async_nats::jetstream::new(async_nats::connect(self.server.url()).await.expect("connect"))
    }

    /// Messages per subject on a stream.
    pub async fn per_subject(&self, stream: &str, filter: &str) -> HashMap<String, usize> {
        let stream = self.js().await.get_stream(stream).await.expect("stream");
        stream.info_with_subjects(filter).await.expect("info").try_collect().await.expect("subjects")
    }

    pub async fn messages(&self, stream: &str) -> u64 {
        let mut stream = self.js().await.get_stream(stream).await.expect("stream");
        stream.info().await.expect("info").state.messages
    }

    /// Liveness records in the workers' KV bucket, read with the type workers write.
    pub async fn live_workers(&self) -> Vec<protocol::liveness::WorkerRecord> {
        let Ok(store) = self.js().await.get_key_value(protocol::liveness::BUCKET).await else { return Vec::new() };
        let Ok(keys) = store.keys().await else { return Vec::new() };
        let keys: Vec<String> = keys.try_collect().await.unwrap_or_default();
        let mut out = Vec::new();
        for key in keys {
            if let Ok(Some(value)) = store.get(&key).await {
                out.push(serde_json::from_slice(&value).expect("a worker record"));
            }
        }
        out
    }

    pub async fn results(&self) -> Vec<SegmentResult> {
        self.decode_all(streams::RESULTS).await
    }

    pub async fn failures(&self) -> Vec<FailureRecord> {
        self.payloads(streams::FAILED)
            .await
            .iter()
            .map(|payload| FailureRecord::decode(payload).expect("decodes"))
            .collect()
    }

    async fn decode_all<T: serde::de::DeserializeOwned>(&self, name: &str) -> Vec<T> {
        self.payloads(name).await.iter().map(|payload| codec::decode(payload).expect("decodes")).collect()
    }

    /// The payload of every message still on a stream, in order.
    pub async fn payloads(&self, name: &str) -> Vec<Vec<u8>> {
        let stream = self.js().await.get_stream(name).await.expect("stream");
        let last = stream.clone().info().await.expect("info").state.last_sequence;
        let mut out = Vec::new();
        for sequence in 1..=last {
            if let Ok(message) = stream.get_raw_message(sequence).await {
                out.push(message.payload.to_vec());
            }
        }
        out
    }

    /// Waits until every segment has a result or a failure.
    pub async fn wait_settled(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let settled = self.messages(streams::RESULTS).await + self.messages(streams::FAILED).await;
            if settled >= self.segments {
                return;
            }
            assert!(Instant::now() < deadline, "only {settled} of {} segments settled after {limit:?}", self.segments);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn corpus_path(&self) -> &Path {
        self.corpus.path()
    }
}

/// An SRT of `cues` 30-second cues (one segment each), every cue's text distinct.
pub fn srt(cues: usize) -> Vec<u8> {
    let mut out = String::new();
    for i in 0..cues {
        let (a, b) = (i * 30, i * 30 + 30);
        out.push_str(&format!(
            "{}\n00:{:02}:{:02},000 --> 00:{:02}:{:02},000\nSegment number {i} says that local models can mine transcripts well.\n\n",
            i + 1, a / 60, a % 60, b / 60, b % 60
        ));
    }
    out.into_bytes()
}

/// Sends SIGTERM and waits; returns the exit code and how long it took.
pub fn terminate(child: &mut Child, limit: Duration) -> (Option<i32>, Duration) {
    let started = Instant::now();
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return (status.code(), started.elapsed());
        }
        assert!(started.elapsed() < limit, "the worker did not exit within {limit:?} of SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A child process killed (SIGKILL) when dropped, so a failing test leaves no
/// worker or coordinator running behind it.
pub struct Process(pub Child);

impl std::ops::Deref for Process {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Process {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
