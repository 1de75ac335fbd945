//! `coordinator enqueue` against a real nats-server: exactly one task per
//! segment however often it runs, after a kill -9, with new and edited files.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use futures::TryStreamExt;
use podmine_tests::{binaries, NatsServer};
use protocol::{codec, streams, Task};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn shared_corpus() -> PathBuf {
    let dir = std::env::var_os("PODMINE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"));
    assert!(dir.is_dir(), "the shared corpus is missing at {} (set PODMINE_CORPUS)", dir.display());
    dir
}

const FREY_SRT: &str = "bahree-whisper-twiml/twiml-episodes-whisper-transcribed/12_Brendan_Frey_Interview_-_Reprogramming_the_Human_Genome_with_AI.mp3.srt";
const SMALL_SET: [&str; 4] = [
    FREY_SRT,
    "seenunseen-whisper/transcripts_vtt/E05.mp3.vtt",
    "seenunseen-whisper/transcripts_chat/E01.json",
    "thechangelog-transcripts/practicalai/practical-ai-250.md",
];

/// A server, a corpus folder and a data dir, all temporary.
struct Fixture {
    server: NatsServer,
    corpus: tempfile::TempDir,
    data: tempfile::TempDir,
}

impl Fixture {
    fn new(files: &[&str]) -> Self {
        let fixture = Self {
            server: NatsServer::start(),
            corpus: tempfile::tempdir().unwrap(),
            data: tempfile::tempdir().unwrap(),
        };
        for file in files {
            fixture.copy_in(file, file);
        }
        fixture
    }

    fn copy_in(&self, from: &str, to: &str) {
        let target = self.corpus.path().join(to);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(shared_corpus().join(from), target).unwrap();
    }

    fn command(&self, extra: &[&str]) -> Command {
        let mut command = Command::new(binaries::coordinator());
        command
            .args(["--data-dir", self.data.path().to_str().unwrap(), "enqueue", "--nats", &self.server.url()])
            .args(extra)
            .arg(self.corpus.path())
            .env_remove("NATS_URL");
        command
    }

    fn enqueue(&self) -> Output {
        let out = self.command(&[]).output().unwrap();
        assert!(
            out.status.success(),
            "enqueue failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Segments the corpus holds now, as a dry run counts them.
    fn segments_in_corpus(&self) -> u64 {
        let out = self.command(&["--dry-run"]).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout.lines().find(|l| l.starts_with("read ")).unwrap_or_else(|| panic!("{stdout}"));
        line.split(", ").nth(1).and_then(|s| s.split_whitespace().next()).and_then(|n| n.parse().ok()).unwrap()
    }

    async fn stream(&self) -> async_nats::jetstream::stream::Stream {
        let client = async_nats::connect(self.server.url()).await.unwrap();
        async_nats::jetstream::new(client).get_stream(streams::TASKS).await.unwrap()
    }

    /// Messages on each task subject.
    async fn tasks_per_subject(&self) -> HashMap<String, usize> {
        let stream = self.stream().await;
        stream.info_with_subjects("podmine.task.>").await.unwrap().try_collect().await.unwrap()
    }

    async fn last_sequence(&self) -> u64 {
        self.stream().await.info().await.unwrap().state.last_sequence
    }

    async fn assert_exactly_one_task_per_segment(&self) {
        let expected = self.segments_in_corpus();
        let per_subject = self.tasks_per_subject().await;
        assert_eq!(per_subject.len() as u64, expected, "one subject per segment");
        assert!(per_subject.values().all(|&n| n == 1), "a subject holds more than one task");
        let status = self.status().await;
        assert_eq!((status.segments.total, status.segments.pending), (expected, expected));
        assert_eq!(status.queue.tasks, Some(expected));
    }

    async fn status(&self) -> protocol::status::Status {
        let out = Command::new(binaries::coordinator())
            .args(["--data-dir", self.data.path().to_str().unwrap(), "status", "--json", "--nats", &self.server.url()])
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
    }
}

#[tokio::test]
async fn enqueue_twice_leaves_exactly_one_task_per_segment() {
    let fixture = Fixture::new(&SMALL_SET);
    fixture.enqueue();
    let after_first = fixture.last_sequence().await;
    fixture.assert_exactly_one_task_per_segment().await;
    let second = fixture.enqueue();
    assert_eq!(fixture.last_sequence().await, after_first, "the second run stored nothing new");
    assert!(String::from_utf8_lossy(&second.stdout).contains("unchanged since the last enqueue: 4 episode(s)"));
    fixture.assert_exactly_one_task_per_segment().await;
}

#[tokio::test]
async fn kill_9_mid_enqueue_then_rerun_gives_exactly_one_task_per_segment() {
    let fixture = Fixture::new(&[]);
    // The whole shared corpus, three times over (~26k tasks), so the kill lands mid-run.
    for copy in ["a", "b", "c"] {
        podmine_tests::files::copy_tree(&shared_corpus(), &fixture.corpus.path().join(copy));
    }
    let total = fixture.segments_in_corpus();
    let mut child = fixture.command(&[]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let stream = fixture.stream_when_created().await;
    let mut published = 0;
    for _ in 0..3000 {
        published = stream.clone().info().await.unwrap().state.messages;
        if published >= 2_000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let at_kill = fixture.stream().await.info().await.unwrap().state.messages;
    assert!(
        published >= 2_000 && at_kill < total,
        "the kill must land mid-run: {at_kill} of {total} tasks were queued"
    );
    fixture.enqueue();
    fixture.assert_exactly_one_task_per_segment().await;
}

#[tokio::test]
async fn new_files_enqueue_only_their_segments() {
    let fixture = Fixture::new(&SMALL_SET[..2]);
    fixture.enqueue();
    let before = fixture.last_sequence().await;
    let segments_before = fixture.segments_in_corpus();
    fixture.copy_in(SMALL_SET[2], SMALL_SET[2]);
    fixture.enqueue();
    let added = fixture.segments_in_corpus() - segments_before;
    assert!(added > 0);
    assert_eq!(fixture.last_sequence().await - before, added, "only the new episode's tasks were stored");
    fixture.assert_exactly_one_task_per_segment().await;
}

#[tokio::test]
async fn editing_a_file_re_enqueues_only_its_changed_segments() {
    let fixture = Fixture::new(&SMALL_SET);
    fixture.enqueue();
    let before = fixture.last_sequence().await;
    let path = fixture.corpus.path().join(FREY_SRT);
    let original = std::fs::read_to_string(&path).unwrap();
    let edited = original.replacen("I'm your host Sam Charrington.", "I'm your host Sam Charrington, edited.", 1);
    assert_ne!(original, edited);
    std::fs::write(&path, edited).unwrap();
    fixture.enqueue();
    assert_eq!(fixture.last_sequence().await - before, 1, "one segment changed, one task stored");
    fixture.assert_exactly_one_task_per_segment().await;
    // The queued task for that segment carries the new text, not the old.
    let stream = fixture.stream().await;
    let message = stream.get_raw_message(before + 1).await.unwrap();
    let task: Task = codec::decode(&message.payload).unwrap();
    assert!(task.segment.text.contains("Sam Charrington, edited."), "{}", task.segment.text);
    assert_eq!(task.segment.index, 0);
}

impl Fixture {
    async fn stream_when_created(&self) -> async_nats::jetstream::stream::Stream {
        let client = async_nats::connect(self.server.url()).await.unwrap();
        let js = async_nats::jetstream::new(client);
        for _ in 0..500 {
            if let Ok(stream) = js.get_stream(streams::TASKS).await {
                return stream;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("enqueue never created the task stream");
    }
}

/// Peak resident memory of a running child, sampled from /proc until it exits.
fn run_measuring_peak_rss(command: &mut Command) -> (Output, u64) {
    let child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let sampler = std::thread::spawn(move || {
        let mut peak_kb = 0u64;
        while let Ok(status) = std::fs::read_to_string(&status_file) {
            let hwm = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse::<u64>().ok()));
            match hwm {
                Some(kb) => peak_kb = peak_kb.max(kb),
                None => break, // a zombie: the process has exited
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        peak_kb
    });
    let out = child.wait_with_output().unwrap();
    (out, sampler.join().unwrap() * 1024)
}

#[tokio::test]
async fn bad_files_are_reported_by_name_and_reason_and_the_rest_enqueued_in_bounded_memory() {
    let fixture = Fixture::new(&["seenunseen-whisper/transcripts_vtt/E05.mp3.vtt"]);
    let dir = fixture.corpus.path();
    std::fs::write(dir.join("empty.srt"), b"").unwrap();
    let noise: Vec<u8> = (0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(dir.join("recording.vtt"), noise).unwrap();
    let whisper = std::fs::read(shared_corpus().join("seenunseen-whisper/transcripts_chat/E01.json")).unwrap();
    std::fs::write(dir.join("cut-short.json"), &whisper[..whisper.len() / 3]).unwrap();
    std::fs::write(
        dir.join("latin1.srt"),
        b"1\n00:00:01,000 --> 00:00:04,000\nCaf\xe9 cr\xe8me, na\xefve r\xe9sum\xe9.\n\n",
    )
    .unwrap();
    std::fs::write(dir.join("huge.txt"), "word ".repeat(10_000_000)).unwrap(); // 50 MB, one line

    let (out, peak_rss) = run_measuring_peak_rss(&mut fixture.command(&[]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the good files were enqueued: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    for (file, reason) in [
        ("empty.srt", "empty file"),
        ("recording.vtt", "binary file"),
        ("cut-short.json", "invalid JSON at line"),
        ("huge.txt", "line 1 is 50 MB long"),
        ("latin1.srt", "read as Windows-1252"),
    ] {
        assert!(stdout.lines().any(|l| l.contains(file) && l.contains(reason)), "{file}: {reason}?\n{stdout}");
    }
    // The VTT and the Latin-1 SRT are queued, accents intact; nothing else.
    let per_subject = fixture.tasks_per_subject().await;
    assert_eq!(per_subject.len() as u64, fixture.segments_in_corpus());
    let stream = fixture.stream().await;
    let latin1 = per_subject.keys().find(|s| s.contains("latin1")).expect("the Latin-1 file's task");
    let message = stream.direct_get_last_for_subject(latin1).await.unwrap();
    let task: Task = codec::decode(&message.payload).unwrap();
    assert_eq!(task.segment.text, "Café crème, naïve résumé.");
    println!("enqueue with a 50 MB one-line file: peak RSS {} MB", peak_rss >> 20);
    assert!(peak_rss < 300 << 20, "peak RSS {} MB for a 50 MB input", peak_rss >> 20);
}

#[test]
fn a_server_without_disk_room_for_the_task_stream_gets_a_clear_error() {
    // JetStream limited to 1 GB stands for a nearly full disk (nats-server
    // allows 75% of the disk free at its start): the task stream reserves more.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("small-disk.conf");
    std::fs::write(&config, "jetstream { store_dir: \"js\", max_file_store: 1GB }\n").unwrap();
    let server = NatsServer::start_with(podmine_tests::NatsOptions {
        config: Some(config),
        ..podmine_tests::NatsOptions::default()
    });
    let corpus = dir.path().join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    std::fs::copy(shared_corpus().join(FREY_SRT), corpus.join("frey.srt")).unwrap();
    let output = Command::new(binaries::coordinator())
        .args(["enqueue", "--nats", &server.url(), "--data-dir"])
        .arg(dir.path().join("data"))
        .arg(&corpus)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "enqueue succeeded on a 1 GB JetStream: {stderr}");
    assert!(stderr.contains("too little disk for the task stream"), "{stderr}");
    assert!(stderr.contains("Free some disk space") && stderr.contains("max_file_store"), "{stderr}");
    println!("{stderr}");
}
