//! LLM clients: Ollama's `/api/chat` and OpenAI-compatible
//! `/v1/chat/completions` (llama-server, LM Studio, vLLM, mlx_lm.server),
//! behind one [`LlmClient`], with one function that classifies errors.

mod ollama;
mod openai;

use protocol::Usage;
use serde_json::value::RawValue;
use serde_json::Value;
use std::time::Duration;

/// Which API the server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Api {
    Ollama,
    Openai,
}

/// Generation settings that shape answers (part of the work key).
#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
    pub num_predict: u32,
    pub temperature: f32,
    /// How long Ollama keeps the model loaded between requests.
    pub keep_alive: String,
}

impl Generation {
    /// Canonical JSON of what changes answers (not keep-alive).
    pub fn fingerprint(&self) -> String {
        format!("{{\"num_predict\":{},\"temperature\":{}}}", self.num_predict, self.temperature)
    }
}

/// One request: fixed instructions first, the segment last. The fixed parts
/// come encoded as JSON already (see [`crate::prompt::Prompt::request`]).
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

impl ChatRequest<'_> {
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
}

/// Errors, classified once: what to do follows from the variant.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LlmError {
    /// Refused, reset, timed out, 5xx, queue full, 429: retry with backoff.
    #[error("LLM server unavailable: {0}")]
    Transient(String),
    /// The model is not on the server: stop pulling until it appears.
    #[error("{0}")]
    ModelMissing(String),
    /// A bad request or another answer that retrying cannot fix.
    #[error("LLM server refused the request: {0}")]
    Permanent(String),
}

impl LlmError {
    /// 429 or 503: the server's queue is full (a signal to send fewer calls).
    pub fn is_overload(&self) -> bool {
        matches!(self, Self::Transient(detail) if detail.starts_with("HTTP 429") || detail.starts_with("HTTP 503"))
    }

    /// Nothing listens (refused, no route): the server is down, not busy.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Transient(detail) if detail.starts_with("connection failed"))
    }
}

/// The one place that maps an HTTP status and body to an error class.
pub fn classify_status(status: u16, body: &str, model: &str, api: Api) -> LlmError {
    let detail = format!("HTTP {status}: {}", body.chars().take(300).collect::<String>());
    let mentions_model = body.to_ascii_lowercase().contains("model");
    match status {
        404 if mentions_model => LlmError::ModelMissing(match api {
            Api::Ollama => format!("model {model:?} is not on the Ollama server; run `ollama pull {model}` ({detail})"),
            Api::Openai => {
                format!("model {model:?} is not served at this endpoint; load it or pass --model ({detail})")
            }
        }),
        408 | 429 | 500..=599 => LlmError::Transient(detail),
        _ => LlmError::Permanent(detail),
    }
}

/// Connection-level failures (refused, reset, timeout) are transient.
fn classify_transport(err: reqwest::Error) -> LlmError {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    LlmError::Transient(format!("{kind}: {err}"))
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
        let body = body.map_err(|e| LlmError::Permanent(format!("cannot encode the request: {e}")))?;
        let response = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(classify_transport)?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(classify_transport)?;
        if status != 200 {
            return Err(classify_status(status, &text, &self.model, self.api));
        }
        let json: Value = serde_json::from_str(&text)
            .map_err(|e| LlmError::Transient(format!("unreadable reply from the server: {e}")))?;
        let mut reply = match self.api {
            Api::Ollama => ollama::reply(&json),
            Api::Openai => openai::reply(&json),
        }
        .ok_or_else(|| {
            LlmError::Transient(format!("reply without a message: {}", text.chars().take(200).collect::<String>()))
        })?;
        let wall_ms = started.elapsed().as_millis() as u64;
        let explained = reply.usage.prefill_ms + reply.usage.decode_ms;
        reply.usage.total_ms = reply.usage.total_ms.max(wall_ms);
        reply.usage.queue_ms = reply.usage.total_ms.saturating_sub(explained);
        Ok(reply)
    }

    /// Is the server up and the model there? Used to pause and resume.
    pub async fn check_model(&self) -> Result<(), LlmError> {
        let url = match self.api {
            Api::Ollama => format!("{}/api/tags", self.endpoint),
            Api::Openai => format!("{}/v1/models", self.endpoint),
        };
        let response = self.http.get(url).send().await.map_err(classify_transport)?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(classify_transport)?;
        if status != 200 {
            return Err(classify_status(status, &text, &self.model, self.api));
        }
        match self.api {
            Api::Ollama => ollama::has_model(&text, &self.model).then_some(()).ok_or_else(|| {
                LlmError::ModelMissing(format!(
                    "model {:?} is not on the Ollama server at {}; run `ollama pull {}`",
                    self.model, self.endpoint, self.model
                ))
            }),
            // OpenAI-compatible servers often serve one model under any name.
            Api::Openai => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_statuses_once() {
        let missing = classify_status(404, r#"{"error":"model 'qwen' not found"}"#, "qwen", Api::Ollama);
        assert!(matches!(&missing, LlmError::ModelMissing(m) if m.contains("ollama pull qwen")));
        assert!(matches!(classify_status(503, "server busy, queue full", "m", Api::Ollama), LlmError::Transient(_)));
        assert!(matches!(classify_status(500, "", "m", Api::Openai), LlmError::Transient(_)));
        assert!(matches!(classify_status(429, "", "m", Api::Openai), LlmError::Transient(_)));
        assert!(matches!(classify_status(400, "bad schema", "m", Api::Openai), LlmError::Permanent(_)));
    }
}
