//! The outbox: results paid for but not yet confirmed published, in sled
//! (the only module that names it). A result is written and flushed here
//! before it is published, removed after its PubAck, and replayed at start,
//! so an LLM answer is never lost to a crash.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A message waiting for its PubAck.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub subject: String,
    pub message_id: String,
    pub payload: Vec<u8>,
}

#[derive(Clone)]
pub struct Outbox {
    db: sled::Db,
}

impl Outbox {
    pub fn open(data_dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("cannot create the data dir {}", data_dir.display()))?;
        let path = data_dir.join("worker-outbox.sled");
        let db = sled::open(&path).with_context(|| {
            format!("cannot open the worker outbox at {} (is another worker using this --data-dir?)", path.display())
        })?;
        Ok(Self { db })
    }

    /// Stores `pending` durably (flushed to disk) under its message id.
    pub async fn put(&self, pending: &Pending) -> anyhow::Result<()> {
        self.db.insert(pending.message_id.as_bytes(), protocol::codec::encode(pending)?)?;
        self.db.flush_async().await.context("cannot flush the outbox")?;
        Ok(())
    }

    pub async fn remove(&self, message_id: &str) -> anyhow::Result<()> {
        self.db.remove(message_id.as_bytes())?;
        Ok(())
    }

    /// The pending message with this id, if any.
    pub fn get(&self, message_id: &str) -> anyhow::Result<Option<Pending>> {
        self.db.get(message_id.as_bytes())?.map(|v| Ok(protocol::codec::decode(&v)?)).transpose()
    }

    /// Everything still waiting, oldest key first.
    pub fn pending(&self) -> anyhow::Result<Vec<Pending>> {
        self.db.iter().values().map(|v| Ok(protocol::codec::decode(&v?)?)).collect()
    }

    pub async fn flush(&self) -> anyhow::Result<()> {
        self.db.flush_async().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pending_results_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let pending = Pending { subject: "s".into(), message_id: "result:1".into(), payload: vec![1, 2] };
        {
            let outbox = Outbox::open(dir.path()).unwrap();
            outbox.put(&pending).await.unwrap();
            outbox.put(&Pending { message_id: "result:2".into(), ..pending.clone() }).await.unwrap();
            outbox.remove("result:2").await.unwrap();
            outbox.flush().await.unwrap();
        }
        assert_eq!(Outbox::open(dir.path()).unwrap().pending().unwrap(), vec![pending]);
    }
}
