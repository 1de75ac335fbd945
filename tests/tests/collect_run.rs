//! Results to files: `collect`, `status`, `export` and the one-command `run`,
//! with real processes, a real nats-server and the fake LLM.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use podmine_tests::binaries;
use podmine_tests::fake_llm::{Capacity, FakeLlm};
use podmine_tests::mining::{terminate, Mining, Process};
use podmine_tests::outputs::read_out;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MODEL: &str = "qwen2.5:7b-instruct";

fn shared(relative: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus").join(relative)).unwrap()
}

fn episodes() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("seenunseen/E05.mp3.vtt", shared("seenunseen-whisper/transcripts_vtt/E05.mp3.vtt")),
        ("seenunseen/E01.json", shared("seenunseen-whisper/transcripts_chat/E01.json")),
        (
            "twiml/110.mp3.srt",
            shared("bahree-whisper-twiml/twiml-episodes-whisper-transcribed/110_Home_AI_is_not_Reliable_Enough_Yet_-_#MyAI_Contest_Entry_-_TWiML_and_AI_-_@Zehicle.mp3.srt"),
        ),
    ]
}

fn coordinator(data: &Path) -> Command {
    let mut command = Command::new(binaries::coordinator());
    command.arg("--data-dir").arg(data).env_remove("NATS_URL").env_remove("OLLAMA_HOST");
    command
}

fn status(data: &Path, nats: &str) -> protocol::status::Status {
    let out = coordinator(data).args(["status", "--json", "--nats", nats]).output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[tokio::test(flavor = "multi_thread")]
async fn two_workers_and_collect_put_every_segment_in_out_exactly_once() {
    let files = episodes();
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, b.as_slice())).collect();
    let mining = Mining::enqueue(&refs);
    let data = mining.scratch.path().join("coordinator");
    let out = mining.scratch.path().join("out");
    let llm = FakeLlm::start(&[MODEL], Capacity { slots: 8, ..Capacity::default() }).await;
    llm.invalid_every(10); // 10% of answers are not JSON
    llm.poison("Ram Singh is a farmer", podmine_tests::fake_llm::Fault::InvalidJson); // always invalid: fails
    let mut a = mining.worker("a", &llm.url(), &["--concurrency", "3"]);
    let mut b = mining.worker("b", &llm.url(), &["--concurrency", "3"]);
    let collect =
        coordinator(&data).args(["collect", "--nats", &mining.server.url(), "--out"]).arg(&out).output().unwrap();
    assert!(collect.status.success(), "{}", String::from_utf8_lossy(&collect.stderr));
    let segments = read_out(&out);
    assert_eq!(segments.len() as u64, mining.segments, "every segment is in out/");
    // Every file, mined and failed segments alike, matches the published schema.
    assert_eq!(podmine_tests::outputs::validate_out(&out), 3, "one file per episode");
    let mined = segments.values().filter(|(s, _)| s == "mined").count() as u64;
    let failed: Vec<_> = segments.values().filter(|(s, _)| s == "failed").collect();
    assert!(!failed.is_empty() && failed.iter().all(|(_, why)| why["kind"] == "unusable-answer"), "{failed:?}");
    let now = status(&data, &mining.server.url());
    assert_eq!((now.segments.total, now.segments.done), (mining.segments, mined));
    assert_eq!((now.segments.failed, now.segments.pending), (failed.len() as u64, 0));
    assert_eq!(now.episodes.complete, 3);
    let export = coordinator(&data).args(["export", "--jsonl"]).output().unwrap();
    let lines: Vec<Value> =
        String::from_utf8_lossy(&export.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len() as u64, mining.segments);
    assert_eq!(lines.iter().filter(|l| l["status"] == "mined").count() as u64, mined);
    let line_schema = podmine_tests::outputs::schema("export-line.schema.json");
    let mut episodes = std::collections::BTreeSet::new();
    for line in &lines {
        podmine_tests::outputs::assert_valid(&line_schema, line, "an export line");
        let typed: protocol::output::ExportLine = serde_json::from_value(line.clone()).expect("a typed export line");
        episodes.insert(typed.episode.id);
    }
    assert_eq!(episodes.len(), 3, "{episodes:?}");
    let listed = coordinator(&data).args(["failed", "--out"]).arg(&out).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&listed.stdout).lines().count(), failed.len());
    // Retry after the fault is fixed: the failed segments are mined.
    llm.clear_poison();
    llm.invalid_every(0);
    let retry = coordinator(&data).args(["retry-failed", "--nats", &mining.server.url()]).output().unwrap();
    assert!(String::from_utf8_lossy(&retry.stdout).contains(&format!("re-enqueued {} failed", failed.len())));
    let collect =
        coordinator(&data).args(["collect", "--nats", &mining.server.url(), "--out"]).arg(&out).output().unwrap();
    assert!(collect.status.success());
    assert!(read_out(&out).values().all(|(s, _)| s == "mined"), "retried segments are mined");
    assert_eq!(status(&data, &mining.server.url()).segments.failed, 0);
    for worker in [&mut a, &mut b] {
        assert_eq!(terminate(worker, Duration::from_secs(10)).0, Some(0));
    }
}

/// `coordinator run` in its own data dir against `llm`.
fn run(corpus: &Path, data: &Path, out: &Path, llm: &str) -> Process {
    coordinator(data)
        .args(["run", "--llm", llm, "--concurrency", "4", "--out"])
        .arg(out)
        .arg(corpus)
        // A short ack_wait so tasks held by the killed run come back quickly.
        .args(["--", "--ack-wait", "5s"])
        .env("RUST_LOG", "info") // for the log a failure shows
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(data.with_extension("log")).unwrap())
        .spawn()
        .map(Process)
        .unwrap()
}

/// Waits for `coordinator run` (logging to `log`) to exit; on a timeout the panic shows its log.
fn wait_exit(child: &mut Child, limit: Duration, log: &Path) -> Option<i32> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        assert!(
            Instant::now() < deadline,
            "coordinator run did not finish in {limit:?}:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the store says `n` segments are settled.
fn wait_settled_at_least(data: &Path, n: u64) {
    let url = std::fs::read_to_string(data.join("nats.url")).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(out) = coordinator(data).args(["status", "--json", "--nats", url.trim()]).output() {
            if let Ok(s) = serde_json::from_slice::<protocol::status::Status>(&out.stdout) {
                if s.segments.done + s.segments.failed >= n {
                    return;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "{n} segments never settled:\n{}",
            std::fs::read_to_string(data.with_extension("log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn run_interrupted_by_sigint_then_kill_9_finishes_with_the_same_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    for (name, bytes) in episodes() {
        std::fs::create_dir_all(corpus.join(name).parent().unwrap()).unwrap();
        std::fs::write(corpus.join(name), bytes).unwrap();
    }
    // ~500 ms a call, 4 slots: the run takes ~10 s, time to interrupt it twice.
    let capacity = Capacity { slots: 4, tokens_per_s: 240.0, scaling: 1.0, ..Capacity::default() };
    let (reference_llm, interrupted_llm) =
        (FakeLlm::start(&[MODEL], capacity.clone()).await, FakeLlm::start(&[MODEL], capacity).await);
    let (data_a, out_a) = (dir.path().join("a"), dir.path().join("out-a"));
    let mut reference = run(&corpus, &data_a, &out_a, &reference_llm.url());
    assert_eq!(
        wait_exit(&mut reference, Duration::from_secs(120), &data_a.with_extension("log")),
        Some(0),
        "{}",
        std::fs::read_to_string(data_a.with_extension("log")).unwrap()
    );
    let segments = read_out(&out_a).len() as u64;
    assert_eq!(reference_llm.requests(), segments);

    let (data_b, out_b) = (dir.path().join("b"), dir.path().join("out-b"));
    let mut first = run(&corpus, &data_b, &out_b, &interrupted_llm.url());
    wait_settled_at_least(&data_b, 10);
    Command::new("kill").args(["-INT", &first.id().to_string()]).status().unwrap(); // Ctrl-C
    let code = wait_exit(&mut first, Duration::from_secs(30), &data_b.with_extension("log"));
    assert_eq!(code, Some(130), "{}", std::fs::read_to_string(data_b.with_extension("log")).unwrap());
    let mut second = run(&corpus, &data_b, &out_b, &interrupted_llm.url());
    wait_settled_at_least(&data_b, segments / 2);
    second.kill().unwrap(); // kill -9: its embedded nats-server keeps running and is reused
    second.wait().unwrap();
    let mut third = run(&corpus, &data_b, &out_b, &interrupted_llm.url());
    assert_eq!(
        wait_exit(&mut third, Duration::from_secs(120), &data_b.with_extension("log")),
        Some(0),
        "{}",
        std::fs::read_to_string(data_b.with_extension("log")).unwrap()
    );
    assert_eq!(read_out(&out_b), read_out(&out_a), "same outputs as the uninterrupted run");
    assert!(
        interrupted_llm.requests() <= segments + 4,
        "{} LLM calls for {segments} segments: at most the 4 in flight at the kill -9 are paid twice",
        interrupted_llm.requests()
    );
    let leftover: PathBuf = data_b.join("nats.pid");
    if let Ok(pid) = std::fs::read_to_string(leftover) {
        let _ = Command::new("kill").args(["-9", pid.trim()]).status();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn status_predicts_the_remaining_time_within_20_percent() {
    let mining = Mining::enqueue(&[("long.srt", &podmine_tests::mining::srt(160))]);
    let data = mining.scratch.path().join("coordinator");
    // 4 slots × 500 ms a call (linear): a steady 8 segments/s, 20 s in all.
    let llm =
        FakeLlm::start(&[MODEL], Capacity { slots: 4, tokens_per_s: 240.0, scaling: 1.0, ..Capacity::default() }).await;
    let mut worker = mining.worker("w", &llm.url(), &["--concurrency", "4"]);
    let mut collect = coordinator(&data)
        .args(["collect", "--follow", "--nats", &mining.server.url(), "--out"])
        .arg(mining.scratch.path().join("out"))
        .stdout(Stdio::null())
        .spawn()
        .map(Process)
        .unwrap();
    // Let the rate settle for ~6 s (a quarter of the run), then ask for the ETA.
    let started = Instant::now();
    let eta = loop {
        let now = status(&data, &mining.server.url());
        if let (true, Some(eta)) = (started.elapsed() >= Duration::from_secs(6), now.eta_s) {
            break eta;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no ETA: {now:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let asked = Instant::now();
    // The end as the server sees it (status itself lags by up to a collect round).
    mining.wait_settled(Duration::from_secs(120)).await;
    let actual = asked.elapsed().as_secs_f64();
    eprintln!("ETA {eta:.1} s, actual {actual:.1} s ({:+.0}%)", (eta - actual) / actual * 100.0);
    assert!((eta - actual).abs() <= 0.2 * actual, "ETA {eta:.1} s vs actual {actual:.1} s");
    assert_eq!(terminate(&mut collect, Duration::from_secs(10)).0, Some(0));
    assert_eq!(terminate(&mut worker, Duration::from_secs(10)).0, Some(0));
}

#[test]
fn run_without_an_llm_says_what_to_start_at_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.srt"), podmine_tests::mining::srt(2)).unwrap();
    let closed = podmine_tests::nats::free_port();
    let started = Instant::now();
    let out = coordinator(&dir.path().join("data"))
        .args(["run", "--llm", &format!("http://127.0.0.1:{closed}")])
        .arg(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no LLM server answers")
            && stderr.contains("ollama pull")
            && stderr.contains("deploy/real-llm.sh"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    if let Ok(pid) = std::fs::read_to_string(dir.path().join("data/nats.pid")) {
        let _ = Command::new("kill").args(["-9", pid.trim()]).status();
    }
}
