//! Connecting to NATS with errors that say what to start.

use anyhow::Context;
use async_nats::jetstream;
use std::time::Duration;

/// How long to wait for a server before telling the user to start one.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// PubAcks allowed in flight on one connection (see `publish::MAX_IN_FLIGHT`).
const MAX_ACK_INFLIGHT: usize = 4096;

/// Connects and makes sure the podmine streams exist with current settings.
pub async fn connect(url: &str) -> anyhow::Result<jetstream::Context> {
    let client = async_nats::ConnectOptions::new()
        .name("podmine-coordinator")
        .connection_timeout(CONNECT_TIMEOUT)
        .connect(url)
        .await
        .with_context(|| {
            format!(
                "cannot reach NATS at {url}. Start a server with JetStream (`nats-server -js -sd <store dir>`, \
                 see README.md \"Set-up\"), or point --nats / NATS_URL at a running one"
            )
        })?;
    let js = jetstream::ContextBuilder::new()
        .max_ack_inflight(MAX_ACK_INFLIGHT)
        .backpressure_on_inflight(true)
        .build(client);
    protocol::streams::ensure(&js, protocol::streams::StreamOptions::default()).await.with_context(|| {
        format!("cannot create the podmine streams on {url}: is JetStream enabled (`nats-server -js`)?")
    })?;
    Ok(js)
}
