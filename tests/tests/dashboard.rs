//! The live dashboard in a real browser (headless Chromium through
//! ChromeDriver): during a run with the fake LLM the page's counts rise
//! without a reload; a poisoned segment shows under failures with its reason
//! and raw output; "Retry these" (after the poison is lifted) puts it back
//! and it ends mined. Served beyond localhost, a request without the token is
//! refused, as are a page from another origin trying an action and a request
//! naming another host (DNS rebinding).
//!
//! `PODMINE_SCREENSHOT=docs/dashboard.png` keeps the screenshot taken during
//! the run (the README's; `scripts/dashboard-screenshot.sh`).
#![cfg(feature = "slow-tests")] // the slow tier: `cargo test --workspace --features slow-tests`
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use podmine_tests::browser::Browser;
use podmine_tests::fake_llm::{Capacity, FakeLlm, Fault};
use podmine_tests::mining::{srt, terminate, Mining};
use podmine_tests::wait;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const MODEL: &str = "qwen2.5:7b-instruct";
/// The text of segment 7 of each episode: the fake LLM answers it with schema violations.
const POISONED: &str = "Segment number 7 says";

fn number(text: &str) -> u64 {
    text.replace(',', "").trim().parse().unwrap_or(0)
}

/// Waits until `url` answers (the dashboard is up).
async fn until_up(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::get(url).await.is_err() {
        assert!(Instant::now() < deadline, "the dashboard at {url} answers within 20 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn stop(mut child: Child) {
    terminate(&mut child, Duration::from_secs(30));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_follows_a_run_shows_a_failure_and_its_retry_ends_mined() {
    let files = [("show/a.srt", srt(30)), ("show/b.srt", srt(30))];
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, b.as_slice())).collect();
    let mut mining = Mining::enqueue(&refs);
    let total = mining.segments;
    // Two slots, ~0.4 s an answer: the run lasts long enough to watch.
    let capacity = Capacity { slots: 2, tokens_per_s: 500.0, output_tokens: 200, ..Capacity::default() };
    let llm = FakeLlm::start(&[MODEL], capacity).await;
    llm.poison(POISONED, Fault::SchemaViolation);

    let collector = mining
        .coordinator()
        .args(["collect", "--follow", "--nats", &mining.server.url(), "--out"])
        .arg(mining.out_dir())
        .args(["--dashboard", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(mining.log_path("collect")).unwrap())
        .spawn()
        .unwrap();
    // The port it bound, as it says.
    let mut url = String::new();
    wait::until(Duration::from_secs(20), "the collector says where its dashboard is", || {
        url = mining
            .log("collect")
            .split("dashboard at ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or("")
            .to_owned();
        !url.is_empty()
    });
    until_up(&url).await;
    let port = url.trim_end_matches('/').rsplit(':').next().unwrap_or_default().to_owned();

    let browser = Browser::start().await;
    browser.goto(&url).await;
    browser.wait_text("#total", Duration::from_secs(10), "the page shows the run's size", |t| number(t) == total).await;
    // A mark in the page: a reload would lose it.
    browser.run("window.podmineMark = 'not reloaded'; return null;").await;

    let mut worker = mining.worker("w", &llm.url(), &["--concurrency", "2"]);
    let first = browser.wait_text("#done", Duration::from_secs(30), "mined segments appear", |t| number(t) > 0).await;
    let later = browser
        .wait_text("#done", Duration::from_secs(30), "the count rises without a reload", |t| number(t) > number(&first))
        .await;
    assert!(number(&later) < total, "seen while the run was going: {first} then {later} of {total}");

    let kind = browser
        .wait_text(".failure-kind", Duration::from_secs(60), "the poisoned segment shows under failures", |t| {
            !t.is_empty()
        })
        .await;
    assert_eq!(kind, "unusable-answer", "failures are grouped by kind");
    let shot = browser.screenshot().await;
    assert!(shot.starts_with(b"\x89PNG"), "a PNG screenshot");
    if let Ok(path) = std::env::var("PODMINE_SCREENSHOT") {
        std::fs::write(&path, &shot).unwrap();
    }
    let listed = browser.run("return document.querySelector('#failures').textContent;").await;
    assert!(listed.as_str().unwrap().contains("#7 ·"), "the failed segment is named: {listed}");
    let raw = browser.run("return document.querySelector('#failures pre').textContent;").await;
    assert!(
        raw.as_str().unwrap().contains("\"claims\": \"none\"") || raw.as_str().unwrap().contains("\"claims\":\"none\""),
        "its raw output: {raw}"
    );
    browser.wait_text("#failed", Duration::from_secs(60), "both poisoned segments failed", |t| number(t) == 2).await;
    browser.wait_text("#done", Duration::from_secs(60), "every other segment mined", |t| number(t) == total - 2).await;
    let listed = browser.run("return document.querySelector('#failures').textContent;").await;
    let listed = listed.as_str().unwrap();
    assert!(listed.contains("show/a#7") && listed.contains("show/b#7") && listed.contains("2×"), "{listed}");

    llm.clear_poison();
    browser.click(".retry-kind").await;
    browser
        .wait_text("#failed", Duration::from_secs(30), "the retried failure leaves the failures", |t| number(t) == 0)
        .await;
    browser.wait_text("#done", Duration::from_secs(60), "the retried segment ends mined", |t| number(t) == total).await;
    let mark = browser.run("return window.podmineMark;").await;
    assert_eq!(mark, "not reloaded", "the page updated itself without a reload");
    let head = browser.text("#failures-head").await.unwrap_or_default();
    assert!(head.contains("no failure"), "{head}");
    terminate(&mut worker, Duration::from_secs(30));

    // NATS away: the page keeps its figures from the store and says what is stale.
    mining.server.kill();
    let banner = browser
        .wait_text("#banner", Duration::from_secs(20), "the page says NATS does not answer", |t| {
            t.contains("NATS does not answer")
        })
        .await;
    assert!(banner.contains("stale"), "{banner}");
    assert_eq!(number(&browser.text("#done").await.unwrap()), total, "the counts stay");
    let rows = browser.text("#workers").await.unwrap();
    assert!(rows.contains("(stale)"), "the last worker rows seen, marked stale: {rows}");
    mining.server.restart();
    browser.wait_text("#banner", Duration::from_secs(30), "the banner goes once NATS is back", str::is_empty).await;

    // DNS rebinding: a request naming another host is refused, also on localhost.
    let client = reqwest::Client::new();
    let rebound =
        client.get(format!("{url}api/status")).header("Host", format!("evil.example:{port}")).send().await.unwrap();
    assert_eq!(rebound.status(), 403);
    // An action from another origin is refused, also on localhost.
    let foreign = client
        .post(format!("{url}api/retry"))
        .header("Origin", "http://evil.example")
        .json(&serde_json::json!({"all": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    stop(collector);

    // Beyond localhost: the token is needed for everything.
    let mut dashboard = mining
        .coordinator()
        .args(["dashboard", "--nats", &mining.server.url(), "--listen", "0.0.0.0:0", "--out"])
        .arg(mining.out_dir())
        .env("PODMINE_DASHBOARD_TOKEN", "open-sesame")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // "dashboard at http://127.0.0.1:PORT/?token=…": the port it bound.
    let mut said = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(dashboard.stdout.take().unwrap()), &mut said).unwrap();
    let open = said.split("dashboard at ").nth(1).and_then(|r| r.split('?').next()).unwrap_or_default().to_owned();
    assert!(open.starts_with("http://127.0.0.1:"), "{said}");
    until_up(&open).await;
    let refused = client.get(format!("{open}api/status")).send().await.unwrap();
    assert_eq!(refused.status(), 401, "no token, no figures");
    browser.goto(&open).await;
    let page = browser.body_text().await;
    assert!(page.contains("needs its token"), "the page says what is missing: {page}");
    let allowed = client.get(format!("{open}api/status")).bearer_auth("open-sesame").send().await.unwrap();
    assert_eq!(allowed.status(), 200);
    browser.goto(&format!("{open}?token=open-sesame")).await;
    browser
        .wait_text("#done", Duration::from_secs(10), "with the token the page shows the run", |t| number(t) == total)
        .await;
    browser
        .wait_text("#episode-list a", Duration::from_secs(10), "the episodes link their files", |t| {
            t.ends_with(".json")
        })
        .await;
    let file = browser.run("return document.querySelector('#episode-list a').href;").await;
    let file = file.as_str().unwrap().to_owned();
    let episode = client.get(&file).send().await.unwrap();
    assert_eq!(episode.status(), 200, "the episode's output file is linked with the token: {file}");
    let episode: serde_json::Value = episode.json().await.unwrap();
    assert_eq!(episode["counts"]["failed"], 0);
    stop(dashboard);
}
