//! End to end with a real LLM: llama.cpp's llama-server serving SmolLM2-135M
//! (built and cached by `deploy/real-llm.sh build`, which `.ci/run` runs),
//! `worker --api openai`, one real episode from ../shared/corpus. Every segment
//! must end mined (schema-valid) or failed with its raw output. Prints seg/s
//! and tok/s. SmolLM2's answers are poor; the point is the real protocol.
#![cfg(feature = "slow-tests")] // the slow tier: `cargo test --workspace --features slow-tests`
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use podmine_tests::mining::{terminate, Mining};
use podmine_tests::nats::free_port;
use protocol::streams;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// llama-server and the model, from the cache `deploy/real-llm.sh` fills.
fn real_llm_paths() -> (PathBuf, PathBuf) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/real-llm.sh");
    let out = Command::new("bash").arg(&script).arg("paths").output().expect("run deploy/real-llm.sh paths");
    let text = String::from_utf8_lossy(&out.stdout);
    let value = |key: &str| text.lines().find_map(|l| l.strip_prefix(key)).map(PathBuf::from).expect("paths output");
    let (server, model) = (value("LLAMA_SERVER="), value("LLAMA_MODEL="));
    assert!(
        server.exists() && model.exists(),
        "the real LLM is not built: run `deploy/real-llm.sh build` (missing {} or {})",
        server.display(),
        model.display()
    );
    (server, model)
}

struct LlamaServer(Child, u16);

impl LlamaServer {
    fn start() -> Self {
        let (binary, model) = real_llm_paths();
        let port = free_port();
        let child = Command::new(binary)
            .arg("-m")
            .arg(model)
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "-np", "4", "-c", "32768"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start llama-server");
        let server = Self(child, port);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !server.healthy() {
            assert!(Instant::now() < deadline, "llama-server did not become healthy");
            std::thread::sleep(Duration::from_millis(200));
        }
        server
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.1)
    }

    fn healthy(&self) -> bool {
        Command::new("curl")
            .args(["-fsS", &format!("{}/health", self.url())])
            .output()
            .is_ok_and(|o| o.status.success())
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const EPISODE: &str = "bahree-whisper-twiml/twiml-episodes-whisper-transcribed/110_Home_AI_is_not_Reliable_Enough_Yet_-_#MyAI_Contest_Entry_-_TWiML_and_AI_-_@Zehicle.mp3.srt";

#[tokio::test(flavor = "multi_thread")]
async fn a_real_episode_is_mined_or_failed_by_llama_server() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus").join(EPISODE);
    let bytes = std::fs::read(&corpus).expect("the shared corpus episode");
    // The default schema's bounds are sized for a 7B model; SmolLM2 fills every
    // string to its limit, so the run's spec uses the shipped small-model schema.
    let schema_arg =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/schemas/small-model.json").to_string_lossy().into_owned();
    let spec = ["--model", "SmolLM2-135M-Instruct", "--num-predict", "400", "--schema", &schema_arg];
    let mining = Mining::enqueue_with(&[("episode.srt", &bytes)], &spec);
    let llama = LlamaServer::start();
    let started = Instant::now();
    // No mining flags: the worker mines with the run's spec.
    let mut worker = mining.worker("w", &llama.url(), &["--api", "openai", "--concurrency", "4"]);
    // Usually ~90 s; a run where SmolLM2 rambles to the token cap on every ask takes ~8 min here.
    mining.wait_settled(Duration::from_secs(1200)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let results = mining.results().await;
    let failures = mining.failures().await;
    let mut subjects = mining.per_subject(streams::RESULTS, "podmine.result.>").await;
    for (subject, n) in mining.per_subject(streams::FAILED, "podmine.failed.>").await {
        *subjects.entry(subject.replace(".failed.", ".result.")).or_default() += n;
    }
    assert_eq!(subjects.len() as u64, mining.segments, "every segment settled");
    assert!(subjects.values().all(|&n| n == 1), "settled once: {subjects:?}");
    for result in &results {
        let mined: serde_json::Value = serde_json::from_str(&result.mined_json).expect("mined JSON");
        for claim in mined["claims"].as_array().expect("claims") {
            assert!(["factual", "causal", "normative", "forecast", "definition"]
                .contains(&claim["claim_type"].as_str().unwrap_or("")));
            assert!(["asserts", "questions", "opposes", "neutral"].contains(&claim["stance"].as_str().unwrap_or("")));
        }
        assert!(["jargon", "people", "mental_models"].iter().all(|k| mined[k].is_array()));
    }
    for failure in &failures {
        eprintln!("failed {}: {}", failure.task.segment.key(), failure.reason);
        assert!(
            failure.raw_output.as_deref().is_some_and(|raw| !raw.is_empty()),
            "failure without raw output: {failure:?}"
        );
    }
    let usage = results.iter().map(|r| r.provenance.usage).chain(failures.iter().map(|f| f.provenance.usage));
    let (output_tokens, prompt_tokens, cached) =
        usage.fold((0, 0, 0), |(o, p, c), u| (o + u.output_tokens, p + u.prompt_tokens, c + u.cached_prompt_tokens));
    eprintln!(
        "real LLM (llama-server + SmolLM2-135M, 4 slots): {} segments in {elapsed:.1} s: {} mined, {} failed; \
         {:.3} seg/s, {:.1} output tok/s; {prompt_tokens} prompt tokens, {cached} from the prefix cache",
        mining.segments,
        results.len(),
        failures.len(),
        mining.segments as f64 / elapsed,
        output_tokens as f64 / elapsed,
    );
    assert!(output_tokens > 0, "the real server generated tokens");
    // Collect: every segment lands in out/ once, and status agrees.
    let data = mining.scratch.path().join("coordinator");
    let out = mining.scratch.path().join("out");
    let collect = Command::new(podmine_tests::binaries::coordinator())
        .arg("--data-dir")
        .arg(&data)
        .args(["collect", "--nats", &mining.server.url(), "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(collect.status.success(), "{}", String::from_utf8_lossy(&collect.stderr));
    let episode: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("episode.json")).unwrap()).unwrap();
    let segments = episode["segments"].as_array().unwrap();
    assert_eq!(segments.len() as u64, mining.segments);
    assert_eq!(segments.iter().filter(|s| s["status"] == "mined").count(), results.len());
    assert!(segments.iter().enumerate().all(|(i, s)| s["index"] == i as u64));
    let status = Command::new(podmine_tests::binaries::coordinator())
        .arg("--data-dir")
        .arg(&data)
        .args(["status", "--json", "--nats", &mining.server.url()])
        .output()
        .unwrap();
    let status: protocol::status::Status = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!((status.segments.done, status.segments.failed), (results.len() as u64, failures.len() as u64));
    assert_eq!(terminate(&mut worker, Duration::from_secs(15)).0, Some(0));
}
