//! Whether the run's mining spec moved on since this session began: asked by
//! every handler when it starts a task and before it acks one, answered by
//! one KV read for everyone who asked before that read started (so a task
//! published after a `respec` is always judged by a read made after it, and
//! 64 calls in flight cost one read, not 128).

use std::time::Instant;

pub struct SpecCheck {
    js: async_nats::jetstream::Context,
    /// The revision this session mines with.
    revision: u64,
    /// When the last read started, and what it found.
    last: tokio::sync::Mutex<Option<(Instant, bool)>>,
}

impl SpecCheck {
    pub fn new(js: async_nats::jetstream::Context, revision: u64) -> Self {
        Self { js, revision, last: tokio::sync::Mutex::new(None) }
    }

    /// True when the run's spec is another revision now. NATS away or no
    /// spec recorded: false (the settle that follows waits for NATS anyway).
    pub async fn moved_on(&self) -> bool {
        let asked = Instant::now();
        let mut last = self.last.lock().await;
        if let Some((started, moved)) = *last {
            if started >= asked || moved {
                return moved;
            }
        }
        let started = Instant::now();
        let moved = match protocol::spec_kv::fetch(&self.js).await {
            Ok(Some(latest)) => latest.revision != self.revision,
            Ok(None) | Err(_) => false,
        };
        *last = Some((started, moved));
        moved
    }
}
