//! The fake LLM server as a program, for demos and benchmarks:
//!   fake-llm [--port P] [--model M ...] [--slots N] [--tokens-per-s T] [--output-tokens N]
//! Prints its URL, then serves until killed.

use podmine_tests::fake_llm::{Capacity, FakeLlm};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut capacity = Capacity::default();
    let (mut port, mut models) = (0u16, Vec::new());
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))?;
        match flag.as_str() {
            "--port" => port = value.parse()?,
            "--model" => models.push(value),
            "--slots" => capacity.slots = value.parse()?,
            "--tokens-per-s" => capacity.tokens_per_s = value.parse()?,
            "--output-tokens" => capacity.output_tokens = value.parse()?,
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    if models.is_empty() {
        models.push("qwen2.5:7b-instruct".into());
    }
    let names: Vec<&str> = models.iter().map(String::as_str).collect();
    let server = FakeLlm::start_on(port, &names, capacity).await;
    println!("{}", server.url());
    std::future::pending::<()>().await;
    Ok(())
}
