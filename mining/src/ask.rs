//! What a worker session asks and accepts: [`Mining`], the run's spec with
//! its prompt encoded once; [`Question`], one segment as the model is asked
//! about it; [`Generation`], the options every request carries.

use crate::compact;
use crate::prompt::{self, Prompt};
use crate::rejected::Rejected;
use crate::repair::{self, Repaired};
use crate::sentences::{sentences, CueMark, Sentence};
use protocol::spec::{AnswerMode, RunSpec};
use protocol::{MiningSpec, Task};

/// How long Ollama keeps the model loaded between requests.
const KEEP_ALIVE: &str = "1h";

/// Generation settings that shape answers, from the run's spec (whose
/// `protocol::spec::options_fingerprint` puts them in the work key).
#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
    pub num_predict: u32,
    pub temperature: f32,
    /// How long Ollama keeps the model loaded between requests.
    pub keep_alive: String,
}

/// The spec a worker session mines with: the prompt encoded once, the
/// generation options, the hashes results carry.
#[derive(Clone, Debug)]
pub struct Mining {
    pub spec: RunSpec,
    pub prompt: Prompt,
    pub generation: Generation,
    /// What results carry and work keys come from.
    pub work: MiningSpec,
}

impl Mining {
    pub fn new(spec: RunSpec) -> Self {
        let prompt = Self::prompt_of(&spec);
        let generation =
            Generation { num_predict: spec.num_predict, temperature: spec.temperature, keep_alive: KEEP_ALIVE.into() };
        let work = spec.mining_spec();
        Self { spec, prompt, generation, work }
    }

    /// How `task` is asked in the spec's answer mode: its user message (and,
    /// for compact answers, its numbered sentences, timed by `cues`).
    pub fn question(&self, task: &Task, cues: &[CueMark]) -> Question {
        match self.spec.answers {
            AnswerMode::Full => Question { user: self.prompt.user_message(task), sentences: Vec::new() },
            AnswerMode::Compact => {
                let sentences = sentences(&task.segment, cues);
                Question { user: compact::user_message(task, &sentences), sentences }
            }
        }
    }

    /// A reply's content as a result: a compact answer expanded into the
    /// full shape of the spec's schema, then (either mode) validated and
    /// repaired. The error says why it is unusable (the caller asks again).
    pub fn accept(&self, question: &Question, raw: &str, task: &Task) -> Result<Repaired, Rejected> {
        let segment = &task.segment;
        match self.spec.answers {
            AnswerMode::Full => repair::repair(raw, &self.spec.schema, segment.t0_ms, segment.t1_ms),
            AnswerMode::Compact => {
                let expanded = compact::expand(raw, &question.sentences, &self.spec.schema)?;
                let answer = expanded.answer.to_string();
                let mut repaired = repair::repair(&answer, &self.spec.schema, segment.t0_ms, segment.t1_ms)?;
                let mut repairs = expanded.repairs;
                repairs.append(&mut repaired.repairs);
                repaired.repairs = repairs;
                Ok(repaired)
            }
        }
    }

    /// What the model is sent: the spec's instructions and schema for full
    /// answers; with the compact addendum and the compact schema for compact ones.
    pub(crate) fn prompt_of(spec: &RunSpec) -> Prompt {
        match spec.answers {
            AnswerMode::Full => Prompt::new(spec.instructions.clone(), spec.schema.clone()),
            AnswerMode::Compact => Prompt::new(
                format!("{}{}", spec.instructions, compact::ADDENDUM),
                compact::compact_schema(&spec.schema),
            ),
        }
    }

    /// The context `task` needs: instructions, schema, its message and the output cap.
    pub fn context_needed(&self, user_message: &str) -> u32 {
        self.prompt.num_ctx(user_message, self.spec.num_predict)
    }
}

/// One segment as the model is asked about it (see [`Mining::question`]).
#[derive(Clone, Debug)]
pub struct Question {
    pub user: String,
    /// The numbered sentences a compact answer cites (empty for full answers).
    pub sentences: Vec<Sentence>,
}

/// Characters of the user message `task` is sent with in a run of `answers`
/// (whatever the prompt; the sentences' times do not change their text).
pub fn user_chars(task: &Task, answers: AnswerMode) -> u32 {
    match answers {
        AnswerMode::Full => prompt::user_message(task).len() as u32,
        AnswerMode::Compact => compact::user_message(task, &sentences(&task.segment, &[])).len() as u32,
    }
}
