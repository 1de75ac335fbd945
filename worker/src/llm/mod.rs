//! LLM clients: Ollama's `/api/chat` and OpenAI-compatible
//! `/v1/chat/completions` (llama-server, LM Studio, vLLM, mlx_lm.server),
//! behind one [`LlmClient`]; errors classified once ([`error`]); the servers
//! one worker calls, with their limits ([`endpoints`], tuned by [`tune`]) and
//! the model reloads their servers report ([`reloads`]).

pub mod endpoints;
pub mod error;
mod ollama;
mod openai;
pub mod reloads;
pub mod tune;

use error::{classify_status, classify_transport};
pub use error::{ErrorKind, LlmError};

use protocol::Usage;
use serde_json::value::RawValue;
use serde_json::Value;
use std::time::Duration;

/// Which API the server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Api {
    /// Ollama's /api/chat.
    Ollama,
    /// OpenAI-compatible /v1/chat/completions (llama-server, LM Studio, vLLM, mlx_lm.server).
    Openai,
}

pub use mining::Generation;

/// One request: fixed instructions first, the segment last. The fixed parts
/// come encoded as JSON already (see `mining::prompt`).
#[derive(Clone, Debug)]
pub struct ChatRequest<'a> {
    /// The instructions as a JSON string.
    pub instructions: &'a RawValue,
    pub user: &'a str,
    pub schema: &'a RawValue,
    pub num_ctx: u32,
    pub seed: u64,
}

/// One chat message as both APIs spell it.
#[derive(serde::Serialize)]
struct Message<'a, Content: serde::Serialize + ?Sized> {
    role: &'static str,
    content: &'a Content,
}

/// The system message (encoded instructions) and the user message, a JSON array.
type Messages<'a> = (Message<'a, RawValue>, Message<'a, str>);

impl<'a> ChatRequest<'a> {
    /// The request for one ask of `prompt`: its fixed parts first, then `user`.
    pub fn new(prompt: &'a mining::prompt::Prompt, user: &'a str, num_ctx: u32, seed: u64) -> Self {
        Self { instructions: prompt.instructions_json(), user, schema: prompt.schema_json(), num_ctx, seed }
    }

    /// Fixed instructions first (the cacheable prefix), the segment last.
    fn messages(&self) -> Messages<'_> {
        (Message { role: "system", content: self.instructions }, Message { role: "user", content: self.user })
    }
}

/// What came back, with the server's own counters.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatReply {
    pub content: String,
    pub usage: Usage,
    /// The answer stopped at the output limit: not a usable result.
    pub truncated: bool,
    /// Time the server spent loading the model for this request (Ollama's
    /// `load_duration`; 0 where the API does not say).
    pub load_ms: u64,
}

/// A client for one endpoint and model.
#[derive(Clone, Debug)]
pub struct LlmClient {
    http: reqwest::Client,
    pub endpoint: String,
    pub api: Api,
    pub model: String,
    pub generation: Generation,
}

impl LlmClient {
    /// `request_timeout` bounds every HTTP call, so a hung server frees the slot.
    pub fn new(
        endpoint: &str,
        api: Api,
        model: &str,
        generation: Generation,
        request_timeout: Duration,
    ) -> anyhow::Result<Self> {
        let http =
            reqwest::Client::builder().timeout(request_timeout).connect_timeout(Duration::from_secs(5)).build()?;
        Ok(Self { http, endpoint: endpoint.trim_end_matches('/').to_owned(), api, model: model.to_owned(), generation })
    }

    pub async fn chat(&self, request: &ChatRequest<'_>) -> Result<ChatReply, LlmError> {
        let started = std::time::Instant::now();
        // Serialized straight from borrowed fields: the schema is not copied per call.
        let (url, body) = match self.api {
            Api::Ollama => (format!("{}/api/chat", self.endpoint), serde_json::to_vec(&ollama::body(self, request))),
            Api::Openai => {
                (format!("{}/v1/chat/completions", self.endpoint), serde_json::to_vec(&openai::body(self, request)))
            }
        };
        let body = body.map_err(|e| LlmError::new(ErrorKind::BadRequest, format!("cannot encode the request: {e}")))?;
        let response = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| classify_transport(&e))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| classify_transport(&e))?;
        if status != 200 {
            return Err(classify_status(status, &text, |detail| self.model_missing(detail)));
        }
        let json: Value = serde_json::from_str(&text)
            .map_err(|e| LlmError::new(ErrorKind::ServerError, format!("unreadable reply from the server: {e}")))?;
        let mut reply = match self.api {
            Api::Ollama => ollama::reply(&json),
            Api::Openai => openai::reply(&json),
        }
        .ok_or_else(|| {
            let head = text.chars().take(200).collect::<String>();
            LlmError::new(ErrorKind::ServerError, format!("reply without a message: {head}"))
        })?;
        let wall_ms = started.elapsed().as_millis() as u64;
        let explained = reply.usage.prefill_ms + reply.usage.decode_ms;
        reply.usage.total_ms = reply.usage.total_ms.max(wall_ms);
        reply.usage.queue_ms = reply.usage.total_ms.saturating_sub(explained);
        Ok(reply)
    }

    /// What to say when the server does not have the model.
    fn model_missing(&self, detail: &str) -> String {
        let model = &self.model;
        match self.api {
            Api::Ollama => format!("model {model:?} is not on the Ollama server; run `ollama pull {model}` ({detail})"),
            Api::Openai => {
                format!("model {model:?} is not served at this endpoint; load it or pass --model ({detail})")
            }
        }
    }

    /// Is the server up and the model there? Used to pause and resume.
    pub async fn check_model(&self) -> Result<(), LlmError> {
        let url = match self.api {
            Api::Ollama => format!("{}/api/tags", self.endpoint),
            Api::Openai => format!("{}/v1/models", self.endpoint),
        };
        let response = self.http.get(url).send().await.map_err(|e| classify_transport(&e))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| classify_transport(&e))?;
        if status != 200 {
            return Err(classify_status(status, &text, |detail| self.model_missing(detail)));
        }
        match self.api {
            Api::Ollama => ollama::has_model(&text, &self.model).then_some(()).ok_or_else(|| {
                let detail = format!(
                    "model {:?} is not on the Ollama server at {}; run `ollama pull {}`",
                    self.model, self.endpoint, self.model
                );
                LlmError { kind: ErrorKind::ModelMissing, status: None, detail }
            }),
            // OpenAI-compatible servers often serve one model under any name.
            Api::Openai => Ok(()),
        }
    }
}

/// The fixed parts of a request as the prompt encodes them, for tests:
/// `instructions` as a JSON string and a minimal schema.
#[cfg(test)]
fn test_parts(instructions: &str) -> (Box<RawValue>, Box<RawValue>) {
    let encode = |value: Value| RawValue::from_string(value.to_string()).expect("JSON is valid JSON");
    (encode(Value::from(instructions)), encode(serde_json::json!({"type": "object"})))
}

#[cfg(test)]
impl<'a> ChatRequest<'a> {
    /// The user message "segment", num_ctx 4096, seed 7.
    fn for_test(instructions: &'a RawValue, schema: &'a RawValue) -> Self {
        Self { instructions, user: "segment", schema, num_ctx: 4096, seed: 7 }
    }
}
