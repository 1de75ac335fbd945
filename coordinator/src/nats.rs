//! Connecting to NATS as the coordinator, which owns the streams (see `protocol::connect`).

use async_nats::jetstream;
use protocol::connect::{NatsArgs, Role};

/// Connects and makes sure the podmine streams exist with current settings.
pub async fn connect(args: &NatsArgs) -> anyhow::Result<jetstream::Context> {
    Ok(protocol::connect::connect(args, "podmine-coordinator", Role::Coordinator).await?)
}
