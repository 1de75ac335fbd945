//! The version byte every record the store keeps starts with, and what the
//! tables share inside a sled transaction.
//!
//! A record (a struct that may gain a field) is one version byte, then its
//! layout: JSON for the records people may want to read with a sled tool
//! (episodes, totals, figures), the wire's encoding (`protocol::codec`,
//! which has its own version byte) for outcomes, counters, buckets and cue
//! marks; the spec keeps the JSON NATS holds, whose `format` field is its
//! version. A plain count or stream position is 8 bytes, big-endian, with no
//! byte of its own: it has no field to add.
//!
//! Records written before the byte (by builds up to 0dd9fb1) are JSON that
//! starts with `{`, and are read as version 1. A record of a newer version
//! is refused with "upgrade the coordinator", never read wrongly.

use anyhow::bail;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

/// The layout of a JSON record written by this build: this byte, then JSON.
pub const JSON_V1: u8 = 1;

/// How every JSON record written before version bytes begins.
const LEGACY_JSON: u8 = b'{';

pub fn to_json<T: Serialize>(value: &T) -> anyhow::Result<Vec<u8>> {
    let mut bytes = vec![JSON_V1];
    serde_json::to_writer(&mut bytes, value)?;
    Ok(bytes)
}

/// A JSON record of this build or of one before version bytes; `what` names it in errors.
pub fn from_json<T: DeserializeOwned>(bytes: &[u8], what: &str) -> anyhow::Result<T> {
    let json = match bytes.first() {
        Some(&LEGACY_JSON) => bytes,
        Some(&JSON_V1) => &bytes[1..],
        Some(&newer) if newer > JSON_V1 => bail!(
            "the store's {what} was written by a newer podmine (record version {newer}): upgrade the coordinator \
             (a store is never read by an older build than the one that wrote it)"
        ),
        _ => bail!("the store's {what} is corrupt (no record version)"),
    };
    serde_json::from_slice(json).map_err(|err| anyhow::anyhow!("the store's {what} is corrupt: {err}"))
}

/// What a table's step inside a transaction returns.
pub type TxResult<T> = Result<T, ConflictableTransactionError<anyhow::Error>>;

/// Aborts the transaction with `err`.
pub fn abort(err: impl std::fmt::Display) -> ConflictableTransactionError<anyhow::Error> {
    ConflictableTransactionError::Abort(anyhow::anyhow!("{err}"))
}

/// A transaction's failure as the user reads it.
pub fn transaction_error(err: TransactionError<anyhow::Error>) -> anyhow::Error {
    match err {
        TransactionError::Abort(err) => err,
        TransactionError::Storage(err) => anyhow::Error::from(err).context("cannot write to the coordinator's store"),
    }
}

/// A count or position as stored (0 for anything but 8 bytes).
pub fn u64_from(bytes: &[u8]) -> u64 {
    bytes.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

/// Adds `delta` to the count under `key`; a count that reaches 0 is removed.
pub fn add_count(tree: &TransactionalTree, key: &[u8], delta: i64) -> TxResult<()> {
    let count = tree.get(key)?.map_or(0, |v| u64_from(&v)) as i64 + delta;
    if count > 0 {
        tree.insert(key, &(count as u64).to_be_bytes())?;
    } else {
        tree.remove(key)?;
    }
    Ok(())
}

/// A JSON record inside a transaction.
pub fn json_in_tx<T: DeserializeOwned>(tree: &TransactionalTree, key: &[u8], what: &str) -> TxResult<Option<T>> {
    tree.get(key)?.map(|bytes| from_json(&bytes, what)).transpose().map_err(abort)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
    struct Totals {
        episodes: u64,
        #[serde(default)]
        added_later: u64,
    }

    #[test]
    fn a_record_starts_with_its_version_and_one_written_before_versions_still_reads() {
        let totals = Totals { episodes: 3, added_later: 1 };
        let bytes = to_json(&totals).unwrap();
        assert_eq!(bytes[0], JSON_V1);
        assert_eq!(from_json::<Totals>(&bytes, "totals").unwrap(), totals);
        // As a build before version bytes wrote it, before the field existed.
        let legacy = from_json::<Totals>(br#"{"episodes":3}"#, "totals").unwrap();
        assert_eq!(legacy, Totals { episodes: 3, added_later: 0 });
    }

    #[test]
    fn a_newer_record_asks_for_an_upgrade_and_garbage_is_called_corrupt() {
        let mut newer = to_json(&Totals { episodes: 1, added_later: 0 }).unwrap();
        newer[0] = JSON_V1 + 1;
        let err = from_json::<Totals>(&newer, "totals").unwrap_err().to_string();
        assert!(err.contains("newer podmine") && err.contains("upgrade the coordinator"), "{err}");
        for garbage in [&b""[..], &[0u8, 1, 2], &[JSON_V1, b'x']] {
            let err = from_json::<Totals>(garbage, "totals").unwrap_err().to_string();
            assert!(err.contains("totals is corrupt"), "{err}");
        }
    }
}
