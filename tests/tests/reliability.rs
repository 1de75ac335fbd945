//! Faults caused for real, checked against the promise: every segment ends
//! exactly once in out/, mined or failed with its reason, whatever dies and
//! when. Real binaries, real nats-server (single node and a 3-node cluster),
//! the fake LLM for the faults.
#![cfg(feature = "slow-tests")] // the slow tier: `cargo test --workspace --features slow-tests`

use futures::TryStreamExt;
use podmine_tests::cluster::NatsCluster;
use podmine_tests::fake_llm::{Capacity, FakeLlm};
use podmine_tests::mining::{srt, terminate, Mining, Process};
use podmine_tests::outputs::read_out;
use podmine_tests::{binaries, wait};
use protocol::streams;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const MODEL: &str = "qwen2.5:7b-instruct";

/// Calls of ~300 ms, so kills land while calls are in flight.
fn slow_llm() -> Capacity {
    Capacity { slots: 8, tokens_per_s: 400.0, ..Capacity::default() }
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code();
        }
        assert!(Instant::now() < deadline, "did not exit within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every segment once in out/, all mined; every result subject holds one result.
async fn assert_exactly_once_all_mined(mining: &Mining) {
    let out = read_out(&mining.out_dir());
    assert_eq!(out.len() as u64, mining.segments, "every segment is in out/ exactly once");
    let failed: Vec<_> = out.iter().filter(|(_, (status, _))| status != "mined").collect();
    assert!(failed.is_empty(), "no faults that make segments fail were caused: {failed:?}");
    let results = mining.per_subject(streams::RESULTS, "podmine.result.>").await;
    assert_eq!(results.len() as u64, mining.segments);
    assert!(results.values().all(|&n| n == 1), "a segment has two results: {results:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueue_again_repairs_a_server_that_lost_tasks() {
    let mining = Mining::enqueue(&[("show/one.srt", &srt(20)), ("show/two.srt", &srt(20))]);
    assert_eq!(mining.messages(streams::TASKS).await, 40);
    let js = async_nats::jetstream::new(async_nats::connect(mining.server.url()).await.expect("connect"));

    // The last writes are gone (what a power loss inside sync_interval costs).
    let tasks = js.get_stream(streams::TASKS).await.expect("tasks");
    for sequence in 36..=40 {
        tasks.delete_message(sequence).await.expect("delete a message");
    }
    assert_eq!(mining.messages(streams::TASKS).await, 35);
    let again =
        mining.coordinator().args(["enqueue", "--nats", &mining.server.url()]).arg(mining.corpus_path()).output();
    let again = again.expect("run enqueue");
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success(), "{stdout}{}", String::from_utf8_lossy(&again.stderr));
    assert!(stdout.contains("the server had lost 5 unfinished segment(s)"), "{stdout}");
    let per_subject = mining.per_subject(streams::TASKS, "podmine.task.>").await;
    assert_eq!(per_subject.len(), 40, "every segment queued again");
    assert!(per_subject.values().all(|&n| n == 1));

    // The whole stream is gone.
    js.delete_stream(streams::TASKS).await.expect("delete the stream");
    let again =
        mining.coordinator().args(["enqueue", "--nats", &mining.server.url()]).arg(mining.corpus_path()).output();
    let stdout = String::from_utf8_lossy(&again.expect("run enqueue").stdout).into_owned();
    assert!(stdout.contains("the server had lost 40 unfinished segment(s)"), "{stdout}");
    assert_eq!(mining.per_subject(streams::TASKS, "podmine.task.>").await.len(), 40);

    // Nothing lost: a third run publishes nothing.
    let again =
        mining.coordinator().args(["enqueue", "--nats", &mining.server.url()]).arg(mining.corpus_path()).output();
    let stdout = String::from_utf8_lossy(&again.expect("run enqueue").stdout).into_owned();
    assert!(stdout.contains("published 0 new task(s)") && !stdout.contains("lost"), "{stdout}");

    // And the repaired queue mines to exactly one result per segment.
    let llm = FakeLlm::start(&[MODEL], Capacity::default()).await;
    let _worker = mining.worker("w", &llm.url(), &["--concurrency", "4"]);
    let mut collect = mining.collect();
    assert_eq!(wait_exit(&mut collect, Duration::from_secs(60)), Some(0), "{}", mining.log("collect"));
    assert_exactly_once_all_mined(&mining).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_server_killed_and_restarted_mid_run_loses_nothing() {
    let mut mining = Mining::enqueue(&[("show/one.srt", &srt(40)), ("show/two.srt", &srt(40))]);
    let llm = FakeLlm::start(&[MODEL], slow_llm()).await;
    let mut a = mining.worker("a", &llm.url(), &["--concurrency", "3", "--ack-wait", "5s"]);
    let mut b = mining.worker("b", &llm.url(), &["--concurrency", "3", "--ack-wait", "5s"]);
    let mut collect = mining.collect();
    wait::until_async(Duration::from_secs(60), "a quarter of the segments mined", || async {
        mining.messages(streams::RESULTS).await >= mining.segments / 4
    })
    .await;

    mining.server.kill(); // kill -9, mid-run: calls in flight, acks and results on the wire
    wait::until(Duration::from_secs(30), "a worker notices NATS is gone", || {
        mining.log("a").contains("NATS is not answering") || mining.log("b").contains("NATS is not answering")
    });
    mining.server.restart();

    assert_eq!(wait_exit(&mut collect, Duration::from_secs(120)), Some(0), "{}", mining.log("collect"));
    assert_exactly_once_all_mined(&mining).await;
    for (name, worker) in [("a", &mut a), ("b", &mut b)] {
        assert!(worker.try_wait().expect("wait").is_none(), "worker {name} exited: {}", mining.log(name));
        assert_eq!(terminate(worker, Duration::from_secs(20)).0, Some(0));
    }
    let calls: u64 = llm.calls().values().sum();
    println!("nats-server kill -9 + restart: {} segments, {calls} LLM calls", mining.segments);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_stream_leader_killed_mid_run_loses_nothing() {
    let mut cluster = NatsCluster::start();
    let urls = cluster.urls();
    let users = &cluster.users;
    let (coordinator_env, worker_env) = (users.coordinator.clone(), users.worker.clone());
    let admin = {
        let client = async_nats::ConnectOptions::with_user_and_password(
            "coordinator".into(),
            users.coordinator_password().into(),
        )
        .connect(protocol::connect::server_addrs(&urls).expect("URLs"))
        .await
        .expect("connect to the cluster");
        async_nats::jetstream::new(client)
    };
    wait::until_async(Duration::from_secs(30), "the cluster elects a JetStream leader", || {
        let admin = admin.clone();
        async move { admin.query_account().await.is_ok() }
    })
    .await;

    let scratch = tempfile::tempdir().expect("scratch");
    let corpus = scratch.path().join("corpus");
    std::fs::create_dir_all(&corpus).expect("mkdir");
    std::fs::write(corpus.join("one.srt"), srt(40)).expect("write");
    std::fs::write(corpus.join("two.srt"), srt(40)).expect("write");
    let coordinator = || {
        let mut command = Command::new(binaries::coordinator());
        command.arg("--data-dir").arg(scratch.path().join("coordinator")).envs(coordinator_env.iter().cloned());
        command
    };
    let enqueue = coordinator().args(["enqueue", "--nats", &urls]).arg(&corpus).output().expect("enqueue");
    assert!(enqueue.status.success(), "{}", String::from_utf8_lossy(&enqueue.stderr));
    let mut tasks = admin.get_stream(streams::TASKS).await.expect("tasks");
    let info = tasks.info().await.expect("info");
    assert_eq!(info.config.num_replicas, 3, "streams in a cluster get 3 replicas");
    assert_eq!(info.state.messages, 80);

    let llm = FakeLlm::start(&[MODEL], slow_llm()).await;
    let mut workers: Vec<Process> = ["a", "b"]
        .iter()
        .map(|name| {
            let log = std::fs::File::create(scratch.path().join(format!("{name}.log"))).expect("log");
            Command::new(binaries::worker())
                .args(["run", "--nats", &urls, "--llm", &llm.url(), "--concurrency", "3", "--ack-wait", "5s"])
                .arg("--data-dir")
                .arg(scratch.path().join(name))
                .envs(worker_env.iter().cloned())
                .env("RUST_LOG", "info")
                .stderr(log)
                .spawn()
                .map(Process)
                .expect("start worker")
        })
        .collect();
    let out = scratch.path().join("out");
    let collect_log = scratch.path().join("collect.log");
    let mut collect = Process(
        coordinator()
            .args(["collect", "--nats", &urls, "--out"])
            .arg(&out)
            .stderr(std::fs::File::create(&collect_log).expect("log"))
            .spawn()
            .expect("start collect"),
    );
    let results = admin.get_stream(streams::RESULTS).await.expect("results");
    wait::until_async(Duration::from_secs(60), "a quarter of the segments mined", || {
        let mut results = results.clone();
        async move { results.info().await.map(|i| i.state.messages >= 20).unwrap_or(false) }
    })
    .await;
    let leader = tasks.info().await.expect("info").cluster.clone().and_then(|c| c.leader).expect("a stream leader");
    cluster.node_named(&leader).kill();

    let log = || std::fs::read_to_string(&collect_log).unwrap_or_default();
    assert_eq!(wait_exit(&mut collect, Duration::from_secs(120)), Some(0), "{}", log());
    let settled = read_out(&out);
    assert_eq!(settled.len(), 80, "every segment is in out/ exactly once");
    assert!(settled.values().all(|(status, _)| status == "mined"));
    let mut results = admin.get_stream(streams::RESULTS).await.expect("results");
    let per_subject: std::collections::HashMap<String, usize> =
        results.info_with_subjects("podmine.result.>").await.expect("subjects").try_collect().await.expect("subjects");
    assert_eq!(per_subject.len(), 80);
    assert!(per_subject.values().all(|&n| n == 1), "a segment has two results");
    assert_eq!(results.info().await.expect("info").config.num_replicas, 3);
    for worker in &mut workers {
        assert!(worker.try_wait().expect("wait").is_none(), "a worker exited");
        assert_eq!(terminate(worker, Duration::from_secs(20)).0, Some(0));
    }
    println!("cluster: leader {leader} killed mid-run; 80 segments, {} LLM calls", llm.requests());
}

/// A small deterministic random source (xorshift), seeded per run and printed
/// so a failing sequence of kills can be replayed with `PODMINE_SEED`.
struct Chaos(u64);

impl Chaos {
    fn new() -> Self {
        let seed = std::env::var("PODMINE_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos() as u64
        }) | 1;
        println!("chaos seed {seed} (replay with PODMINE_SEED={seed})");
        Self(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_killed_again_and_again_waste_at_most_their_calls_in_flight() {
    const CONCURRENCY: u64 = 3;
    const KILLS: u64 = 4;
    let files: Vec<(String, Vec<u8>)> = (0..3).map(|i| (format!("show/{i}.srt"), srt(40))).collect();
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    let mining = Mining::enqueue(&refs);
    let llms = [FakeLlm::start(&[MODEL], slow_llm()).await, FakeLlm::start(&[MODEL], slow_llm()).await];
    let args = ["--concurrency", "3", "--ack-wait", "3s"];
    let mut workers = [mining.worker("a", &llms[0].url(), &args), mining.worker("b", &llms[1].url(), &args)];
    let mut collect = mining.collect();
    let mut chaos = Chaos::new();
    let mut in_flight_at_kills = Vec::new();
    for _ in 0..KILLS {
        // Kill at a random moment while the victim has calls in flight.
        let victim = chaos.below(2) as usize;
        wait::until(Duration::from_secs(30), "the victim's calls in flight (or the run's end)", || {
            llms[victim].generating() > 0 || collect.try_wait().ok().flatten().is_some()
        });
        std::thread::sleep(Duration::from_millis(chaos.below(500)));
        workers[victim].kill().expect("kill -9 the worker");
        let _ = workers[victim].wait();
        in_flight_at_kills.push(llms[victim].generating());
        let name = ["a", "b"][victim];
        workers[victim] = mining.worker(name, &llms[victim].url(), &args); // launchd's KeepAlive, by hand
    }
    assert_eq!(wait_exit(&mut collect, Duration::from_secs(120)), Some(0), "{}", mining.log("collect"));
    assert!(mining.messages(streams::RESULTS).await >= mining.segments);
    assert_exactly_once_all_mined(&mining).await;
    let calls = llms[0].requests() + llms[1].requests();
    let wasted = calls - mining.segments;
    println!(
        "{KILLS} kill -9 of workers: {} segments, {calls} LLM calls, {wasted} wasted; calls in flight at the kills {in_flight_at_kills:?}",
        mining.segments
    );
    // Under load every slot of a worker holds a task, so the in-flight count
    // at a kill is its concurrency.
    assert!(wasted <= KILLS * CONCURRENCY, "{wasted} calls wasted by {KILLS} kills of {CONCURRENCY} in flight");
    for worker in &mut workers {
        assert_eq!(terminate(worker, Duration::from_secs(20)).0, Some(0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinator_killed_mid_collect_then_rerun_writes_the_exact_outputs() {
    const EPISODES: usize = 150;
    let files: Vec<(String, Vec<u8>)> = (0..EPISODES).map(|i| (format!("show/{i:03}.srt"), srt(10))).collect();
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    let mining = Mining::enqueue(&refs);
    let llm = FakeLlm::start(&[MODEL], Capacity { slots: 16, max_queue: 64, ..Capacity::default() }).await;
    let mut worker = mining.worker("w", &llm.url(), &["--concurrency", "16"]);
    mining.wait_settled(Duration::from_secs(120)).await;
    assert_eq!(terminate(&mut worker, Duration::from_secs(20)).0, Some(0));

    let out = mining.out_dir();
    let mut collect = mining.collect();
    let files_at_kill = loop {
        let written = std::fs::read_dir(&out).map(|d| d.count()).unwrap_or(0);
        if written > 0 {
            break written;
        }
        assert!(collect.try_wait().expect("wait").is_none(), "collect ended before it was killed");
        std::thread::sleep(Duration::from_millis(2));
    };
    collect.kill().expect("kill -9 the coordinator");
    let _ = collect.wait();
    assert!(files_at_kill < EPISODES, "the kill came after collect finished ({files_at_kill} files)");

    let mut again = mining.collect();
    assert_eq!(wait_exit(&mut again, Duration::from_secs(60)), Some(0), "{}", mining.log("collect"));
    let written = read_out(&out);
    assert_eq!(written.len() as u64, mining.segments, "every segment once");
    for result in mining.results().await {
        let key = result.task.segment.key();
        let (status, mined) = &written[&(key.episode.to_string(), u64::from(key.index))];
        assert_eq!(status, "mined");
        let published: serde_json::Value = serde_json::from_str(&result.mined_json).expect("mined JSON");
        assert_eq!(mined, &published, "{key}: out/ differs from the published result");
    }
    println!("collect killed with {files_at_kill} of {EPISODES} episode files written; the re-run wrote all, exactly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llm_faults_and_a_long_outage_end_mined_or_failed_with_reasons() {
    let mining = Mining::enqueue(&[("show/one.srt", &srt(30))]);
    let mut llm = FakeLlm::start(&[MODEL], Capacity { slots: 3, max_queue: 1, ..Capacity::default() }).await;
    // One segment always breaks the schema: it must fail with its reason and raw output.
    llm.poison("Segment number 7 says", podmine_tests::fake_llm::Fault::SchemaViolation);
    use podmine_tests::fake_llm::Fault;
    llm.inject([Fault::Status(500), Fault::Status(500), Fault::Status(502), Fault::Status(500), Fault::Status(500)]);
    llm.inject([Fault::Hang, Fault::Hang, Fault::InvalidJson, Fault::SchemaViolation, Fault::Drop]);
    llm.inject([Fault::Status(503), Fault::Status(503), Fault::Status(503)]);
    // Two workers of 3 against 3 slots and a queue of 1: Ollama-style 503s too.
    let args = ["--concurrency", "3", "--request-timeout", "2s", "--ack-wait", "6s"];
    let mut workers = [mining.worker("a", &llm.url(), &args), mining.worker("b", &llm.url(), &args)];
    let mut collect = mining.collect();
    wait::until_async(Duration::from_secs(60), "ten segments mined", || async {
        mining.messages(streams::RESULTS).await >= 10
    })
    .await;

    llm.go_down();
    let down = Instant::now();
    let status = || {
        let out = mining.coordinator().args(["status", "--nats", &mining.server.url()]).output().expect("status");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // The LLM stays down until a worker says it has backed off for half a
    // minute (its liveness record, as `status --json` shows it).
    let backing_off_for = || {
        let out = mining.coordinator().args(["status", "--json", "--nats", &mining.server.url()]).output();
        let status: Option<protocol::status::Status> =
            out.ok().and_then(|out| serde_json::from_slice(&out.stdout).ok());
        status
            .map_or(0, |s| s.workers.iter().filter_map(|w| w.llm_backoff.as_ref()).map(|b| b.for_s).max().unwrap_or(0))
    };
    let mut seen_in_status = String::new();
    wait::until(Duration::from_secs(120), "a worker backing off for 30 s", || {
        let backing_off = backing_off_for();
        if backing_off > 0 && seen_in_status.is_empty() {
            let now = status();
            if now.contains("LLM backing off") {
                seen_in_status = now;
            }
        }
        backing_off >= 30
    });
    let down_for = down.elapsed();
    llm.come_back().await;
    assert!(seen_in_status.contains("connection refused") || seen_in_status.contains("LLM backing off"));
    assert!(!seen_in_status.is_empty(), "status never showed the backoff during the outage");

    assert_eq!(wait_exit(&mut collect, Duration::from_secs(240)), Some(0), "{}", mining.log("collect"));
    let out = read_out(&mining.out_dir());
    assert_eq!(out.len() as u64, mining.segments, "every segment once");
    let failed: Vec<_> = out.iter().filter(|(_, (status, _))| status == "failed").collect();
    assert_eq!(failed.len(), 1, "only the poisoned segment fails: {failed:?}");
    let ((_, index), (_, why)) = failed[0];
    assert_eq!(*index, 7);
    assert_eq!(why["kind"], "unusable-answer", "{why}");
    let failure = mining.failures().await.into_iter().next().expect("a failure record");
    assert!(failure.raw_output.as_deref().is_some_and(|raw| !raw.is_empty()), "the raw output is kept");
    for (name, worker) in ["a", "b"].into_iter().zip(workers.iter_mut()) {
        assert!(worker.try_wait().expect("wait").is_none(), "worker {name} exited: {}", mining.log(name));
        assert!(mining.log(name).contains("backing off"), "worker {name} logged no backoff");
        assert_eq!(terminate(worker, Duration::from_secs(20)).0, Some(0));
    }
    println!(
        "LLM faults + {} s outage: {} segments, {} requests\n{seen_in_status}",
        down_for.as_secs(),
        mining.segments,
        llm.requests()
    );
}
