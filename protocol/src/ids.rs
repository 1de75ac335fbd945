//! Identities: episode ids, segment keys and content hashes.
//!
//! An episode id comes from the file's path relative to the corpus root, so the
//! same corpus on another machine yields the same ids. A segment key is
//! `<episode id>#<index>`. A content hash covers exactly what a worker sees of a
//! segment, so an edited transcript changes only the hashes of the segments
//! whose text, times or speaker changed.

use serde::{Deserialize, Serialize};
use std::fmt;
use xxhash_rust::xxh3::{xxh3_128, Xxh3};

/// Why a string is not a valid id.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    #[error("episode id is empty")]
    Empty,
    #[error("episode id {0:?} contains a control character or a backslash")]
    BadCharacter(String),
    #[error("episode id {0:?} has an empty, `.` or `..` path component")]
    BadComponent(String),
    #[error("segment key {0:?} is not `<episode id>#<index>`")]
    BadSegmentKey(String),
}

/// Identity of one episode: its transcript's path relative to the corpus root,
/// with `/` separators and without the transcript and media extensions
/// (`show/ep1.mp3.srt` → `show/ep1`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EpisodeId(String);

impl EpisodeId {
    /// Checks that `id` is a relative, `/`-separated path without control characters.
    pub fn parse(id: &str) -> Result<Self, IdError> {
        if id.is_empty() {
            return Err(IdError::Empty);
        }
        if id.chars().any(|c| c.is_control() || c == '\\') {
            return Err(IdError::BadCharacter(id.to_owned()));
        }
        if id.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
            return Err(IdError::BadComponent(id.to_owned()));
        }
        Ok(Self(id.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A NATS subject token for this episode: a readable slug (letters, digits,
    /// `-`, `_`) followed by a hash of the full id, so distinct ids never share a
    /// token even when their slugs collide.
    pub fn subject_token(&self) -> String {
        const SLUG_CHARS: usize = 48;
        let slug: String = self
            .0
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
            .take(SLUG_CHARS)
            .collect();
        let digest = xxh3_128(self.0.as_bytes()).to_le_bytes();
        format!("{slug}-{}", hex(&digest[..5]))
    }
}

impl fmt::Display for EpisodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Identity of one segment: episode plus position in it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SegmentKey {
    pub episode: EpisodeId,
    pub index: u32,
}

impl SegmentKey {
    pub fn new(episode: EpisodeId, index: u32) -> Self {
        Self { episode, index }
    }

    /// Parses `<episode id>#<index>` (the episode id may itself contain `#`).
    pub fn parse(key: &str) -> Result<Self, IdError> {
        let bad = || IdError::BadSegmentKey(key.to_owned());
        let (episode, index) = key.rsplit_once('#').ok_or_else(bad)?;
        let index = index.parse().map_err(|_| bad())?;
        Ok(Self { episode: EpisodeId::parse(episode)?, index })
    }
}

impl fmt::Display for SegmentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.episode, self.index)
    }
}

/// A 128-bit content hash (XXH3-128) of a segment's content or a file's
/// bytes. It identifies content; it is not a security boundary, and 128 bits
/// make an accidental collision among a few million segments negligible.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ContentHash(pub [u8; 16]);

impl ContentHash {
    /// Hashes length-prefixed fields so that no two field lists share a hash.
    pub fn of_fields(fields: &[&[u8]]) -> Self {
        let mut hasher = Xxh3::new();
        for field in fields {
            hasher.update(&(field.len() as u64).to_le_bytes());
            hasher.update(field);
        }
        Self(hasher.digest128().to_le_bytes())
    }

    /// Hash of a whole byte string (a file).
    pub fn of_bytes(bytes: &[u8]) -> Self {
        Self(xxh3_128(bytes).to_le_bytes())
    }

    /// Short hex form for logs and message ids.
    pub fn short(&self) -> String {
        hex(&self.0[..12])
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn episode_ids_reject_escapes_and_empty_parts() {
        assert_eq!(EpisodeId::parse(""), Err(IdError::Empty));
        assert!(matches!(EpisodeId::parse("a/../b"), Err(IdError::BadComponent(_))));
        assert!(matches!(EpisodeId::parse("/abs"), Err(IdError::BadComponent(_))));
        assert!(matches!(EpisodeId::parse("a\nb"), Err(IdError::BadCharacter(_))));
        assert!(EpisodeId::parse("show/101_NIPS_’17 #357, @x").is_ok());
    }

    #[test]
    fn subject_tokens_are_safe_and_distinct() {
        let a = EpisodeId::parse("show/ep 1.x").unwrap();
        let b = EpisodeId::parse("show/ep_1_x").unwrap();
        let (ta, tb) = (a.subject_token(), b.subject_token());
        assert_ne!(ta, tb, "same slug, different ids");
        for t in [ta, tb] {
            assert!(t.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{t}");
        }
    }

    #[test]
    fn segment_keys_round_trip_even_with_hash_in_episode() {
        let key = SegmentKey::new(EpisodeId::parse("a/#357 ep").unwrap(), 42);
        assert_eq!(SegmentKey::parse(&key.to_string()).unwrap(), key);
        assert!(SegmentKey::parse("a/b#x").is_err());
    }

    #[test]
    fn content_hash_separates_fields() {
        assert_ne!(ContentHash::of_fields(&[b"ab", b"c"]), ContentHash::of_fields(&[b"a", b"bc"]));
    }
}
