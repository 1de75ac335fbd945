//! Connecting to NATS as the coordinator (see `protocol::connect`).

use async_nats::jetstream;

/// Connects and makes sure the podmine streams exist with current settings.
pub async fn connect(url: &str) -> anyhow::Result<jetstream::Context> {
    Ok(protocol::connect::connect(url, "podmine-coordinator").await?)
}
