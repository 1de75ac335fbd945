//! The live dashboard: one page a user leaves open for the week of a run,
//! and the JSON API behind it, served by the process that holds the store
//! (the collector with `--dashboard`, `coordinator run --dashboard`, or
//! `coordinator dashboard` when no collector runs), so retrying a failure
//! and reading its raw output work from the page.
//!
//! - [`guard`]: Host, token and same-origin checks on every request.
//! - [`api`]: the figures as JSON; [`chart`]: the time series as SVG.
//! - `page.html`: the page (HTML, CSS and script in one file, embedded in
//!   the binary: no external asset, works offline and on a phone). It polls
//!   the API every 2 seconds.
//!
//! The store may be closed and reopened under it (a collector paused by a
//! full disk): requests then say the store is not open. When NATS is away
//! the page keeps the last worker rows it saw, marked stale.

pub mod api;
pub mod chart;
pub mod guard;

use crate::failures::{self, Selection};
use crate::store::{Store, StoreSlot};
use async_nats::jetstream;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use protocol::liveness::WorkerRecord;
use runtime::clock::unix_now_ms;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

const PAGE: &str = include_str!("page.html");

/// How long a status request waits for NATS's live parts before it answers
/// with the store's figures and says NATS does not answer.
const LIVE_LIMIT: std::time::Duration = std::time::Duration::from_millis(1500);

/// How the dashboard is served.
#[derive(Clone, Debug)]
pub struct DashboardSettings {
    pub listen: SocketAddr,
    /// Required beyond localhost (made up and printed when not given).
    pub token: Option<String>,
    /// More host names the page may be reached by (`mac-studio.local`).
    pub allow_hosts: Vec<String>,
    /// Where the episode files are (`--out`), to link them.
    pub out: PathBuf,
}

struct Shared {
    store: StoreSlot,
    js: Option<jetstream::Context>,
    out: PathBuf,
    /// The last worker rows NATS gave, shown (stale) while it is away.
    last_workers: Mutex<(u64, Vec<WorkerRecord>)>,
}

/// The address it listens on, and the URL to open (with the token).
pub struct Serving {
    pub url: String,
    pub task: tokio::task::JoinHandle<()>,
}

/// Binds and serves until `cancel`. Prints nothing: the caller says the URL.
pub async fn serve(
    settings: &DashboardSettings,
    store: StoreSlot,
    js: Option<jetstream::Context>,
    cancel: CancellationToken,
) -> anyhow::Result<Serving> {
    let listener = tokio::net::TcpListener::bind(settings.listen).await.map_err(|err| {
        anyhow::anyhow!(
            "cannot serve the dashboard on {}: {err} (choose another with --listen/--dashboard)",
            settings.listen
        )
    })?;
    let bound = listener.local_addr()?;
    // The port requests must name is the one bound (`--listen 127.0.0.1:0` picks one).
    let guard = Arc::new(guard::Guard::new(bound, settings.token.clone(), &settings.allow_hosts));
    let host = if bound.ip().is_unspecified() { "127.0.0.1".to_owned() } else { bound.ip().to_string() };
    let host = if bound.is_ipv6() && !bound.ip().is_unspecified() { format!("[{host}]") } else { host };
    let url = match guard.token() {
        Some(token) => format!("http://{host}:{}/?token={token}", bound.port()),
        None => format!("http://{host}:{}/", bound.port()),
    };
    let shared = Arc::new(Shared { store, js, out: settings.out.clone(), last_workers: Mutex::new((0, Vec::new())) });
    let app = Router::new()
        .route("/", get(page))
        .route("/api/status", get(status))
        .route("/api/series", get(series))
        .route("/api/chart/{metric}", get(chart_svg))
        .route("/api/failures", get(failures_json))
        .route("/api/episodes", get(episodes))
        .route("/api/retry", post(retry))
        .route("/out/{*path}", get(output_file))
        .with_state(shared)
        .layer(axum::middleware::from_fn_with_state(guard, guard::check));
    let task = tokio::spawn(async move {
        let shutdown = async move { cancel.cancelled().await };
        if let Err(err) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
            tracing::error!(error = %err, "the dashboard stopped");
        }
    });
    Ok(Serving { url, task })
}

/// An error as the API answers it: a status and a sentence.
struct Failure(StatusCode, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({"error": self.1}))).into_response()
    }
}

impl From<anyhow::Error> for Failure {
    fn from(err: anyhow::Error) -> Self {
        Failure(StatusCode::INTERNAL_SERVER_ERROR, format!("{err:#}"))
    }
}

fn open(shared: &Shared) -> Result<Store, Failure> {
    shared.store.get().ok_or_else(|| {
        Failure(
            StatusCode::SERVICE_UNAVAILABLE,
            "the store is not open (the collector paused: see its log, e.g. for a full disk)".into(),
        )
    })
}

/// Stored figures are read on a blocking thread (sled reads the disk).
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> anyhow::Result<T> + Send + 'static) -> Result<T, Failure> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(Failure::from),
        Err(err) => Err(Failure(StatusCode::INTERNAL_SERVER_ERROR, err.to_string())),
    }
}

async fn page() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store")], Html(PAGE))
}

/// The `status --json` object, plus `live`: whether NATS answered, and
/// since when the worker rows are (older than now while it is away).
async fn status(State(shared): State<Arc<Shared>>) -> Result<Json<protocol::status::DashboardStatus>, Failure> {
    let store = open(&shared)?;
    let mut status = crate::status::gather(&store, None).await?;
    let live = match &shared.js {
        Some(js) => crate::status::live_parts(js, LIVE_LIMIT).await,
        None => None,
    };
    crate::status::with_live(&mut status, live);
    let now = unix_now_ms();
    let workers_as_of = {
        let mut last = shared.last_workers.lock().unwrap_or_else(|e| e.into_inner());
        if status.queue.reachable {
            *last = (now, status.workers.clone());
            now
        } else {
            status.workers = last.1.clone();
            last.0
        }
    };
    let live = protocol::status::Live {
        nats_reachable: status.queue.reachable,
        workers_as_of_unix_ms: workers_as_of,
        worker_stale_after_s: protocol::liveness::TTL.as_secs(),
    };
    Ok(Json(protocol::status::DashboardStatus { status, live }))
}

async fn series(State(shared): State<Arc<Shared>>) -> Result<Json<api::Series>, Failure> {
    let store = open(&shared)?;
    Ok(Json(blocking(move || api::series(&store)).await?))
}

/// `/api/chart/segments.svg` or `/api/chart/tokens.svg`: per second, over the whole run.
async fn chart_svg(State(shared): State<Arc<Shared>>, Path(metric): Path<String>) -> Result<Response, Failure> {
    let store = open(&shared)?;
    let series = blocking(move || api::series(&store)).await?;
    let per_s = |value: u64| value as f64 / series.point_s.max(1) as f64;
    let (values, unit): (Vec<f64>, &str) = match metric.as_str() {
        "segments.svg" => (series.points.iter().map(|p| per_s(p.1)).collect(), "segments/s"),
        "tokens.svg" => (series.points.iter().map(|p| per_s(p.2)).collect(), "output tokens/s"),
        _ => return Err(Failure(StatusCode::NOT_FOUND, "charts: segments.svg, tokens.svg".into())),
    };
    let first = series.points.first().map_or(0, |p| p.0);
    let svg = chart::svg(&values, first, series.point_s, unit);
    Ok(([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "no-store")], svg).into_response())
}

async fn failures_json(State(shared): State<Arc<Shared>>) -> Result<Json<Vec<api::FailureGroup>>, Failure> {
    let store = open(&shared)?;
    Ok(Json(blocking(move || api::failures(&store)).await?))
}

#[derive(serde::Deserialize)]
struct Search {
    #[serde(default)]
    q: String,
}

async fn episodes(
    State(shared): State<Arc<Shared>>,
    Query(search): Query<Search>,
) -> Result<Json<api::Episodes>, Failure> {
    let store = open(&shared)?;
    Ok(Json(blocking(move || api::episodes(&store, &search.q)).await?))
}

/// What to retry: `{"all": true}`, `{"kind": "unusable-answer"}` (a group's
/// kind as `/api/failures` gives it), `{"reason": "…"}` (a reason as counted:
/// its first 80 characters) or `{"segment": "show/ep#12"}`.
#[derive(serde::Deserialize)]
struct RetryRequest {
    #[serde(default)]
    all: bool,
    kind: Option<protocol::FailureKind>,
    reason: Option<String>,
    segment: Option<String>,
}

/// The same operation as `coordinator retry-failed`.
async fn retry(
    State(shared): State<Arc<Shared>>,
    Json(request): Json<RetryRequest>,
) -> Result<Json<serde_json::Value>, Failure> {
    let selection = match request {
        RetryRequest { segment: Some(segment), .. } => Selection::Segment(segment),
        RetryRequest { kind: Some(kind), .. } => Selection::Kind(kind),
        RetryRequest { reason: Some(reason), .. } => Selection::Reason(reason),
        RetryRequest { all: true, .. } => Selection::All,
        _ => return Err(Failure(StatusCode::BAD_REQUEST, "say what to retry: all, kind, reason or segment".into())),
    };
    let store = open(&shared)?;
    let Some(js) = &shared.js else {
        return Err(Failure(StatusCode::SERVICE_UNAVAILABLE, "no NATS connection: retry from a collector".into()));
    };
    let retried = failures::retry(js, &store, &selection).await.map_err(|err| {
        Failure(StatusCode::SERVICE_UNAVAILABLE, format!("{err:#} (is NATS reachable? try again when it is)"))
    })?;
    tracing::info!(?selection, retried, "failures retried from the dashboard");
    Ok(Json(serde_json::json!({"retried": retried})))
}

/// An episode's output file (only an enqueued episode's, only `.json`).
async fn output_file(State(shared): State<Arc<Shared>>, Path(path): Path<String>) -> Result<Response, Failure> {
    let not_found = || Failure(StatusCode::NOT_FOUND, "no such episode file (yet)".into());
    let id = path.strip_suffix(".json").ok_or_else(not_found)?;
    let id = protocol::EpisodeId::parse(id).map_err(|_| not_found())?;
    let store = open(&shared)?;
    if store.episodes.get(&id)?.is_none() {
        return Err(not_found());
    }
    let file = crate::collect::output::episode_path(&shared.out, &id);
    let bytes = tokio::fs::read(&file).await.map_err(|_| not_found())?;
    Ok(([(header::CONTENT_TYPE, "application/json")], bytes).into_response())
}
