//! [`LlmError`]: what went wrong with an LLM call, classified once, as data.
//! Callers match on its [`ErrorKind`]; nobody re-reads its text.

/// What kind of failure a call met, which decides what the worker does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// 429 or 503: the server's queue is full (send fewer calls; retry).
    Overloaded,
    /// Nothing listens (refused, no route): the server is down, not busy (retry; route elsewhere).
    Unreachable,
    /// No answer within `--request-timeout` (retry).
    TimedOut,
    /// Another 5xx or 408, a dropped connection, a reply that cannot be read (retry).
    ServerError,
    /// The model is not on the server: stop pulling until it appears.
    ModelMissing,
    /// A bad request or another answer that retrying cannot fix: the segment fails.
    BadRequest,
}

/// A failed LLM call: its kind, the HTTP status when there was one, and the
/// detail for the log (the server's words, or the transport error's chain).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct LlmError {
    pub kind: ErrorKind,
    pub status: Option<u16>,
    pub detail: String,
}

impl LlmError {
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Self { kind, status: None, detail: detail.into() }
    }

    /// Worth retrying with backoff (the server may answer later).
    pub fn is_transient(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Overloaded | ErrorKind::Unreachable | ErrorKind::TimedOut | ErrorKind::ServerError
        )
    }

    fn describe(&self) -> String {
        match self.kind {
            ErrorKind::ModelMissing => self.detail.clone(),
            ErrorKind::BadRequest => format!("LLM server refused the request: {}", self.detail),
            _ => format!("LLM server unavailable: {}", self.detail),
        }
    }
}

/// The one place that maps an HTTP status and body to an error.
pub fn classify_status(status: u16, body: &str, model_missing: impl FnOnce(&str) -> String) -> LlmError {
    let detail = format!("HTTP {status}: {}", body.chars().take(300).collect::<String>());
    let kind = match status {
        404 if body.to_ascii_lowercase().contains("model") => ErrorKind::ModelMissing,
        429 | 503 => ErrorKind::Overloaded,
        408 | 500..=599 => ErrorKind::ServerError,
        _ => ErrorKind::BadRequest,
    };
    let detail = if kind == ErrorKind::ModelMissing { model_missing(&detail) } else { detail };
    LlmError { kind, status: Some(status), detail }
}

/// Connection-level failures (refused, reset, timeout), with the error's whole chain.
pub fn classify_transport(err: &reqwest::Error) -> LlmError {
    let (kind, what) = if err.is_timeout() {
        (ErrorKind::TimedOut, "timed out")
    } else if err.is_connect() {
        (ErrorKind::Unreachable, "connection failed")
    } else {
        (ErrorKind::ServerError, "request failed")
    };
    let mut detail = format!("{what}: {err}");
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        detail.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    LlmError::new(kind, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(detail: &str) -> String {
        detail.to_owned()
    }

    #[test]
    fn statuses_map_to_kinds_once() {
        let missing = classify_status(404, r#"{"error":"model 'qwen' not found"}"#, |d| format!("pull it ({d})"));
        assert_eq!((missing.kind, missing.status), (ErrorKind::ModelMissing, Some(404)));
        assert!(missing.detail.starts_with("pull it (HTTP 404"), "{}", missing.detail);
        assert_eq!(classify_status(503, "server busy, queue full", same).kind, ErrorKind::Overloaded);
        assert_eq!(classify_status(429, "", same).kind, ErrorKind::Overloaded);
        assert_eq!(classify_status(500, "", same).kind, ErrorKind::ServerError);
        assert_eq!(classify_status(408, "", same).kind, ErrorKind::ServerError);
        assert_eq!(classify_status(400, "bad schema", same).kind, ErrorKind::BadRequest);
        assert!(classify_status(502, "", same).is_transient());
        assert!(!classify_status(400, "", same).is_transient());
    }
}
