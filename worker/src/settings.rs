//! [`Settings`]: how a worker runs, typed, built from its flags (`worker
//! run`) or by `coordinator run` for its local worker. The prompt and schema
//! files are read here, once, so a bad file is an error before anything starts.

use crate::answer::prompt::{self, Prompt};
use crate::cli::{endpoint_url, MiningFlags, WorkerOptions};
use crate::llm::endpoints::{Concurrency, Endpoints};
use crate::llm::{Api, Generation, LlmClient};
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long Ollama keeps the model loaded between requests.
const KEEP_ALIVE: &str = "1h";

/// Everything a worker needs to know before it starts.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The LLM servers' base URLs.
    pub endpoints: Vec<String>,
    pub api: Api,
    pub model: String,
    /// The fixed part of every request (instructions and schema, encoded once).
    pub prompt: Prompt,
    pub generation: Generation,
    /// Bounds every HTTP call to an LLM server, so a hung server frees its slot.
    pub request_timeout: Duration,
    pub concurrency: Concurrency,
    /// Ceiling of `Concurrency::Auto`, per server.
    pub max_concurrency: usize,
    /// Where Prometheus metrics are served; `None`: not at all.
    pub metrics_addr: Option<String>,
    pub consume: ConsumeSettings,
}

/// Bounds and timings of the consume loop. How many tasks are held at once
/// follows the LLM endpoints' limits.
#[derive(Clone, Debug)]
pub struct ConsumeSettings {
    /// Requests per second to the LLM server, if capped.
    pub rate: Option<f64>,
    /// How long a task may go without progress before the server redelivers it.
    pub ack_wait: Duration,
    /// On stop, how long in-flight calls may finish before their tasks are handed back.
    pub drain_timeout: Duration,
    /// How often a paused worker checks whether the model appeared.
    pub health_interval: Duration,
    /// Test hook: write this file and wait (to be killed) between the outbox
    /// write and the publish of a result.
    pub pause_before_publish: Option<PathBuf>,
    /// Test hook: write this file and wait (to be killed) between a result's
    /// PubAck and the task's ack.
    pub pause_before_ack: Option<PathBuf>,
}

impl Settings {
    pub fn from_options(options: &WorkerOptions) -> anyhow::Result<Self> {
        anyhow::ensure!(!options.llm.is_empty(), "no --llm given");
        Ok(Self {
            endpoints: options.llm.iter().map(|url| endpoint_url(url)).collect(),
            api: options.api,
            model: options.mining.model.clone(),
            prompt: load_prompt(&options.mining)?,
            generation: generation(&options.mining),
            request_timeout: options.request_timeout,
            concurrency: options.concurrency,
            max_concurrency: options.max_concurrency as usize,
            metrics_addr: (options.metrics_addr != "off").then(|| options.metrics_addr.clone()),
            consume: ConsumeSettings {
                rate: options.rate,
                ack_wait: options.ack_wait,
                drain_timeout: options.drain_timeout,
                health_interval: options.health_interval,
                pause_before_publish: options.test_pause_before_publish.clone(),
                pause_before_ack: options.test_pause_before_ack.clone(),
            },
        })
    }

    /// One client per LLM server.
    pub fn clients(&self) -> anyhow::Result<Vec<LlmClient>> {
        self.endpoints.iter().map(|url| self.client(url, self.request_timeout)).collect()
    }

    /// The LLM servers with their limits, as the worker routes calls to them.
    pub fn llm_endpoints(&self) -> anyhow::Result<Endpoints> {
        Ok(Endpoints::new(self.clients()?, self.concurrency, self.max_concurrency))
    }

    pub fn client(&self, url: &str, timeout: Duration) -> anyhow::Result<LlmClient> {
        LlmClient::new(url, self.api, &self.model, self.generation.clone(), timeout)
    }

    /// `--concurrency` as the liveness record shows it.
    pub fn concurrency_label(&self) -> String {
        match self.concurrency {
            Concurrency::Auto => format!("auto (max {})", self.max_concurrency),
            Concurrency::Fixed(n) => n.to_string(),
        }
    }
}

/// The generation options of `flags`.
pub fn generation(flags: &MiningFlags) -> Generation {
    Generation { num_predict: flags.num_predict, temperature: flags.temperature, keep_alive: KEEP_ALIVE.into() }
}

/// The default miner prompt and schema, or the files given instead.
pub fn load_prompt(flags: &MiningFlags) -> anyhow::Result<Prompt> {
    let instructions = match &flags.prompt {
        Some(path) => read(path, "--prompt")?,
        None => prompt::DEFAULT_INSTRUCTIONS.to_owned(),
    };
    let schema = match &flags.schema {
        Some(path) => serde_json::from_str(&read(path, "--schema")?)
            .with_context(|| format!("--schema {} is not valid JSON", path.display()))?,
        None => prompt::default_schema(),
    };
    let schema = match flags.max_items {
        Some(max) => prompt::cap_items(schema, max),
        None => schema,
    };
    Ok(Prompt::new(instructions, schema))
}

fn read(path: &Path, flag: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {flag} {}", path.display()))
}
