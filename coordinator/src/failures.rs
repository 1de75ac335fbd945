//! `coordinator failed` and `coordinator retry-failed`: list dead letters, and
//! put them back on the queue with a new generation (a fresh message id, so
//! the server's dedup does not swallow them).

use crate::collect::output;
use crate::publish::{cues_for, Acked, OutgoingTask, Publisher};
use crate::store::Store;
use async_nats::jetstream;
use protocol::spec::AnswerMode;
use std::path::Path;

/// One line per failed segment: key, reason, attempts, where the raw output is.
pub fn list(store: &Store, out: &Path, json: bool) -> anyhow::Result<String> {
    let mut text = String::new();
    for failure in store.failures()? {
        let segment = &failure.task.segment;
        let file = output::episode_path(out, &segment.episode);
        if json {
            text += &serde_json::json!({
                "segment": segment.key().to_string(), "reason": failure.reason, "attempts": failure.provenance.attempts,
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
            text +=
                &format!("{}\t{}\tattempts {}\t{raw}\n", segment.key(), failure.reason, failure.provenance.attempts);
        }
    }
    Ok(text)
}

/// Re-enqueues failures whose reason contains `reason` (all when `None`).
pub async fn retry(js: &jetstream::Context, store: &Store, reason: Option<&str>) -> anyhow::Result<u64> {
    let mut publisher = Publisher::new(js.clone());
    let answers = store.spec()?.map(|spec| spec.answers).unwrap_or_default();
    let mut retried = 0;
    for failure in store.failures()? {
        if reason.is_some_and(|r| !failure.reason.contains(r)) {
            continue;
        }
        let key = failure.task.segment.key();
        let mut task = failure.task.clone();
        task.generation = store.bump_generation(&key)?;
        let cues = match answers {
            AnswerMode::Full => Vec::new(),
            AnswerMode::Compact => store.cue_marks(&key.episode)?,
        };
        publisher.publish(0, &OutgoingTask::encode(&task, cues_for(answers, &cues, key.index))?).await?;
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
