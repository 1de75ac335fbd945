//! The whole pipeline at the users' size (issue 19), one process of each on
//! this machine: `coordinator enqueue` of a generated Whisper JSON corpus,
//! one `worker` (`--concurrency 64`) against a fake LLM that answers at once,
//! one `coordinator collect --follow`, then `status`, `export --jsonl` and
//! `respec` with a new prompt (what re-queuing the whole run costs).
//! One segment in a thousand is poisoned (the fake answers it with invalid
//! JSON every time), so failures go through the whole path too.
//!
//! Prints per stage: rate, wall time, peak RSS of each process, store and
//! stream sizes on disk, `status` latency at the end, and the collector's
//! progress when the worker acked the last task, as a ratio of the results
//! published by then.
//!
//! Run: `scripts/bench-scale.sh [EPISODES=7000] [SEGMENTS=120]`.

use anyhow::Context;
use podmine_tests::fake_llm::{Capacity, FakeLlm, Fault};
use podmine_tests::mining::{terminate, Process};
use podmine_tests::procstat::{disk_bytes, PeakRss};
use podmine_tests::{binaries, NatsServer};
use protocol::status::Status;
use protocol::streams;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MODEL: &str = "qwen2.5:7b-instruct";
const POISON: &str = "poisoned";
/// A Whisper cue lasts 5 s; six make a 30-second segment.
const CUE_MS: u64 = 5_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse()).collect::<Result<_, _>>()?;
    let (episodes, segments) = (args.first().copied().unwrap_or(7_000), args.get(1).copied().unwrap_or(120));
    let scratch = tempfile::tempdir()?;
    let corpus = scratch.path().join("corpus");
    let started = Instant::now();
    let (corpus_bytes, poisoned) = generate(&corpus, episodes, segments)?;
    println!(
        "full pipeline: {episodes} episodes × {segments} segments ({:.0} MB of Whisper JSON, \
         {poisoned} poisoned), generated in {:.1} s",
        corpus_bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    let server = NatsServer::start();
    let llm = FakeLlm::start(
        &[MODEL],
        Capacity {
            slots: 4_096,
            max_queue: 100_000,
            tokens_per_s: 1e9,
            scaling: 1.0,
            output_tokens: 120,
            prompt_ms: 0,
            load_ms: 0,
        },
    )
    .await;
    llm.poison(POISON, Fault::InvalidJson);
    let data = scratch.path().join("coordinator");
    let out = scratch.path().join("out");
    let coordinator = || {
        let mut command = Command::new(binaries::coordinator());
        command.arg("--data-dir").arg(&data).env_remove("NATS_URL");
        command
    };

    // 1. enqueue
    let pipeline = Instant::now();
    let mut enqueue = coordinator();
    enqueue.args(["enqueue", "--nats", &server.url()]).arg(&corpus).stdout(Stdio::null());
    let mut child = enqueue.stderr(Stdio::null()).spawn()?;
    let enqueue_rss = PeakRss::watch(child.id());
    anyhow::ensure!(child.wait()?.success(), "enqueue failed");
    let enqueue_s = pipeline.elapsed().as_secs_f64();
    let enqueue_mb = enqueue_rss.stop();
    let (enqueued, _) = status_json(coordinator())?;
    let total = enqueued.context("no status after enqueue")?.segments.total;

    // 2. one worker and one collector, together
    let mining = Instant::now();
    let logs = scratch.path();
    let mut collect = coordinator();
    collect.args(["collect", "--follow", "--nats", &server.url(), "--out"]).arg(&out);
    let mut collector = Process(collect.stdout(Stdio::null()).stderr(log(logs, "collect")?).spawn()?);
    let collector_rss = PeakRss::watch(collector.id());
    let mut run = Command::new(binaries::worker());
    run.args(["run", "--nats", &server.url(), "--llm", &llm.url(), "--concurrency", "64", "--metrics-addr", "off"]);
    run.arg("--data-dir").arg(scratch.path().join("worker")).env("RUST_LOG", "warn");
    let mut worker = Process(run.stdout(Stdio::null()).stderr(log(logs, "worker")?).spawn()?);
    let worker_rss = PeakRss::watch(worker.id());
    let js = async_nats::jetstream::new(async_nats::connect(server.url()).await?);
    let messages = |stream: &'static str| {
        let js = js.clone();
        async move { anyhow::Ok(js.get_stream(stream).await?.info().await?.state.messages) }
    };
    while messages(streams::TASKS).await? > 0 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let worker_s = mining.elapsed().as_secs_f64();
    let published = messages(streams::RESULTS).await? + messages(streams::FAILED).await?;
    let settled_then = settled(&status_json(coordinator())?.0);
    let worker_mb = worker_rss.stop();
    loop {
        let (status, _) = status_json(coordinator())?;
        if settled(&status) >= total && status.is_some_and(|s| s.episodes.complete == episodes as u64) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let collect_s = mining.elapsed().as_secs_f64();
    let pipeline_s = pipeline.elapsed().as_secs_f64();

    // 3. status while the collector runs (its snapshot) and after (the store itself)
    let live_ms = median((0..5).map(|_| status_json(coordinator()).map(|(_, ms)| ms)).collect::<Result<_, _>>()?);
    let collector_mb = collector_rss.stop();
    let collector_now_mb = podmine_tests::procstat::rss_mb(collector.id()).unwrap_or(0.0);
    anyhow::ensure!(terminate(&mut collector, Duration::from_secs(60)).0 == Some(0), "the collector did not stop");
    terminate(&mut worker, Duration::from_secs(60));
    let (status, _) = status_json(coordinator())?;
    let store_ms = median((0..5).map(|_| status_json(coordinator()).map(|(_, ms)| ms)).collect::<Result<_, _>>()?);
    let human = Instant::now();
    anyhow::ensure!(coordinator().args(["status"]).output()?.status.success(), "status failed");
    let human_ms = human.elapsed().as_secs_f64() * 1000.0;

    // 4. export
    let export_path = scratch.path().join("export.jsonl");
    let export = Instant::now();
    let mut exporter = coordinator();
    exporter.args(["export", "--jsonl", "--out"]).arg(&export_path);
    let mut child = exporter.spawn()?;
    let export_rss = PeakRss::watch(child.id());
    anyhow::ensure!(child.wait()?.success(), "export failed");
    let export_s = export.elapsed().as_secs_f64();
    let lines = std::io::BufRead::lines(std::io::BufReader::new(std::fs::File::open(&export_path)?)).count();

    // 5. the dashboard's data endpoints on the settled run (its failures among them)
    let dashboard = dashboard_figures(coordinator(), &server.url(), &out).await?;

    // 6. respec: what changing the prompt of a settled run costs before any re-mining
    let new_prompt = scratch.path().join("new-prompt.txt");
    std::fs::write(&new_prompt, "Mine the claims only.")?;
    let respec = |dry_run: bool| -> anyhow::Result<(f64, f64, String)> {
        let mut command = coordinator();
        command.args(["respec", "--nats", &server.url(), "--prompt"]).arg(&new_prompt);
        if dry_run {
            command.arg("--dry-run");
        }
        let started = Instant::now();
        let child = command.stdout(Stdio::piped()).stderr(Stdio::null()).spawn()?;
        let rss = PeakRss::watch(child.id());
        let output = child.wait_with_output()?;
        anyhow::ensure!(output.status.success(), "respec failed");
        let said = String::from_utf8_lossy(&output.stdout).lines().last().unwrap_or_default().to_owned();
        Ok((started.elapsed().as_secs_f64(), rss.stop(), said))
    };
    let (dry_s, dry_mb, _) = respec(true)?;
    let (respec_s, respec_mb, _) = respec(false)?;
    let (respecced, _) = status_json(coordinator())?;
    let requeued = respecced.map_or(0, |s| s.segments.superseded);
    let queued_now = messages(streams::TASKS).await?;

    let failed = status.as_ref().map_or(0, |s| s.segments.failed);
    let rate = |n: u64, s: f64| n as f64 / s.max(1e-9);
    println!("  stage                 wall s      rate/s   peak RSS");
    println!("  enqueue             {enqueue_s:>8.1}  {:>10.0}   {enqueue_mb:>5.0} MB", rate(total, enqueue_s));
    println!(
        "  worker              {worker_s:>8.1}  {:>10.0}   {worker_mb:>5.0} MB  (acked its last task)",
        rate(total, worker_s)
    );
    println!(
        "  collector           {collect_s:>8.1}  {:>10.0}   {collector_mb:>5.0} MB  (to the last episode file; {collector_now_mb:.0} MB resident then)",
        rate(total, collect_s)
    );
    println!(
        "  export --jsonl      {export_s:>8.1}  {:>10.0}   {:>5.0} MB  ({lines} lines)",
        rate(lines as u64, export_s),
        export_rss.stop()
    );
    println!(
        "  respec --dry-run    {dry_s:>8.1}  {:>10.0}   {dry_mb:>5.0} MB  (counts what a new prompt re-mines)",
        rate(total, dry_s)
    );
    println!(
        "  respec --prompt     {respec_s:>8.1}  {:>10.0}   {respec_mb:>5.0} MB  ({requeued} superseded, {queued_now} tasks queued again)",
        rate(total, respec_s)
    );
    println!(
        "  whole pipeline      {pipeline_s:>8.1}  {:>10.0}              (enqueue to the last episode file)",
        rate(total, pipeline_s)
    );
    println!(
        "  collector keeping up: {settled_then} of {published} published outcomes settled when the worker acked its last \
         task = {:.2} (target ≥ 0.8)",
        settled_then as f64 / published.max(1) as f64
    );
    println!("  status --json: {live_ms:.0} ms while collecting (snapshot), {store_ms:.0} ms from the store; human status {human_ms:.0} ms");
    println!("  dashboard (coordinator dashboard on the settled store; median of 5 requests):");
    for (endpoint, ms, bytes) in &dashboard {
        println!("    {endpoint:<28} {ms:>6.1} ms  {:>9.1} KB", *bytes as f64 / 1e3);
    }
    let store_bytes = disk_bytes(&data);
    println!(
        "  on disk: coordinator store {:.0} MB ({:.0} B per segment), nats-server {:.0} MB, out/ {:.0} MB; {failed} failed",
        store_bytes as f64 / 1e6,
        store_bytes as f64 / total as f64,
        disk_bytes(server.store_dir()) as f64 / 1e6,
        disk_bytes(&out) as f64 / 1e6
    );
    Ok(())
}

fn log(dir: &Path, name: &str) -> anyhow::Result<std::fs::File> {
    Ok(std::fs::File::create(dir.join(format!("{name}.log")))?)
}

/// Serves `coordinator dashboard` on the store and times each endpoint the
/// page reads (median of 5), with its size: (endpoint, ms, bytes).
async fn dashboard_figures(
    mut coordinator: Command,
    nats: &str,
    out: &Path,
) -> anyhow::Result<Vec<(&'static str, f64, usize)>> {
    let port = podmine_tests::nats::free_port();
    let child = coordinator
        .args(["dashboard", "--nats", nats, "--listen", &format!("127.0.0.1:{port}"), "--out"])
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let mut dashboard = Process(child);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let started = Instant::now();
    while client.get(format!("{base}/api/status")).send().await.is_err() {
        anyhow::ensure!(started.elapsed() < Duration::from_secs(30), "the dashboard did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let endpoints = [
        "/",
        "/api/status",
        "/api/series",
        "/api/chart/segments.svg",
        "/api/failures",
        "/api/episodes",
        "/api/episodes?q=episode-04242",
    ];
    let mut figures = Vec::new();
    for endpoint in endpoints {
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..5 {
            let asked = Instant::now();
            let response = client.get(format!("{base}{endpoint}")).send().await?;
            anyhow::ensure!(response.status().is_success(), "{endpoint}: {}", response.status());
            size = response.bytes().await?.len();
            times.push(asked.elapsed().as_secs_f64() * 1000.0);
        }
        figures.push((endpoint, median(times), size));
    }
    terminate(&mut dashboard, Duration::from_secs(30));
    Ok(figures)
}

/// `status --json` (`None` while it cannot answer: the collector holds the
/// store) and how long it took (ms).
fn status_json(mut command: Command) -> anyhow::Result<(Option<Status>, f64)> {
    let started = Instant::now();
    let out = command.args(["status", "--json"]).output()?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok((serde_json::from_slice(&out.stdout).ok(), ms))
}

fn settled(status: &Option<Status>) -> u64 {
    status.as_ref().map_or(0, |s| s.segments.done + s.segments.failed)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// One Whisper JSON file per episode, cues of 5 s with ~13 words each (a
/// 30-second segment carries ~600 bytes of text, as real speech does); one
/// segment in a thousand contains the poison word. Returns (bytes, poisoned).
fn generate(dir: &Path, episodes: usize, segments: usize) -> anyhow::Result<(u64, u64)> {
    const WORDS: [&str; 16] = [
        "model", "podcast", "market", "data", "claim", "people", "really", "think", "because", "network", "future",
        "policy", "value", "question", "system", "learning",
    ];
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let (mut bytes, mut poisoned) = (0u64, 0u64);
    let cues_per_segment = 6;
    for e in 0..episodes {
        let show = dir.join(format!("show-{:02}", e % 50));
        std::fs::create_dir_all(&show)?;
        let path = show.join(format!("episode-{e:05}.json"));
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).context("corpus file")?);
        write!(file, "{{\"language\":\"en\",\"segments\":[")?;
        for c in 0..segments * cues_per_segment {
            let mut text = String::with_capacity(110);
            if (e * segments * cues_per_segment + c).is_multiple_of(cues_per_segment * 1000) {
                text.push_str(POISON);
                poisoned += 1;
            }
            while text.len() < 95 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                text.push(' ');
                text.push_str(WORDS[(seed % 16) as usize]);
            }
            text.push('.');
            let (start, end) = (c as f64 * CUE_MS as f64 / 1000.0, (c + 1) as f64 * CUE_MS as f64 / 1000.0);
            if c > 0 {
                write!(file, ",")?;
            }
            write!(file, "{{\"id\":{c},\"start\":{start:.2},\"end\":{end:.2},\"text\":{}}}", serde_json::json!(text))?;
        }
        writeln!(file, "]}}")?;
        file.flush()?;
        bytes += std::fs::metadata(&path)?.len();
    }
    Ok((bytes, poisoned))
}
