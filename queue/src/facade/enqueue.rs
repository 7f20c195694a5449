//! Enqueueing. Jobs are written straight into apalis's table with our own statement, so that
//! they can join the caller's transaction and so that a duplicate unique key is reported the
//! same way on both backends: `INSERT ... ON CONFLICT DO NOTHING`, never an error that would
//! abort the caller's transaction (PostgreSQL) or a silent drop (SQLite).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Job;
use crate::db::{Db, StoreError, Tx};
use crate::driver::NewJob;

/// How to enqueue a job.
#[derive(Debug, Clone, Default)]
pub struct EnqueueOptions {
    /// Run no earlier than this; now when `None`.
    pub run_at: Option<DateTime<Utc>>,
    /// At most one job of the queue holds this key, ever (until it is pruned).
    pub unique_key: Option<String>,
    /// Higher runs first among due jobs.
    pub priority: i32,
    /// Overrides the kind's maximum attempts.
    pub max_attempts: Option<u32>,
}

impl EnqueueOptions {
    /// Options with a unique key.
    pub fn unique(key: impl Into<String>) -> Self {
        Self {
            unique_key: Some(key.into()),
            ..Self::default()
        }
    }
}

/// What enqueueing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// A new job, with its id.
    New(String),
    /// A job with the same unique key already exists; nothing was written.
    Duplicate,
}

/// The stored form of a job: its kind and its arguments.
#[derive(Debug, Serialize)]
struct Envelope<'a, T> {
    kind: &'a str,
    args: &'a T,
}

/// Encodes a job as stored in the queue table.
pub fn encode<J: Job>(job: &J) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(&Envelope {
        kind: J::KIND,
        args: job,
    })
    .map_err(|e| StoreError::Corrupt(format!("cannot encode {}: {e}", J::KIND)))
}

/// Enqueues `job` inside the caller's transaction; its workers are woken after commit.
pub async fn enqueue_in<J: Job>(
    tx: &mut Tx,
    job: &J,
    options: EnqueueOptions,
    default_max_attempts: u32,
) -> Result<Enqueued, StoreError> {
    let payload = encode(job)?;
    let max_attempts = options
        .max_attempts
        .or(J::MAX_ATTEMPTS)
        .unwrap_or(default_max_attempts)
        .max(1);
    let enqueued = insert_raw(tx, J::QUEUE, payload, &options, max_attempts).await?;
    if enqueued != Enqueued::Duplicate {
        wake_after_commit(tx, J::QUEUE);
    }
    Ok(enqueued)
}

/// Enqueues `job` in a transaction of its own.
pub async fn enqueue<J: Job>(
    db: &Db,
    job: &J,
    options: EnqueueOptions,
    default_max_attempts: u32,
) -> Result<Enqueued, StoreError> {
    let mut tx = db.begin().await?;
    let enqueued = enqueue_in(&mut tx, job, options, default_max_attempts).await?;
    tx.commit().await?;
    Ok(enqueued)
}

/// Inserts an encoded job.
pub(crate) async fn insert_raw(
    tx: &mut Tx,
    queue: &str,
    payload: Vec<u8>,
    options: &EnqueueOptions,
    max_attempts: u32,
) -> Result<Enqueued, StoreError> {
    let id = ulid::Ulid::generate().to_string();
    let job = NewJob {
        id: &id,
        queue,
        payload: &payload,
        max_attempts: i32::try_from(max_attempts).unwrap_or(i32::MAX),
    };
    let db = tx.db().clone();
    db.driver().insert(tx.inner_mut(), job, options).await
}

/// Inserts many encoded jobs of one queue at once (benchmarks and bulk imports), in `tx`.
pub async fn enqueue_many_raw(
    tx: &mut Tx,
    queue: &'static str,
    payloads: Vec<Vec<u8>>,
    max_attempts: u32,
) -> Result<u64, StoreError> {
    let max_attempts = i32::try_from(max_attempts).unwrap_or(i32::MAX);
    let db = tx.db().clone();
    let inserted = db
        .driver()
        .insert_many(tx.inner_mut(), queue, &payloads, max_attempts)
        .await?;
    wake_after_commit(tx, queue);
    Ok(inserted)
}

/// Wakes the workers of `queue` in this process once `tx` has committed.
pub(crate) fn wake_after_commit(tx: &mut Tx, queue: &str) {
    let hub = tx.db().wake_hub().clone();
    let queue = queue.to_string();
    tx.after_commit(move || hub.wake(&queue));
}
