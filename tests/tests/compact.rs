//! Compact answers end to end: a run whose spec asks for them sends each task
//! with its cue marks, the (fake) model cites sentence numbers, and the worker
//! writes the quotes and times from the transcript. The output files validate
//! against the same schemas as a full run's (the episode file's, and the run's
//! own answer schema: the users' here), every quote is grounded, a time comes
//! from the cue its sentence was spoken in, and an answer citing no sentence
//! of its segment is asked again.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use podmine_tests::fake_llm::{Capacity, FakeLlm, Fault};
use podmine_tests::mining::{srt, terminate, Mining};
use podmine_tests::outputs::{assert_valid, episode_files, validate_out};
use podmine_tests::users::{corpus_file, reference};
use protocol::codec::TIMED_TASK;
use protocol::output::{EpisodeFile, SegmentOutcome};
use protocol::streams;
use protocol::task::decode_task;
use protocol::timestamp::parse_clock;
use serde_json::Value;
use std::time::Duration;

const MODEL: &str = "qwen2.5:7b-instruct";
const TWIML: &str = "bahree-whisper-twiml/twiml-episodes-whisper-transcribed";
/// A short Whisper SRT (timed cues) and a long plain-text transcript (no
/// times), by the start and end of their names (the second has a character
/// of Unicode's private use area in it, as the corpus has).
const TIMED: (&str, &str) = ("110_Home_AI", ".srt");
const UNTIMED: (&str, &str) = ("56_Ion_Stoica", ".txt");

fn corpus((starts, ends): (&str, &str)) -> Vec<u8> {
    let dir = corpus_file(TWIML);
    let found = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).find(|path| {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        name.starts_with(starts) && name.ends_with(ends)
    });
    std::fs::read(found.unwrap_or_else(|| panic!("{starts}…{ends} in {}", dir.display()))).unwrap()
}

fn coordinator(mining: &Mining, args: &[&str]) -> String {
    let output = mining.coordinator().args(args).args(["--nats", &mining.server.url()]).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "coordinator {args:?}: {stdout}{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

fn collect(mining: &Mining) {
    let out = mining.out_dir();
    coordinator(mining, &["collect", "--out", &out.to_string_lossy()]);
}

fn episodes(mining: &Mining) -> Vec<EpisodeFile> {
    episode_files(&mining.out_dir())
        .iter()
        .map(|path| serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap())
        .collect()
}

/// Every task still queued, decoded as a worker does, with its encoding version.
async fn queued_tasks(mining: &Mining) -> Vec<(u8, protocol::Task, Vec<protocol::task::CueMark>)> {
    let payloads = mining.payloads(streams::TASKS).await;
    payloads
        .iter()
        .map(|payload| {
            let (task, cues) = decode_task(payload).unwrap();
            (payload[0], task, cues)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_compact_run_with_their_prompt_writes_quotes_and_times_from_the_transcript() {
    let (timed, untimed) = (corpus(TIMED), corpus(UNTIMED));
    let files = [("twiml/110.srt", timed.as_slice()), ("twiml/56.txt", untimed.as_slice())];
    let (prompt, schema) = (reference("unified_miner.txt"), reference("miner_output.v1.json"));
    let (prompt, schema) = (prompt.to_string_lossy(), schema.to_string_lossy());
    let spec = ["--answers", "compact", "--prompt", &prompt, "--schema", &schema, "--model", MODEL];
    let mining = Mining::enqueue_with(&files, &spec);

    // Every task goes with its cue marks, as a version only compact-aware workers read.
    let tasks = queued_tasks(&mining).await;
    assert_eq!(tasks.len() as u64, mining.segments);
    assert!(tasks.iter().all(|(version, _, cues)| *version == TIMED_TASK && !cues.is_empty()));
    let timed_cues = tasks.iter().filter(|(_, task, _)| task.segment.episode.as_str() == "twiml/110").count();
    assert!(timed_cues >= 2, "the SRT episode has {timed_cues} segments");

    let llm = FakeLlm::start(&[MODEL], Capacity::default()).await;
    llm.inject([Fault::CitesOutside]);
    let mut worker = mining.worker("w", &llm.url(), &[]);
    mining.wait_settled(Duration::from_secs(60)).await;
    assert_eq!(terminate(&mut worker, Duration::from_secs(30)).0, Some(0));
    assert_eq!(
        llm.requests(),
        mining.segments + 1,
        "the answer citing only sentences its segment does not have is asked again, once"
    );
    assert!(mining.failures().await.is_empty());
    collect(&mining);

    // The same schemas as a full run: the episode file's, and the run's answer schema (theirs).
    assert_eq!(validate_out(&mining.out_dir()), 2);
    let their_schema: Value =
        serde_json::from_slice(&std::fs::read(reference("miner_output.v1.json")).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&their_schema).unwrap();
    let srt_cues = transcripts::transcript::read(std::path::Path::new("110.srt"), &timed).unwrap().cues;
    let (mut claims, mut people, mut timed_checks) = (0, 0, 0);
    for file in episodes(&mining) {
        for segment in &file.segments {
            let SegmentOutcome::Mined { mined, grounding, .. } = &segment.outcome else { panic!("{segment:?}") };
            assert_valid(&validator, mined, &segment.segment_id);
            assert!(grounding.ungrounded.is_empty(), "quoted from the transcript: {grounding:?}");
            let (t0, t1) = (parse_clock(&segment.t0).unwrap(), parse_clock(&segment.t1).unwrap());
            for claim in mined["claims"].as_array().unwrap() {
                let quote = claim["evidence_quote"].as_str().unwrap();
                assert!(segment.text.contains(quote), "{quote:?} is sentence text of {}", segment.segment_id);
                let at = parse_clock(claim["evidence_timestamp"].as_str().unwrap()).unwrap();
                assert!((t0..=t1).contains(&at), "{at} in {t0}..{t1}");
                assert_eq!(claim["timestamp"], claim["evidence_timestamp"]);
                claims += 1;
            }
            for person in mined["people"].as_array().unwrap() {
                assert!(person["context_quote"].is_string() && person["timestamp"].is_string(), "{person}");
                people += 1;
            }
            // In the timed episode a jargon term's time (its sentence's start) lies in the cue that sentence begins in.
            if file.episode.id == "twiml/110" {
                for term in mined["jargon"].as_array().unwrap() {
                    let quote = term["context_quote"].as_str().unwrap();
                    let head: String = quote.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
                    let cue = srt_cues
                        .iter()
                        .find(|cue| cue.text.split_whitespace().collect::<Vec<_>>().join(" ").contains(&head));
                    let cue = cue.unwrap_or_else(|| panic!("{head:?} is in a cue of the SRT"));
                    let at = parse_clock(term["timestamp"].as_str().unwrap()).unwrap();
                    let whole_seconds = (cue.start_ms / 1000) * 1000;
                    assert!(
                        (whole_seconds..=cue.end_ms).contains(&at),
                        "{quote:?} at {at} ms, spoken in the cue {}..{} ms",
                        cue.start_ms,
                        cue.end_ms
                    );
                    timed_checks += 1;
                }
            }
        }
    }
    assert!(claims > 10 && people > 10 && timed_checks >= 2, "{claims} claims, {people} people, {timed_checks} timed");
}

#[tokio::test(flavor = "multi_thread")]
async fn respec_to_compact_queues_every_segment_again_with_its_cue_marks() {
    let files = [("show/a.srt", srt(6)), ("show/b.srt", srt(4))];
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, b.as_slice())).collect();
    let mining = Mining::enqueue(&refs);
    let full = queued_tasks(&mining).await;
    assert!(full.iter().all(|(version, _, cues)| *version == 1 && cues.is_empty()), "a full run's tasks are version 1");

    let llm = FakeLlm::start(&[MODEL], Capacity::default()).await;
    let mut worker = mining.worker("full", &llm.url(), &[]);
    mining.wait_settled(Duration::from_secs(60)).await;
    assert_eq!(terminate(&mut worker, Duration::from_secs(30)).0, Some(0));
    collect(&mining);

    let said = coordinator(&mining, &["respec", "--answers", "compact"]);
    assert!(said.contains("answers: full → compact"), "{said}");
    assert!(said.contains("queued again: 10"), "{said}");
    // Queued again from the coordinator's store, with the marks it kept at enqueue.
    let requeued = queued_tasks(&mining).await;
    assert_eq!(requeued.len(), 10);
    for (version, task, cues) in &requeued {
        assert_eq!(*version, TIMED_TASK);
        assert_eq!(cues.len(), 1, "one SRT cue per segment");
        assert_eq!((cues[0].start_ms, cues[0].end_ms), (task.segment.t0_ms, task.segment.t1_ms));
    }

    let mut worker = mining.worker("compact", &llm.url(), &[]);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while mining.messages(streams::RESULTS).await < 20 {
        assert!(std::time::Instant::now() < deadline, "the compact worker mined every segment again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Once the worker has drained and exited, nothing more can arrive.
    assert_eq!(terminate(&mut worker, Duration::from_secs(30)).0, Some(0));
    assert_eq!(mining.messages(streams::RESULTS).await, 20, "each segment mined once in each mode");
    collect(&mining);
    validate_out(&mining.out_dir());
    for file in episodes(&mining) {
        for segment in &file.segments {
            let SegmentOutcome::Mined { mined, grounding, .. } = &segment.outcome else { panic!("{segment:?}") };
            // The fake's compact answer names a host, citing sentence 1: only compact results have one.
            assert_eq!(mined["people"][0]["name"], "Ada", "{mined}");
            let quote = mined["people"][0]["context_quote"].as_str().unwrap();
            assert!(segment.text.contains(quote), "{quote:?} is the text of sentence 1");
            assert_eq!(
                mined["people"][0]["timestamp"].as_str().unwrap(),
                segment.t0,
                "sentence 1 starts the segment's cue"
            );
            assert!(grounding.ungrounded.is_empty());
        }
    }
}
