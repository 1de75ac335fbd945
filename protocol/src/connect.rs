//! Connecting to NATS with errors that say what to start, shared by every binary.

use async_nats::jetstream;
use std::time::Duration;

/// How long to wait for a server before telling the user to start one.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// PubAcks allowed in flight on one connection.
const MAX_ACK_INFLIGHT: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "cannot reach NATS at {url}. Start a server with JetStream (`nats-server -js -sd <store dir>`, \
         see README.md \"Set-up\"), or point --nats / NATS_URL at a running one: {source}"
    )]
    Unreachable { url: String, source: async_nats::ConnectError },
    #[error("cannot create the podmine streams on {url}: is JetStream enabled (`nats-server -js`)? {source}")]
    NoJetStream { url: String, source: jetstream::context::CreateStreamError },
}

/// Connects as `name` and makes sure the podmine streams exist with current settings.
/// The client reconnects by itself if the server goes away later.
pub async fn connect(url: &str, name: &str) -> Result<jetstream::Context, ConnectError> {
    let client = async_nats::ConnectOptions::new()
        .name(name)
        .connection_timeout(CONNECT_TIMEOUT)
        .connect(url)
        .await
        .map_err(|source| ConnectError::Unreachable { url: url.to_owned(), source })?;
    let js = jetstream::ContextBuilder::new()
        .max_ack_inflight(MAX_ACK_INFLIGHT)
        .backpressure_on_inflight(true)
        .build(client);
    crate::streams::ensure(&js, crate::streams::StreamOptions::default())
        .await
        .map_err(|source| ConnectError::NoJetStream { url: url.to_owned(), source })?;
    Ok(js)
}
