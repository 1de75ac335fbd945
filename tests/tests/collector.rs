//! The collector's rate is bounded by its store, not by waiting on streams:
//! with thousands of results and nothing on FAILED or the advisories, it
//! drains RESULTS without pausing on the empty streams.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use podmine_tests::fake_llm::{Capacity, FakeLlm};
use podmine_tests::mining::{srt, terminate, Mining};
use podmine_tests::outputs::read_out;
use protocol::streams;
use std::time::{Duration, Instant};

const MODEL: &str = "qwen2.5:7b-instruct";

#[tokio::test(flavor = "multi_thread")]
async fn results_are_drained_without_waiting_on_empty_streams() {
    let episodes: Vec<(String, Vec<u8>)> = (0..20).map(|e| (format!("show/ep-{e}.srt"), srt(300))).collect();
    let refs: Vec<(&str, &[u8])> = episodes.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    let mining = Mining::enqueue(&refs);
    assert!(mining.segments >= 2_900, "{} segments", mining.segments);
    let llm =
        FakeLlm::start(&[MODEL], Capacity { slots: 64, tokens_per_s: 1e9, prompt_ms: 0, ..Capacity::default() }).await;
    let mut worker = mining.worker("a", &llm.url(), &["--concurrency", "32", "--metrics-addr", "off"]);
    mining.wait_settled(Duration::from_secs(120)).await;
    assert_eq!(terminate(&mut worker, Duration::from_secs(20)).0, Some(0));
    assert_eq!((mining.messages(streams::FAILED).await, mining.messages(streams::ADVISORIES).await), (0, 0));

    let started = Instant::now();
    let out = mining
        .coordinator()
        .args(["collect", "--nats", &mining.server.url(), "--out"])
        .arg(mining.out_dir())
        .output()
        .unwrap();
    let took = started.elapsed();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains(&format!("collected {} new outcome(s) (0 duplicate", mining.segments)), "{said}");
    assert_eq!(read_out(&mining.out_dir()).len() as u64, mining.segments);
    eprintln!("{} results collected in {took:?} with FAILED and the advisories empty", mining.segments);
    // A loop that fetched each stream in turn, 256 at a time, waited out 300 ms
    // on each empty one: 12 rounds × 600 ms = 7 s of waiting alone.
    assert!(took < Duration::from_secs(6), "collect took {took:?}: it waits on the empty streams");
}
