//! A worker cut off from NATS for longer than the ack wait (its network
//! namespace's link taken down, not a kill), while a second worker keeps
//! mining: its tasks go to the other worker; when it comes back, what it
//! finished meanwhile is published and absorbed as duplicates; every segment
//! is stored once. The wasted LLM calls are counted and printed.
//! Needs root (network namespaces), as `.ci/run` has.
#![cfg(feature = "slow-tests")] // the slow tier: `cargo test --workspace --features slow-tests`
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use podmine_tests::fake_llm::{Capacity, FakeLlm};
use podmine_tests::mining::{srt, terminate, Process};
use podmine_tests::netns::{http_get, NetNs};
use podmine_tests::outputs::read_out;
use podmine_tests::{binaries, wait, NatsOptions, NatsServer};
use protocol::streams;
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const SEGMENTS: usize = 60;
const MODEL: &str = "qwen2.5:7b-instruct";

/// The chat requests a fake LLM in another process has received.
fn requests_at(url: &str) -> u64 {
    let stats: serde_json::Value = serde_json::from_str(&http_get(&format!("{url}/stats"))).unwrap();
    stats["requests"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_cut_off_longer_than_the_ack_wait_loses_and_duplicates_nothing() {
    let scratch = tempfile::tempdir().unwrap();
    let ns = NetNs::create();
    let server = NatsServer::start_with(NatsOptions { host: ns.host_addr.clone(), ..NatsOptions::default() });
    let corpus = scratch.path().join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    std::fs::write(corpus.join("episode.srt"), srt(SEGMENTS)).unwrap();
    let coordinator = |args: &[&str]| {
        let mut command = Command::new(binaries::coordinator());
        command.arg("--data-dir").arg(scratch.path().join("coordinator")).args(args).env_remove("NATS_URL");
        command
    };
    let enqueue = coordinator(&["enqueue", "--nats", &server.url()]).arg(&corpus).output().unwrap();
    assert!(enqueue.status.success(), "{}", String::from_utf8_lossy(&enqueue.stderr));

    // Mac A (the namespace): its own LLM, ~1 s a call, 4 at a time.
    let mut llm_a = Process(
        ns.command(Path::new(env!("CARGO_BIN_EXE_fake-llm")))
            .args(["--host", "0.0.0.0", "--tokens-per-s", "200", "--output-tokens", "200", "--slots", "4"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let port_a = {
        let mut line = String::new();
        std::io::BufReader::new(llm_a.stdout.take().unwrap()).read_line(&mut line).unwrap();
        line.trim().rsplit(':').next().unwrap().to_owned()
    };
    let stats_a = format!("http://{}:{port_a}", ns.inner_addr);
    let worker_args = |data: &str| {
        vec![
            "run".to_owned(),
            "--nats".into(),
            server.url(),
            "--data-dir".into(),
            scratch.path().join(data).to_string_lossy().into_owned(),
            "--concurrency".into(),
            "4".into(),
            "--ack-wait".into(),
            "5s".into(),
        ]
    };
    let log_a = scratch.path().join("a.log");
    let mut a = Process(
        ns.command(&binaries::worker())
            .args(worker_args("a"))
            .args(["--llm", &format!("http://127.0.0.1:{port_a}")])
            .env("RUST_LOG", "info")
            .stderr(std::fs::File::create(&log_a).unwrap())
            .spawn()
            .unwrap(),
    );
    // Mac B (this host): the same speed.
    let llm_b =
        FakeLlm::start(&[MODEL], Capacity { slots: 4, tokens_per_s: 200.0, output_tokens: 200, ..Capacity::default() })
            .await;
    let log_b = scratch.path().join("b.log");
    let mut b = Process(
        Command::new(binaries::worker())
            .args(worker_args("b"))
            .args(["--llm", &llm_b.url()])
            .env("RUST_LOG", "info")
            .stderr(std::fs::File::create(&log_b).unwrap())
            .spawn()
            .unwrap(),
    );

    // Once A is mining, cut it off until the server has handed the four
    // tasks it holds to B (their ack wait ran out): it keeps calling its own
    // LLM for them meanwhile, but can neither publish nor ack.
    let js = async_nats::jetstream::new(async_nats::connect(server.url()).await.unwrap());
    wait::until(Duration::from_secs(60), "worker A mining", || requests_at(&stats_a) >= 6);
    ns.disconnect();
    let tasks = js.get_stream(streams::TASKS).await.unwrap();
    wait::until_async(Duration::from_secs(60), "A's four tasks redelivered to B", || {
        let tasks = tasks.clone();
        async move {
            let consumer =
                tasks.get_consumer::<async_nats::jetstream::consumer::pull::Config>(streams::WORKERS_CONSUMER);
            match consumer.await {
                Ok(mut consumer) => consumer.info().await.map(|i| i.num_redelivered >= 4).unwrap_or(false),
                Err(_) => false,
            }
        }
    })
    .await;
    ns.reconnect();

    // Everything settles once; A's late results are duplicates, not new outcomes.
    let results = js.get_stream(streams::RESULTS).await.unwrap();
    wait::until_async(Duration::from_secs(120), "every segment mined", || {
        let mut results = results.clone();
        async move { results.info().await.map(|i| i.state.messages as usize >= SEGMENTS).unwrap_or(false) }
    })
    .await;
    // A finishes what it held (its answers were in its outbox, waiting for
    // NATS) and stops cleanly: its late results are published and absorbed.
    let log = std::fs::read_to_string(&log_a).unwrap_or_default();
    for worker in [&mut a, &mut b] {
        let (code, _) = terminate(worker, Duration::from_secs(30));
        assert_eq!(code, Some(0), "worker A's log:\n{log}");
    }
    let mut results = results;
    let info = results.info().await.unwrap();
    assert_eq!(info.state.messages as usize, SEGMENTS, "one result per segment on the stream (dedup by work key)");
    assert_eq!(info.state.subjects_count as usize, SEGMENTS);
    let mut tasks = js.get_stream(streams::TASKS).await.unwrap();
    assert_eq!(tasks.info().await.unwrap().state.messages, 0, "every task acked");

    let out = scratch.path().join("out");
    let collect = coordinator(&["collect", "--nats", &server.url(), "--out"]).arg(&out).output().unwrap();
    assert!(collect.status.success(), "{}", String::from_utf8_lossy(&collect.stderr));
    let segments = read_out(&out); // panics on a segment that appears twice
    assert_eq!(segments.len(), SEGMENTS, "every segment in out/");
    assert!(segments.values().all(|(status, _)| status == "mined"));

    let (calls_a, calls_b) = (requests_at(&stats_a), llm_b.requests());
    let wasted = (calls_a + calls_b).saturating_sub(SEGMENTS as u64);
    println!(
        "partition: {SEGMENTS} segments, LLM calls: A (cut off for 20 s) {calls_a}, B {calls_b}; \
         wasted (answers paid twice): {wasted}"
    );
    assert!(calls_a > 0 && calls_b > 0, "both workers mined");
    assert!(wasted <= 8, "at most A's 4 slots, twice, are paid again: {wasted}");
}
