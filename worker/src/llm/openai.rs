//! OpenAI-compatible `/v1/chat/completions` with `response_format`
//! json_schema; counters from `usage` and llama-server's `timings`.

use super::{ChatReply, ChatRequest, LlmClient, Messages};
use protocol::Usage;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

/// The request body of `/v1/chat/completions` (`cache_prompt` is llama-server's
/// prefix cache; other servers ignore it).
#[derive(Serialize)]
pub struct Body<'a> {
    model: &'a str,
    messages: Messages<'a>,
    response_format: ResponseFormat<'a>,
    max_tokens: u32,
    temperature: f32,
    seed: u64,
    cache_prompt: bool,
}

#[derive(Serialize)]
struct ResponseFormat<'a> {
    r#type: &'static str,
    json_schema: NamedSchema<'a>,
}

#[derive(Serialize)]
struct NamedSchema<'a> {
    name: &'static str,
    schema: &'a RawValue,
}

pub fn body<'a>(client: &'a LlmClient, request: &'a ChatRequest<'_>) -> Body<'a> {
    Body {
        model: &client.model,
        messages: request.messages(),
        response_format: ResponseFormat {
            r#type: "json_schema",
            json_schema: NamedSchema { name: "miner_output", schema: request.schema },
        },
        max_tokens: client.generation.num_predict,
        temperature: client.generation.temperature,
        seed: request.seed,
        cache_prompt: true,
    }
}

pub fn reply(json: &Value) -> Option<ChatReply> {
    let choice = json.get("choices")?.get(0)?;
    let content = choice.get("message")?.get("content")?.as_str()?.to_owned();
    let usage = json.get("usage");
    let timings = json.get("timings");
    let number = |v: Option<&Value>, field: &str| v.and_then(|v| v.get(field)).and_then(Value::as_f64).unwrap_or(0.0);
    let cached = usage
        .and_then(|u| u.get("prompt_tokens_details"))
        .and_then(|d| d.get("cached_tokens"))
        .and_then(Value::as_u64)
        .unwrap_or_else(|| number(timings, "cache_n") as u64);
    let usage = Usage {
        prompt_tokens: number(usage, "prompt_tokens") as u64,
        cached_prompt_tokens: cached,
        output_tokens: number(usage, "completion_tokens") as u64,
        prefill_ms: number(timings, "prompt_ms").round() as u64,
        decode_ms: number(timings, "predicted_ms").round() as u64,
        queue_ms: 0,
        total_ms: 0,
    };
    let truncated = choice.get("finish_reason").and_then(Value::as_str) == Some("length");
    Some(ChatReply { content, usage, truncated, load_ms: 0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_body_asks_for_the_schema_and_the_prefix_cache() {
        let generation = mining::Generation { num_predict: 160, temperature: 0.0, keep_alive: "30m".into() };
        let client =
            LlmClient::new("http://x", super::super::Api::Openai, "m", generation, Default::default()).unwrap();
        let (instructions, schema) = super::super::test_parts("Find claims.");
        let request = super::super::ChatRequest::for_test(&instructions, &schema);
        let body = serde_json::to_value(body(&client, &request)).unwrap();
        assert_eq!(
            body,
            json!({"model": "m", "max_tokens": 160, "temperature": 0.0, "seed": 7, "cache_prompt": true,
                "messages": [{"role": "system", "content": "Find claims."}, {"role": "user", "content": "segment"}],
                "response_format": {"type": "json_schema", "json_schema": {"name": "miner_output", "schema": {"type": "object"}}}})
        );
    }

    #[test]
    fn reads_usage_timings_and_cache_hits() {
        let reply = reply(&json!({"choices": [{"message": {"content": "{}"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1600, "completion_tokens": 120, "prompt_tokens_details": {"cached_tokens": 1400}},
            "timings": {"prompt_n": 200, "prompt_ms": 150.4, "predicted_n": 120, "predicted_ms": 4000.0, "cache_n": 1400}}))
        .unwrap();
        assert!(!reply.truncated);
        assert_eq!(reply.usage.cached_prompt_tokens, 1400);
        assert_eq!((reply.usage.prefill_ms, reply.usage.decode_ms), (150, 4000));
    }
}
