//! `coordinator failed` and `coordinator retry-failed`: list dead letters, and
//! put them back on the queue with a new generation (a fresh message id, so
//! the server's dedup does not swallow them).

use crate::collect::output;
use crate::publish::{cues_for, stored_cues, Acked, OutgoingTask, Publisher};
use crate::store::Store;
use async_nats::jetstream;
use protocol::task::CueMark;
use std::path::Path;

/// One line per failed segment: key, kind, reason, attempts, where the raw output is.
pub fn list(store: &Store, out: &Path, json: bool) -> anyhow::Result<String> {
    let mut text = String::new();
    for failure in store.failed()? {
        let segment = &failure.task.segment;
        let file = output::episode_path(out, &segment.episode);
        if json {
            text += &serde_json::json!({
                "segment": segment.key().to_string(), "kind": failure.kind, "reason": failure.reason, "attempts": failure.provenance.attempts,
                "delivery": failure.provenance.delivery, "raw_output": failure.raw_output, "file": file,
            })
            .to_string();
            text.push('\n');
        } else {
            let raw = if failure.raw_output.is_some() {
                format!("raw output in {} (segments[{}].failure.raw_output)", file.display(), segment.index)
            } else {
                "no raw output".to_owned()
            };
            text += &format!(
                "{}\t{}\t{}\tattempts {}\t{raw}\n",
                segment.key(),
                failure.kind,
                failure.reason,
                failure.provenance.attempts
            );
        }
    }
    Ok(text)
}

/// Which failures to put back on the queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    All,
    /// Failures of this kind (`retry-failed --kind`, the dashboard's groups).
    Kind(protocol::FailureKind),
    /// Failures whose reason contains this text (`retry-failed --reason`).
    ReasonContains(String),
    /// Failures counted under this reason (its first 80 characters: the
    /// groups `status` shows).
    Reason(String),
    /// One segment (`show/ep#12`).
    Segment(String),
}

impl Selection {
    fn takes(&self, failure: &protocol::FailureRecord) -> bool {
        match self {
            Selection::All => true,
            Selection::Kind(kind) => failure.kind == *kind,
            Selection::ReasonContains(text) => failure.reason.contains(text.as_str()),
            Selection::Reason(key) => crate::store::failures::reason_key(&failure.reason) == *key,
            Selection::Segment(key) => failure.task.segment.key().to_string() == *key,
        }
    }
}

/// Re-enqueues the failures `selection` takes; returns how many.
pub async fn retry(js: &jetstream::Context, store: &Store, selection: &Selection) -> anyhow::Result<u64> {
    let mut publisher = Publisher::new(js.clone());
    let answers = store.meta.spec()?.map(|spec| spec.answers).unwrap_or_default();
    let mut retried = 0;
    // Failures come in key order, so an episode's marks are read once for all of its failures.
    let mut episode_cues: Option<(protocol::EpisodeId, Vec<Vec<CueMark>>)> = None;
    for failure in store.failed()? {
        if !selection.takes(&failure) {
            continue;
        }
        let key = failure.task.segment.key();
        let mut task = failure.task.clone();
        task.generation = store.episodes.bump_generation(&key)?;
        if episode_cues.as_ref().is_none_or(|(episode, _)| *episode != key.episode) {
            episode_cues = Some((key.episode.clone(), stored_cues(store, answers, &key.episode)?));
        }
        let cues = episode_cues.as_ref().map_or(&[][..], |(_, cues)| cues.as_slice());
        publisher.publish(0, &OutgoingTask::encode(&task, cues_for(answers, cues, key.index))?).await?;
        store.forget_failure(&key)?;
        retried += 1;
    }
    while let Some((_, acked)) = publisher.next_ack().await {
        if let Acked::Refused(why) = acked {
            anyhow::bail!("the server refused a re-enqueued task: {why}; run retry-failed again");
        }
    }
    store.flush().await?;
    Ok(retried)
}
