//! `worker bench`: how fast is this LLM server at each concurrency, on real
//! segments with the real prompt? Sweeps 1, 2, 4, 8, … calls in flight until
//! throughput stops rising (two steps in a row without a 5% gain), prints a table, marks the knee (the fewest calls
//! in flight within 5% of the best throughput), recommends settings for
//! podmine and the server, and writes the curve as an SVG. Every answer is
//! also validated, repaired and grounded as the worker would: what the prompt
//! and schema in use get out of this model (items per segment, grounded share,
//! empty answers), beside what they cost (prompt and output tokens).
//!
//! `--answers full,compact` runs the whole sweep once per answer mode, on the
//! same segments and the same server, and compares them ([`compare`]).

mod chart;
pub mod compare;

/// Steps in a row without a gain that end the sweep.
const FLAT_STEPS_TO_STOP: usize = 2;

/// The first minutes of a real episode (TWiML #12, Whisper SRT, from the
/// shared corpus): the default segments when no `--corpus` is given.
pub const SAMPLE_EPISODE: &str = include_str!("bench/sample-episode.srt");

use crate::cli::{endpoint_url, BenchArgs};
use crate::llm::{LlmClient, LlmError};
use anyhow::Context;
use futures::stream::{FuturesUnordered, StreamExt};
use mining::Mining;
use protocol::spec::AnswerMode;
use protocol::task::CueMark;
use protocol::{Segment, Task};
use serde_json::Value;
use std::fmt::Write;
use std::time::{Duration, Instant};

/// One concurrency level's measurements.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Step {
    pub concurrency: usize,
    pub calls: usize,
    pub errors: usize,
    pub seconds: f64,
    pub segments_per_s: f64,
    pub output_tokens_per_s: f64,
    pub p50_ms: u64,
    pub p95_ms: u64,
    pub prefill_ms: u64,
    pub decode_ms: u64,
    pub prompt_tokens: u64,
    pub cached_prompt_tokens: u64,
    pub output_tokens: u64,
    /// Answers usable after repair (the rest would be re-asked).
    pub valid: usize,
    pub items: u64,
    pub ungrounded_items: u64,
    /// Real speech answered with every array empty.
    pub empty: u64,
    /// Items of usable answers by kind: claims, jargon, people, mental models.
    pub kinds: [u64; 4],
}

/// The arrays whose items the bench counts, in [`Step::kinds`] order.
pub const KINDS: [&str; 4] = ["claims", "jargon", "people", "mental_models"];

/// How a sweep runs.
#[derive(Clone, Debug)]
pub struct Plan {
    pub max_concurrency: usize,
    /// Calls per step; by default 3 per slot (at least 6).
    pub calls_per_step: Option<usize>,
    /// A step stops starting calls after this long.
    pub step_limit: Duration,
}

/// What a sweep found.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    pub mode: AnswerMode,
    pub steps: Vec<Step>,
    pub knee: Option<usize>,
    pub cache_hit_ratio: f64,
    pub num_ctx: u32,
    pub answers: Answers,
    /// The first usable answer to each sample (by its index), in the full
    /// shape: what the modes are compared on.
    #[serde(skip)]
    pub first_answers: std::collections::BTreeMap<usize, Value>,
}

/// What the answers of the whole sweep held, per answered call.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Answers {
    pub answered: usize,
    pub valid: usize,
    pub prompt_tokens_per_call: f64,
    pub output_tokens_per_call: f64,
    pub items_per_valid: f64,
    /// Share of items whose quotes and times are in their segment.
    pub grounded_share: f64,
    pub empty: u64,
    /// Items per usable answer by kind (see [`KINDS`]).
    pub kinds_per_valid: [f64; 4],
}

impl Answers {
    fn of(steps: &[Step]) -> Self {
        let answered: usize = steps.iter().map(|s| s.calls - s.errors).sum();
        let valid: usize = steps.iter().map(|s| s.valid).sum();
        let items: u64 = steps.iter().map(|s| s.items).sum();
        let ungrounded: u64 = steps.iter().map(|s| s.ungrounded_items).sum();
        let per_call = |sum: u64| if answered > 0 { sum as f64 / answered as f64 } else { 0.0 };
        Self {
            answered,
            valid,
            prompt_tokens_per_call: per_call(steps.iter().map(|s| s.prompt_tokens).sum()),
            output_tokens_per_call: per_call(steps.iter().map(|s| s.output_tokens).sum()),
            items_per_valid: if valid > 0 { items as f64 / valid as f64 } else { 0.0 },
            grounded_share: if items > 0 { 1.0 - ungrounded as f64 / items as f64 } else { 0.0 },
            empty: steps.iter().map(|s| s.empty).sum(),
            kinds_per_valid: std::array::from_fn(|kind| {
                let sum: u64 = steps.iter().map(|s| s.kinds[kind]).sum();
                if valid > 0 {
                    sum as f64 / valid as f64
                } else {
                    0.0
                }
            }),
        }
    }
}

/// A segment and its cue marks, as the segmenter cuts them.
pub type TimedSegment = (Segment, Vec<CueMark>);

/// One segment the bench asks about, with its cue marks (for compact answers).
#[derive(Clone, Debug)]
pub struct Sample {
    pub task: Task,
    pub cues: Vec<CueMark>,
}

/// Builds the samples the sweep sends (real segments, cycled).
pub fn samples_from(segments: Vec<TimedSegment>, title: &str) -> Vec<Sample> {
    let count = segments.len() as u32;
    segments
        .into_iter()
        .map(|(segment, cues)| Sample {
            task: Task {
                segment,
                episode_title: title.to_owned(),
                source_path: String::new(),
                episode_segments: count,
                generation: 0,
            },
            cues,
        })
        .collect()
}

/// Runs the sweep; `progress` is told each finished call.
pub async fn sweep(
    client: &LlmClient,
    mining: &Mining,
    tasks: &[Sample],
    plan: &Plan,
    progress: &(dyn Fn(&str) + Sync),
) -> anyhow::Result<Report> {
    anyhow::ensure!(!tasks.is_empty(), "no segments to send");
    let mut sweeping = Sweeping {
        client,
        mining,
        tasks,
        plan,
        progress,
        next_task: 0,
        first_answers: std::collections::BTreeMap::new(),
    };
    // One call first, not measured: loads the model.
    let (warm, _) = call(client, mining, &tasks[0], 0).await;
    if let Err(err) = warm {
        anyhow::bail!("the LLM server does not answer a first call: {err}");
    }
    let mut steps: Vec<Step> = Vec::new();
    let mut concurrency = 1usize;
    // Steps in a row that did not beat the best. One is not enough to stop:
    // a step can dip by noise, and real servers plateau before rising again
    // (llama-server here: +6% from 1 to 2, +30% from 2 to 4).
    let mut flat = 0;
    loop {
        progress(&format!("concurrency {concurrency}"));
        let step = run_step(&mut sweeping, concurrency).await;
        let best = steps.iter().map(|s| s.output_tokens_per_s).fold(0.0, f64::max);
        flat = if step.output_tokens_per_s > best * crate::llm::tune::GAIN { 0 } else { flat + 1 };
        let mostly_failing = step.errors * 2 > step.calls;
        steps.push(step);
        if flat >= FLAT_STEPS_TO_STOP || mostly_failing || concurrency >= plan.max_concurrency {
            break;
        }
        concurrency = (concurrency * 2).min(plan.max_concurrency);
    }
    let best = steps.iter().map(|s| s.output_tokens_per_s).fold(0.0, f64::max);
    let knee = steps.iter().find(|s| s.output_tokens_per_s >= best * 0.95 && best > 0.0).map(|s| s.concurrency);
    let (prompt_tokens, cached) =
        steps.iter().fold((0, 0), |(p, c), s| (p + s.prompt_tokens, c + s.cached_prompt_tokens));
    let cache_hit_ratio = if prompt_tokens > 0 { cached as f64 / prompt_tokens as f64 } else { 0.0 };
    let num_ctx = mining.spec.num_ctx;
    let answers = Answers::of(&steps);
    let first_answers = sweeping.first_answers;
    Ok(Report { mode: mining.spec.answers, steps, knee, cache_hit_ratio, num_ctx, answers, first_answers })
}

/// One sweep in progress: what it calls with, and where it is.
struct Sweeping<'a> {
    client: &'a LlmClient,
    mining: &'a Mining,
    tasks: &'a [Sample],
    plan: &'a Plan,
    progress: &'a (dyn Fn(&str) + Sync),
    /// The next sample to send (the samples are sent round and round).
    next_task: usize,
    /// Each sample's first usable answer (the compare report reads them).
    first_answers: std::collections::BTreeMap<usize, Value>,
}

/// One step: `concurrency` calls in flight until the plan's calls are made.
async fn run_step(sweeping: &mut Sweeping<'_>, concurrency: usize) -> Step {
    let Sweeping { client, mining, tasks, plan, progress, next_task, first_answers } = sweeping;
    let (client, mining, tasks, plan, progress) = (*client, *mining, *tasks, *plan, *progress);
    let calls = plan.calls_per_step.unwrap_or((3 * concurrency).max(6));
    let started = Instant::now();
    let mut in_flight = FuturesUnordered::new();
    let (mut launched, mut results) = (0usize, Vec::new());
    loop {
        while in_flight.len() < concurrency && launched < calls && started.elapsed() < plan.step_limit {
            let index = *next_task % tasks.len();
            *next_task += 1;
            launched += 1;
            in_flight.push(call(client, mining, &tasks[index], index));
        }
        let Some(result) = in_flight.next().await else { break };
        progress("call");
        results.push(result);
    }
    let seconds = started.elapsed().as_secs_f64().max(1e-3);
    let answers: Vec<&Answer> = results.iter().filter_map(|(r, _)| r.as_ref().ok()).collect();
    for answer in &answers {
        if let Some(mined) = &answer.mined {
            first_answers.entry(answer.sample).or_insert_with(|| mined.clone());
        }
    }
    let mined: Vec<&Value> = answers.iter().filter_map(|a| a.mined.as_ref()).collect();
    let answered: Vec<_> = results.iter().filter_map(|(r, ms)| r.as_ref().ok().map(|a| (&a.usage, *ms))).collect();
    let groundings: Vec<&mining::grounding::Grounding> = answers.iter().filter_map(|a| a.grounding.as_ref()).collect();
    let mut latencies: Vec<u64> = answered.iter().map(|(_, ms)| *ms).collect();
    latencies.sort_unstable();
    let percentile = |p: usize| latencies.get((latencies.len() * p).div_ceil(100).saturating_sub(1)).copied();
    let n = answered.len().max(1) as u64;
    Step {
        concurrency,
        calls: results.len(),
        errors: results.len() - answered.len(),
        seconds,
        segments_per_s: answered.len() as f64 / seconds,
        output_tokens_per_s: answered.iter().map(|(u, _)| u.output_tokens).sum::<u64>() as f64 / seconds,
        p50_ms: percentile(50).unwrap_or(0),
        p95_ms: percentile(95).unwrap_or(0),
        prefill_ms: answered.iter().map(|(u, _)| u.prefill_ms).sum::<u64>() / n,
        decode_ms: answered.iter().map(|(u, _)| u.decode_ms).sum::<u64>() / n,
        prompt_tokens: answered.iter().map(|(u, _)| u.prompt_tokens).sum(),
        cached_prompt_tokens: answered.iter().map(|(u, _)| u.cached_prompt_tokens).sum(),
        output_tokens: answered.iter().map(|(u, _)| u.output_tokens).sum(),
        valid: groundings.len(),
        items: groundings.iter().map(|g| u64::from(g.items)).sum(),
        ungrounded_items: groundings.iter().map(|g| u64::from(g.ungrounded_items())).sum(),
        empty: groundings.iter().filter(|g| g.empty).count() as u64,
        kinds: KINDS.map(|kind| mined.iter().map(|m| m[kind].as_array().map_or(0, Vec::len) as u64).sum()),
    }
}

/// One answered call: which sample, its usage, and when the answer was
/// usable its full-shape answer and grounding.
struct Answer {
    sample: usize,
    usage: protocol::Usage,
    mined: Option<Value>,
    grounding: Option<mining::grounding::Grounding>,
}

/// One call as the miner makes it (in the spec's answer mode), its answer
/// checked as the miner checks it; and its wall time.
async fn call(client: &LlmClient, mining: &Mining, sample: &Sample, index: usize) -> (Result<Answer, LlmError>, u64) {
    let question = mining.question(&sample.task, &sample.cues);
    let request = crate::llm::ChatRequest::new(&mining.prompt, &question.user, mining.spec.num_ctx, 1);
    let started = Instant::now();
    let reply = client.chat(&request).await;
    let elapsed = started.elapsed().as_millis() as u64;
    let segment = &sample.task.segment;
    let answer = reply.map(|reply| {
        let repaired =
            (!reply.truncated).then(|| mining.accept(&question, &reply.content, &sample.task).ok()).flatten();
        let grounding =
            repaired.as_ref().map(|r| mining::grounding::check(&r.output, &segment.text, segment.t0_ms, segment.t1_ms));
        Answer { sample: index, usage: reply.usage, mined: repaired.map(|r| r.output), grounding }
    });
    (answer, elapsed)
}

/// The table, the knee and the recommendations, as printed.
pub fn render(report: &Report, client: &LlmClient) -> String {
    let mut out = table(report);
    match client.api {
        crate::llm::Api::Openai => {
            let _ = writeln!(
                out,
                "prefix cache: {:.0}% of prompt tokens served from cache",
                report.cache_hit_ratio * 100.0
            );
        }
        // Ollama counts only the prompt tokens it evaluated; hits are not reported.
        crate::llm::Api::Ollama => out.push_str("prefix cache: not reported by Ollama\n"),
    }
    let a = &report.answers;
    let _ = writeln!(
        out,
        "answers ({}): {} of {} usable after repair; {:.0} prompt tokens per call, {:.0} output tokens per call; \
         {:.1} items per usable answer, {:.0}% of items grounded; {} empty answer(s) to real speech",
        report.mode,
        a.valid,
        a.answered,
        a.prompt_tokens_per_call,
        a.output_tokens_per_call,
        a.items_per_valid,
        a.grounded_share * 100.0,
        a.empty
    );
    match report.knee {
        Some(knee) => out += &recommendations(report, client, knee),
        None => out.push_str("no call succeeded: check the server's log\n"),
    }
    out
}

/// One row per step, the knee marked.
fn table(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>5} {:>8} {:>10} {:>8} {:>8} {:>9} {:>9} {:>13} {:>6}",
        "conc", "seg/s", "out tok/s", "p50 s", "p95 s", "prefill", "decode", "cached/prompt", "errors"
    );
    for step in &report.steps {
        let knee = if Some(step.concurrency) == report.knee { "  <- knee" } else { "" };
        let _ = writeln!(
            out,
            "{:>5} {:>8.3} {:>10.1} {:>8.1} {:>8.1} {:>7}ms {:>7}ms {:>6}/{:<6} {:>6}{knee}",
            step.concurrency,
            step.segments_per_s,
            step.output_tokens_per_s,
            step.p50_ms as f64 / 1000.0,
            step.p95_ms as f64 / 1000.0,
            step.prefill_ms,
            step.decode_ms,
            step.cached_prompt_tokens,
            step.prompt_tokens,
            step.errors
        );
    }
    out
}

/// The knee and the settings it recommends for podmine and the server.
fn recommendations(report: &Report, client: &LlmClient, knee: usize) -> String {
    let mut out = String::new();
    let best = report.steps.iter().find(|s| s.concurrency == knee).map_or(0.0, |s| s.segments_per_s);
    let _ = writeln!(out, "knee: {knee} calls in flight ({best:.3} segments/s)");
    out.push_str("recommended:\n");
    let _ = writeln!(
        out,
        "  podmine: keep `--concurrency auto` (it finds this point and follows it), or `--concurrency {knee}`; \
         `--max-concurrency {}` is a safe ceiling",
        (knee * 2).max(4)
    );
    match client.api {
        crate::llm::Api::Ollama => {
            let _ = writeln!(
                out,
                "  Ollama: OLLAMA_NUM_PARALLEL={knee} (calls beyond it wait in Ollama's queue), \
                 OLLAMA_FLASH_ATTENTION=1, OLLAMA_KEEP_ALIVE=-1; podmine sends num_ctx={} per request",
                report.num_ctx
            );
            if knee == 1 {
                out.push_str(
                    "  throughput did not grow past one call in flight: Ollama answers OLLAMA_NUM_PARALLEL requests \
                     at once and it is 1 unless set. Set it where Ollama starts (`launchctl setenv \
                     OLLAMA_NUM_PARALLEL 8`, then restart Ollama) and run the bench again\n",
                );
            }
        }
        crate::llm::Api::Openai => {
            let _ = writeln!(
                out,
                "  llama-server: --parallel {knee} --ctx-size {} (each slot needs num_ctx={} tokens), \
                 prompt cache on (the default)",
                knee as u32 * report.num_ctx,
                report.num_ctx
            );
        }
    }
    if report.cache_hit_ratio == 0.0 && client.api == crate::llm::Api::Openai {
        out.push_str(
            "  no prompt tokens came from the prefix cache: the server re-reads the fixed instructions on every \
             call; enable its prompt cache (llama-server: `cache_prompt` is on by default in recent builds)\n",
        );
    }
    out
}

/// The curve as an SVG.
pub fn svg(report: &Report, client: &LlmClient) -> String {
    chart::svg(&format!("podmine bench: {} at {}", client.model, client.endpoint), &report.steps, report.knee)
}

/// `worker bench`: the sweep with a progress bar, the table, the SVG; once
/// per answer mode asked for, then their comparison.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let (segments, title) = bench_segments(args.corpus.as_deref())?;
    let samples = samples_from(segments, &title);
    let modes = match args.mining.answers.as_slice() {
        [] => vec![AnswerMode::Full],
        modes => modes.to_vec(),
    };
    let plan = Plan {
        max_concurrency: args.max_concurrency.max(1),
        calls_per_step: args.calls_per_step,
        step_limit: args.step_limit,
    };
    let mut reports = Vec::new();
    for &mode in &modes {
        let mining = bench_mining(&args.mining, mode, &samples)?;
        let model = mining.spec.model.clone();
        let client = LlmClient::new(
            &endpoint_url(&args.llm),
            args.api,
            &model,
            mining.generation.clone(),
            args.request_timeout,
        )?;
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}: {pos} calls")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        let progress = |event: &str| match event {
            "call" => bar.inc(1),
            step => bar.set_message(format!("{model} {} ({mode} answers): {step}", client.endpoint)),
        };
        let report = sweep(&client, &mining, &samples, &plan, &progress).await?;
        bar.finish_and_clear();
        if modes.len() > 1 {
            println!("== {mode} answers ==");
        }
        print!("{}", render(&report, &client));
        let svg_path = chart_path(&args.svg, mode, modes.len());
        std::fs::write(&svg_path, svg(&report, &client))
            .with_context(|| format!("cannot write {}", svg_path.display()))?;
        println!("chart: {}", svg_path.display());
        reports.push(report);
    }
    let comparison = match reports.as_slice() {
        [first, second, ..] => {
            let comparison = compare::compare(first, second, &samples);
            print!("{}", compare::render(&comparison));
            Some(comparison)
        }
        _ => None,
    };
    if let Some(path) = &args.json {
        let json = match (&comparison, reports.as_slice()) {
            (None, [report]) => serde_json::to_value(report)?,
            _ => serde_json::json!({"modes": reports, "comparison": comparison}),
        };
        std::fs::write(path, serde_json::to_string_pretty(&json)?)?;
    }
    Ok(())
}

/// The chart's file: as given for one mode, `<stem>-<mode>.svg` for several.
fn chart_path(given: &std::path::Path, mode: AnswerMode, modes: usize) -> std::path::PathBuf {
    if modes < 2 {
        return given.to_path_buf();
    }
    let stem = given.file_stem().map_or("podmine-bench".into(), |s| s.to_string_lossy().into_owned());
    given.with_file_name(format!("{stem}-{mode}.svg"))
}

/// The flags' settings as a run would record them (in answer mode `mode`),
/// with one context size for the bench's segments (as a run has one for its corpus).
fn bench_mining(flags: &mining::MiningFlags, mode: AnswerMode, samples: &[Sample]) -> anyhow::Result<Mining> {
    let flags = mining::MiningFlags { answers: vec![mode], ..flags.clone() };
    let local = mining::spec::LocalMining::from_flags(&flags)?;
    let longest = samples.iter().map(|s| mining::ask::user_chars(&s.task, mode)).max().unwrap_or(0);
    Ok(Mining::new(local.new_spec("worker bench".into(), longest)))
}

/// Real segments for the bench: from a corpus folder, or the built-in episode.
fn bench_segments(corpus: Option<&std::path::Path>) -> anyhow::Result<(Vec<TimedSegment>, String)> {
    use transcripts::{corpus as scan, segmenter, transcript};
    const WANTED: usize = 200;
    let mut segments = Vec::new();
    let title = match corpus {
        Some(root) => {
            let found = scan::scan(root).with_context(|| format!("cannot read the corpus {}", root.display()))?;
            for episode in &found.episodes {
                let Some(file) = episode.candidates.first() else { continue };
                let Ok(bytes) = std::fs::read(root.join(file)) else { continue };
                if let Ok(read) = transcript::read(file, &bytes) {
                    segments.extend(segmenter::segment_timed(&episode.id, &read.cues, 30_000));
                }
                if segments.len() >= WANTED {
                    break;
                }
            }
            root.display().to_string()
        }
        None => {
            let id = protocol::EpisodeId::parse("bench/sample").context("sample id")?;
            let read = transcript::read(std::path::Path::new("sample.srt"), SAMPLE_EPISODE.as_bytes())?;
            segments = segmenter::segment_timed(&id, &read.cues, 30_000);
            "built-in sample episode".to_owned()
        }
    };
    anyhow::ensure!(!segments.is_empty(), "no readable transcript segments found");
    segments.truncate(WANTED);
    Ok((segments, title))
}
