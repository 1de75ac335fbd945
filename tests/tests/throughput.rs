//! Throughput features with real processes and the fake LLM: `worker bench`
//! (table, knee, SVG), several LLM servers per worker (one dies, the other
//! carries on), `--concurrency auto` visible in status, Prometheus metrics.

use podmine_tests::fake_llm::{Capacity, FakeLlm};
use podmine_tests::mining::{srt, terminate, Mining};
use podmine_tests::netns::http_get;
use podmine_tests::{binaries, wait};
use protocol::streams;
use std::process::Command;
use std::time::Duration;

const MODEL: &str = "qwen2.5:7b-instruct";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_sweeps_until_throughput_stops_rising_marks_the_knee_and_draws_it() {
    // 4 slots: throughput rises to 4 calls in flight, then only latency grows.
    let llm = FakeLlm::start(&[MODEL], Capacity { slots: 4, tokens_per_s: 800.0, ..Capacity::default() }).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let svg = dir.path().join("curve.svg");
    let json = dir.path().join("curve.json");
    let out = Command::new(binaries::worker())
        .args(["bench", "--llm", &llm.url(), "--model", MODEL, "--svg"])
        .arg(&svg)
        .arg("--json")
        .arg(&json)
        .output()
        .expect("run worker bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).expect("json")).expect("JSON");
    let tried: Vec<u64> =
        report["steps"].as_array().expect("steps").iter().map(|s| s["concurrency"].as_u64().expect("c")).collect();
    assert_eq!(tried, [1, 2, 4, 8, 16], "doubles until two steps in a row do not raise throughput: {stdout}");
    assert_eq!(report["knee"], 4, "{stdout}");
    assert!(stdout.contains("<- knee") && stdout.contains("OLLAMA_NUM_PARALLEL=4"), "{stdout}");
    for column in ["seg/s", "out tok/s", "p50 s", "p95 s", "prefill", "decode", "cached/prompt", "errors"] {
        assert!(stdout.contains(column), "column {column} missing: {stdout}");
    }
    let drawing = std::fs::read_to_string(&svg).expect("the SVG");
    let parsed = Command::new("python3")
        .args(["-c", "import sys, xml.dom.minidom as m; d = m.parse(sys.argv[1]); print(len(d.getElementsByTagName('polyline')), len(d.getElementsByTagName('circle')))"])
        .arg(&svg)
        .output()
        .expect("python3 parses the SVG");
    assert!(parsed.status.success(), "not valid XML: {}", String::from_utf8_lossy(&parsed.stderr));
    assert_eq!(String::from_utf8_lossy(&parsed.stdout).trim(), "2 10", "two curves of 5 points: {drawing}");
    assert!(drawing.contains("knee: 4"));
    assert!(!stdout.contains("did not grow past one call"), "no single-slot warning with 4 slots: {stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_against_a_single_slot_ollama_says_to_raise_ollama_num_parallel() {
    // Ollama's default: one request at a time.
    let llm = FakeLlm::start(&[MODEL], Capacity { slots: 1, tokens_per_s: 2_000.0, ..Capacity::default() }).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(binaries::worker())
        .args(["bench", "--llm", &llm.url(), "--max-concurrency", "4", "--calls-per-step", "6", "--svg"])
        .arg(dir.path().join("curve.svg"))
        .output()
        .expect("run worker bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("knee: 1 calls in flight"), "{stdout}");
    assert!(stdout.contains("OLLAMA_NUM_PARALLEL requests at once and it is 1 unless set"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_llm_servers_share_the_work_and_a_dead_one_is_skipped() {
    let mining = Mining::enqueue(&[("show/a.srt", &srt(40)), ("show/b.srt", &srt(40))]);
    let slow = Capacity { slots: 4, tokens_per_s: 600.0, ..Capacity::default() };
    let first = FakeLlm::start(&[MODEL], slow.clone()).await;
    let second = FakeLlm::start(&[MODEL], slow).await;
    let args =
        ["--llm", &second.url(), "--concurrency", "auto", "--max-concurrency", "4", "--metrics-addr", "127.0.0.1:0"];
    let mut worker = mining.worker("w", &first.url(), &args);
    wait::until_async(Duration::from_secs(60), "a quarter mined", || async {
        mining.messages(streams::RESULTS).await >= mining.segments / 4
    })
    .await;
    assert!(first.requests() > 0 && second.requests() > 0, "both servers get calls");
    first.go_down();
    let before = second.requests();
    mining.wait_settled(Duration::from_secs(120)).await;
    assert_eq!(mining.messages(streams::FAILED).await, 0, "nothing failed: the other server carried on");
    let results = mining.per_subject(streams::RESULTS, "podmine.result.>").await;
    assert_eq!(results.len() as u64, mining.segments);
    assert!(second.requests() > before, "the live server took over");
    let log = mining.log("w");
    assert!(log.contains("LLM endpoint unreachable: sending calls to the others"), "{log}");

    // Metrics: Prometheus text with the outcomes, the servers' limits and latencies.
    // The port the worker's metrics server bound, as its log says.
    let metrics_url = log
        .lines()
        .find_map(|l| l.split("Prometheus metrics at ").nth(1))
        .map(|rest| rest.split_whitespace().next().unwrap_or_default().to_owned())
        .unwrap_or_else(|| panic!("no metrics address in the log:\n{log}"));
    let metrics = http_get(&metrics_url);
    let mined: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("podmine_worker_tasks_total{outcome=\"mined\"} "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no mined counter in:\n{metrics}"));
    assert!(mined >= mining.segments - 1, "{mined} mined of {}", mining.segments);
    for line in [
        format!("podmine_worker_llm_concurrency_limit{{endpoint=\"{}\"}}", second.url()),
        "# TYPE podmine_worker_llm_call_seconds histogram".to_owned(),
        "podmine_worker_tasks_in_flight".to_owned(),
    ] {
        assert!(metrics.contains(&line), "{line} missing in:\n{metrics}");
    }
    // The +Inf bucket of the first server's latency (labels in any order).
    let endpoint = format!("endpoint=\"{}\"", first.url());
    assert!(
        metrics.lines().any(|l| l.starts_with("podmine_worker_llm_call_seconds_bucket{")
            && l.contains(&endpoint)
            && l.contains("le=\"+Inf\"")),
        "no +Inf latency bucket for {endpoint} in:\n{metrics}"
    );

    // status shows each server's limit, auto, and the curve measured so far
    // (from the worker's liveness record, refreshed every 10 s).
    let status = || {
        let out = mining.coordinator().args(["status", "--nats", &mining.server.url()]).output().expect("status");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    wait::until(Duration::from_secs(25), "status marks the dead server", || status().contains("UNREACHABLE"));
    let now = status();
    assert!(now.contains(&format!("{} limit", second.url())) && now.contains("(auto)"), "{now}");
    assert!(now.contains("output tok/s by calls in flight: 1:"), "the measured curve: {now}");
    // Workers as an aligned table: a header, then one row per worker whose
    // columns start where the header's do.
    let header = now.lines().find(|l| l.trim_start().starts_with("worker ")).expect("a worker table header");
    let row = now.lines().skip_while(|l| *l != header).nth(1).expect("a worker row");
    for column in ["model", "in flight", "seen"] {
        assert!(header.contains(column), "{header}");
    }
    assert!(row.ends_with(" s ago") && !row.contains('"'), "values with units, no JSON quotes: {row}");
    assert_eq!(header.find("model"), row.find(MODEL), "aligned:\n{header}\n{row}");
    assert_eq!(terminate(&mut worker, Duration::from_secs(20)).0, Some(0));
}
