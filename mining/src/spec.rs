//! The run's mining spec (`protocol::spec::RunSpec`) as flags build and
//! compare it.
//!
//! - [`LocalMining`]: what one command line says (`worker run`, `coordinator
//!   enqueue`/`run`/`respec`): every setting optional, files read once.
//!   Laid over a spec it gives the spec those flags ask for; where that
//!   differs from the run's, the flags disagree ([`LocalMining::disagreements`]).
//! - Context sizing: one `num_ctx` per run, from the prompt, the schema, the
//!   output cap and the longest segment enqueued ([`size_context`]).
//!
//! The spec a worker mines with is [`crate::ask::Mining`]; the spec in its
//! NATS bucket is `protocol::spec_kv`.

use crate::ask::Mining;
use crate::compact;
use crate::flags::MiningFlags;
use crate::prompt;
use anyhow::Context;
use protocol::spec::{self, AnswerMode, RunSpec};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The model of a new run when none is given.
pub const DEFAULT_MODEL: &str = "qwen2.5:7b-instruct";
/// The sampling temperature of a new run when none is given.
pub const DEFAULT_TEMPERATURE: f32 = 0.3;

/// One command line's mining flags, with the files they name read.
#[derive(Clone, Debug, Default)]
pub struct LocalMining {
    pub model: Option<String>,
    /// `--prompt`: the file and its text.
    pub instructions: Option<(PathBuf, String)>,
    /// `--schema`: the file and its JSON.
    pub schema: Option<(PathBuf, Value)>,
    pub max_items: Option<u64>,
    pub num_predict: Option<u32>,
    pub temperature: Option<f32>,
    pub num_ctx: Option<u32>,
    pub answers: Option<AnswerMode>,
}

impl LocalMining {
    pub fn from_flags(flags: &MiningFlags) -> anyhow::Result<Self> {
        let instructions = match &flags.prompt {
            Some(path) => Some((path.clone(), read(path, "--prompt")?)),
            None => None,
        };
        let schema = match &flags.schema {
            Some(path) => {
                let json = serde_json::from_str(&read(path, "--schema")?)
                    .with_context(|| format!("--schema {} is not valid JSON", path.display()))?;
                Some((path.clone(), json))
            }
            None => None,
        };
        Ok(Self {
            model: flags.model.clone(),
            instructions,
            schema,
            max_items: flags.max_items,
            num_predict: flags.num_predict,
            temperature: flags.temperature,
            num_ctx: flags.num_ctx,
            answers: match flags.answers[..] {
                [] => None,
                [one] => Some(one),
                _ => anyhow::bail!(
                    "--answers takes one mode for a run (full or compact); `worker bench --answers full,compact` \
                     compares them"
                ),
            },
        })
    }

    /// A first spec from these flags, podmine's defaults where none is given
    /// (its context sized for `longest_user_chars`, see [`size_context`]).
    pub fn new_spec(&self, set_by: String, longest_user_chars: u32) -> RunSpec {
        let defaults = RunSpec {
            format: spec::FORMAT,
            revision: 0,
            model: DEFAULT_MODEL.to_owned(),
            instructions: prompt::DEFAULT_INSTRUCTIONS.to_owned(),
            schema: prompt::default_schema(),
            num_predict: prompt::DEFAULT_NUM_PREDICT,
            temperature: DEFAULT_TEMPERATURE,
            answers: AnswerMode::Full,
            num_ctx: 0,
            num_ctx_fixed: false,
            longest_user_chars,
            set_by: String::new(),
            set_at_ms: 0,
        };
        let mut spec = self.over(&defaults);
        spec.revision = 1;
        spec.set_by = set_by;
        spec.set_at_ms = unix_now_ms();
        spec
    }

    /// `current` with every flag given here put in (what `respec` asks for;
    /// what a worker with these flags would mine with). The revision and
    /// who set it are `current`'s: the caller decides whether it is new.
    pub fn over(&self, current: &RunSpec) -> RunSpec {
        let mut spec = current.clone();
        if let Some(model) = &self.model {
            spec.model = model.clone();
        }
        if let Some((_, text)) = &self.instructions {
            spec.instructions = text.clone();
        }
        if let Some((_, schema)) = &self.schema {
            spec.schema = schema.clone();
        }
        if let Some(max) = self.max_items {
            spec.schema = prompt::cap_items(spec.schema, max);
        }
        if let Some(n) = self.num_predict {
            spec.num_predict = n;
        }
        if let Some(t) = self.temperature {
            spec.temperature = t;
        }
        if let Some(n) = self.num_ctx {
            spec.num_ctx = n;
            spec.num_ctx_fixed = true;
        }
        if let Some(answers) = self.answers {
            spec.answers = answers;
            spec.format = answers.format();
        }
        size_context(&mut spec);
        spec
    }

    /// The settings of these flags that differ from `spec`, one line each
    /// naming the flag, its value and the run's (empty: they agree).
    pub fn disagreements(&self, spec: &RunSpec) -> Vec<String> {
        differences(spec, &self.over(spec))
            .into_iter()
            // A context size these flags only derive (from another prompt, say) is not a flag of theirs.
            .filter(|(setting, _, _)| *setting != "num_ctx" || self.num_ctx.is_some())
            .map(|(setting, run, here)| {
                let flag = match setting {
                    "prompt" => self.instructions.as_ref().map(|(p, _)| format!("--prompt {}", p.display())),
                    "schema" => match (&self.schema, self.max_items) {
                        (Some((p, _)), _) => Some(format!("--schema {}", p.display())),
                        (None, Some(n)) => Some(format!("--max-items {n}")),
                        (None, None) => None,
                    },
                    other => Some(format!("--{}", other.replace('_', "-"))),
                };
                format!("{} gives {setting} {here}, the run's spec has {run}", flag.unwrap_or_default())
            })
            .collect()
    }
}

/// What differs between two specs, as `(setting, a's, b's)`, in the order
/// the settings shape an answer. The context size counts; who set it does not.
pub fn differences(a: &RunSpec, b: &RunSpec) -> Vec<(&'static str, String, String)> {
    let (wa, wb) = (a.mining_spec(), b.mining_spec());
    let mut out = Vec::new();
    let mut note = |name, x: String, y: String| {
        if x != y {
            out.push((name, x, y));
        }
    };
    note("model", a.model.clone(), b.model.clone());
    note(
        "prompt",
        format!("{} ({} chars)", wa.prompt_hash, a.instructions.len()),
        format!("{} ({} chars)", wb.prompt_hash, b.instructions.len()),
    );
    note("schema", wa.schema_hash, wb.schema_hash);
    note("num_predict", a.num_predict.to_string(), b.num_predict.to_string());
    note("temperature", a.temperature.to_string(), b.temperature.to_string());
    note("answers", a.answers.to_string(), b.answers.to_string());
    note("num_ctx", a.num_ctx.to_string(), b.num_ctx.to_string());
    out
}

/// Whether `spec` can be mined (a new or changed spec is checked before it is recorded).
pub fn check(spec: &RunSpec) -> anyhow::Result<()> {
    if spec.answers == AnswerMode::Compact {
        compact::supports(&spec.schema).map_err(anyhow::Error::msg)?;
    }
    Ok(())
}

/// Characters of a user message a context is sized for at least (a 30-second
/// segment's message is ~700): the first episodes enqueued do not each raise it.
const MIN_USER_CHARS: u32 = 2_048;

/// Sets `spec.num_ctx` from its prompt, schema, output cap and longest
/// segment (unless it was given with `--num-ctx`).
pub fn size_context(spec: &mut RunSpec) {
    if spec.num_ctx_fixed {
        return;
    }
    spec.num_ctx = context_needed(spec, spec.longest_user_chars.max(MIN_USER_CHARS));
}

/// The context `spec`'s prompt, schema and output cap need beside a user
/// message of `user_chars` characters (see `prompt::context_for`).
pub fn context_needed(spec: &RunSpec, user_chars: u32) -> u32 {
    let prompt = Mining::prompt_of(spec);
    prompt::context_for(prompt.fixed_chars(), user_chars as usize, spec.num_predict)
}

fn unix_now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

fn read(path: &Path, flag: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {flag} {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(model: Option<&str>, num_predict: Option<u32>) -> LocalMining {
        LocalMining { model: model.map(str::to_owned), num_predict, ..LocalMining::default() }
    }

    #[test]
    fn flags_that_agree_or_are_absent_are_no_disagreement() {
        let spec = local(Some("m"), None).new_spec("test".into(), 700);
        assert!(LocalMining::default().disagreements(&spec).is_empty());
        assert!(local(Some("m"), Some(prompt::DEFAULT_NUM_PREDICT)).disagreements(&spec).is_empty());
        let differ = local(Some("other"), Some(400)).disagreements(&spec);
        assert_eq!(differ.len(), 2, "{differ:?}");
        assert!(differ[0].contains("--model gives model other, the run's spec has m"), "{differ:?}");
        assert!(differ[1].contains("--num-predict"), "{differ:?}");
    }

    #[test]
    fn a_spec_has_one_context_size_for_every_segment_and_a_given_one_stays() {
        let spec = LocalMining::default().new_spec("test".into(), 700);
        assert!(spec.num_ctx >= 4_096 && spec.num_ctx.is_multiple_of(1024), "{}", spec.num_ctx);
        let longer = RunSpec { longest_user_chars: 30_000, ..spec.clone() };
        let mut resized = longer.clone();
        size_context(&mut resized);
        assert!(resized.num_ctx > spec.num_ctx);
        let fixed = LocalMining { num_ctx: Some(8_192), ..LocalMining::default() }.over(&longer);
        assert_eq!((fixed.num_ctx, fixed.num_ctx_fixed), (8_192, true));
    }
}
