//! Wall-clock time as podmine records it: milliseconds since the Unix epoch
//! (liveness records, status snapshots, the store's rate buckets).

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn unix_now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Seconds since the Unix epoch.
pub fn unix_now_s() -> u64 {
    unix_now_ms() / 1000
}
