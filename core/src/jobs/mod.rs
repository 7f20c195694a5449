//! The application's jobs on the queue crate: the queues (one per kind of work), the payload of
//! every job kind, the cron table, and the runner's settings from the `[queue]` configuration.

pub mod cron;
pub mod payloads;

use std::time::Duration;

use zencall_queue::backoff::Backoff;
use zencall_queue::runtime::runner::RunnerSettings;

use crate::config::QueueSettings;

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
    pub const fn as_str(self) -> &'static str {
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

    /// The stored names of [`QueueName::ALL`].
    pub fn names() -> [&'static str; 8] {
        Self::ALL.map(Self::as_str)
    }

    /// Parses a queue name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .chain([QueueName::Bench])
            .find(|q| q.as_str() == text.trim())
    }
}

/// The runner's settings from the `[queue]` configuration.
pub fn runner_settings(q: &QueueSettings) -> RunnerSettings {
    RunnerSettings {
        backoff: Backoff {
            base: Duration::from_secs(q.retry_base_secs),
            max: Duration::from_secs(q.retry_max_secs),
        },
        job_timeout: Duration::from_secs(q.job_timeout_secs),
        heartbeat: Duration::from_secs(q.heartbeat_secs),
        missed_heartbeats: q.missed_heartbeats,
        poll_interval: Duration::from_millis(q.poll_interval_ms),
        concurrency: q.concurrency,
        prefetch: q.prefetch,
        shutdown_timeout: Duration::from_secs(q.shutdown_timeout_secs),
        max_attempts: q.max_attempts,
        pause_refresh: Duration::from_millis(q.pause_refresh_ms),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_runner_defaults_are_the_configured_defaults() {
        let settings = crate::config::Settings::defaults().unwrap();
        assert_eq!(runner_settings(&settings.queue), RunnerSettings::default());
    }

    #[test]
    fn queue_names_parse_back() {
        for q in QueueName::ALL.into_iter().chain([QueueName::Bench]) {
            assert_eq!(QueueName::parse(q.as_str()), Some(q));
        }
        assert_eq!(
            QueueName::Bench.as_str(),
            zencall_queue::facade::BENCH_QUEUE
        );
        assert_eq!(QueueName::parse("nope"), None);
    }
}
