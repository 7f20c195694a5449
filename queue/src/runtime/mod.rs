//! Running jobs: the [`Runner`](runner::Runner) of a worker replica and its parts (claims,
//! slots, batched outcomes, wake-ups, the replica registry with heartbeats and rescues,
//! pauses), the metrics it records, and the cron ticks the scheduler enqueues.

mod attempt_writer;
pub mod batch;
mod claims;
pub mod cron;
pub mod job_metrics;
pub mod pauses;
mod queue_worker;
pub mod replicas;
pub mod runner;
pub mod wake;
