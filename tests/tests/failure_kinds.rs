//! Failures carry a kind: three real failures of three kinds, each caused
//! for real (a segment that does not fit a fixed `--num-ctx`, answers that
//! stay invalid through the re-asks, a server that answers HTTP 400), shown
//! by kind in `failed --json`, `status --json` and the dashboard's API, and
//! `retry-failed --kind` retries only its kind. Failure records written
//! before kinds (version 1, kept as fixtures written by that build) still
//! list, as `unknown`, from a store and from the FAILED stream.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use podmine_tests::fake_llm::{Capacity, FakeLlm, Fault};
use podmine_tests::mining::{terminate, Mining};
use protocol::status::Status;
use protocol::{streams, subjects, FailureKind, FailureRecord, SegmentKey};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const MODEL: &str = "qwen2.5:7b-instruct";

/// An SRT of 8 thirty-second cues; cue 2 holds ~60,000 characters (more
/// than a context sized for ordinary segments holds).
fn corpus() -> Vec<u8> {
    let mut out = String::new();
    for i in 0..8 {
        let text = if i == 2 {
            "a very long monologue ".repeat(2_800)
        } else {
            format!("Segment number {i} says that local models can mine transcripts well.")
        };
        out += &format!("{}\n00:{:02}:00,000 --> 00:{:02}:30,000\n{text}\n\n", i + 1, i, i);
    }
    out.into_bytes()
}

/// `coordinator failed --json`: one object per line, nothing else on stdout.
fn failed_json(coordinator: &mut Command) -> Vec<Value> {
    let out = coordinator.args(["failed", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

/// `kind → segment` of each listed failure.
fn kinds(failed: &[Value]) -> BTreeMap<String, String> {
    failed.iter().map(|f| (f["kind"].as_str().unwrap().to_owned(), f["segment"].as_str().unwrap().to_owned())).collect()
}

fn status_json(coordinator: &mut Command, nats: &str) -> Status {
    let out = coordinator.args(["status", "--json", "--nats", nats]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn by_kind(counts: &[(FailureKind, u64)]) -> BTreeMap<FailureKind, u64> {
    counts.iter().copied().collect()
}

fn collect(mining: &Mining) {
    let out =
        mining.coordinator().args(["collect", "--nats", &mining.server.url(), "--out"]).arg(mining.out_dir()).output();
    let out = out.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The dashboard's failures, as its page gets them (`/api/failures`), from a
/// `coordinator dashboard` on a port the system picks.
async fn dashboard_failures(mining: &Mining) -> Vec<Value> {
    let mut dashboard = mining
        .coordinator()
        .args(["dashboard", "--listen", "127.0.0.1:0", "--nats", &mining.server.url()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(dashboard.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.split_whitespace().find(|w| w.starts_with("http://")).unwrap_or_else(|| panic!("{line}"));
    let body = reqwest::get(format!("{url}api/failures")).await.unwrap().text().await.unwrap();
    let groups: Vec<Value> = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    terminate(&mut dashboard, Duration::from_secs(20));
    groups
}

#[tokio::test(flavor = "multi_thread")]
async fn three_real_failures_show_three_kinds_and_retry_takes_one_kind() {
    // The context a spec of podmine's defaults gets for ordinary segments, fixed.
    let num_ctx = mining::spec::LocalMining::default().new_spec(String::new(), 0).num_ctx.to_string();
    let corpus = corpus();
    let mining = Mining::enqueue_with(&[("show/a.srt", corpus.as_slice())], &["--num-ctx", &num_ctx]);
    assert_eq!(mining.segments, 8);
    let llm = FakeLlm::start(&[MODEL], Capacity::default()).await;
    llm.poison("Segment number 5 says", Fault::InvalidJson);
    llm.poison("Segment number 6 says", Fault::Status(400));
    let mut worker = mining.worker("w", &llm.url(), &["--concurrency", "2", "--metrics-addr", "off"]);
    mining.wait_settled(Duration::from_secs(60)).await;
    let calls = llm.calls();
    assert!(calls.keys().all(|segment_id| !segment_id.ends_with("_2")), "segment 2 was never sent: {calls:?}");
    assert!(calls.keys().any(|segment_id| segment_id.ends_with("_6")), "segment 6 was sent, and refused: {calls:?}");
    collect(&mining);

    let failed = failed_json(&mut mining.coordinator());
    let expected: BTreeMap<String, String> =
        [("context-too-small", "show/a#2"), ("unusable-answer", "show/a#5"), ("refused-by-server", "show/a#6")]
            .into_iter()
            .map(|(k, s)| (k.to_owned(), s.to_owned()))
            .collect();
    assert_eq!(kinds(&failed), expected, "{failed:?}");
    let unusable = failed.iter().find(|f| f["kind"] == "unusable-answer").unwrap();
    assert!(unusable["raw_output"].as_str().is_some_and(|raw| !raw.is_empty()), "the raw answer is kept");

    let status = mining.status();
    let three = by_kind(&[
        (FailureKind::ContextTooSmall, 1),
        (FailureKind::UnusableAnswer, 1),
        (FailureKind::RefusedByServer, 1),
    ]);
    assert_eq!(status.failures_by_kind, three);
    assert_eq!(status.failures.values().sum::<u64>(), 3, "the reasons are still counted: {:?}", status.failures);
    assert_eq!(status.segments.failed, 3);

    let groups = dashboard_failures(&mining).await;
    let shown: BTreeMap<FailureKind, u64> = groups
        .iter()
        .map(|g| (serde_json::from_value(g["kind"].clone()).unwrap(), g["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(shown, three, "the dashboard groups by kind: {groups:?}");

    // The LLM answers properly now: retrying one kind mines that kind only.
    llm.clear_poison();
    let results_before = mining.messages(streams::RESULTS).await;
    let retry = mining
        .coordinator()
        .args(["retry-failed", "--kind", "unusable-answer", "--nats", &mining.server.url()])
        .output()
        .unwrap();
    assert!(retry.status.success(), "{}", String::from_utf8_lossy(&retry.stderr));
    assert!(String::from_utf8_lossy(&retry.stdout).contains("re-enqueued 1 failed segment"));
    podmine_tests::wait::until_async(Duration::from_secs(60), "the retried segment is mined", || async {
        mining.messages(streams::RESULTS).await == results_before + 1
    })
    .await;
    collect(&mining);
    terminate(&mut worker.0, Duration::from_secs(30));
    let failed = failed_json(&mut mining.coordinator());
    assert_eq!(kinds(&failed).keys().collect::<Vec<_>>(), ["context-too-small", "refused-by-server"]);
    let status = mining.status();
    assert_eq!(
        status.failures_by_kind,
        by_kind(&[(FailureKind::ContextTooSmall, 1), (FailureKind::RefusedByServer, 1)])
    );
    assert_eq!((status.segments.done, status.segments.failed), (6, 2));
}

fn fixture(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/v1-failures").join(relative)
}

#[test]
fn a_store_written_before_kinds_lists_its_failures_as_unknown() {
    let scratch = tempfile::tempdir().unwrap();
    let data = scratch.path().join("coordinator");
    podmine_tests::files::copy_tree(&fixture("store"), &data);
    let coordinator = || {
        let mut command = Command::new(podmine_tests::binaries::coordinator());
        command.arg("--data-dir").arg(&data).env_remove("NATS_URL");
        command
    };
    let failed = failed_json(&mut coordinator());
    let listed: Vec<(&str, &str)> =
        failed.iter().map(|f| (f["segment"].as_str().unwrap(), f["kind"].as_str().unwrap())).collect();
    assert_eq!(listed, [("show/old#1", "unknown"), ("show/old#4", "unknown")]);
    // No server answers there: status reads the store alone.
    let status = status_json(&mut coordinator(), "nats://127.0.0.1:1");
    assert_eq!(status.failures_by_kind, by_kind(&[(FailureKind::Unknown, 2)]));
    assert_eq!((status.segments.done, status.segments.failed), (4, 2));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_stream_written_before_kinds_is_replayed_as_unknown() {
    let corpus = std::fs::read(fixture("corpus/show/old.srt")).unwrap();
    let mining = Mining::enqueue(&[("show/old.srt", corpus.as_slice())]);
    let js = async_nats::jetstream::new(async_nats::connect(mining.server.url()).await.unwrap());
    let tasks = js.get_stream(streams::TASKS).await.unwrap();
    // What the old worker did: a failure to FAILED (version 1, as it wrote
    // it), its task terminated.
    for name in ["0.bin", "1.bin"] {
        let payload = std::fs::read(fixture(&format!("failed/{name}"))).unwrap();
        assert_eq!(payload[0], 1, "a version-1 record");
        let key: SegmentKey = FailureRecord::decode(&payload).unwrap().task.segment.key();
        let queued = tasks.get_last_raw_message_by_subject(&subjects::task(&key)).await.unwrap();
        tasks.delete_message(queued.sequence).await.unwrap();
        js.publish(subjects::failed(&key), payload.into()).await.unwrap().await.unwrap();
    }
    let llm = FakeLlm::start(&[MODEL], Capacity::default()).await;
    let mut worker = mining.worker("w", &llm.url(), &["--metrics-addr", "off"]);
    mining.wait_settled(Duration::from_secs(60)).await;
    terminate(&mut worker.0, Duration::from_secs(30));
    collect(&mining);
    let failed = failed_json(&mut mining.coordinator());
    let listed: Vec<(&str, &str)> =
        failed.iter().map(|f| (f["segment"].as_str().unwrap(), f["kind"].as_str().unwrap())).collect();
    assert_eq!(listed, [("show/old#1", "unknown"), ("show/old#4", "unknown")]);
    let status = mining.status();
    assert_eq!(status.failures_by_kind, by_kind(&[(FailureKind::Unknown, 2)]));
    assert_eq!(status.segments.done, 4);
}
