//! Faults caused for real, checked against the promise: every segment ends
//! exactly once in out/, mined or failed with its reason, whatever dies and
//! when. Real binaries, real nats-server (single node and a 3-node cluster),
//! the fake LLM for the faults.

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
    std::thread::sleep(Duration::from_secs(3));
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
        for n in ["a.log", "b.log", "collect.log"] {
            let _ = std::fs::copy(scratch.path().join(n), format!("{dir}/{n}"));
        }
    }
}
