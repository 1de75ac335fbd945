//! `worker run` against a real nats-server and the fake LLM: exactly-once
//! results across two workers and a kill -9, long calls with progress, the
//! outbox across a crash, and a missing model.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use podmine_tests::fake_llm::{Capacity, FakeLlm, Fault};
use podmine_tests::mining::{srt, terminate, Mining};
use protocol::streams;
use std::time::{Duration, Instant};

const MODEL: &str = "qwen2.5:7b-instruct";

/// Every result subject holds one result, none failed, and each result is valid.
async fn assert_mined_exactly_once(mining: &Mining) {
    let per_subject = mining.per_subject(streams::RESULTS, "podmine.result.>").await;
    assert_eq!(per_subject.len() as u64, mining.segments, "one result subject per segment");
    assert!(per_subject.values().all(|&n| n == 1), "a segment has two results: {per_subject:?}");
    assert_eq!(mining.messages(streams::FAILED).await, 0);
    for result in mining.results().await {
        let mined: serde_json::Value = serde_json::from_str(&result.mined_json).unwrap();
        assert!(["claims", "jargon", "people", "mental_models"].iter().all(|k| mined[k].is_array()), "{mined}");
        assert_eq!(result.provenance.spec.model, MODEL);
        assert!(result.provenance.usage.output_tokens > 0);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_workers_mine_exactly_once_through_a_kill_9_and_stop_cleanly_on_sigterm() {
    let mining = Mining::enqueue(&[("show/a.srt", &srt(40)), ("show/b.srt", &srt(40))]);
    // ~240 ms a call, 8 slots: the run lasts a few seconds, long enough to kill mid-call.
    let llm = FakeLlm::start(&[MODEL], Capacity { slots: 8, tokens_per_s: 500.0, ..Capacity::default() }).await;
    let args = ["--concurrency", "3", "--ack-wait", "3s", "--drain-timeout", "5s"];
    let mut a = mining.worker("a", &llm.url(), &args);
    let mut b = mining.worker("b", &llm.url(), &args);
    let deadline = Instant::now() + Duration::from_secs(30);
    while mining.messages(streams::RESULTS).await < 20 {
        assert!(Instant::now() < deadline, "no progress:\n{}", mining.log("a"));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let live = mining.live_workers().await;
    assert_eq!(live.len(), 2, "both workers report liveness: {live:?}");
    assert!(
        live.iter().all(|w| w.identity.model == MODEL && w.identity.concurrency == "3" && w.concurrency_limit == 3),
        "{live:?}"
    );
    a.kill().unwrap(); // SIGKILL, mid-call: both workers keep 3 calls in flight
    a.wait().unwrap();
    mining.wait_settled(Duration::from_secs(60)).await;
    assert_mined_exactly_once(&mining).await;
    assert!(!mining.log("b").contains('\u{1b}'), "a log written to a file has no colour codes");
    let killed_in_flight = 3;
    eprintln!(
        "{} segments, {} LLM calls (worker a killed with up to {killed_in_flight} in flight)",
        mining.segments,
        llm.requests()
    );
    assert!(
        llm.requests() <= mining.segments + killed_in_flight,
        "{} LLM calls for {} segments",
        llm.requests(),
        mining.segments
    );
    let (code, took) = terminate(&mut b, Duration::from_secs(10));
    assert_eq!(code, Some(0), "{}", mining.log("b"));
    assert!(took < Duration::from_secs(5), "exit took {took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_three_times_longer_than_ack_wait_is_not_redelivered() {
    let mining = Mining::enqueue(&[("long.srt", &srt(2))]);
    // 600 output tokens at 100 tokens/s: 6 s per call, against a 2 s ack_wait.
    let llm = FakeLlm::start(
        &[MODEL],
        Capacity { tokens_per_s: 100.0, output_tokens: 600, scaling: 1.0, ..Capacity::default() },
    )
    .await;
    let mut worker = mining.worker("w", &llm.url(), &["--concurrency", "3", "--ack-wait", "2s"]);
    mining.wait_settled(Duration::from_secs(40)).await;
    assert_mined_exactly_once(&mining).await;
    for result in mining.results().await {
        assert_eq!(result.provenance.delivery, 1, "redelivered: {result:?}");
        assert!(result.provenance.usage.total_ms >= 6_000, "{:?}", result.provenance.usage);
    }
    assert_eq!(llm.requests(), 2, "one call per segment");
    assert_eq!(terminate(&mut worker, Duration::from_secs(10)).0, Some(0));
}

/// Runs worker "w" with a test hook (`--test-pause-before-…`) until it pauses
/// there, then kills it with SIGKILL.
async fn kill_at_test_pause(mining: &Mining, llm: &FakeLlm, args: &[&str], hook: &str) {
    let marker = mining.scratch.path().join("paused");
    let marker_arg = marker.to_string_lossy().into_owned();
    let mut crashing = mining.worker("w", &llm.url(), &[args, &[hook, &marker_arg]].concat());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !marker.exists() {
        assert!(Instant::now() < deadline, "the worker never reached {hook}:\n{}", mining.log("w"));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    crashing.kill().unwrap();
    crashing.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_result_paid_for_before_a_crash_is_published_from_the_outbox() {
    let mining = Mining::enqueue(&[("one.srt", &srt(2))]);
    let llm = FakeLlm::start(&[MODEL], Capacity::default()).await;
    let args = ["--concurrency", "1", "--ack-wait", "2s"];
    // kill -9 between the LLM answer and its publish
    kill_at_test_pause(&mining, &llm, &args, "--test-pause-before-publish").await;
    assert_eq!(mining.messages(streams::RESULTS).await, 0, "nothing was published before the crash");
    assert_eq!(llm.requests(), 1);
    let mut restarted = mining.worker("w", &llm.url(), &args); // same data dir, same outbox
    mining.wait_settled(Duration::from_secs(30)).await;
    assert_mined_exactly_once(&mining).await;
    assert_eq!(llm.requests(), 2, "the crashed segment was not asked again");
    assert!(mining.log("w").contains("left in the outbox"), "{}", mining.log("w"));
    assert_eq!(terminate(&mut restarted, Duration::from_secs(10)).0, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_redelivered_after_its_result_was_published_is_acked_without_a_call() {
    let mining = Mining::enqueue(&[("one.srt", &srt(1))]);
    let llm = FakeLlm::start(&[MODEL], Capacity::default()).await;
    let args = ["--concurrency", "1", "--ack-wait", "2s"];
    // kill -9 between the result's PubAck and the task's ack
    kill_at_test_pause(&mining, &llm, &args, "--test-pause-before-ack").await;
    assert_eq!(mining.messages(streams::RESULTS).await, 1, "the result was stored before the crash");
    assert_eq!(mining.messages(streams::TASKS).await, 1, "the task was not acked");
    let mut restarted = mining.worker("w", &llm.url(), &args);
    let deadline = Instant::now() + Duration::from_secs(30);
    while mining.messages(streams::TASKS).await > 0 {
        // Redelivered after ack_wait (2 s), then acked.
        assert!(Instant::now() < deadline, "the task was never acked:\n{}", mining.log("w"));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_mined_exactly_once(&mining).await;
    assert_eq!(llm.requests(), 1, "the redelivered task found its result and was not mined again");
    assert_eq!(mining.messages(streams::RESULTS).await, 1);
    assert_eq!(terminate(&mut restarted, Duration::from_secs(10)).0, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_model_pauses_the_worker_until_it_appears() {
    let mining = Mining::enqueue(&[("one.srt", &srt(3))]);
    let llm = FakeLlm::start(&[], Capacity::default()).await;
    let mut worker =
        mining.worker("w", &llm.url(), &["--concurrency", "2", "--health-interval", "500ms", "--ack-wait", "3s"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !mining.log("w").contains(&format!("ollama pull {MODEL}")) {
        assert!(Instant::now() < deadline, "no clear message:\n{}", mining.log("w"));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A fixed wait, longer than the ack wait (3 s): held tasks must not be lost or redelivered.
    // The server raises no event when an ack wait passes without a redelivery.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(mining.messages(streams::RESULTS).await, 0);
    assert_eq!(mining.messages(streams::FAILED).await, 0, "nothing failed");
    assert_eq!(mining.messages(streams::TASKS).await, mining.segments, "nothing termed");
    let asked_while_missing = llm.requests();
    assert!(asked_while_missing <= 2, "pulling stopped: {asked_while_missing} requests");
    llm.add_model(MODEL);
    mining.wait_settled(Duration::from_secs(30)).await;
    assert_mined_exactly_once(&mining).await;
    assert!(mining.log("w").contains("available again"), "{}", mining.log("w"));
    assert_eq!(terminate(&mut worker, Duration::from_secs(10)).0, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_mid_call_drains_then_hands_the_task_back() {
    let mining = Mining::enqueue(&[("one.srt", &srt(1))]);
    // The call is held at the fake LLM's gate: it cannot finish within the 1 s drain timeout.
    let llm = FakeLlm::start(&[MODEL], Capacity::default()).await;
    llm.hold();
    let mut worker = mining.worker("w", &llm.url(), &["--drain-timeout", "1s", "--ack-wait", "30s"]);
    llm.wait_at_gate(1, Duration::from_secs(20)).await;
    let (code, took) = terminate(&mut worker, Duration::from_secs(10));
    assert_eq!(code, Some(0), "{}", mining.log("w"));
    assert!(took >= Duration::from_secs(1) && took < Duration::from_secs(4), "exit took {took:?}");
    assert_eq!(mining.messages(streams::RESULTS).await, 0);
    // The task was handed back (Nak), not left to ack_wait: the next worker gets it at once.
    llm.release();
    let mut next = mining.worker("w2", &llm.url(), &["--ack-wait", "30s"]);
    mining.wait_settled(Duration::from_secs(10)).await;
    assert_mined_exactly_once(&mining).await;
    assert_eq!(llm.requests(), 2, "asked once by each worker: the held call was given up, not answered");
    assert_eq!(llm.at_gate(), 0);
    assert_eq!(terminate(&mut next, Duration::from_secs(10)).0, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_are_retried_and_unusable_output_is_asked_again_then_failed_with_its_raw_output() {
    let mining = Mining::enqueue(&[("mix.srt", &srt(6))]);
    let llm = FakeLlm::start(&[MODEL], Capacity::default()).await;
    // Transient faults first (retried in place with backoff), then one invalid answer (asked again).
    llm.inject([Fault::Status(503), Fault::Status(500), Fault::Drop, Fault::InvalidJson]);
    llm.poison("Segment number 4 ", Fault::SchemaViolation);
    let mut worker = mining.worker("w", &llm.url(), &["--concurrency", "1"]);
    mining.wait_settled(Duration::from_secs(40)).await;
    let failures = mining.failures().await;
    assert_eq!(failures.len(), 1, "only the poisoned segment fails");
    let failure = &failures[0];
    assert_eq!(failure.task.segment.index, 4);
    assert_eq!(failure.kind, protocol::FailureKind::UnusableAnswer, "{}", failure.reason);
    assert!(failure.raw_output.as_deref().is_some_and(|raw| raw.contains("\"claims\":\"none\"")), "{failure:?}");
    assert_eq!(mining.messages(streams::RESULTS).await, mining.segments - 1);
    let log = mining.log("w");
    assert!(log.contains("backing off"), "backoff is visible in the log:\n{log}");
    // 6 segments + 3 transient retries + 1 re-ask + 2 more asks for the poisoned one.
    assert_eq!(llm.requests(), 6 + 3 + 1 + 2);
    assert_eq!(terminate(&mut worker, Duration::from_secs(10)).0, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_keeps_its_mac_awake_while_it_has_tasks_and_lets_it_sleep_when_idle() {
    let mining = Mining::enqueue(&[("one.srt", &srt(2))]);
    let llm = FakeLlm::start(&[MODEL], Capacity::default()).await;
    llm.hold();
    let stand_in = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("stand-ins/caffeinate");
    let log = mining.scratch.path().join("caffeinate.log");
    let mut worker = podmine_tests::mining::Process(
        std::process::Command::new(podmine_tests::binaries::worker())
            .args(["run", "--nats", &mining.server.url(), "--llm", &llm.url(), "--metrics-addr", "off", "--data-dir"])
            .arg(mining.scratch.path().join("w"))
            .env("PODMINE_CAFFEINATE", &stand_in)
            .env("PODMINE_CAFFEINATE_IDLE_MS", "300")
            .env("CAFFEINATE_LOG", &log)
            .stderr(std::fs::File::create(mining.log_path("w")).unwrap())
            .spawn()
            .unwrap(),
    );
    llm.wait_at_gate(1, Duration::from_secs(20)).await;
    let held = || std::fs::read_to_string(&log).unwrap_or_default();
    podmine_tests::wait::until(Duration::from_secs(10), "caffeinate is started", || !held().is_empty());
    let (caffeinate_pid, args) =
        held().lines().next().unwrap().split_once(' ').map(|(p, a)| (p.to_owned(), a.to_owned())).unwrap();
    assert_eq!(args, format!("-i -w {}", worker.id()), "no idle sleep for as long as the worker lives");
    let alive = |pid: &str| std::path::Path::new(&format!("/proc/{pid}")).exists();
    assert!(alive(&caffeinate_pid));
    llm.release();
    mining.wait_settled(Duration::from_secs(20)).await;
    podmine_tests::wait::until(Duration::from_secs(10), "caffeinate is stopped once idle", || !alive(&caffeinate_pid));
    assert!(mining.log("w").contains("this Mac may sleep again"), "{}", mining.log("w"));
    assert_eq!(held().lines().count(), 1, "started once for the whole busy spell");
    assert_eq!(terminate(&mut worker, Duration::from_secs(10)).0, Some(0));
}
