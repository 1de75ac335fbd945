//! Ollama's `/api/chat`: JSON-schema `format`, `options`, `keep_alive`, and
//! the `*_count` / `*_duration` (nanoseconds) counters.

use super::{ChatReply, ChatRequest, LlmClient};
use protocol::Usage;
use serde_json::{json, Value};

pub fn body(client: &LlmClient, request: &ChatRequest<'_>) -> Value {
    json!({
        "model": client.model,
        "messages": request.messages(),
        "stream": false,
        "format": request.schema,
        "keep_alive": client.generation.keep_alive,
        "options": {
            "num_ctx": request.num_ctx,
            "num_predict": client.generation.num_predict,
            "temperature": client.generation.temperature,
            "seed": request.seed,
        },
    })
}

pub fn reply(json: &Value) -> Option<ChatReply> {
    let content = json.get("message")?.get("content")?.as_str()?.to_owned();
    let count = |field: &str| json.get(field).and_then(Value::as_u64).unwrap_or(0);
    let ms = |field: &str| count(field) / 1_000_000;
    let usage = Usage {
        prompt_tokens: count("prompt_eval_count"),
        // Ollama does not report cache hits; prompt_eval_count drops when it reuses the prefix.
        cached_prompt_tokens: 0,
        output_tokens: count("eval_count"),
        prefill_ms: ms("prompt_eval_duration"),
        decode_ms: ms("eval_duration"),
        queue_ms: 0,
        total_ms: ms("total_duration"),
    };
    let truncated = json.get("done_reason").and_then(Value::as_str) == Some("length");
    Some(ChatReply { content, usage, truncated })
}

/// Does `/api/tags` list the model (`qwen2.5:7b` also matches `qwen2.5:7b-instruct`? no: exact, or `:latest`)?
pub fn has_model(tags: &str, model: &str) -> bool {
    let Ok(json) = serde_json::from_str::<Value>(tags) else { return false };
    let wanted = if model.contains(':') { model.to_owned() } else { format!("{model}:latest") };
    json.get("models").and_then(Value::as_array).is_some_and(|models| {
        models.iter().filter_map(|m| m.get("name").and_then(Value::as_str)).any(|name| name == wanted || name == model)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_counters_and_truncation() {
        let reply = reply(&json!({"message": {"role": "assistant", "content": "{}"}, "done_reason": "length",
            "prompt_eval_count": 1500, "eval_count": 200, "prompt_eval_duration": 300_000_000u64,
            "eval_duration": 2_000_000_000u64, "total_duration": 2_400_000_000u64}))
        .unwrap();
        assert!(reply.truncated);
        assert_eq!((reply.usage.prompt_tokens, reply.usage.output_tokens), (1500, 200));
        assert_eq!((reply.usage.prefill_ms, reply.usage.decode_ms, reply.usage.total_ms), (300, 2000, 2400));
    }

    #[test]
    fn finds_models_with_and_without_tags() {
        let tags = r#"{"models":[{"name":"qwen2.5:7b-instruct"},{"name":"llama3:latest"}]}"#;
        assert!(has_model(tags, "qwen2.5:7b-instruct"));
        assert!(has_model(tags, "llama3"));
        assert!(!has_model(tags, "qwen2.5:7b"));
    }
}
