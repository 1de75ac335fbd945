//! Worker throughput benchmarks (issue 6), each printing its figures:
//!
//! - `dispatch [TASKS]` (100,000): the fake LLM answers at once; one `worker`
//!   (fixed concurrency 64) takes every task through the whole path (pull,
//!   prompt, HTTP call, repair, encode, outbox, publish result, ack), beside a
//!   raw async-nats pull-and-ack loop over the same number of tasks on the
//!   same server in the same run, and beside loops that do only part of a
//!   task's NATS work ([`Reference`]): the worker's consumer rules alone, and
//!   storing a result before the ack (the most any worker could reach on this
//!   machine). Prints tasks/s of each, its ratio to the raw loop, and the CPU
//!   each process spent per task during the worker's run.
//! - `fleet [SEGMENTS]` (3,000): the fake LLM as a batching server whose best
//!   concurrency is 12 (not podmine's old default of 4): one worker per
//!   setting (4, the users' fixed 7, 8, 12, 16, 24, then auto) mines the
//!   same number of segments; prints seg/s over the whole run and over its
//!   second half (the rate each setting reaches), and auto's ratio to the best.
//!
//! - `real URL BENCH_JSON [SEGMENTS]` (40): a real OpenAI-compatible server
//!   (llama-server + SmolLM2 from `deploy/real-llm.sh`): a worker with
//!   `--concurrency auto` mines SEGMENTS real segments (TWiML #12 from the
//!   shared corpus); its LLM calls/s over the second half, from its own
//!   metrics, beside the best point of `worker bench`'s sweep (BENCH_JSON,
//!   written by `worker bench --json`) on the same server.
//!
//! Run: `scripts/bench-worker.sh dispatch|fleet [N]`, `scripts/bench-real-llm.sh`.

use anyhow::Context;
use async_nats::jetstream::{self, consumer::pull, message::PublishMessage};
use futures::stream::{FuturesUnordered, StreamExt};
use podmine_tests::fake_llm::{Capacity, FakeLlm};
use podmine_tests::mining::{terminate, Process};
use podmine_tests::{binaries, NatsServer};
use protocol::{codec, streams, EpisodeId, Segment, Task};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MODEL: &str = "qwen2.5:7b-instruct";

/// Calls in flight of the worker in the dispatch benchmark, and slots of
/// the loop that pulls as the worker does.
const DISPATCH_CONCURRENCY: usize = 64;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str);
    let number = |i: usize, default: u64| arg(i).map_or(Ok(default), str::parse);
    match arg(0) {
        Some("dispatch") => dispatch(number(1, 100_000)?).await,
        Some("fleet") => fleet(number(1, 3_000)?).await,
        Some("real") => match (arg(1), arg(2)) {
            (Some(url), Some(bench_json)) => real(url, bench_json, number(3, 40)?).await,
            _ => anyhow::bail!("usage: bench-worker real URL BENCH_JSON [SEGMENTS]"),
        },
        _ => anyhow::bail!("usage: bench-worker dispatch|fleet [N] | real URL BENCH_JSON [SEGMENTS]"),
    }
}

/// Publishes `count` tasks of generation `generation` straight to TASKS.
async fn publish_tasks(js: &jetstream::Context, count: u64, generation: u32) -> anyhow::Result<()> {
    let episode = EpisodeId::parse("bench/episode")?;
    let mut acks = FuturesUnordered::new();
    for index in 0..count as u32 {
        let t0 = u64::from(index) * 30_000;
        let segment = Segment {
            episode: episode.clone(),
            index,
            t0_ms: t0,
            t1_ms: t0 + 30_000,
            speaker: Some("Host".into()),
            // The generation in the text makes every batch new work (a new work key):
            // results of the same content would be deduplicated by RESULTS.
            text: format!("Segment {index} (batch {generation}): local models can mine podcast transcripts for claims, people and jargon."),
            times_estimated: false,
        };
        let task = Task {
            segment,
            episode_title: "bench".into(),
            source_path: "bench/episode.srt".into(),
            episode_segments: count as u32,
            generation,
        };
        let message = PublishMessage::build().payload(codec::encode(&task)?.into()).message_id(task.message_id());
        let ack = js.send_publish(protocol::subjects::task(&task.segment.key()), message).await?;
        acks.push(std::future::IntoFuture::into_future(ack));
        while acks.len() >= 1024 {
            acks.next().await.transpose()?;
        }
    }
    while acks.next().await.transpose()?.is_some() {}
    Ok(())
}

async fn messages(js: &jetstream::Context, stream: &str) -> anyhow::Result<u64> {
    Ok(js.get_stream(stream).await?.info().await?.state.messages)
}

fn start_worker(nats: &str, llm: &str, data: &std::path::Path, concurrency: &str) -> anyhow::Result<Process> {
    Ok(Process(
        Command::new(binaries::worker())
            .args(["run", "--nats", nats, "--llm", llm, "--concurrency", concurrency, "--metrics-addr", "off"])
            .args(["--max-concurrency", "64", "--data-dir"])
            .arg(data)
            .env("RUST_LOG", std::env::var("PODMINE_BENCH_LOG").unwrap_or_else(|_| "warn".into()))
            .stdout(Stdio::null())
            .spawn()?,
    ))
}

/// Waits until RESULTS holds `target` messages; returns when each half was reached.
async fn wait_for_results(js: &jetstream::Context, target: u64) -> anyhow::Result<(Instant, Instant)> {
    let mut half = None;
    loop {
        let done = messages(js, streams::RESULTS).await?;
        if half.is_none() && done >= target / 2 {
            half = Some(Instant::now());
        }
        if done >= target {
            return Ok((half.unwrap_or_else(Instant::now), Instant::now()));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A fresh nats-server with the podmine streams, as the coordinator sets them up.
async fn bench_server() -> anyhow::Result<(NatsServer, jetstream::Context)> {
    let server = NatsServer::start();
    let nats = protocol::connect::NatsArgs { url: server.url(), auth: Default::default(), env_file: None };
    let js = protocol::connect::connect(&nats, "bench", protocol::connect::Role::Coordinator).await?;
    Ok((server, js))
}

async fn dispatch(tasks: u64) -> anyhow::Result<()> {
    let (server, js) = bench_server().await?;
    // Instant answers: 1 output token, no prompt time, more slots than calls.
    let capacity = Capacity {
        slots: 1024,
        max_queue: 1024,
        tokens_per_s: 1e9,
        output_tokens: 1,
        prompt_ms: 0,
        scaling: 1.0,
        load_ms: 0,
    };
    let llm = FakeLlm::start(&[MODEL], capacity).await;
    let scratch = tempfile::tempdir()?;

    eprintln!("publishing {tasks} tasks for the worker");
    publish_tasks(&js, tasks, 0).await?;
    let started = Instant::now();
    let mut worker =
        start_worker(&server.url(), &llm.url(), &scratch.path().join("worker"), &DISPATCH_CONCURRENCY.to_string())?;
    let processes = [
        ("worker", Some(worker.id())),
        ("nats-server", server.pid()),
        ("fake LLM (this process)", Some(std::process::id())),
    ];
    let cpu_before = processes.map(|(_, pid)| pid.and_then(cpu_seconds));
    wait_for_results(&js, tasks).await?;
    let worker_s = started.elapsed().as_secs_f64();
    let cpu_after = processes.map(|(_, pid)| pid.and_then(cpu_seconds));
    terminate(&mut worker, Duration::from_secs(60));

    // The reference loops consume from their own consumers (a work queue
    // allows one unfiltered consumer: the workers' goes first).
    let tasks_stream = js.get_stream(streams::TASKS).await?;
    tasks_stream.delete_consumer(streams::WORKERS_CONSUMER).await?;
    let mut references = Vec::new();
    for (generation, reference) in Reference::ALL.into_iter().enumerate() {
        eprintln!("publishing {tasks} tasks for the {}", reference.label());
        publish_tasks(&js, tasks, generation as u32 + 1).await?;
        let seconds = reference.run(&js, &tasks_stream, tasks).await?;
        references.push((reference, seconds));
    }

    let rate = |seconds: f64| tasks as f64 / seconds;
    let raw_s = references.iter().find(|(r, _)| matches!(r, Reference::PullAndAck)).expect("the raw loop ran").1;
    let raw_rate = rate(raw_s);
    println!("dispatch benchmark: {tasks} tasks, fake LLM answering at once, same nats-server, same run");
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!("  on {cores} CPU cores, shared by the worker, nats-server and the fake LLM (this process)");
    println!("  {:<44} {:>9} {:>8} {:>10}", "", "tasks/s", "seconds", "/ raw loop");
    let row = |label: &str, seconds: f64, note: &str| {
        let line =
            format!("  {label:<44} {:>9.0} {seconds:>8.1} {:>10.2}  {note}", rate(seconds), rate(seconds) / raw_rate);
        println!("{}", line.trim_end())
    };
    row(&format!("worker, whole path (concurrency {DISPATCH_CONCURRENCY})"), worker_s, "(target >= 0.5)");
    for (reference, seconds) in &references {
        row(reference.label(), *seconds, "");
    }
    println!("  Each reference loop does only NATS work, no LLM call, no outbox:");
    for (reference, _) in &references {
        println!("    {}: {}", reference.label(), reference.explain());
    }
    println!("  LLM calls {} for {tasks} tasks", llm.requests());
    println!("  CPU per task during the worker's run (where its time goes):");
    for (((name, _), before), after) in processes.iter().zip(cpu_before).zip(cpu_after) {
        match (before, after) {
            (Some(before), Some(after)) => {
                let used = after - before;
                println!(
                    "    {name:<24} {:>6.0} µs  ({:.0}% of a core)",
                    used / tasks as f64 * 1e6,
                    used / worker_s * 100.0
                )
            }
            _ => println!("    {name:<24} n/a (needs Linux /proc)"),
        }
    }
    Ok(())
}

/// CPU seconds (user + system) a process has used, from /proc (Linux).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at the state, field 3.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / clock_ticks_per_second())
}

fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// The loops the worker is measured beside, in the dispatch benchmark.
#[derive(Clone, Copy)]
enum Reference {
    /// The baseline: async-nats at its fastest.
    PullAndAck,
    /// DESIGN's consumer rules and nothing else.
    WorkerRules,
    /// A result stored before each ack, every shortcut taken.
    StoreResult,
    /// A result stored before each ack, acks confirmed (as the worker does).
    StoreResultConfirmed,
}

impl Reference {
    const ALL: [Reference; 4] =
        [Reference::PullAndAck, Reference::WorkerRules, Reference::StoreResult, Reference::StoreResultConfirmed];

    fn label(self) -> &'static str {
        match self {
            Reference::PullAndAck => "raw async-nats pull-and-ack loop",
            Reference::WorkerRules => "pull per free slot, confirmed ack",
            Reference::StoreResult => "store a result, then ack",
            Reference::StoreResultConfirmed => "store a result, then confirmed ack",
        }
    }

    fn explain(self) -> &'static str {
        match self {
            Reference::PullAndAck => "the `messages()` stream (prefetching hundreds), fire-and-forget acks",
            Reference::WorkerRules => {
                "the worker's consumer rules (one task per free slot, as many slots as the worker's calls in flight, \
                 never prefetched; `double_ack`), nothing else"
            }
            Reference::StoreResult => {
                "publish a result with its message id and await the PubAck, then a fire-and-forget ack; \
                 prefetching, 1,024 in flight: the most any worker that stores results before acking could reach here"
            }
            Reference::StoreResultConfirmed => "the same with `double_ack`, as the worker settles a task",
        }
    }

    /// Consumes `tasks` tasks from a consumer of its own; returns the seconds taken.
    async fn run(self, js: &jetstream::Context, stream: &jetstream::stream::Stream, tasks: u64) -> anyhow::Result<f64> {
        let name = format!("reference-{}", self as u8);
        let consumer = stream
            .create_consumer(pull::Config {
                durable_name: Some(name.clone()),
                ack_policy: jetstream::consumer::AckPolicy::Explicit,
                ..Default::default()
            })
            .await?;
        let started = Instant::now();
        match self {
            Reference::PullAndAck => {
                let mut messages = consumer.messages().await?;
                for _ in 0..tasks {
                    let message = messages.next().await.context("the stream ended")?.map_err(anyhow::Error::msg)?;
                    message.ack().await.map_err(anyhow::Error::msg)?;
                }
            }
            Reference::WorkerRules => pull_per_free_slot(&consumer, tasks, DISPATCH_CONCURRENCY).await?,
            Reference::StoreResult | Reference::StoreResultConfirmed => {
                let confirmed = matches!(self, Reference::StoreResultConfirmed);
                let mut messages = consumer.messages().await?;
                let mut settling = FuturesUnordered::new();
                let (mut taken, mut settled) = (0u64, 0u64);
                while settled < tasks {
                    tokio::select! {
                        message = messages.next(), if taken < tasks && settling.len() < 1024 => {
                            let message = message.context("the stream ended")?.map_err(anyhow::Error::msg)?;
                            taken += 1;
                            settling.push(store_result_then_ack(js.clone(), message, confirmed));
                        }
                        done = settling.next(), if !settling.is_empty() => {
                            done.expect("not empty")?;
                            settled += 1;
                        }
                    }
                }
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        stream.delete_consumer(&name).await?;
        Ok(seconds)
    }
}

/// Pulls as the worker does (one pull asks for the free slots, a slot is
/// freed when its task's ack is confirmed), doing nothing else per task.
async fn pull_per_free_slot(
    consumer: &jetstream::consumer::PullConsumer,
    tasks: u64,
    slots: usize,
) -> anyhow::Result<()> {
    let free = Arc::new(tokio::sync::Semaphore::new(slots));
    let mut acking = tokio::task::JoinSet::new();
    let mut taken = 0u64;
    while taken < tasks {
        let mut permits = free.clone().acquire_owned().await?;
        while let Ok(more) = free.clone().try_acquire_owned() {
            permits.merge(more);
        }
        let wanted = (permits.num_permits() as u64).min(tasks - taken) as usize;
        let mut batch = consumer.batch().max_messages(wanted).expires(Duration::from_secs(5)).messages().await?;
        while let Some(message) = batch.next().await {
            let message = message.map_err(anyhow::Error::msg)?;
            let slot = permits.split(1).context("more tasks than asked for")?;
            taken += 1;
            acking.spawn(async move {
                let acked = message.double_ack().await.map_err(anyhow::Error::msg);
                drop(slot);
                acked
            });
        }
        while let Some(acked) = acking.try_join_next() {
            acked??;
        }
    }
    while let Some(acked) = acking.join_next().await {
        acked??;
    }
    Ok(())
}

/// What a worker must do with the server for each task, and nothing else:
/// publish a result (with its message id, PubAck awaited), then ack
/// (`confirmed`: `double_ack`, as the worker does).
async fn store_result_then_ack(
    js: jetstream::Context,
    message: jetstream::Message,
    confirmed: bool,
) -> anyhow::Result<()> {
    let task: Task = codec::decode(&message.payload)?;
    let result_id = format!("result:{}", task.message_id());
    let payload = PublishMessage::build().payload(message.payload.clone()).message_id(result_id);
    js.send_publish(protocol::subjects::result(&task.segment.key()), payload).await?.await?;
    let acked = if confirmed { message.double_ack().await } else { message.ack().await };
    acked.map_err(anyhow::Error::msg)
}

async fn fleet(segments: u64) -> anyhow::Result<()> {
    let (server, js) = bench_server().await?;
    // A batching server with 12 slots: aggregate output grows as n^0.7 up to
    // 12 calls, then calls queue (and past 12 + 64, 503).
    let capacity = Capacity { slots: 12, max_queue: 64, tokens_per_s: 2_000.0, ..Capacity::default() };
    let llm = FakeLlm::start(&[MODEL], capacity).await;
    let scratch = tempfile::tempdir()?;
    let settings = ["4", "7", "8", "12", "16", "24", "auto"];
    let mut rows = Vec::new();
    for (generation, setting) in settings.iter().enumerate() {
        js.get_stream(streams::RESULTS).await?.purge().await?;
        publish_tasks(&js, segments, generation as u32 + 1).await?;
        let started = Instant::now();
        let data = scratch.path().join(format!("worker-{setting}"));
        let mut worker = start_worker(&server.url(), &llm.url(), &data, setting)?;
        let (half, end) = wait_for_results(&js, segments).await?;
        terminate(&mut worker, Duration::from_secs(60));
        let whole = segments as f64 / end.duration_since(started).as_secs_f64();
        let second_half = (segments - segments / 2) as f64 / end.duration_since(half).as_secs_f64();
        eprintln!("  --concurrency {setting:>4}: {whole:.1} seg/s over the run, {second_half:.1} in its second half");
        rows.push((setting.to_string(), whole, second_half));
    }
    let best_fixed = rows.iter().filter(|r| r.0 != "auto").fold(("", 0.0f64, 0.0f64), |b, r| {
        if r.2 > b.2 {
            (r.0.as_str(), r.1, r.2)
        } else {
            b
        }
    });
    let auto = rows.iter().find(|r| r.0 == "auto").expect("auto ran");
    let fixed7 = rows.iter().find(|r| r.0 == "7").expect("7 ran");
    println!("fleet benchmark: {segments} segments per setting, fake batching LLM with 12 slots (best point 12)");
    println!("  {:>14} {:>14} {:>18}", "--concurrency", "seg/s (run)", "seg/s (2nd half)");
    for (setting, whole, second) in &rows {
        println!("  {setting:>14} {whole:>14.1} {second:>18.1}");
    }
    println!(
        "  auto / best fixed ({}): {:.2} over the run, {:.2} in the second half (target >= 0.9); users' fixed 7: {:.2}",
        best_fixed.0,
        auto.1 / best_fixed.1,
        auto.2 / best_fixed.2,
        fixed7.2 / best_fixed.2
    );
    Ok(())
}

/// LLM calls the worker made so far, from its metrics.
fn calls_made(metrics_addr: &str) -> u64 {
    podmine_tests::netns::http_get(&format!("http://{metrics_addr}/metrics"))
        .lines()
        .filter(|l| l.starts_with("podmine_worker_llm_call_seconds_count"))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<u64>().ok()))
        .sum()
}

async fn real(url: &str, bench_json: &str, segments: u64) -> anyhow::Result<()> {
    let bench: serde_json::Value = serde_json::from_slice(&std::fs::read(bench_json)?)?;
    let best = bench["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| (s["concurrency"].as_u64().unwrap_or(0), s["segments_per_s"].as_f64().unwrap_or(0.0)))
        .fold((0, 0.0f64), |b, s| if s.1 > b.1 { s } else { b });
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let episode = root.join("../shared/corpus/bahree-whisper-twiml/twiml-episodes-whisper-transcribed/12_Brendan_Frey_Interview_-_Reprogramming_the_Human_Genome_with_AI.mp3.srt");
    let schema = root.join("deploy/schemas/small-model.json");
    let schema = schema.to_string_lossy();
    let spec = ["--model", "smollm2", "--num-predict", "160", "--schema", &schema];
    let mining = podmine_tests::mining::Mining::enqueue_with(&[("twiml/12.srt", &std::fs::read(&episode)?)], &spec);
    let metrics_addr = format!("127.0.0.1:{}", podmine_tests::nats::free_port());
    let started = Instant::now();
    let mut worker = mining.worker(
        "auto",
        url,
        &["--api", "openai", "--concurrency", "auto", "--max-concurrency", "8", "--metrics-addr", &metrics_addr],
    );
    let settled = || async { mining.messages(streams::RESULTS).await + mining.messages(streams::FAILED).await };
    while settled().await < segments / 2 {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (half, calls_at_half) = (Instant::now(), calls_made(&metrics_addr));
    while settled().await < segments {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let second_half_calls = calls_made(&metrics_addr) - calls_at_half;
    let rate = second_half_calls as f64 / half.elapsed().as_secs_f64();
    let status = mining.coordinator().args(["status", "--nats", &mining.server.url()]).output()?;
    terminate(&mut worker, Duration::from_secs(120));
    println!(
        "real LLM: {url}, {segments} segments of TWiML #12, worker --concurrency auto ({:.0} s)",
        started.elapsed().as_secs_f64()
    );
    println!("  worker bench best point: {:.3} calls/s at {} in flight", best.1, best.0);
    println!("  auto, second half of the run: {rate:.3} calls/s");
    println!("  ratio auto / bench best: {:.2} (target >= 0.9)", rate / best.1.max(1e-9));
    let status = String::from_utf8_lossy(&status.stdout);
    for line in status.lines().filter(|l| l.contains("limit")) {
        println!("  status: {}", line.trim());
    }
    Ok(())
}
