//! A fake LLM server that speaks Ollama's `/api/chat` and `/api/tags` and the
//! OpenAI-compatible `/v1/chat/completions` and `/v1/models` with the real JSON
//! shapes and counters, models a batching server (parallel slots, aggregate
//! throughput rising sub-linearly with concurrency, a bounded queue beyond the
//! slots, 503 past it), models Ollama's model loads (a request whose load
//! options differ from the loaded model's waits for the calls in flight and
//! pays a load; loads are counted), injects faults on request, and has a
//! gate: while it is held, chat answers wait at it (counted), so a test
//! waits for "n calls in flight" and releases them instead of sleeping.
//!
//! A deliberately small HTTP/1.1 server: it only has to serve our own
//! clients. Connections are kept alive between requests, as Ollama's and
//! llama-server's are (a client pays for a TCP connect once, not per call).

use serde_json::{json, Value};
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A fault for one upcoming request.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Answer with this HTTP status (500, 503 queue full, …).
    Status(u16),
    /// Never answer (until the client gives up).
    Hang,
    /// Close the connection without answering.
    Drop,
    /// Answer 200 with content that is not JSON.
    InvalidJson,
    /// Answer 200 with JSON that violates the schema.
    SchemaViolation,
    /// A compact answer whose every item cites sentences the segment does
    /// not have (the worker asks again).
    CitesOutside,
}

/// How the fake server behaves.
#[derive(Clone, Debug)]
pub struct Capacity {
    /// Requests generated in parallel.
    pub slots: usize,
    /// Requests waiting beyond the slots before 503.
    pub max_queue: usize,
    /// Output tokens/s of one stream alone.
    pub tokens_per_s: f64,
    /// Aggregate throughput grows as n^scaling (sub-linear below 1).
    pub scaling: f64,
    pub output_tokens: u64,
    pub prompt_ms: u64,
    /// What loading the model costs (the first request, and every request
    /// with other load options than the loaded model's, as in Ollama).
    pub load_ms: u64,
}

impl Default for Capacity {
    fn default() -> Self {
        Self {
            slots: 4,
            max_queue: 16,
            tokens_per_s: 2_000.0,
            scaling: 0.7,
            output_tokens: 120,
            prompt_ms: 5,
            load_ms: 600,
        }
    }
}

/// The options that make Ollama load the model again when they change
/// (its scheduler compares them with the loaded runner's); sampling options
/// (temperature, seed, num_predict) do not.
const LOAD_OPTIONS: [&str; 6] = ["num_ctx", "num_batch", "num_gpu", "main_gpu", "num_thread", "use_mmap"];

#[derive(Default)]
struct State {
    capacity: Mutex<Capacity>,
    models: Mutex<HashSet<String>>,
    faults: Mutex<VecDeque<Fault>>,
    /// Faults for every request whose segment text contains the key.
    poison: Mutex<Vec<(String, Fault)>>,
    /// Every n-th request answers invalid JSON (0 = never).
    invalid_every: AtomicU64,
    requests: AtomicU64,
    /// Requests answered with a usable result (no fault, not refused).
    answered: AtomicU64,
    generating: AtomicUsize,
    waiting: AtomicUsize,
    /// Bumped when the server goes down: older connections close.
    lifetime: tokio::sync::watch::Sender<u64>,
    calls: Mutex<HashMap<String, u64>>,
    /// The model and load options loaded (`None`: nothing, or being reloaded).
    loaded: Mutex<Option<String>>,
    /// One load at a time.
    loading: tokio::sync::Mutex<()>,
    loads: AtomicU64,
    /// Chat requests by the `num_ctx` they asked for (0: none given).
    num_ctx: Mutex<std::collections::BTreeMap<u64, u64>>,
    /// `true` while the gate is held: chat answers wait until it is released.
    gate: tokio::sync::watch::Sender<bool>,
    /// Chat requests waiting at the gate.
    at_gate: AtomicUsize,
}

/// A running fake server; stops when dropped.
pub struct FakeLlm {
    pub addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeLlm {
    /// Starts on a free port on 127.0.0.1, serving `models`.
    pub async fn start(models: &[&str], capacity: Capacity) -> Self {
        Self::start_on(0, models, capacity).await
    }

    pub async fn start_on(port: u16, models: &[&str], capacity: Capacity) -> Self {
        Self::start_at("127.0.0.1", port, models, capacity).await
    }

    /// Starts on `host:port` (`0.0.0.0` to be reached from outside a network namespace).
    pub async fn start_at(host: &str, port: u16, models: &[&str], capacity: Capacity) -> Self {
        let state = Arc::new(State::default());
        *state.capacity.lock().expect("lock") = capacity;
        state.models.lock().expect("lock").extend(models.iter().map(|m| m.to_string()));
        let (addr, task) = listen(host, port, state.clone()).await;
        Self { addr, state, task }
    }

    /// The server goes away: new connections are refused and open ones are
    /// closed before their next request (calls already being generated
    /// still finish).
    pub fn go_down(&self) {
        self.state.lifetime.send_modify(|lifetime| *lifetime += 1);
        self.task.abort();
    }

    /// The server is back on the same port, with the same state and counters.
    pub async fn come_back(&mut self) {
        self.task.abort();
        let _ = (&mut self.task).await; // the old listener is closed
        let (_, task) = listen(&self.addr.ip().to_string(), self.addr.port(), self.state.clone()).await;
        self.task = task;
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn add_model(&self, model: &str) {
        self.state.models.lock().expect("lock").insert(model.to_owned());
    }

    /// Queues faults for the next requests, in order.
    pub fn inject(&self, faults: impl IntoIterator<Item = Fault>) {
        self.state.faults.lock().expect("lock").extend(faults);
    }

    /// Every request for a segment whose text contains `needle` gets `fault`.
    pub fn poison(&self, needle: &str, fault: Fault) {
        self.state.poison.lock().expect("lock").push((needle.to_owned(), fault));
    }

    pub fn clear_poison(&self) {
        self.state.poison.lock().expect("lock").clear();
    }

    pub fn invalid_every(&self, n: u64) {
        self.state.invalid_every.store(n, Ordering::Relaxed);
    }

    pub fn set_capacity(&self, capacity: Capacity) {
        *self.state.capacity.lock().expect("lock") = capacity;
    }

    /// Chat requests received (including faulted ones).
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }

    /// Requests answered with a usable result: each mined segment needs one;
    /// more means answers were lost (a worker killed mid-call).
    pub fn answered(&self) -> u64 {
        self.state.answered.load(Ordering::Relaxed)
    }

    /// Chat requests per `segment_id`.
    pub fn calls(&self) -> HashMap<String, u64> {
        self.state.calls.lock().expect("lock").clone()
    }

    /// Model loads so far (the first included).
    pub fn loads(&self) -> u64 {
        self.state.loads.load(Ordering::Relaxed)
    }

    /// Chat requests by the `num_ctx` they carried.
    pub fn num_ctx_seen(&self) -> std::collections::BTreeMap<u64, u64> {
        self.state.num_ctx.lock().expect("lock").clone()
    }

    /// Requests being generated right now.
    pub fn generating(&self) -> usize {
        self.state.generating.load(Ordering::Relaxed)
    }

    /// Holds every chat answer from now on at the gate (after its request is
    /// counted and its fault, if any, is decided; before it is generated).
    pub fn hold(&self) {
        self.state.gate.send_replace(true);
    }

    /// Lets the answers held at the gate, and every later one, through.
    pub fn release(&self) {
        self.state.gate.send_replace(false);
    }

    /// Chat requests waiting at the gate.
    pub fn at_gate(&self) -> usize {
        self.state.at_gate.load(Ordering::SeqCst)
    }

    /// Waits until `calls` requests wait at the gate (panics after `limit`).
    pub async fn wait_at_gate(&self, calls: usize, limit: Duration) {
        crate::wait::until_async(limit, &format!("{calls} call(s) held at the fake LLM's gate"), || async {
            self.at_gate() >= calls
        })
        .await;
    }
}

/// Waits while the gate is held; counted in `at_gate` meanwhile (also when
/// the call is dropped there).
async fn pass_gate(state: &State) {
    struct AtGate<'s>(&'s AtomicUsize);
    impl Drop for AtGate<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let mut held = state.gate.subscribe();
    if !*held.borrow_and_update() {
        return;
    }
    state.at_gate.fetch_add(1, Ordering::SeqCst);
    let _counted = AtGate(&state.at_gate);
    let _ = held.wait_for(|held| !held).await;
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn listen(host: &str, port: u16, state: Arc<State>) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind((host, port)).await.expect("bind the fake LLM");
    let addr = listener.local_addr().expect("address");
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(serve(stream, state.clone()));
        }
    });
    (addr, task)
}

/// Serves requests on one connection until the client closes it, a fault
/// drops it, or the server goes down.
async fn serve(mut stream: TcpStream, state: Arc<State>) {
    let mut down = state.lifetime.subscribe();
    let mut buffer = Vec::with_capacity(8192);
    loop {
        let request = tokio::select! {
            request = read_request(&mut stream, &mut buffer) => request,
            _ = down.changed() => None, // went down: close, as a dead server would
        };
        let Some(request) = request else { return };
        let Some((status, reply)) = answer(&state, &request).await else { return };
        let body = reply.to_string();
        let connection = if request.close { "close" } else { "keep-alive" };
        // One write: a head and body in two segments stall on Nagle + delayed ACK.
        let response = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
        if request.close || down.has_changed().unwrap_or(true) {
            let _ = stream.shutdown().await;
            return;
        }
    }
}

/// The answer to one request; `None` = drop the connection (or hang).
async fn answer(state: &State, request: &Request) -> Option<(u16, Value)> {
    Some(match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/api/tags") => {
            let models: Vec<Value> =
                state.models.lock().expect("lock").iter().map(|m| json!({"name": m, "model": m})).collect();
            (200, json!({"models": models}))
        }
        ("GET", "/v1/models") => {
            let models: Vec<Value> =
                state.models.lock().expect("lock").iter().map(|m| json!({"id": m, "object": "model"})).collect();
            (200, json!({"object": "list", "data": models}))
        }
        ("GET", "/health") => (200, json!({"status": "ok"})),
        // The test's own counters, for a fake LLM running in another process.
        ("GET", "/stats") => (
            200,
            json!({"requests": state.requests.load(Ordering::Relaxed),
                   "answered": state.answered.load(Ordering::Relaxed),
                   "loads": state.loads.load(Ordering::Relaxed),
                   "num_ctx": *state.num_ctx.lock().expect("lock")}),
        ),
        ("POST", "/api/chat") => chat(state, &request.body, false).await?,
        ("POST", "/v1/chat/completions") => chat(state, &request.body, true).await?,
        _ => (404, json!({"error": "not found"})),
    })
}

struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
    /// The client asked to close the connection after this request.
    close: bool,
}

/// Reads one request from `stream`; `buffer` carries bytes read past it.
async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Request> {
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..header_end]).into_owned();
    let mut lines = head.lines();
    let mut request_line = lines.next()?.split_whitespace();
    let (method, path) = (request_line.next()?.to_owned(), request_line.next()?.to_owned());
    let headers: Vec<(&str, &str)> = lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k, v.trim())).collect();
    let header = |name: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| *v);
    let length = header("content-length").and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
    let close = header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
    while buffer.len() < header_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let body = buffer[header_end..header_end + length].to_vec();
    buffer.drain(..header_end + length);
    Some(Request { method, path, body, close })
}

/// What the fake reads of a chat request (both APIs).
#[derive(Default, serde::Deserialize)]
struct ChatBody {
    #[serde(default)]
    model: String,
    #[serde(default)]
    messages: Vec<ChatMessage>,
    /// The schema (Ollama `format`, OpenAI `response_format`), kept as text:
    /// only whether it is the users' `miner_output.v1` is looked at.
    #[serde(default)]
    format: Option<Box<serde_json::value::RawValue>>,
    #[serde(default)]
    response_format: Option<Box<serde_json::value::RawValue>>,
    /// Ollama's options (OpenAI requests have none).
    #[serde(default)]
    options: serde_json::Map<String, Value>,
}

impl ChatBody {
    /// The model and the options that decide whether it must be loaded again.
    fn load_key(&self) -> String {
        let options: Vec<String> = LOAD_OPTIONS
            .iter()
            .filter_map(|name| self.options.get(*name).map(|value| format!("{name}={value}")))
            .collect();
        format!("{} {}", self.model, options.join(" "))
    }

    /// The users' schema has flat `evidence_quote`s; podmine's default has spans.
    fn wants_their_shape(&self) -> bool {
        self.schema_has("evidence_quote")
    }

    /// A compact answer's schema cites sentence numbers under `"e"`.
    fn wants_compact(&self) -> bool {
        self.schema_has(r#""e":{"#)
    }

    fn schema_has(&self, needle: &str) -> bool {
        [&self.format, &self.response_format].iter().any(|f| f.as_ref().is_some_and(|raw| raw.get().contains(needle)))
    }
}

#[derive(serde::Deserialize)]
struct ChatMessage {
    #[serde(default)]
    content: String,
}

/// One chat request through the capacity model; `None` = drop the connection.
async fn chat(state: &State, body: &[u8], openai: bool) -> Option<(u16, Value)> {
    // Only the fields it reads: the schema and options are skipped, not built.
    let request: ChatBody = serde_json::from_slice(body).unwrap_or_default();
    let (their_shape, compact) = (request.wants_their_shape(), request.wants_compact());
    let load_key = request.load_key();
    let num_ctx = request.options.get("num_ctx").and_then(Value::as_u64).unwrap_or(0);
    *state.num_ctx.lock().expect("lock").entry(num_ctx).or_default() += 1;
    let model = request.model;
    let message = |i: usize| request.messages.get(i).map_or("", |m| m.content.as_str());
    let (instructions_len, user) = (message(0).len(), message(1).to_owned());
    let segment: Value = user.split_once('\n').and_then(|(_, j)| serde_json::from_str(j).ok()).unwrap_or(Value::Null);
    let segment_id = segment["segment_id"].as_str().unwrap_or("?").to_owned();
    let number = state.requests.fetch_add(1, Ordering::Relaxed) + 1;
    *state.calls.lock().expect("lock").entry(segment_id).or_default() += 1;
    if !state.models.lock().expect("lock").contains(&model) {
        let error = format!("model \"{model}\" not found, try pulling it first");
        return Some((
            404,
            if openai {
                json!({"error": {"message": error, "type": "invalid_request_error"}})
            } else {
                json!({"error": error})
            },
        ));
    }
    // A compact request numbers the sentences ("3 Ada: …") instead of sending the text.
    let text = match segment["sentences"].as_array() {
        Some(sentences) => sentences.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "),
        None => segment["text"].as_str().unwrap_or("").to_owned(),
    };
    let fault = state.faults.lock().expect("lock").pop_front().or_else(|| {
        state
            .poison
            .lock()
            .expect("lock")
            .iter()
            .find(|(needle, _)| text.contains(needle.as_str()))
            .map(|(_, f)| f.clone())
    });
    let every = state.invalid_every.load(Ordering::Relaxed);
    let fault = fault.or_else(|| (every > 0 && number.is_multiple_of(every)).then_some(Fault::InvalidJson));
    match &fault {
        Some(Fault::Status(code)) => {
            let message = if *code == 503 {
                "server busy, please try again.  maximum pending requests exceeded"
            } else {
                "internal error"
            };
            return Some((*code, json!({"error": message})));
        }
        Some(Fault::Hang) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return None;
        }
        Some(Fault::Drop) => return None,
        _ => {}
    }
    pass_gate(state).await;
    let capacity = state.capacity.lock().expect("lock").clone();
    let load_ms = load(state, &load_key, capacity.load_ms).await;
    // Queue beyond the slots; 503 past the queue, as Ollama does.
    let waiting = state.waiting.fetch_add(1, Ordering::SeqCst);
    if waiting >= capacity.slots + capacity.max_queue {
        state.waiting.fetch_sub(1, Ordering::SeqCst);
        return Some((503, json!({"error": "server busy, please try again.  maximum pending requests exceeded"})));
    }
    let queued = std::time::Instant::now();
    while state.generating.load(Ordering::SeqCst) >= capacity.slots {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let active = state.generating.fetch_add(1, Ordering::SeqCst) + 1;
    state.waiting.fetch_sub(1, Ordering::SeqCst);
    let queue_ms = queued.elapsed().as_millis() as u64;
    let per_stream = capacity.tokens_per_s * (active as f64).powf(capacity.scaling - 1.0);
    let decode_ms = (capacity.output_tokens as f64 / per_stream * 1000.0) as u64;
    tokio::time::sleep(Duration::from_millis(capacity.prompt_ms + decode_ms)).await;
    state.generating.fetch_sub(1, Ordering::SeqCst);
    let content = match fault {
        Some(Fault::InvalidJson) => "Sure! Here are the claims: claims: [".to_owned(),
        Some(Fault::SchemaViolation) => json!({"claims": "none", "people": 7}).to_string(),
        Some(Fault::CitesOutside) => {
            json!({"c": [{"t": "A claim", "k": "factual", "s": "asserts", "e": [999]}], "j": [], "p": [], "m": []})
                .to_string()
        }
        _ => {
            state.answered.fetch_add(1, Ordering::Relaxed);
            if compact {
                mined_compact(&segment)
            } else if their_shape {
                mined_their_way(&segment)
            } else {
                mined(&segment).to_string()
            }
        }
    };
    let prompt_tokens = (instructions_len + user.len()) as u64 / 4;
    let cached = prompt_tokens.saturating_sub(user.len() as u64 / 4);
    let total_ms = load_ms + queue_ms + capacity.prompt_ms + decode_ms;
    Some((
        200,
        if openai {
            json!({
                "id": format!("chatcmpl-{number}"), "object": "chat.completion", "created": 0, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": capacity.output_tokens,
                          "total_tokens": prompt_tokens + capacity.output_tokens, "prompt_tokens_details": {"cached_tokens": cached}},
                "timings": {"prompt_n": prompt_tokens - cached, "prompt_ms": capacity.prompt_ms as f64, "cache_n": cached,
                            "predicted_n": capacity.output_tokens, "predicted_ms": decode_ms as f64},
            })
        } else {
            json!({
                "model": model, "created_at": "2026-11-26T00:00:00Z",
                "message": {"role": "assistant", "content": content}, "done": true, "done_reason": "stop",
                "total_duration": total_ms * 1_000_000, "load_duration": load_ms * 1_000_000,
                "prompt_eval_count": prompt_tokens - cached, "prompt_eval_duration": capacity.prompt_ms * 1_000_000,
                "eval_count": capacity.output_tokens, "eval_duration": decode_ms * 1_000_000,
            })
        },
    ))
}

/// Loads the model with `key`'s options unless they are loaded: as Ollama's
/// scheduler, it waits for the calls in flight on the old load, then pays
/// `load_ms`. Returns the time this request paid (its `load_duration`).
async fn load(state: &State, key: &str, load_ms: u64) -> u64 {
    if state.loaded.lock().expect("lock").as_deref() == Some(key) {
        return 0;
    }
    let _one_load = state.loading.lock().await;
    if state.loaded.lock().expect("lock").as_deref() == Some(key) {
        return 0; // loaded by the request before this one
    }
    // Unloading: no new call starts on the old load meanwhile.
    *state.loaded.lock().expect("lock") = None;
    while state.generating.load(Ordering::SeqCst) > 0 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    tokio::time::sleep(Duration::from_millis(load_ms)).await;
    *state.loaded.lock().expect("lock") = Some(key.to_owned());
    state.loads.fetch_add(1, Ordering::Relaxed);
    load_ms
}

/// Stance and claim-type words a model answers with, the users' synonyms among them.
const THEIR_STANCES: [&str; 6] = ["denies", "asks", "inquires", "ambiguous", "uncertain", "asserts"];
const THEIR_TYPES: [&str; 3] = ["analytical", "assumption", "factual"];

/// An answer in the users' `miner_output.v1` shape, varied by the segment's
/// index: their synonyms for stance and type, `MM:SS` times, jargon without
/// `context_quote`, every fourth reply wrapped in a list, and every fifth
/// with a quote that is not in the segment (ungrounded).
fn mined_their_way(segment: &Value) -> String {
    let text = segment["text"].as_str().unwrap_or("");
    let index: usize = segment["segment_id"].as_str().and_then(|id| id.rsplit('_').next()?.parse().ok()).unwrap_or(0);
    let start = segment["timestamp_start"].as_str().unwrap_or("00:00:00");
    let mm_ss = protocol::timestamp::parse_clock(start).map_or("00:00".to_owned(), |ms| {
        let s = ms / 1000;
        format!("{:02}:{:02}", s / 60, s % 60)
    });
    let sentence: String =
        text.split_inclusive(['.', '?', '!']).next().unwrap_or(text).trim().chars().take(300).collect();
    let quote = if index % 5 == 4 { "Nobody said this in the segment at all".to_owned() } else { sentence.clone() };
    let claims = if sentence.chars().count() >= 10 {
        json!([{"claim_text": sentence, "claim_type": THEIR_TYPES[index % 3], "stance": THEIR_STANCES[index % 6],
                "timestamp": mm_ss, "evidence_quote": quote, "evidence_timestamp": mm_ss}])
    } else {
        json!([])
    };
    let term =
        text.split_whitespace().max_by_key(|w| w.len()).unwrap_or("term").trim_matches(|c: char| !c.is_alphanumeric());
    let answer = json!({"claims": claims, "jargon": [{"term": term, "definition": "a word the speakers use"}],
                        "people": [], "mental_models": []});
    if index % 4 == 3 {
        json!([answer]).to_string()
    } else {
        answer.to_string()
    }
}

/// A compact answer (sentence numbers under short keys): the first sentence
/// of ten characters or more as a claim citing it, the longest word of the
/// last sentence as jargon citing that one, and a person citing sentence 1
/// and every sentence after it up to 3 (a span).
fn mined_compact(segment: &Value) -> String {
    let sentences: Vec<&str> =
        segment["sentences"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    // "3 Ada: text" / "3 text" → text
    let text_of = |line: &str| {
        let rest = line.split_once(' ').map_or("", |(_, rest)| rest);
        rest.split_once(": ")
            .filter(|(name, _)| !name.contains(' ') || name.len() < 30)
            .map_or(rest, |(_, t)| t)
            .to_owned()
    };
    let claims: Vec<Value> = sentences
        .iter()
        .enumerate()
        .find(|(_, line)| text_of(line).chars().count() >= 10)
        .map(|(i, line)| json!({"t": text_of(line), "k": "factual", "s": "asserts", "e": [i + 1]}))
        .into_iter()
        .collect();
    let last = sentences.len();
    let term = sentences.last().map(|line| text_of(line)).unwrap_or_default();
    let term =
        term.split_whitespace().max_by_key(|w| w.len()).unwrap_or("term").trim_matches(|c: char| !c.is_alphanumeric());
    let people = if last > 0 {
        json!([{"n": "Ada", "r": "host", "e": (1..=last.min(3)).collect::<Vec<_>>()}])
    } else {
        json!([])
    };
    let jargon = if last > 0 { json!([{"n": term, "d": "a word the speakers use", "e": [last]}]) } else { json!([]) };
    json!({"c": claims, "j": jargon, "p": people, "m": []}).to_string()
}

/// A plausible `miner_output v1` for the segment: its first sentence as a claim.
fn mined(segment: &Value) -> Value {
    let text = segment["text"].as_str().unwrap_or("");
    let start = segment["timestamp_start"].as_str().unwrap_or("00:00:00");
    let end = segment["timestamp_end"].as_str().unwrap_or(start);
    let sentence: String = text.split_inclusive(['.', '?', '!']).next().unwrap_or(text).chars().take(300).collect();
    let claims = if sentence.trim().chars().count() >= 10 {
        json!([{"claim_text": sentence.trim(), "claim_type": "factual", "stance": "asserts",
                "evidence_spans": [{"quote": sentence.trim().chars().take(80).collect::<String>(), "t0": start, "t1": end}]}])
    } else {
        json!([])
    };
    json!({"claims": claims, "jargon": [], "people": [], "mental_models": []})
}
