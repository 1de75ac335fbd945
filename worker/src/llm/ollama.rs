//! Ollama's `/api/chat`: JSON-schema `format`, `options`, `keep_alive`, and
//! the `*_count` / `*_duration` (nanoseconds) counters.

use super::{ChatReply, ChatRequest, LlmClient, Messages};
use protocol::Usage;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// The request body of `/api/chat`.
#[derive(Serialize)]
pub struct Body<'a> {
    model: &'a str,
    messages: Messages<'a>,
    stream: bool,
    format: &'a RawValue,
    keep_alive: &'a str,
    options: Options,
}

#[derive(Serialize)]
struct Options {
    num_ctx: u32,
    num_predict: u32,
    temperature: f32,
    seed: u64,
}

pub fn body<'a>(client: &'a LlmClient, request: &'a ChatRequest<'_>) -> Body<'a> {
    Body {
        model: &client.model,
        messages: request.messages(),
        stream: false,
        format: request.schema,
        keep_alive: &client.generation.keep_alive,
        options: Options {
            num_ctx: request.num_ctx,
            num_predict: client.generation.num_predict,
            temperature: client.generation.temperature,
            seed: request.seed,
        },
    }
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
    Some(ChatReply { content, usage, truncated, load_ms: ms("load_duration") })
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
    use serde_json::json;

    #[test]
    fn the_body_carries_the_prompt_schema_and_options_as_json() {
        let generation = mining::Generation { num_predict: 512, temperature: 0.0, keep_alive: "30m".into() };
        let client =
            LlmClient::new("http://x", super::super::Api::Ollama, "m", generation, Default::default()).unwrap();
        let (instructions, schema) = super::super::test_parts("Say \"hi\"\nthen stop.");
        let request = super::super::ChatRequest::for_test(&instructions, &schema);
        let body = serde_json::to_value(body(&client, &request)).unwrap();
        assert_eq!(
            body,
            json!({"model": "m", "stream": false, "keep_alive": "30m", "format": {"type": "object"},
                "messages": [{"role": "system", "content": "Say \"hi\"\nthen stop."}, {"role": "user", "content": "segment"}],
                "options": {"num_ctx": 4096, "num_predict": 512, "temperature": 0.0, "seed": 7}})
        );
    }

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
