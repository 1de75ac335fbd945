//! Finding segments the server lost: recorded in the store as enqueued, not
//! settled, and on none of TASKS, RESULTS or FAILED. That happens after a
//! power loss inside the server's `sync_interval`, a deleted or purged
//! stream, or a store restored from an old backup. `enqueue` publishes them
//! again, so re-running it repairs the queue.
//!
//! The streams are listed in the order work moves through them (TASKS, then
//! RESULTS and FAILED): a worker publishes a result before it acks the task,
//! so a segment leaving TASKS during the listing is found in RESULTS.

use crate::store::Store;
use anyhow::Context;
use async_nats::jetstream;
use futures::TryStreamExt;
use protocol::{streams, EpisodeId, SegmentKey};
use std::collections::{HashMap, HashSet};

/// Lost segment indices, by episode.
pub type Lost = HashMap<EpisodeId, Vec<u32>>;

pub async fn lost_segments(js: &jetstream::Context, store: &Store) -> anyhow::Result<Lost> {
    let mut unsettled: Vec<SegmentKey> = Vec::new();
    for (id, _) in store.episodes.all()? {
        for (index, _) in store.episodes.segments(&id)? {
            let key = SegmentKey::new(id.clone(), index);
            if store.outcomes.get(&key)?.is_none() {
                unsettled.push(key);
            }
        }
    }
    if unsettled.is_empty() {
        return Ok(Lost::new());
    }
    let mut present = HashSet::new();
    for stream in [streams::TASKS, streams::RESULTS, streams::FAILED] {
        list_segments(js, stream, &mut present).await?;
    }
    let mut lost = Lost::new();
    for key in unsettled {
        if !present.contains(&segment_part(&protocol::subjects::task(&key))) {
            lost.entry(key.episode).or_default().push(key.index);
        }
    }
    Ok(lost)
}

/// Adds `<episode token>.<index>` for every subject holding a message on `stream`.
async fn list_segments(js: &jetstream::Context, stream: &str, present: &mut HashSet<String>) -> anyhow::Result<()> {
    let stream = js.get_stream(stream).await.with_context(|| format!("cannot open the stream {stream}"))?;
    let mut subjects = stream.info_with_subjects(">").await.context("cannot list the stream's subjects")?;
    while let Some((subject, _count)) = subjects.try_next().await.context("cannot list the stream's subjects")? {
        present.insert(segment_part(&subject));
    }
    Ok(())
}

/// `podmine.<kind>.<token>.<index>` → `<token>.<index>`.
fn segment_part(subject: &str) -> String {
    subject.splitn(3, '.').nth(2).unwrap_or(subject).to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn subjects_of_every_stream_name_the_same_segment() {
        let key = protocol::SegmentKey::new(protocol::EpisodeId::parse("show/ep.1").expect("id"), 12);
        let part = super::segment_part(&protocol::subjects::task(&key));
        assert_eq!(part, super::segment_part(&protocol::subjects::result(&key)));
        assert_eq!(part, super::segment_part(&protocol::subjects::failed(&key)));
        assert!(part.ends_with(".12"));
    }
}
