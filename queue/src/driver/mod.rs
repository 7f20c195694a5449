//! The queue's operations on one backend. Each backend has one driver, in a file of its own,
//! implementing [`Driver`]: the runtime and the facade call these operations and never branch on
//! the backend themselves. The queue's tests run every operation on both drivers (see
//! [`TestDb::all`](crate::test_db::TestDb::all)).
//!
//! The jobs table is apalis's (`apalis.jobs` on PostgreSQL, `Jobs` on SQLite): a job is
//! `Pending` (due at `run_at`), `Running` (held by a worker, `lock_by`), `Done`, or `Killed`
//! (dead). A claimed job keeps its attempt count until its outcome is recorded.

#[cfg(test)]
mod conformance;
mod postgres;
pub(crate) mod sql;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub(crate) use postgres::PostgresDriver;
pub(crate) use sqlite::SqliteDriver;

use crate::db::{StoreError, TxInner};
use crate::facade::{EnqueueOptions, Enqueued};
use crate::runtime::wake::WakeHub;

/// The queue's hot-path operations on one backend.
#[async_trait]
pub(crate) trait Driver: Send + Sync + std::fmt::Debug {
    /// Inserts one encoded job in `tx`, unless a job of its queue already holds its unique key.
    async fn insert(
        &self,
        tx: &mut TxInner,
        job: NewJob<'_>,
        options: &EnqueueOptions,
    ) -> Result<Enqueued, StoreError>;

    /// Inserts many encoded jobs of one queue in `tx`, due now; returns how many.
    async fn insert_many(
        &self,
        tx: &mut TxInner,
        queue: &str,
        payloads: &[Vec<u8>],
        max_attempts: i32,
    ) -> Result<u64, StoreError>;

    /// Claims up to `limit` due jobs of `queue` for `worker` in one statement, highest
    /// priority first then the longest due, none while the queue is paused. The order of the
    /// answer is not significant.
    async fn claim(
        &self,
        queue: &str,
        worker: &str,
        limit: i64,
    ) -> Result<Vec<ClaimedJob>, StoreError>;

    /// Records a batch of outcomes: each job's new state, unless its worker no longer holds
    /// it, and the attempt's history row. Answers, per outcome, whether it was written.
    async fn complete(&self, batch: &[Completion]) -> Result<Vec<bool>, StoreError>;

    /// How many batches of outcomes may be written at once.
    fn concurrent_completions(&self) -> usize;

    /// Gives back jobs `worker` claimed but did not start: pending again, unlocked, their
    /// attempts unchanged. Returns how many went back.
    async fn put_back(&self, worker: &str, ids: &[String]) -> Result<u64, StoreError>;

    /// Gives back every job `worker` still holds. Returns how many.
    async fn release_worker(&self, worker: &str) -> Result<u64, StoreError>;

    /// Records a worker name a replica locks jobs with (the jobs table refers to it).
    async fn register_worker(&self, name: &str) -> Result<(), StoreError>;

    /// Puts back the jobs held by `workers` (of replicas that died), counting the abandoned
    /// attempt and keeping `reason` as its result. Returns how many.
    async fn rescue(&self, workers: &[String], reason: &str) -> Result<u64, StoreError>;

    /// Attempts finished in `[from, until)`, per queue and minute from `from`.
    async fn attempt_minutes(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<MinuteGroup>, StoreError>;

    /// Starts following the jobs other processes insert, waking `hub`'s queues, when the
    /// backend can tell (a single-process backend has nothing to follow).
    fn follow_inserts(&self, hub: Arc<WakeHub>);
}

/// One queue's minute of finished attempts: queue, minute index, done, failed, and each
/// attempt's pickup latency (start minus due) in microseconds.
pub(crate) type MinuteGroup = (String, i64, i64, i64, Vec<i64>);

/// A job to insert.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewJob<'a> {
    /// Its new id.
    pub id: &'a str,
    /// Its queue.
    pub queue: &'a str,
    /// Its encoded envelope.
    pub payload: &'a [u8],
    /// Attempts allowed.
    pub max_attempts: i32,
}

/// A job a worker claimed: what its handler needs and what its outcome records.
#[derive(Debug, Clone)]
pub(crate) struct ClaimedJob {
    /// The job's id.
    pub id: String,
    /// Its stored payload (the envelope's JSON).
    pub payload: Vec<u8>,
    /// Attempts recorded so far.
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// When it was due, as the claim read it (to the millisecond on both backends).
    pub due_at: DateTime<Utc>,
    /// Higher first.
    pub priority: i32,
}

/// One finished attempt's outcome, as the batched completion writes it.
#[derive(Debug, Clone)]
pub(crate) struct Completion {
    /// The job.
    pub job_id: String,
    /// The worker that ran it; the outcome is written only if it still holds the job.
    pub worker: String,
    /// The attempt's number, 1 for the first.
    pub attempt: i32,
    /// The job's new status: `Done`, `Killed` or `Pending` (a retry).
    pub status: &'static str,
    /// The job's `last_result` (apalis's JSON form).
    pub result: String,
    /// For a retry, the next run.
    pub run_at: Option<DateTime<Utc>>,
    /// The job's queue.
    pub queue: &'static str,
    /// The job's kind.
    pub kind: String,
    /// When the attempt started.
    pub started_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
    /// `done`, `retry` or `dead`.
    pub outcome: &'static str,
    /// The attempt's error, if it failed.
    pub error: Option<String>,
    /// When the job was due, as its claim read it.
    pub due_at: DateTime<Utc>,
}

/// Splits a batch of outcomes into rounds (indices into `batch`) in which each job appears
/// once, keeping their order: a statement answers which jobs it wrote, so two outcomes of one
/// job (its holder's and a former holder's) must go in separate statements to be told apart.
/// Almost every batch is one round.
pub(crate) fn rounds(batch: &[Completion]) -> Vec<Vec<usize>> {
    let mut rounds: Vec<Vec<usize>> = Vec::new();
    for (i, c) in batch.iter().enumerate() {
        match rounds
            .iter_mut()
            .find(|round| round.iter().all(|&j| batch[j].job_id != c.job_id))
        {
            Some(round) => round.push(i),
            None => rounds.push(vec![i]),
        }
    }
    rounds
}
