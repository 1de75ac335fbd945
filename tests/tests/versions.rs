//! A fleet is upgraded one Mac at a time: a task or a result of a newer
//! encoding version is never terminated, acknowledged or skipped by an older
//! reader; it says what to upgrade, and once it is upgraded everything
//! settles once. (The upgraded build is this one with
//! `PODMINE_TEST_ALSO_READS_VERSION=4`: it reads the newer byte as its own.)
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use async_nats::jetstream;
use podmine_tests::fake_llm::{Capacity, FakeLlm};
use podmine_tests::mining::{srt, terminate, Mining};
use podmine_tests::outputs::read_out;
use podmine_tests::wait;
use protocol::streams;
use std::time::Duration;

const MODEL: &str = "qwen2.5:7b-instruct";
const UPGRADED: (&str, &str) = ("PODMINE_TEST_ALSO_READS_VERSION", "4");

/// Makes the message at `sequence` of `stream` one of a newer version (the
/// same bytes with version byte 4; 2 is a task with cue marks, 3 a failure with its kind), keeping its place: it and every later
/// message are taken off and published again in order. Returns its subject.
async fn make_newer(js: &jetstream::Context, stream: &str, sequence: u64) -> String {
    let mut handle = js.get_stream(stream).await.unwrap();
    let last = handle.info().await.unwrap().state.last_sequence;
    let mut tail = Vec::new();
    for seq in sequence..=last {
        let message = handle.get_raw_message(seq).await.unwrap();
        handle.delete_message(seq).await.unwrap();
        tail.push((message.subject.to_string(), message.payload.to_vec()));
    }
    tail[0].1[0] = 4;
    for (subject, payload) in &tail {
        js.publish(subject.clone(), payload.clone().into()).await.unwrap().await.unwrap();
    }
    tail[0].0.clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn newer_tasks_and_results_wait_for_an_upgrade_and_then_settle_once() {
    let files = [("show/a.srt", srt(20)), ("show/b.srt", srt(20))];
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, b.as_slice())).collect();
    let mining = Mining::enqueue(&refs);
    let js = jetstream::new(async_nats::connect(mining.server.url()).await.unwrap());
    let newer_task = make_newer(&js, streams::TASKS, 3).await;
    let llm = FakeLlm::start(&[MODEL], Capacity::default()).await;

    // An old worker meets the newer task: it stops pulling and hands it back.
    let mut old = mining.worker("old", &llm.url(), &["--concurrency", "2", "--ack-wait", "5s"]);
    wait::until(Duration::from_secs(30), "the old worker says to upgrade it", || {
        mining.log("old").contains("upgrade this worker")
    });
    let queued = mining.per_subject(streams::TASKS, &newer_task).await;
    assert_eq!(queued.get(&newer_task), Some(&1), "the newer task is still queued: {queued:?}");
    assert_eq!(terminate(&mut old, Duration::from_secs(30)).0, Some(0));
    assert!(mining.messages(streams::RESULTS).await < mining.segments, "the old worker stopped pulling");

    // The upgraded worker mines everything, the newer task included.
    let mut upgraded = {
        let mut command = std::process::Command::new(podmine_tests::binaries::worker());
        command.args(["run", "--nats", &mining.server.url(), "--llm", &llm.url(), "--ack-wait", "5s"]);
        command.arg("--data-dir").arg(mining.scratch.path().join("upgraded")).env(UPGRADED.0, UPGRADED.1);
        podmine_tests::mining::Process(
            command.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap(),
        )
    };
    mining.wait_settled(Duration::from_secs(60)).await;
    assert_eq!(terminate(&mut upgraded, Duration::from_secs(30)).0, Some(0));

    // A newer result in the middle of RESULTS: the old collector stops before it.
    let newer_result = make_newer(&js, streams::RESULTS, 2).await;
    let collect = |upgraded: bool| {
        let mut command = mining.coordinator();
        command.args(["collect", "--nats", &mining.server.url(), "--out"]).arg(mining.out_dir());
        if upgraded {
            command.env(UPGRADED.0, UPGRADED.1);
        }
        command
    };
    let mut old_collector = podmine_tests::mining::Process(
        collect(false)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(mining.log_path("old-collect")).unwrap())
            .spawn()
            .unwrap(),
    );
    wait::until(Duration::from_secs(30), "the old collector says to upgrade it", || {
        mining.log("old-collect").contains("Upgrade the coordinator")
    });
    assert_eq!(terminate(&mut old_collector, Duration::from_secs(30)).0, Some(0), "{}", mining.log("old-collect"));
    let kept = mining.per_subject(streams::RESULTS, &newer_result).await;
    assert_eq!(kept.get(&newer_result), Some(&1), "the newer result is still on RESULTS");

    // enqueue with the old build still finishes: it replays what it can and says what it could not.
    let enqueued = mining
        .coordinator()
        .args(["enqueue", "--nats", &mining.server.url()])
        .arg(mining.corpus_path())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&enqueued.stderr);
    assert!(said.contains("Upgrade the coordinator") && said.contains("could not be read"), "{said}");

    // The upgraded collector carries on from that message: every segment once.
    let out = collect(true).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let segments = read_out(&mining.out_dir());
    assert_eq!(segments.len() as u64, mining.segments, "every segment once in out/");
    assert!(segments.values().all(|(status, _)| status == "mined"), "nothing was failed or skipped");
}
