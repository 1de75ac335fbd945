//! Disks that fill up under podmine (small tmpfs mounts made by the test;
//! root needed, as `.ci/run` has): the coordinator's data dir mid-collect, a
//! worker's outbox mid-run, and nats-server's store dir mid-run. Each says which path is full and what to do,
//! stops taking work it cannot store, keeps everything, and carries on by
//! itself once there is room; every segment ends once in out/.
#![cfg(feature = "slow-tests")] // the slow tier: `cargo test --workspace --features slow-tests`
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use podmine_tests::fake_llm::{Capacity, FakeLlm};
use podmine_tests::mining::{srt, terminate, Process};
use podmine_tests::outputs::read_out;
use podmine_tests::{binaries, wait, NatsServer};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const SEGMENTS: usize = 1_200;

/// A tmpfs of `mb` MB at `dir`, unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(dir: &Path, mb: u32) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mb}m"), "podmine-test", &dir.to_string_lossy()])
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "cannot mount a tmpfs (this test needs root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self(dir.to_path_buf())
    }

    fn grow(&self, mb: u32) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,size={mb}m"), &self.0.to_string_lossy()])
            .output()
            .unwrap();
        assert!(out.status.success(), "remount: {}", String::from_utf8_lossy(&out.stderr));
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).output();
    }
}

fn used_mb(dir: &Path) -> f64 {
    let out = Command::new("du").args(["-sk"]).arg(dir).output().unwrap();
    let kb: f64 = String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().parse().unwrap();
    kb / 1024.0
}

#[tokio::test(flavor = "multi_thread")]
async fn the_coordinators_disk_fills_up_mid_collect_and_collecting_resumes_when_it_is_grown() {
    let scratch = tempfile::tempdir().unwrap();
    let data = scratch.path().join("data");
    let server = NatsServer::start();
    let corpus = scratch.path().join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    // ~1 KB of words per segment, so the outcomes outgrow the small disk.
    let long = String::from_utf8(srt(60)).unwrap().replace(
        "says that local models can mine transcripts well.",
        &"says that local models can mine transcripts well, given enough context. ".repeat(14),
    );
    for episode in 0..(SEGMENTS / 60) {
        std::fs::write(
            corpus.join(format!("episode-{episode}.srt")),
            long.replace("Segment number", &format!("Episode {episode} segment")),
        )
        .unwrap();
    }
    let coordinator = || {
        let mut command = Command::new(binaries::coordinator());
        command.arg("--data-dir").arg(&data).env_remove("NATS_URL");
        command
    };
    let disk = SmallDisk::mount(&data, 2);
    let enqueue = coordinator().args(["enqueue", "--nats", &server.url()]).arg(&corpus).output().unwrap();
    assert!(enqueue.status.success(), "{}", String::from_utf8_lossy(&enqueue.stderr));
    println!("after enqueue: {:.1} MB used of 2", used_mb(&data));

    // Every segment mined first: the outcomes wait on the streams.
    let llm = FakeLlm::start(&["qwen2.5:7b-instruct"], Capacity { slots: 64, ..Capacity::default() }).await;
    let mut worker = Process(
        Command::new(binaries::worker())
            .args(["run", "--nats", &server.url(), "--llm", &llm.url(), "--concurrency", "32", "--data-dir"])
            .arg(scratch.path().join("worker"))
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let js = async_nats::jetstream::new(async_nats::connect(server.url()).await.unwrap());
    let results = js.get_stream(protocol::streams::RESULTS).await.unwrap();
    wait::until_async(Duration::from_secs(120), "every segment mined", || {
        let mut results = results.clone();
        async move { results.info().await.map(|i| i.state.messages as usize >= SEGMENTS).unwrap_or(false) }
    })
    .await;
    terminate(&mut worker, Duration::from_secs(20));

    let out = scratch.path().join("out");
    let log = scratch.path().join("collect.log");
    let mut collect = Process(
        coordinator()
            .args(["collect", "--nats", &server.url(), "--out"])
            .arg(&out)
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    wait::until(Duration::from_secs(120), "the collector to say the disk is full", || {
        assert!(collect.try_wait().unwrap().is_none(), "the collector exited:\n{}", read_log());
        read_log().contains("no space left")
    });
    let said = read_log();
    let line = said.lines().find(|l| l.contains("no space left")).unwrap().to_owned();
    println!("{line}");
    assert!(line.contains(&data.display().to_string()), "names the full path: {line}");
    assert!(line.contains("Free space there") && line.contains("resumes by itself"), "says what to do: {line}");
    // It waits for space instead of exiting (and, below, ends with exit 0 and every file once space returns).
    assert!(collect.try_wait().unwrap().is_none(), "it waits for space instead of exiting:\n{}", read_log());

    disk.grow(256);
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = collect.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the collector did not finish after the disk grew:\n{}",
            read_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{}", read_log());
    assert!(read_log().contains("there is space again"), "{}", read_log());
    let segments = read_out(&out); // panics on a segment that appears twice
    assert_eq!(segments.len(), SEGMENTS, "every segment once in out/");
    assert!(segments.values().all(|(status, _)| status == "mined"));
    assert_eq!(llm.requests() as usize, SEGMENTS, "no segment mined twice");
    println!("after collect: {:.1} MB used", used_mb(&data));
}

/// A corpus of `tasks` 30-second segments, enqueued into `data` on `server`.
fn enqueue(scratch: &Path, data: &Path, server: &NatsServer, tasks: usize) {
    let corpus = scratch.join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    for episode in 0..tasks.div_ceil(60) {
        std::fs::write(corpus.join(format!("episode-{episode}.srt")), srt(60)).unwrap();
    }
    let enqueue = coordinator_in(data).args(["enqueue", "--nats", &server.url()]).arg(&corpus).output().unwrap();
    assert!(enqueue.status.success(), "{}", String::from_utf8_lossy(&enqueue.stderr));
}

fn coordinator_in(data: &Path) -> Command {
    let mut command = Command::new(binaries::coordinator());
    command.arg("--data-dir").arg(data).env_remove("NATS_URL");
    command
}

/// A fake LLM at ~100 ms a call, 4 at a time (a 300-segment run takes ~8 s,
/// time to fill a disk under it), and a worker on it logging to `log`.
async fn slow_llm_and_worker(server: &NatsServer, data_dir: &Path, log: &Path) -> (FakeLlm, Process) {
    let llm = FakeLlm::start(
        &["qwen2.5:7b-instruct"],
        Capacity { slots: 4, tokens_per_s: 1000.0, output_tokens: 100, ..Capacity::default() },
    )
    .await;
    let worker = Process(
        Command::new(binaries::worker())
            .args(["run", "--nats", &server.url(), "--llm", &llm.url(), "--concurrency", "4", "--ack-wait", "5s"])
            .arg("--data-dir")
            .arg(data_dir)
            .env("RUST_LOG", "info")
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap(),
    );
    (llm, worker)
}

/// Collects into `<scratch>/out` and checks every segment is there once.
fn collect_every_segment_once(scratch: &Path, data: &Path, server: &NatsServer, tasks: usize) {
    let out = scratch.join("out");
    let collect = coordinator_in(data).args(["collect", "--nats", &server.url(), "--out"]).arg(&out).output().unwrap();
    assert!(collect.status.success(), "{}", String::from_utf8_lossy(&collect.stderr));
    let segments = read_out(&out); // panics on a segment that appears twice
    assert_eq!(segments.len(), tasks, "every segment once in out/");
    assert!(segments.values().all(|(status, _)| status == "mined"));
}

/// Fills `dir`'s disk to the last byte with one file; returns its path.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 4096];
    while file.write_all(&chunk).is_ok() {}
    let _ = file.sync_all();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workers_outbox_disk_fills_up_and_it_resumes_when_space_is_freed() {
    const TASKS: usize = 300;
    let scratch = tempfile::tempdir().unwrap();
    let server = NatsServer::start();
    let data = scratch.path().join("coordinator");
    enqueue(scratch.path(), &data, &server, TASKS);
    let outbox_dir = scratch.path().join("worker");
    let disk = SmallDisk::mount(&outbox_dir, 16);
    let log = scratch.path().join("worker.log");
    let (llm, mut worker) = slow_llm_and_worker(&server, &outbox_dir, &log).await;
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    wait::until(Duration::from_secs(60), "the worker mining", || llm.requests() >= 20);
    let filler = fill(&outbox_dir);
    wait::until(Duration::from_secs(60), "the worker to say its outbox disk is full", || {
        assert!(worker.try_wait().unwrap().is_none(), "the worker exited:\n{}", read_log());
        read_log().contains("no space left on the disk of the worker outbox")
    });
    let line = read_log().lines().find(|l| l.contains("no space left")).unwrap().to_owned();
    println!("{line}");
    assert!(line.contains(&outbox_dir.display().to_string()) && line.contains("Free space there"), "{line}");
    // It stops pulling: once the calls in flight end, no new LLM call while the disk stays full.
    wait::until(Duration::from_secs(30), "the calls in flight end", || llm.generating() == 0);
    let paused_at = llm.requests();
    // A fixed wait: "no call happens" has no event to wait for; 3 s is several of the worker's pull attempts.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(llm.requests(), paused_at, "no LLM calls while the outbox cannot store them");
    assert!((paused_at as usize) < TASKS, "the disk filled before the end of the run");
    assert!(worker.try_wait().unwrap().is_none(), "it waits for space:\n{}", read_log());

    std::fs::remove_file(filler).unwrap();
    let js = async_nats::jetstream::new(async_nats::connect(server.url()).await.unwrap());
    let results = js.get_stream(protocol::streams::RESULTS).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let mut results = results;
    while results.info().await.map(|i| (i.state.messages as usize) < TASKS).unwrap_or(true) {
        assert!(std::time::Instant::now() < deadline, "not every segment mined after space returned:\n{}", read_log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(read_log().contains("there is space again"), "{}", read_log());
    let mut tasks = js.get_stream(protocol::streams::TASKS).await.unwrap();
    wait::until_async(Duration::from_secs(30), "every task acked", || {
        let mut tasks = tasks.clone();
        async move { tasks.info().await.map(|i| i.state.messages == 0).unwrap_or(false) }
    })
    .await;
    assert_eq!(tasks.info().await.unwrap().state.messages, 0);
    let (code, _) = terminate(&mut worker, Duration::from_secs(30));
    assert_eq!(code, Some(0), "{}", read_log());
    drop(disk);
    collect_every_segment_once(scratch.path(), &data, &server, TASKS);
    println!("outbox full: {} LLM calls for {TASKS} segments", llm.requests());
    assert_eq!(llm.requests() as usize, TASKS, "no answer paid twice: the ones in hand were published directly");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_nats_servers_disk_fills_up_and_the_run_completes_once_it_is_freed_and_restarted() {
    const TASKS: usize = 300;
    let scratch = tempfile::tempdir().unwrap();
    let store = scratch.path().join("jetstream");
    let disk = SmallDisk::mount(&store, 64);
    // The streams reserve more than this disk has (TASKS alone 4 GiB), as on a
    // Mac whose disk filled up after the server started: the limit is set high.
    let config = scratch.path().join("nats.conf");
    std::fs::write(
        &config,
        format!("jetstream {{\n  store_dir: \"{}\"\n  max_file_store: 20GB\n}}\n", store.display()),
    )
    .unwrap();
    let mut server = NatsServer::start_with(podmine_tests::NatsOptions {
        config: Some(config),
        ..podmine_tests::NatsOptions::default()
    });
    let data = scratch.path().join("coordinator");
    enqueue(scratch.path(), &data, &server, TASKS);
    let log = scratch.path().join("worker.log");
    let (llm, mut worker) = slow_llm_and_worker(&server, &scratch.path().join("worker"), &log).await;
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    wait::until(Duration::from_secs(60), "the worker mining", || llm.requests() >= 20);
    let filler = fill(&store);
    let server_log = server.store_dir().join("nats-server.log");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !read_log().contains("NATS server cannot store results") {
        assert!(worker.try_wait().unwrap().is_none(), "the worker exited:\n{}", read_log());
        assert!(
            std::time::Instant::now() < deadline,
            "the worker did not say the server cannot store:\n{}\nnats-server:\n{}",
            read_log(),
            std::fs::read_to_string(&server_log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let line = read_log().lines().find(|l| l.contains("NATS server cannot store results")).unwrap().to_owned();
    println!("{line}");
    assert!(line.contains("restart nats-server"), "says what to do: {line}");
    wait::until(Duration::from_secs(30), "the calls in flight end", || llm.generating() == 0);
    let paused_at = llm.requests();
    // A fixed wait: "no call happens" has no event to wait for; 3 s is several of the worker's pull attempts.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(llm.requests(), paused_at, "no LLM calls while results cannot be stored");

    // The user frees space and restarts nats-server, as the message says.
    std::fs::remove_file(filler).unwrap();
    server.restart();
    let js = async_nats::jetstream::new(async_nats::connect(server.url()).await.unwrap());
    let mut results = js.get_stream(protocol::streams::RESULTS).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while results.info().await.map(|i| (i.state.messages as usize) < TASKS).unwrap_or(true) {
        assert!(std::time::Instant::now() < deadline, "not every segment mined after the restart:\n{}", read_log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (code, _) = terminate(&mut worker, Duration::from_secs(30));
    assert_eq!(code, Some(0), "{}", read_log());
    collect_every_segment_once(scratch.path(), &data, &server, TASKS);
    println!("nats-server disk full: {} LLM calls for {TASKS} segments", llm.requests());
    assert!(llm.requests() as usize <= TASKS + 4, "at most the 4 in hand paid twice: {}", llm.requests());
    drop(disk);
}
