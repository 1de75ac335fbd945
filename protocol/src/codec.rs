//! The wire codec: the only file that names the binary encoding.
//!
//! Every message is one version byte followed by a bincode body. Unknown
//! versions and trailing bytes are errors, so a message from a newer podmine
//! is refused loudly instead of being misread.
//!
//! Version 1 is every message's first layout. Version 2 ([`TIMED_TASK`]) is
//! only a task with its cue marks, written only in a run whose spec asks for
//! compact answers (whose spec older workers already refuse). Version 3
//! ([`FAILURE_KIND`]) is a failure record with its kind (and a store's
//! outcome holding one); version 1 failures still decode, with kind
//! `unknown`. Every other message, and every task of a full-answer run,
//! stays version 1 so a fleet upgraded one Mac at a time reads what the
//! others write.

use serde::{de::DeserializeOwned, Serialize};

/// The encoding version this build writes and reads for every message.
pub const VERSION: u8 = 1;
/// The version of a task that carries its cue marks (`protocol::task::TimedTask`).
pub const TIMED_TASK: u8 = 2;
/// The version of a failure record with its kind (`protocol::result::FailureRecord`).
pub const FAILURE_KIND: u8 = 3;

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("empty message")]
    Empty,
    #[error("message has encoding version {0}, newer than this build reads: upgrade podmine")]
    UnknownVersion(u8),
    #[error("message has {0} bytes after its end")]
    TrailingBytes(usize),
    #[error("cannot decode message: {0}")]
    Decode(#[from] bincode::error::DecodeError),
    #[error("cannot encode message: {0}")]
    Encode(#[from] bincode::error::EncodeError),
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<{ 64 * 1024 * 1024 }>()
}

/// Encodes `value` as version byte + body.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    encode_as(VERSION, value)
}

/// Encodes `value` with another version byte (a layout that changed: timed
/// tasks, failures with a kind, a store's outcome holding one).
pub fn encode_as<T: Serialize>(version: u8, value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = vec![version];
    bincode::serde::encode_into_std_write(value, &mut out, config())?;
    Ok(out)
}

/// Test hook: the version byte a build "upgraded" in a test also reads (as
/// its own), so a test can show that what an old build left alone settles
/// once the reader is upgraded. Unset in real use.
const TEST_ALSO_READS: &str = "PODMINE_TEST_ALSO_READS_VERSION";

fn also_reads() -> Option<u8> {
    static ALSO: std::sync::OnceLock<Option<u8>> = std::sync::OnceLock::new();
    *ALSO.get_or_init(|| std::env::var(TEST_ALSO_READS).ok()?.parse().ok())
}

/// Decodes what [`encode`] wrote, refusing other versions and trailing bytes.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (&version, body) = bytes.split_first().ok_or(CodecError::Empty)?;
    if version != VERSION && Some(version) != also_reads() {
        return Err(CodecError::UnknownVersion(version));
    }
    decode_body(body)
}

/// Decodes a message whose layout changed at version `current`: version 1
/// bytes decode as the old layout `V1` and convert; `current` (or the test
/// hook's byte) as `T`; any other version is refused.
pub fn decode_evolved<T: DeserializeOwned, V1: DeserializeOwned + Into<T>>(
    bytes: &[u8],
    current: u8,
) -> Result<T, CodecError> {
    match bytes.split_first() {
        None => Err(CodecError::Empty),
        Some((&VERSION, body)) => decode_body::<V1>(body).map(Into::into),
        Some((&version, body)) if version == current || Some(version) == also_reads() => decode_body(body),
        Some((&version, _)) => Err(CodecError::UnknownVersion(version)),
    }
}

/// Decodes a body whose version byte the caller has read.
pub(crate) fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, CodecError> {
    let (value, read) = bincode::serde::decode_from_slice(body, config())?;
    if read != body.len() {
        return Err(CodecError::TrailingBytes(body.len() - read));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EpisodeId, Segment, Task};
    use proptest::prelude::*;

    fn task(text: String, speaker: Option<String>, t0_ms: u64) -> Task {
        Task {
            segment: Segment {
                episode: EpisodeId::parse("show/ep 1").unwrap(),
                index: 1,
                t0_ms,
                t1_ms: t0_ms + 30_000,
                speaker,
                text,
                times_estimated: false,
            },
            episode_title: "Episode".into(),
            source_path: "show/ep 1.srt".into(),
            episode_segments: 2,
            generation: 0,
        }
    }

    #[test]
    fn rejects_unknown_version_and_trailing_bytes() {
        let mut bytes = encode(&task("hi".into(), None, 0)).unwrap();
        bytes.push(0);
        assert!(matches!(decode::<Task>(&bytes), Err(CodecError::TrailingBytes(1))));
        bytes[0] = 9;
        assert!(matches!(decode::<Task>(&bytes), Err(CodecError::UnknownVersion(9))));
        assert!(matches!(decode::<Task>(&[]), Err(CodecError::Empty)));
    }

    proptest! {
        #[test]
        fn tasks_round_trip(text in ".{0,200}", speaker in proptest::option::of(".{0,20}"), t0 in 0u64..1u64 << 40) {
            let original = task(text, speaker, t0);
            prop_assert_eq!(decode::<Task>(&encode(&original).unwrap()).unwrap(), original);
        }

        #[test]
        fn decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode::<Task>(&bytes);
        }
    }
}
