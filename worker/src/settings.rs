//! [`Settings`]: how a worker runs, typed, built from its flags (`worker
//! run`) or by `coordinator run` for its local worker. The prompt and schema
//! files are read here, once, so a bad file is an error before anything starts.
//! What it mines with is the run's spec (see [`crate::spec`]); its own
//! mining flags only have to agree with it.

use crate::cli::{endpoint_url, WorkerOptions};
use crate::llm::endpoints::{Concurrency, Endpoints};
use crate::llm::{Api, LlmClient};
use mining::spec::LocalMining;
use mining::Mining;
use std::path::PathBuf;
use std::time::Duration;

/// Everything a worker needs to know before it starts.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The LLM servers' base URLs.
    pub endpoints: Vec<String>,
    pub api: Api,
    /// This worker's own mining flags: each must agree with the run's spec.
    pub mining: LocalMining,
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
            mining: LocalMining::from_flags(&options.mining)?,
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

    /// One client per LLM server, for `mining`'s model and options.
    pub fn clients(&self, mining: &Mining) -> anyhow::Result<Vec<LlmClient>> {
        self.endpoints.iter().map(|url| self.client(url, mining, self.request_timeout)).collect()
    }

    /// The LLM servers with their limits, as the worker routes calls to them.
    pub fn llm_endpoints(&self, mining: &Mining) -> anyhow::Result<Endpoints> {
        Ok(Endpoints::new(self.clients(mining)?, self.concurrency, self.max_concurrency))
    }

    pub fn client(&self, url: &str, mining: &Mining, timeout: Duration) -> anyhow::Result<LlmClient> {
        LlmClient::new(url, self.api, &mining.spec.model, mining.generation.clone(), timeout)
    }

    /// `--concurrency` as the liveness record shows it.
    pub fn concurrency_label(&self) -> String {
        match self.concurrency {
            Concurrency::Auto => format!("auto (max {})", self.max_concurrency),
            Concurrency::Fixed(n) => n.to_string(),
        }
    }
}
