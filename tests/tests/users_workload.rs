//! The users' workload end to end: a real episode written in their Markdown
//! (front-matter with `video_id`), mined by `coordinator run` with their
//! prompt and schema (from ../shared/reference/users-miner/) against the fake
//! LLM answering in their shape with their synonyms; then the shipped sample.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use podmine_tests::binaries;
use podmine_tests::fake_llm::{Capacity, FakeLlm};
use podmine_tests::outputs::{read_out, validate_out};
use podmine_tests::users::{read_corpus, reference, their_markdown};
use podmine_tests::NatsServer;
use protocol::output::{EpisodeFile, SegmentOutcome};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const MODEL: &str = "qwen2.5:7b-instruct";

fn coordinator(data: &Path) -> Command {
    let mut command = Command::new(binaries::coordinator());
    command.arg("--data-dir").arg(data).env_remove("NATS_URL").env_remove("OLLAMA_HOST");
    command
}

/// `coordinator run` with the users' prompt and schema, at their temperature.
fn run_with_their_files(corpus: &Path, data: &Path, out: &Path, nats: &str, llm: &str) {
    let (prompt, schema) = (reference("unified_miner.txt"), reference("miner_output.v1.json"));
    let output = coordinator(data)
        .args(["run", "--nats", nats, "--llm", llm, "--concurrency", "4", "--out"])
        .arg(out)
        .arg(corpus)
        .arg("--")
        .arg("--prompt")
        .arg(&prompt)
        .arg("--schema")
        .arg(&schema)
        .args(["--temperature", "0"])
        .output()
        .unwrap();
    assert!(output.status.success(), "run failed:\n{}", String::from_utf8_lossy(&output.stderr));
}

fn status(data: &Path) -> (protocol::status::Status, String) {
    let json = coordinator(data).args(["status", "--json"]).output().unwrap();
    let human = coordinator(data).args(["status"]).output().unwrap();
    (serde_json::from_slice(&json.stdout).unwrap(), String::from_utf8_lossy(&human.stdout).into_owned())
}

fn episode_file(out: &Path, id: &str) -> EpisodeFile {
    let path: PathBuf = out.join(format!("{id}.json"));
    serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn their_markdown_prompt_and_schema_give_output_their_pipeline_can_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    let source = read_corpus("seenunseen-whisper/transcripts_chat/E01.json");
    std::fs::write(corpus.join("E01.md"), their_markdown(&source, "The Seen and the Unseen 1", "vid_E01")).unwrap();
    let (data, out) = (dir.path().join("data"), dir.path().join("out"));
    let nats = NatsServer::start();
    let llm = FakeLlm::start(&[MODEL], Capacity { slots: 4, ..Capacity::default() }).await;

    run_with_their_files(&corpus, &data, &out, &nats.url(), &llm.url());

    assert_eq!(validate_out(&out), 1, "the episode file matches the published schema");
    let file = episode_file(&out, "E01");
    let n = file.segments.len() as u32;
    assert!(n > 20, "{n} segments");
    assert_eq!(file.format_version, protocol::output::FORMAT_VERSION);
    assert_eq!(file.episode.format, "text with timestamps", "their Markdown keeps its times");
    assert_eq!(file.episode.metadata["video_id"], "vid_E01");
    assert_eq!(file.episode.metadata["upload_date"], "August 02, 2025");
    assert_eq!(file.episode.metadata["uploader"], "The Show");
    assert_eq!((file.counts.segments, file.counts.mined + file.counts.failed), (n, n));
    assert_eq!(file.counts.failed, 0);
    let named = file.segments.iter().filter(|s| s.speaker.starts_with("Guest") || s.speaker == "Amit Varma").count();
    assert!(named > 0 && file.segments.iter().all(|s| !s.speaker.is_empty()), "speakers kept as strings");
    let their_prompt_hash =
        protocol::ContentHash::of_bytes(&std::fs::read(reference("unified_miner.txt")).unwrap()).short();

    let mut stances = std::collections::BTreeMap::new();
    let mut flagged = 0;
    let mut ids = std::collections::BTreeSet::new();
    for segment in &file.segments {
        assert!(ids.insert(segment.segment_id.clone()), "segment ids are unique");
        assert!(segment.segment_id.ends_with(&format!("_{}", segment.index)), "{}", segment.segment_id);
        assert_eq!(segment.provenance.prompt_hash, their_prompt_hash, "mined with their prompt");
        let SegmentOutcome::Mined { mined, repairs, grounding } = &segment.outcome else {
            panic!("failed: {segment:?}")
        };
        for claim in mined["claims"].as_array().unwrap() {
            *stances.entry(claim["stance"].as_str().unwrap().to_owned()).or_insert(0) += 1;
            assert!(["factual", "causal", "normative", "forecast", "definition"]
                .contains(&claim["claim_type"].as_str().unwrap()));
            assert!(
                claim.get("evidence_quote").is_some() && claim.get("timestamp").is_some(),
                "their fields kept: {claim}"
            );
            assert!(claim.get("evidence_spans").is_none());
        }
        for term in mined["jargon"].as_array().unwrap() {
            assert!(term.get("context_quote").is_none(), "optional in their schema: not invented");
        }
        // Every fifth answer quotes something the segment does not say.
        if segment.index % 5 == 4 && !mined["claims"].as_array().unwrap().is_empty() {
            assert_eq!(grounding.ungrounded.len(), 1, "{grounding:?}");
            assert_eq!(grounding.ungrounded[0].field, "evidence_quote");
            flagged += 1;
        } else {
            assert!(grounding.ungrounded.is_empty(), "segment {}: {grounding:?}", segment.index);
        }
        if segment.index % 6 == 0 && !mined["claims"].as_array().unwrap().is_empty() {
            assert!(repairs.iter().any(|r| r == "claims[0].stance: \"denies\" mapped to \"opposes\""), "{repairs:?}");
        }
        if segment.index % 4 == 3 {
            assert!(repairs.iter().any(|r| r.starts_with("reply wrapped in a list")), "{repairs:?}");
        }
    }
    assert!(
        stances.keys().all(|s| ["asserts", "questions", "opposes", "neutral"].contains(&s.as_str())),
        "{stances:?}"
    );
    assert!(stances.contains_key("opposes") && stances.contains_key("questions") && stances.contains_key("neutral"));
    assert!(flagged > 0);
    assert_eq!(file.counts.ungrounded_items, flagged);

    let (status, human) = status(&data);
    let grounding = &status.grounding[MODEL];
    assert_eq!(grounding.figures.mined, u64::from(n));
    assert_eq!(grounding.figures.ungrounded_items, u64::from(flagged));
    assert!(grounding.ungrounded_share > 0.0);
    assert!(grounding.figures.empty <= u64::from(n));
    assert!(human.contains(&format!("grounding ({MODEL}):")) && human.contains("empty segment(s)"), "{human}");

    // The JSONL carries the same ids and the episode's metadata.
    let export = coordinator(&data).args(["export", "--jsonl"]).output().unwrap();
    let lines: Vec<Value> =
        String::from_utf8_lossy(&export.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len() as u32, n);
    assert!(lines.iter().all(|l| l["episode"]["metadata"]["video_id"] == "vid_E01" && l["segment_id"].is_string()));

    // --drop-ungrounded: the same store, the flagged items left out.
    let dropped = dir.path().join("out-dropped.jsonl");
    let export =
        coordinator(&data).args(["export", "--jsonl", "--drop-ungrounded", "--out"]).arg(&dropped).output().unwrap();
    assert!(export.status.success());
    let kept_claims: usize = std::fs::read_to_string(&dropped)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["mined"]["claims"].as_array().unwrap().len())
        .sum();
    let all_claims: usize = lines.iter().map(|l| l["mined"]["claims"].as_array().unwrap().len()).sum();
    assert_eq!(kept_claims, all_claims - flagged as usize);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_shipped_sample_runs_with_their_files_and_status_shows_grounding() {
    let dir = tempfile::tempdir().unwrap();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples/corpus");
    let (data, out) = (dir.path().join("data"), dir.path().join("out"));
    let nats = NatsServer::start();
    let llm = FakeLlm::start(&[MODEL], Capacity { slots: 8, ..Capacity::default() }).await;

    run_with_their_files(&sample, &data, &out, &nats.url(), &llm.url());

    let segments = read_out(&out);
    assert!(segments.values().all(|(status, _)| status == "mined"), "every sample segment mined");
    assert_eq!(validate_out(&out), 2);
    let (status, human) = status(&data);
    assert_eq!(status.segments.done, segments.len() as u64);
    assert_eq!(status.grounding[MODEL].figures.mined, segments.len() as u64);
    assert!((0.0..=1.0).contains(&status.grounding[MODEL].ungrounded_share));
    assert!(human.contains("% ungrounded") && human.contains("empty segment(s) of real speech"), "{human}");
}
