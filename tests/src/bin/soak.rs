//! A bounded soak: ~20k segments mined by three real workers through a fake
//! LLM with faults, while workers, the collector and nats-server are killed
//! (`kill -9`) at random and started again. Stops by itself when every
//! segment is settled or at the time limit, and prints a report:
//! segments, mined, failed, duplicated and lost (both must be 0), LLM
//! answers wasted, restarts. Exit 0 only when nothing was lost or duplicated.
//!
//!   scripts/soak.sh [MINUTES] [EPISODES]      (defaults: 10, 167 = 20,040 segments)

use podmine_tests::fake_llm::{Capacity, FakeLlm, Fault};
use podmine_tests::mining::{srt, Mining, Process};
use podmine_tests::outputs::tally;
use std::time::{Duration, Instant};

const MODEL: &str = "qwen2.5:7b-instruct";
const WORKERS: [&str; 3] = ["w1", "w2", "w3"];
const WORKER_ARGS: [&str; 6] = ["--concurrency", "8", "--ack-wait", "5s", "--request-timeout", "5s"];

/// xorshift, seeded from the clock or PODMINE_SEED (printed, to replay a run).
struct Chaos(u64);

impl Chaos {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[derive(Default, Debug)]
struct Restarts {
    workers: u32,
    collector: u32,
    nats: u32,
    llm_bursts: u32,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let minutes: u64 = args.next().map(|m| m.parse()).transpose()?.unwrap_or(10);
    let episodes: usize = args.next().map(|e| e.parse()).transpose()?.unwrap_or(167);
    let seed = std::env::var("PODMINE_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    }) | 1;
    let mut chaos = Chaos(seed);
    let deadline = Instant::now() + Duration::from_secs(minutes * 60);
    println!("soak: seed {seed} (replay with PODMINE_SEED={seed}), {episodes} episodes, limit {minutes} min");

    let files: Vec<(String, Vec<u8>)> = (0..episodes).map(|i| (format!("soak/{i:04}.srt"), srt(120))).collect();
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    let started = Instant::now();
    let mut mining = Mining::enqueue(&refs);
    println!("soak: enqueued {} segments in {:.1} s", mining.segments, started.elapsed().as_secs_f64());

    let capacity = Capacity { slots: 24, max_queue: 48, tokens_per_s: 6_000.0, ..Capacity::default() };
    let llm = FakeLlm::start(&[MODEL], capacity).await;
    llm.invalid_every(25); // 4% of answers are not JSON: asked again
                           // Segment 77 of every episode always breaks the schema: it must end failed, with its reason.
    llm.poison("Segment number 77 says", Fault::SchemaViolation);
    let mut workers: Vec<Process> = WORKERS.iter().map(|w| mining.worker(w, &llm.url(), &WORKER_ARGS)).collect();
    let mut collect = mining.collect();
    let mut restarts = Restarts::default();
    let mut next_chaos = Instant::now() + Duration::from_secs(2 + chaos.below(4));
    let finished = loop {
        if let Some(status) = collect.try_wait()? {
            if status.success() {
                break true;
            }
            eprintln!("soak: the collector exited with {status}: {}", tail(&mining.log("collect")));
            collect = mining.collect();
            restarts.collector += 1;
        }
        if Instant::now() >= deadline {
            break false;
        }
        if Instant::now() >= next_chaos {
            next_chaos = Instant::now() + Duration::from_millis(1_500 + chaos.below(4_000));
            match chaos.below(10) {
                0..=4 => {
                    let victim = chaos.below(WORKERS.len() as u64) as usize;
                    workers[victim].kill()?;
                    workers[victim].wait()?;
                    workers[victim] = mining.worker(WORKERS[victim], &llm.url(), &WORKER_ARGS);
                    restarts.workers += 1;
                }
                5..=6 => {
                    collect.kill()?;
                    collect.wait()?;
                    collect = mining.collect();
                    restarts.collector += 1;
                }
                7..=8 => {
                    mining.server.kill();
                    tokio::time::sleep(Duration::from_millis(500 + chaos.below(2_500))).await;
                    mining.server.restart();
                    restarts.nats += 1;
                }
                _ => {
                    let burst = [Fault::Status(500), Fault::Status(503), Fault::Hang, Fault::Drop, Fault::Status(502)];
                    llm.inject(burst.iter().cycle().take(5 + chaos.below(20) as usize).cloned());
                    restarts.llm_bursts += 1;
                }
            }
            let settled = mining.messages(protocol::streams::RESULTS).await;
            println!("soak: {:>4} s, {settled} results published, {restarts:?}", started.elapsed().as_secs());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for worker in &mut workers {
        let _ = podmine_tests::mining::terminate(worker, Duration::from_secs(30));
    }

    let out = tally(&mining.out_dir());
    // Segment indices run from 0 without gaps, and every episode is the same file.
    let per_episode = mining.segments / episodes as u64;
    assert_eq!(per_episode * episodes as u64, mining.segments, "episodes of equal length");
    let expected: std::collections::BTreeSet<(String, u64)> =
        (0..episodes).flat_map(|i| (0..per_episode).map(move |index| (format!("soak/{i:04}"), index))).collect();
    let mined = out.values().filter(|copies| copies.iter().any(|(s, _)| s == "mined")).count();
    let failed = out.values().filter(|copies| copies.iter().all(|(s, _)| s == "failed")).count();
    let duplicated = out.values().filter(|copies| copies.len() > 1).count();
    let lost = expected.iter().filter(|key| !out.contains_key(*key)).count();
    let wasted = llm.answered().saturating_sub(mined as u64);
    println!();
    println!(
        "soak report (seed {seed}, {:.1} min{})",
        started.elapsed().as_secs_f64() / 60.0,
        if finished { "" } else { ", STOPPED AT THE TIME LIMIT before every segment settled" }
    );
    println!("  segments     {}", mining.segments);
    println!("  mined        {mined}");
    println!("  failed       {failed}");
    println!("  duplicated   {duplicated}   (must be 0)");
    println!("  lost         {lost}   (must be 0)");
    println!(
        "  LLM requests {}: {} usable answers, {wasted} wasted (answers lost to kills); the rest were injected faults, \
         invalid answers asked again, or 503s",
        llm.requests(),
        llm.answered()
    );
    println!(
        "  restarts     workers {}, collector {}, nats-server {}; LLM fault bursts {}",
        restarts.workers, restarts.collector, restarts.nats, restarts.llm_bursts
    );
    let ok = finished && duplicated == 0 && lost == 0 && mined + failed == expected.len();
    println!("  verdict      {}", if ok { "PASS" } else { "FAIL" });
    std::process::exit(if ok { 0 } else { 1 });
}

fn tail(log: &str) -> String {
    log.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
}
