//! The durable queue: job payloads, enqueueing (optionally inside the caller's transaction
//! and with a unique key), the worker runtime (batched claims and outcomes, durable retries
//! with backoff, a dead state with every attempt's error, prompt wake-ups, rescues of dead
//! replicas' jobs), and what the queue board reads and does: search, actions, statistics, pausing queues, the
//! worker registry and the cron table.

pub mod actions;
pub mod activity;
pub mod admin;
mod attempt_writer;
pub mod batch;
mod claims;
pub mod cron;
pub mod job_metrics;
pub mod pauses;
pub mod payloads;
pub mod queue;
mod queue_worker;
pub mod replicas;
pub mod runner;
pub mod search;
pub mod stats;
pub mod wake;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use queue::{EnqueueOptions, Enqueued, enqueue, enqueue_in};
pub use runner::{JobError, JobRun};

/// The queues, one per kind of work; workers choose which they serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueName {
    /// Assistant provisioning and changes.
    Provisioning,
    /// Campaign calls.
    Dialing,
    /// Campaign planning.
    Campaigns,
    /// Inbound events and outbound deliveries.
    Webhooks,
    /// Transcript analysis.
    Analysis,
    /// Calendar sync.
    Calendar,
    /// Usage and invoices.
    Billing,
    /// Pruning and data-protection jobs.
    Maintenance,
    /// Benchmark no-op jobs.
    Bench,
}

impl QueueName {
    /// Every production queue (the benchmark queue is served only by the benchmark).
    pub const ALL: [QueueName; 8] = [
        QueueName::Provisioning,
        QueueName::Dialing,
        QueueName::Campaigns,
        QueueName::Webhooks,
        QueueName::Analysis,
        QueueName::Calendar,
        QueueName::Billing,
        QueueName::Maintenance,
    ];

    /// The stored name (apalis's `job_type`).
    pub fn as_str(self) -> &'static str {
        match self {
            QueueName::Provisioning => "provisioning",
            QueueName::Dialing => "dialing",
            QueueName::Campaigns => "campaigns",
            QueueName::Webhooks => "webhooks",
            QueueName::Analysis => "analysis",
            QueueName::Calendar => "calendar",
            QueueName::Billing => "billing",
            QueueName::Maintenance => "maintenance",
            QueueName::Bench => "bench",
        }
    }

    /// Parses a queue name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .chain([QueueName::Bench])
            .find(|q| q.as_str() == text.trim())
    }
}

/// A kind of job: a serializable payload with a stable name, run on one queue.
pub trait Job: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Stable name stored with the payload (`ProvisionAssistant`).
    const KIND: &'static str;
    /// The queue it runs on.
    const QUEUE: QueueName;
    /// Attempts before the job is dead; `None` uses `queue.max_attempts`.
    const MAX_ATTEMPTS: Option<u32> = None;
}
