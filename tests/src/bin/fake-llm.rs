//! The fake LLM server as a program, for demos and benchmarks: prints its
//! URL, then serves the Ollama and OpenAI APIs until killed.

use clap::Parser;
use podmine_tests::fake_llm::{Capacity, FakeLlm};

/// A fake LLM server speaking Ollama's and the OpenAI chat APIs, with a
/// capacity model (slots, tokens/s). Prints its URL, then serves until killed.
#[derive(Debug, Parser)]
#[command(name = "fake-llm")]
struct Args {
    /// Port to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to listen on (`0.0.0.0` to be reached from outside a network namespace).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// A model it serves (repeat for several; default qwen2.5:7b-instruct).
    #[arg(long = "model")]
    models: Vec<String>,
    /// Requests generated in parallel.
    #[arg(long)]
    slots: Option<usize>,
    /// Output tokens/s of one stream alone.
    #[arg(long)]
    tokens_per_s: Option<f64>,
    /// Output tokens per answer.
    #[arg(long)]
    output_tokens: Option<u64>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let defaults = Capacity::default();
    let capacity = Capacity {
        slots: args.slots.unwrap_or(defaults.slots),
        tokens_per_s: args.tokens_per_s.unwrap_or(defaults.tokens_per_s),
        output_tokens: args.output_tokens.unwrap_or(defaults.output_tokens),
        ..defaults
    };
    let models = if args.models.is_empty() { vec!["qwen2.5:7b-instruct".to_owned()] } else { args.models };
    let names: Vec<&str> = models.iter().map(String::as_str).collect();
    let server = FakeLlm::start_at(&args.host, args.port, &names, capacity).await;
    // The URL to call from this machine (or namespace), the port from any other.
    println!("http://127.0.0.1:{}", server.url().rsplit(':').next().unwrap_or("0"));
    std::future::pending::<()>().await;
}
