//! The mining flags every command that sets or checks the run's spec
//! flattens: `coordinator enqueue`, `respec` and `run`, `worker run` and
//! `worker bench`.

use clap::Args;
use protocol::spec::AnswerMode;
use std::path::PathBuf;

/// What shapes the answers: model, prompt, schema, generation options and
/// context size. On `worker run` every one is optional: the run's mining spec
/// (recorded in NATS by `coordinator enqueue`) says them, and a flag given
/// here must agree with it, or the worker refuses to pull. `coordinator
/// enqueue`/`run` set the spec from them; `coordinator respec` changes it.
#[derive(Clone, Debug, Default, Args)]
pub struct MiningFlags {
    /// Model name as the server knows it [default for a new run: qwen2.5:7b-instruct].
    #[arg(long, env = "PODMINE_MODEL")]
    pub model: Option<String>,
    /// Instructions file replacing the default miner prompt.
    #[arg(long)]
    pub prompt: Option<PathBuf>,
    /// JSON Schema file replacing the default miner_output schema.
    #[arg(long)]
    pub schema: Option<PathBuf>,
    /// Output tokens per answer (Ollama num_predict / OpenAI max_tokens) [default for a new run: 1024].
    #[arg(long)]
    pub num_predict: Option<u32>,
    /// Sampling temperature (0 can deadlock Ollama's grammar mode under parallel load) [default for a new run: 0.3].
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Cap every array of the answer at N items (sent in the schema, enforced
    /// on the answer). Without it the schema's own bounds hold: none in the
    /// users' schema, a runaway guard of 40 in the default one.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_items: Option<u64>,
    /// Context size of every request, for the whole run [default: from the
    /// prompt, the schema, the output cap and the longest segment enqueued].
    /// A segment that does not fit fails with its reason rather than being cut.
    #[arg(long, value_parser = clap::value_parser!(u32).range(512..))]
    pub num_ctx: Option<u32>,
    /// How the model answers [default for a new run: full]: `full` (it writes
    /// the quotes and times), or `compact` (it cites numbered sentences; the
    /// worker writes the quotes and times from the transcript: fewer output
    /// tokens). Measure both on your Mac first: `worker bench --answers full,compact`
    /// (the bench takes both; a run one).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub answers: Vec<AnswerMode>,
}

impl MiningFlags {
    /// Whether any flag was given.
    pub fn any(&self) -> bool {
        let Self { model, prompt, schema, num_predict, temperature, max_items, num_ctx, answers } = self;
        !answers.is_empty()
            || model.is_some()
            || prompt.is_some()
            || schema.is_some()
            || num_predict.is_some()
            || temperature.is_some()
            || max_items.is_some()
            || num_ctx.is_some()
    }
}
