//! Defining and enqueueing jobs: a job is a serializable payload with a stable kind, run on one
//! queue; it is enqueued alone or inside the caller's transaction (its workers are woken after
//! commit), optionally under a unique key.

pub mod enqueue;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use enqueue::{EnqueueOptions, Enqueued, encode, enqueue, enqueue_in, enqueue_many_raw};

/// A kind of job: a serializable payload with a stable name, run on one queue.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Stable name stored with the payload (`ProvisionAssistant`).
    const KIND: &'static str;
    /// The queue it runs on (its stored name, such as `provisioning`).
    const QUEUE: &'static str;
    /// Attempts before the job is dead; `None` uses the runner's default.
    const MAX_ATTEMPTS: Option<u32> = None;
}

/// The queue only benchmarks and the queue's own tests serve.
pub const BENCH_QUEUE: &str = "bench";

/// A job that does nothing, for the queue benchmark and tests; it runs on [`BENCH_QUEUE`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Noop {
    /// Sequence number within one benchmark run.
    pub seq: u64,
}

impl Job for Noop {
    const KIND: &'static str = "Noop";
    const QUEUE: &'static str = BENCH_QUEUE;
}
