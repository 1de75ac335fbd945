//! A lost or older coordinator store (a new disk, a deleted folder, a restore
//! from yesterday) catches up from the streams by itself: every segment
//! settles as before, with no LLM call.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use podmine_tests::fake_llm::{Capacity, FakeLlm, Fault};
use podmine_tests::mining::{terminate, Mining, Process};
use podmine_tests::outputs::read_out;
use podmine_tests::wait;
use protocol::status::Status;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const MODEL: &str = "qwen2.5:7b-instruct";

/// Every worker of this test: a short ack wait, so a killed worker's task comes back soon.
const WORKER: [&str; 4] = ["--concurrency", "3", "--ack-wait", "2s"];

fn shared(relative: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus").join(relative)).unwrap()
}

/// `status --json`; `None` while it cannot answer (a collector holds the store).
fn status(mining: &Mining) -> Option<Status> {
    let out = mining.coordinator().args(["status", "--json", "--nats", &mining.server.url()]).output().unwrap();
    out.status.success().then(|| serde_json::from_slice(&out.stdout).unwrap())
}

fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp").arg("-a").arg(from).arg(to).status().expect("cp");
    assert!(status.success(), "copy {} to {}", from.display(), to.display());
}

fn run(mut command: Command) -> String {
    let out = command.output().expect("run coordinator");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    text
}

/// One task delivered to five workers in turn, each killed -9 after its LLM
/// call and before publishing (each on its own disk, so no outbox replays
/// the answer): on the fifth the server gives up, and its advisory must end
/// as a failure.
async fn kill_on_every_delivery(mining: &Mining, llm: &FakeLlm) {
    for attempt in 1..=5 {
        let marker = mining.scratch.path().join(format!("paused-{attempt}"));
        let name = format!("doomed-{attempt}");
        let pause =
            ["--concurrency", "1", "--ack-wait", "600ms", "--test-pause-before-publish", marker.to_str().unwrap()];
        let mut doomed = mining.worker(&name, &llm.url(), &pause);
        wait::until(Duration::from_secs(20), "the doomed worker pauses", || marker.exists());
        doomed.kill().unwrap();
        doomed.wait().unwrap();
        // Past the ack wait, so the next worker is handed this task again, not a fresh one. A fixed
        // wait: the server raises no event when an ack wait runs out (it is short, as the ack wait is).
        std::thread::sleep(Duration::from_millis(900));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_or_restored_data_dir_catches_up_from_the_streams_without_llm_calls() {
    let episodes = [
        ("seenunseen/E05.mp3.vtt", shared("seenunseen-whisper/transcripts_vtt/E05.mp3.vtt")),
        ("seenunseen/E01.json", shared("seenunseen-whisper/transcripts_chat/E01.json")),
    ];
    let refs: Vec<(&str, &[u8])> = episodes.iter().map(|(n, b)| (*n, b.as_slice())).collect();
    let mining = Mining::enqueue(&refs);
    let data = mining.scratch.path().join("coordinator");
    let out = mining.out_dir();
    let llm = FakeLlm::start(&[MODEL], Capacity { slots: 6, tokens_per_s: 400.0, ..Capacity::default() }).await;
    llm.poison("Ram Singh is a farmer", Fault::InvalidJson); // always unusable: failed after its re-asks
    kill_on_every_delivery(&mining, &llm).await;

    // The run: two workers, a collector stopped halfway (its data dir copied), then run to the end.
    let workers: Vec<Process> = ["a", "b"].iter().map(|name| mining.worker(name, &llm.url(), &WORKER)).collect();
    let mut follow = {
        let log = std::fs::File::create(mining.log_path("collect-1")).unwrap();
        let mut command = mining.coordinator();
        command.args(["collect", "--follow", "--nats", &mining.server.url(), "--out"]).arg(&out);
        Process(command.stdout(std::process::Stdio::null()).stderr(log).spawn().unwrap())
    };
    let half = mining.segments / 2;
    wait::until(Duration::from_secs(120), "half the segments collected", || {
        status(&mining).is_some_and(|now| now.segments.done + now.segments.failed >= half)
    });
    assert_eq!(terminate(&mut follow, Duration::from_secs(20)).0, Some(0), "{}", mining.log("collect-1"));
    let halfway = mining.scratch.path().join("halfway");
    copy_dir(&data, &halfway);
    run({
        let mut command = mining.coordinator();
        command.args(["collect", "--nats", &mining.server.url(), "--out"]).arg(&out);
        command
    });
    let first = read_out(&out);
    assert_eq!(first.len() as u64, mining.segments, "every segment in out/");
    let failed: Vec<&Value> = first.values().filter(|(s, _)| s == "failed").map(|(_, why)| why).collect();
    let kinds: Vec<&str> = failed.iter().filter_map(|v| v["kind"].as_str()).collect();
    assert!(kinds.contains(&"unusable-answer"), "a failure by re-asks: {failed:?}");
    assert!(kinds.contains(&"max-deliveries"), "a give-up: {failed:?}");
    let calls = llm.requests();

    // 1. The data dir and out/ are gone: enqueue and collect again.
    std::fs::remove_dir_all(&data).unwrap();
    std::fs::remove_dir_all(&out).unwrap();
    let enqueued = run({
        let mut command = mining.coordinator();
        command.args(["enqueue", "--nats", &mining.server.url()]).arg(mining.corpus_path());
        command
    });
    assert!(
        enqueued.contains("outcome(s) of earlier runs on the streams"),
        "enqueue says it found history:\n{enqueued}"
    );
    assert!(enqueued.contains("published 0 new task(s)"), "nothing settled is published again:\n{enqueued}");
    let collected = run({
        let mut command = mining.coordinator();
        command.args(["collect", "--nats", &mining.server.url(), "--out"]).arg(&out);
        command
    });
    assert_eq!(read_out(&out), first, "the same outputs after the data dir was lost ({collected})");
    assert_eq!(status(&mining).unwrap().segments.pending, 0);

    // 2. The data dir is restored from the copy taken halfway: collect alone catches up.
    std::fs::remove_dir_all(&data).unwrap();
    std::fs::remove_dir_all(&out).unwrap();
    std::fs::rename(&halfway, &data).unwrap();
    run({
        let mut command = mining.coordinator();
        command.args(["collect", "--nats", &mining.server.url(), "--out"]).arg(&out);
        command
    });
    assert_eq!(read_out(&out), first, "the same outputs after a restore from halfway");
    let now = status(&mining).unwrap();
    assert_eq!((now.segments.pending, now.segments.failed), (0, failed.len() as u64));
    assert_eq!(llm.requests(), calls, "no LLM call was made to recover");
    eprintln!(
        "{} segments ({} failed) recovered twice from the streams; {calls} LLM calls in all, none to recover",
        mining.segments,
        failed.len()
    );
    drop(workers);
}

/// Overwrites a sled store's `conf` file with garbage (a damaged disk).
fn garble(store: &Path) {
    std::fs::write(store.join("conf"), b"not a sled config, a damaged file".repeat(3)).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_store_or_outbox_is_named_with_its_fix_and_the_run_completes_after_it() {
    let files = [("show/a.srt", podmine_tests::mining::srt(30))];
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, b.as_slice())).collect();
    let mining = Mining::enqueue(&refs);
    let llm = FakeLlm::start(&[MODEL], Capacity::default()).await;

    // A worker's outbox, damaged: the worker says where and what to do, and exits.
    let mut worker = mining.worker("w", &llm.url(), &WORKER);
    mining.wait_settled(Duration::from_secs(60)).await;
    assert_eq!(terminate(&mut worker, Duration::from_secs(20)).0, Some(0));
    let outbox = mining.scratch.path().join("w").join("worker-outbox.sled");
    garble(&outbox);
    let mut damaged = mining.worker("w", &llm.url(), &WORKER);
    let exited = damaged.wait().unwrap();
    let said = mining.log("w");
    assert!(!exited.success() && !said.contains("panicked"), "{said}");
    assert!(said.contains(&outbox.display().to_string()) && said.contains("move it aside"), "{said}");
    std::fs::rename(&outbox, outbox.with_extension("broken")).unwrap();
    let mut worker = mining.worker("w", &llm.url(), &WORKER);

    // The coordinator's store, damaged: collect says where and how to rebuild it.
    let data = mining.scratch.path().join("coordinator");
    let store = data.join("coordinator.sled");
    garble(&store);
    let collect = || {
        let mut command = mining.coordinator();
        command.args(["collect", "--nats", &mining.server.url(), "--out"]).arg(mining.out_dir());
        command
    };
    let refused = collect().output().unwrap();
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && !said.contains("panicked"), "{said}");
    assert!(said.contains(&store.display().to_string()) && said.contains("coordinator enqueue"), "{said}");

    // The fix it names: move it aside, enqueue, collect. Every segment once, no new LLM call.
    let calls = llm.requests();
    std::fs::rename(&store, store.with_extension("broken")).unwrap();
    run({
        let mut command = mining.coordinator();
        command.args(["enqueue", "--nats", &mining.server.url()]).arg(mining.corpus_path());
        command
    });
    run(collect());
    assert_eq!(read_out(&mining.out_dir()).len() as u64, mining.segments);
    assert_eq!(llm.requests(), calls, "rebuilt from the streams, not the LLM");
    assert_eq!(terminate(&mut worker, Duration::from_secs(20)).0, Some(0));
}
