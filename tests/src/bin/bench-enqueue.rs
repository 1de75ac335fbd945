//! Enqueue benchmark: a generated corpus of EPISODES × SEGMENTS segments
//! (~600 bytes of text each) published by `coordinator enqueue`, beside a raw
//! async-nats publish loop of the same payloads on the same server in the same
//! run. Both use the same server work per task (per-segment subject,
//! `Nats-Msg-Id`, expected-last-subject-sequence 0, 1,024 PubAcks in flight),
//! so the ratio is podmine's own overhead: reading, parsing, segmenting,
//! hashing, encoding and recording. This machine's throughput varies a lot
//! from minute to minute, so the two alternate for ROUNDS rounds on fresh
//! streams and the medians are compared. Prints tasks/s, the ratio and the
//! coordinator's peak RSS.
//!
//! Run: `scripts/bench-enqueue.sh [EPISODES] [SEGMENTS] [ROUNDS]` (defaults 7000 × 120, 3 rounds).

use async_nats::jetstream::{self, message::PublishMessage, stream};
use futures::stream::{FuturesUnordered, StreamExt};
use podmine_tests::{binaries, NatsServer};
use protocol::{codec, streams, EpisodeId, Segment, Task};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Segment length in the generated SRT files: one cue per segment.
const CUE_MS: u64 = 30_000;
/// PubAcks in flight in the raw loop: the same bound the coordinator uses.
const RAW_IN_FLIGHT: usize = 1024;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let episodes = args.next().transpose()?.unwrap_or(7_000);
    let segments = args.next().transpose()?.unwrap_or(120);
    let rounds = args.next().transpose()?.unwrap_or(3).max(1);
    let total = (episodes * segments) as u64;
    let work = tempfile::tempdir()?;
    let corpus = work.path().join("corpus");
    eprintln!("generating {episodes} episodes × {segments} segments in {}", corpus.display());
    let texts = generate_corpus(&corpus, episodes, segments)?;

    let payloads = raw_payloads(&texts);
    drop(texts);
    let server = NatsServer::start();
    let (mut raw_rates, mut enqueue_rates, mut peak_rss) = (Vec::new(), Vec::new(), None);
    for round in 1..=rounds {
        let raw_s = raw_publish_loop(&server.url(), &payloads).await?;
        let (enqueue_s, peak) = run_enqueue(&server.url(), &corpus, &work.path().join(format!("data-{round}")))?;
        let queued = take_queued_tasks(&server.url()).await?;
        anyhow::ensure!(queued == total, "enqueue left {queued} tasks, expected {total}");
        eprintln!(
            "round {round}: raw {:.0} tasks/s, enqueue {:.0} tasks/s",
            total as f64 / raw_s,
            total as f64 / enqueue_s
        );
        raw_rates.push(total as f64 / raw_s);
        enqueue_rates.push(total as f64 / enqueue_s);
        peak_rss = peak_rss.max(peak);
    }
    let (raw_rate, enqueue_rate) = (median(&mut raw_rates), median(&mut enqueue_rates));
    let (raw_s, enqueue_s) = (total as f64 / raw_rate, total as f64 / enqueue_rate);
    println!("enqueue benchmark: {episodes} episodes × {segments} segments = {total} tasks (~600 B of text each), median of {rounds} alternating rounds");
    println!("  raw async-nats publish loop : {raw_s:>7.2} s  {raw_rate:>9.0} tasks/s");
    println!("  coordinator enqueue         : {enqueue_s:>7.2} s  {enqueue_rate:>9.0} tasks/s  (reads, parses, segments, hashes, records)");
    println!("  ratio enqueue / raw         : {:.2}  (target ≥ 0.70)", enqueue_rate / raw_rate);
    match peak_rss {
        Some(kb) => println!("  coordinator peak RSS        : {:.0} MB  (target < 500 MB)", kb as f64 / 1024.0),
        None => println!("  coordinator peak RSS        : not measured (needs Linux /proc)"),
    }
    Ok(())
}

/// Writes one SRT per episode; returns every segment's text for the raw loop.
fn generate_corpus(dir: &Path, episodes: usize, segments: usize) -> anyhow::Result<Vec<Vec<String>>> {
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut word = move || {
        const WORDS: [&str; 16] = [
            "model", "podcast", "market", "data", "claim", "people", "really", "think", "because", "network", "future",
            "policy", "value", "question", "system", "learning",
        ];
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        WORDS[(seed % 16) as usize]
    };
    let mut all = Vec::with_capacity(episodes);
    for e in 0..episodes {
        let show = dir.join(format!("show-{:02}", e % 50));
        std::fs::create_dir_all(&show)?;
        let mut file = std::io::BufWriter::new(std::fs::File::create(show.join(format!("episode-{e:05}.srt")))?);
        let mut texts = Vec::with_capacity(segments);
        for s in 0..segments {
            let mut text = String::with_capacity(640);
            while text.len() < 600 {
                text.push_str(word());
                text.push(if text.len() % 97 < 8 { '.' } else { ' ' });
            }
            let text = text.trim().to_owned();
            let (t0, t1) = (s as u64 * CUE_MS, (s as u64 + 1) * CUE_MS);
            writeln!(file, "{}\n{} --> {}\n{text}\n", s + 1, srt_time(t0), srt_time(t1))?;
            texts.push(text);
        }
        all.push(texts);
    }
    Ok(all)
}

fn srt_time(ms: u64) -> String {
    format!("{},{:03}", protocol::timestamp::format_hms(ms), ms % 1000)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The tasks the coordinator will publish, encoded the same way, in memory.
fn raw_payloads(texts: &[Vec<String>]) -> Vec<(String, String, bytes::Bytes)> {
    texts
        .iter()
        .enumerate()
        .flat_map(|(e, segments)| {
            let episode = EpisodeId::parse(&format!("show-{:02}/episode-{e:05}", e % 50)).expect("valid id");
            segments.iter().enumerate().map(move |(s, text)| {
                let task = Task {
                    segment: Segment {
                        episode: episode.clone(),
                        index: s as u32,
                        t0_ms: s as u64 * CUE_MS,
                        t1_ms: (s as u64 + 1) * CUE_MS,
                        speaker: None,
                        text: text.clone(),
                        times_estimated: false,
                    },
                    episode_title: format!("episode-{e:05}"),
                    source_path: format!("show-{:02}/episode-{e:05}.srt", e % 50),
                    episode_segments: segments.len() as u32,
                    generation: 0,
                };
                let subject = format!("raw.{}.{s}", episode.subject_token());
                (subject, task.message_id(), codec::encode(&task).expect("encodes").into())
            })
        })
        .collect()
}

/// Publishes the tasks straight from memory to a stream configured like
/// TASKS, with the same headers and in-flight bound. Returns seconds.
async fn raw_publish_loop(url: &str, payloads: &[(String, String, bytes::Bytes)]) -> anyhow::Result<f64> {
    let client = async_nats::connect(url).await?;
    let js = jetstream::ContextBuilder::new().max_ack_inflight(4096).backpressure_on_inflight(true).build(client);
    let config =
        stream::Config { name: "RAW".into(), subjects: vec!["raw.>".into()], ..streams::tasks(Default::default()) };
    js.create_stream(config).await?;
    let started = Instant::now();
    let mut in_flight = FuturesUnordered::new();
    for (subject, id, payload) in payloads.iter().cloned() {
        if in_flight.len() >= RAW_IN_FLIGHT {
            in_flight.next().await.expect("in flight")?;
        }
        let message = PublishMessage::build().payload(payload).message_id(id).expected_last_subject_sequence(0);
        let ack = js.send_publish(subject, message).await?;
        in_flight.push(std::future::IntoFuture::into_future(ack));
    }
    while let Some(ack) = in_flight.next().await {
        ack?;
    }
    let seconds = started.elapsed().as_secs_f64();
    js.delete_stream("RAW").await?;
    Ok(seconds)
}

/// Runs `coordinator enqueue`; returns (seconds, peak RSS in kB when known).
fn run_enqueue(url: &str, corpus: &Path, data: &Path) -> anyhow::Result<(f64, Option<u64>)> {
    let started = Instant::now();
    let mut child = Command::new(binaries::coordinator())
        .args(["--data-dir", data.to_str().unwrap_or_default(), "enqueue", "--nats", url])
        .arg(corpus)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = None;
    loop {
        if let Some(kb) =
            std::fs::read_to_string(&status_path).ok().as_deref().and_then(podmine_tests::procstat::vm_hwm_kb)
        {
            peak = Some(kb);
        }
        if let Some(status) = child.try_wait()? {
            anyhow::ensure!(status.success(), "coordinator enqueue failed: {status}");
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut summary = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().expect("piped"), &mut summary)?;
    eprint!("{summary}");
    Ok((seconds, peak))
}

/// Tasks on the TASKS stream; deletes the stream for the next round.
async fn take_queued_tasks(url: &str) -> anyhow::Result<u64> {
    let js = jetstream::new(async_nats::connect(url).await?);
    let messages = js.get_stream(streams::TASKS).await?.info().await?.state.messages;
    js.delete_stream(streams::TASKS).await?;
    Ok(messages)
}
