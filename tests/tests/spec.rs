//! One mining spec for the fleet: the coordinator records it when it
//! enqueues; workers mine with it (refusing when their own flags disagree);
//! every request carries the run's one `num_ctx`, so Ollama (the fake, which
//! models its reloads) loads the model once; `respec` re-queues what the old
//! spec settled, and it is mined once more.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use podmine_tests::fake_llm::{Capacity, FakeLlm};
use podmine_tests::mining::{srt, Mining, Process};
use podmine_tests::users::reference;
use protocol::output::EpisodeFile;
use protocol::status::{SpecSummary, Status};
use protocol::streams;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const MODEL: &str = "qwen2.5:7b-instruct";

fn status(mining: &Mining) -> Status {
    mining.status()
}

fn spec_of(status: &Status) -> &SpecSummary {
    status.spec.as_ref().unwrap_or_else(|| panic!("no spec in status: {status:?}"))
}

fn human_status(mining: &Mining) -> String {
    let output = mining.coordinator().args(["status", "--nats", &mining.server.url()]).output().unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs `coordinator collect` (until every segment is settled under the run's spec).
fn collect(mining: &Mining) {
    let output = mining
        .coordinator()
        .args(["collect", "--nats", &mining.server.url(), "--out"])
        .arg(mining.out_dir())
        .output()
        .unwrap();
    assert!(output.status.success(), "collect: {}", String::from_utf8_lossy(&output.stderr));
}

/// Waits until `check` holds, for up to `limit`.
async fn until(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// An SRT whose 30-second cues carry from a few words to a few thousand characters.
fn uneven_srt() -> Vec<u8> {
    let lengths = [3, 40, 400, 9, 2_500, 60, 6_000, 12, 900, 1];
    let mut out = String::new();
    for (i, words) in lengths.iter().enumerate() {
        let (a, b) = (i * 30, i * 30 + 30);
        let text: Vec<String> = (0..*words).map(|w| format!("word{}", (w * 7 + i) % 97)).collect();
        out += &format!(
            "{}\n00:{:02}:{:02},000 --> 00:{:02}:{:02},000\nSpeaker {i} says {}.\n\n",
            i + 1,
            a / 60,
            a % 60,
            b / 60,
            b % 60,
            text.join(" ")
        );
    }
    out.into_bytes()
}

fn their_spec() -> Vec<String> {
    let (prompt, schema) = (reference("unified_miner.txt"), reference("miner_output.v1.json"));
    ["--prompt", &prompt.to_string_lossy(), "--schema", &schema.to_string_lossy(), "--temperature", "0"]
        .map(str::to_owned)
        .to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_request_carries_one_context_size_and_the_model_loads_once() {
    let spec = their_spec();
    let spec: Vec<&str> = spec.iter().map(String::as_str).collect();
    let mining = Mining::enqueue_with(&[("uneven.srt", &uneven_srt()), ("even.srt", &srt(6))], &spec);
    let llm = FakeLlm::start(&[MODEL], Capacity { slots: 4, load_ms: 600, ..Capacity::default() }).await;
    // Re-asks: every third answer is not JSON.
    llm.invalid_every(3);
    let _worker = mining.worker("w", &llm.url(), &["--concurrency", "4", "--metrics-addr", "off"]);
    mining.wait_settled(Duration::from_secs(120)).await;
    collect(&mining);

    let status = status(&mining);
    let num_ctx = u64::from(spec_of(&status).num_ctx);
    let seen = llm.num_ctx_seen();
    assert_eq!(seen.keys().copied().collect::<Vec<_>>(), vec![num_ctx], "one num_ctx for every request: {seen:?}");
    assert!(llm.requests() > mining.segments, "re-asks happened: {} requests", llm.requests());
    assert_eq!(llm.loads(), 1, "the model loaded once for {} requests", llm.requests());
    // Sized for the users' ~5.5k-token prompt and the 6,000-word segment, not cut.
    assert!(num_ctx >= 10_240, "num_ctx {num_ctx}");
    let settled = status.segments.done + status.segments.failed;
    assert_eq!(settled, mining.segments);
    assert_eq!(status.reloads, 0, "no reloads: {}", human_status(&mining));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_caused_by_another_client_shows_in_status_with_its_cause() {
    let mining = Mining::enqueue(&[("a.srt", &srt(200))]);
    let slow = Capacity { slots: 2, tokens_per_s: 300.0, load_ms: 800, ..Capacity::default() };
    let llm = FakeLlm::start(&[MODEL], slow).await;
    let _worker = mining.worker("w", &llm.url(), &["--concurrency", "2", "--metrics-addr", "off"]);
    until(Duration::from_secs(30), "first results", || llm.answered() >= 4).await;
    // Another client of the same Ollama asks with another context size.
    let body = serde_json::json!({"model": MODEL, "stream": false, "options": {"num_ctx": 2048},
        "messages": [{"role": "user", "content": "hello"}]});
    let reply = reqwest::Client::new().post(format!("{}/api/chat", llm.url())).json(&body).send().await.unwrap();
    assert!(reply.status().is_success());
    assert!(llm.loads() >= 2, "the other client's options loaded the model again");
    // The worker's next answer pays the reload back to its own options; its record says so.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = status(&mining);
        if status.reloads >= 1 {
            let human = human_status(&mining);
            assert!(human.contains("model reloads: ") && human.contains("another client"), "{human}");
            break;
        }
        assert!(Instant::now() < deadline, "no reload in status: {}", human_status(&mining));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_whose_prompt_differs_refuses_and_one_without_flags_mines_with_the_spec() {
    let mining = Mining::enqueue(&[("a.srt", &srt(20))]);
    let llm = FakeLlm::start(&[MODEL], Capacity::default()).await;
    let other = mining.scratch.path().join("other-prompt.txt");
    std::fs::write(&other, "Extract everything, but differently.").unwrap();
    let _refusing = mining.worker(
        "differs",
        &llm.url(),
        &["--prompt", &other.to_string_lossy(), "--concurrency", "4", "--metrics-addr", "off"],
    );
    until(Duration::from_secs(20), "the refusal in the worker's log", || {
        mining.log("differs").contains("does not pull")
    })
    .await;
    let log = mining.log("differs");
    assert!(log.contains("--prompt") && log.contains("the run's spec has"), "says which setting differs: {log}");
    // Status shows the refusal too (the record is written while refusing).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !human_status(&mining).contains("NOT PULLING") {
        assert!(Instant::now() < deadline, "status shows the refusal: {}", human_status(&mining));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(llm.requests(), 0, "the refusing worker asked the LLM nothing");

    let mut agreeing = mining.worker("spec", &llm.url(), &["--concurrency", "4", "--metrics-addr", "off"]);
    mining.wait_settled(Duration::from_secs(60)).await;
    let agreeing_id = agreeing.id();
    let results = mining.results().await;
    assert_eq!(results.len() as u64, mining.segments);
    let spec = status(&mining).spec.unwrap();
    for result in &results {
        assert!(result.provenance.worker.ends_with(&format!("/{agreeing_id}")), "mined by the agreeing worker");
        assert_eq!(result.provenance.spec.prompt_hash, spec.prompt_hash);
    }
    let _ = agreeing.kill();
}

#[tokio::test(flavor = "multi_thread")]
async fn respec_requeues_what_the_old_prompt_mined_and_it_is_mined_once_more() {
    let mining = Mining::enqueue(&[("a.srt", &srt(12)), ("b.srt", &srt(8))]);
    let segments = mining.segments;
    let llm = FakeLlm::start(&[MODEL], Capacity::default()).await;
    let _worker: Process = mining.worker("w", &llm.url(), &["--concurrency", "4", "--metrics-addr", "off"]);
    mining.wait_settled(Duration::from_secs(60)).await;
    collect(&mining);
    let before = status(&mining);
    assert_eq!((before.segments.done, spec_of(&before).revision), (segments, 1));
    let old_prompt = spec_of(&before).prompt_hash.clone();

    let new_prompt = mining.scratch.path().join("new-prompt.txt");
    std::fs::write(&new_prompt, "Mine the claims, and only what is said.").unwrap();
    let dry = mining
        .coordinator()
        .args(["respec", "--dry-run", "--nats", &mining.server.url(), "--prompt"])
        .arg(&new_prompt)
        .output()
        .unwrap();
    let dry = String::from_utf8_lossy(&dry.stdout);
    assert!(dry.contains(&format!("would be queued again: {segments} settled segment(s)")), "{dry}");
    assert_eq!(spec_of(&status(&mining)).revision, 1, "a dry run records nothing");
    let respec = mining
        .coordinator()
        .args(["respec", "--nats", &mining.server.url(), "--prompt"])
        .arg(&new_prompt)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&respec.stdout);
    assert!(respec.status.success(), "respec: {said}{}", String::from_utf8_lossy(&respec.stderr));
    assert!(said.contains(&format!("queued again: {segments} settled segment(s)")), "{said}");
    assert!(said.contains("prompt: "), "says what changed: {said}");
    let after = status(&mining);
    assert_eq!(spec_of(&after).revision, 2);
    assert_ne!(spec_of(&after).prompt_hash, old_prompt);
    assert_eq!(after.segments.done, 0, "progress is against the new spec: {after:?}");
    assert_eq!(after.segments.superseded, segments);
    assert!(human_status(&mining).contains("settled with an earlier spec"));

    // The running worker picks the new spec up by itself.
    let settled_twice = || async {
        let per_subject = mining.per_subject(streams::RESULTS, "podmine.result.>").await;
        per_subject.values().filter(|&&n| n >= 2).count() as u64
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while settled_twice().await < segments {
        assert!(
            Instant::now() < deadline,
            "re-mined: {} of {segments}; {} task(s) queued, {} failed, {} LLM requests; respec said: {said}; worker: {}",
            settled_twice().await,
            mining.messages(streams::TASKS).await,
            mining.messages(streams::FAILED).await,
            llm.requests(),
            mining.log("w")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    collect(&mining);
    let done = status(&mining);
    assert_eq!((done.segments.done, done.segments.superseded), (segments, 0));
    let per_subject: BTreeMap<String, usize> =
        mining.per_subject(streams::RESULTS, "podmine.result.>").await.into_iter().collect();
    assert!(per_subject.values().all(|&n| n == 2), "each segment mined exactly once more: {per_subject:?}");
    let calls = llm.calls();
    assert!(calls.values().all(|&n| n == 2), "two LLM calls per segment in all: {calls:?}");
    let new_hash = spec_of(&done).prompt_hash.as_str();
    for file in ["a.json", "b.json"] {
        let episode: EpisodeFile =
            serde_json::from_slice(&std::fs::read(mining.out_dir().join(file)).unwrap()).unwrap();
        assert!(episode.segments.iter().all(|s| s.provenance.prompt_hash == new_hash), "{file} has the new results");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_segment_that_does_not_fit_the_given_context_fails_with_its_reason() {
    let spec = [their_spec(), vec!["--num-ctx".into(), "4096".into()]].concat();
    let spec: Vec<&str> = spec.iter().map(String::as_str).collect();
    let mining = Mining::enqueue_with(&[("a.srt", &srt(3))], &spec);
    let llm = FakeLlm::start(&[MODEL], Capacity::default()).await;
    let _worker = mining.worker("w", &llm.url(), &["--metrics-addr", "off"]);
    mining.wait_settled(Duration::from_secs(60)).await;
    let failures = mining.failures().await;
    assert_eq!(failures.len(), 3);
    for failure in &failures {
        assert!(
            failure.kind == protocol::FailureKind::ContextTooSmall && failure.reason.contains("respec --num-ctx"),
            "{}",
            failure.reason
        );
    }
    assert_eq!(llm.requests(), 0, "nothing was sent to be cut");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_lost_the_spec_gets_the_runs_back_not_the_defaults() {
    let prompt = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(prompt.path(), "The run's own prompt.").unwrap();
    let mining = Mining::enqueue_with(&[("a.srt", &srt(4))], &["--prompt", &prompt.path().to_string_lossy()]);
    let before = status(&mining).spec;
    // The server loses its store (the bucket with it); the corpus is enqueued again without flags.
    let js = async_nats::jetstream::new(async_nats::connect(mining.server.url()).await.unwrap());
    js.delete_key_value(protocol::spec::BUCKET).await.unwrap();
    let output = mining
        .coordinator()
        .args(["enqueue", "--nats", &mining.server.url()])
        .arg(mining.corpus_path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stderr).contains("put back the run's from the store"));
    let kv = js.get_key_value(protocol::spec::BUCKET).await.unwrap();
    let restored = protocol::spec::RunSpec::decode(&kv.get(protocol::spec::KEY).await.unwrap().unwrap()).unwrap();
    assert_eq!(restored.instructions, "The run's own prompt.", "not the default prompt");
    assert_eq!(status(&mining).spec, before);
}
