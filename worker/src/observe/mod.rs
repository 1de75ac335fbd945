//! What a worker tells the world about itself: its running [`stats`], the
//! [`liveness`] record `coordinator status` reads, and Prometheus [`metrics`].

pub mod liveness;
pub mod metrics;
pub mod stats;

pub use stats::Counters;
