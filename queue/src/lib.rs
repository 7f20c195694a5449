//! Zencall's durable queue, on PostgreSQL or SQLite.
//!
//! - [`facade`]: what the application uses to define and enqueue jobs: the [`Job`] trait,
//!   enqueueing (alone or inside the caller's transaction, optionally with a unique key) and
//!   bulk enqueueing.
//! - [`runtime`]: what runs them: the [`Runner`] of a worker replica, which claims due jobs in
//!   batches, runs them on a fixed number of slots, records outcomes in batches (retries with
//!   backoff, a dead state with every attempt's error), wakes idle workers promptly, beats,
//!   rescues the jobs of dead replicas and honours pauses; and the cron ticks of the scheduler.
//! - [`board`]: what the admins' queue board reads and does: search, one job with its
//!   timeline, actions on jobs, statistics.
//! - `driver`: the queue's operations on each backend, one file per backend implementing one
//!   trait (claim, complete, put back, rescue, insert, bulk insert, ...), plus the dialect of
//!   the board's statements built at run time, checked by one conformance suite run on both.
//!   Nothing else branches on the backend.
//! - [`db`]: the database handle the application's storage shares, whose transactions run
//!   hooks after commit (enqueueing wakes workers that way), and [`test_db`] for tests.
//!
//! apalis's PostgreSQL and SQLite crates still create the jobs table ([`db::Db::migrate`]);
//! every statement on it is ours.

pub mod backoff;
pub mod board;
pub mod db;
mod driver;
pub mod facade;
pub mod runtime;
pub mod test_db;

pub use db::{Backend, Db, StoreError, Tx};
pub use facade::{EnqueueOptions, Enqueued, Job, Noop, enqueue, enqueue_in};
pub use runtime::runner::{JobError, JobRun, Registry, Runner, RunnerSettings};
