//! Subject names. One subject per segment on every stream, so "is it pending?"
//! and "is it done?" are direct gets of the last message on a subject.

use crate::ids::SegmentKey;

/// Prefix of every podmine subject.
pub const ROOT: &str = "podmine";

/// Subject of the task for one segment.
pub fn task(key: &SegmentKey) -> String {
    format!("{ROOT}.task.{}.{}", key.episode.subject_token(), key.index)
}

/// Subject of the result for one segment.
pub fn result(key: &SegmentKey) -> String {
    format!("{ROOT}.result.{}.{}", key.episode.subject_token(), key.index)
}

/// Subject of the failure record (dead letter) for one segment.
pub fn failed(key: &SegmentKey) -> String {
    format!("{ROOT}.failed.{}.{}", key.episode.subject_token(), key.index)
}

/// Every task subject of one episode (for purging an episode's stale tasks).
pub fn episode_tasks(episode_token: &str) -> String {
    format!("{ROOT}.task.{episode_token}.*")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EpisodeId;

    #[test]
    fn subjects_have_one_token_per_part() {
        let key = SegmentKey::new(EpisodeId::parse("a b/c.d#e").unwrap(), 7);
        for subject in [task(&key), result(&key), failed(&key)] {
            assert_eq!(subject.split('.').count(), 4, "{subject}");
            assert!(!subject.contains(' ') && subject.ends_with(".7"), "{subject}");
        }
    }
}
