//! The SQLite driver: one `UPDATE ... RETURNING` claims (SQLite has one writer, so no row is
//! claimed twice), a batch of outcomes is one `UPDATE ... FROM` over its values then one insert
//! of the history rows, in one `BEGIN IMMEDIATE` transaction.
//!
//! apalis's SQLite table keeps `run_at` in whole seconds: a later run is rounded up (a job
//! never runs early), and a job due at once counts as due when it was enqueued, which its id
//! records to the millisecond.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Sqlite, SqlitePool, Transaction};

use super::{ClaimedJob, Completion, Driver, MinuteGroup, NewJob, rounds};
use crate::db::{StoreError, TxInner, WriteGate, WriteTurn};
use crate::facade::{EnqueueOptions, Enqueued};
use crate::runtime::wake::WakeHub;

/// The queue's operations on SQLite.
#[derive(Debug, Clone)]
pub(crate) struct SqliteDriver {
    pool: SqlitePool,
    /// Every write here waits for the process's turn first.
    gate: WriteGate,
}

impl SqliteDriver {
    /// The driver of `pool`, writing in turn with the rest of the process through `gate`.
    pub(crate) fn new(pool: SqlitePool, gate: WriteGate) -> Self {
        Self { pool, gate }
    }

    /// Waits for the process's turn to write, then opens a transaction holding the write lock;
    /// the turn is let go when it is dropped, after the transaction.
    async fn begin(&self) -> Result<(WriteTurn, Transaction<'static, Sqlite>), StoreError> {
        let turn = self.gate.turn().await?;
        Ok((turn, self.pool.begin_with("BEGIN IMMEDIATE").await?))
    }
}

/// Claims up to `$3` due pending jobs of queue `$1` for worker `$2`, unless the queue is
/// paused: highest priority first, then by due time. Its candidates are read from
/// `idx_jobs_pending` (migration 0025), whose filter is exactly theirs and whose order is the
/// claim's.
const CLAIM: &str = "UPDATE Jobs SET status = 'Running', lock_by = $2, lock_at = strftime('%s', 'now') \
     WHERE id IN (SELECT id FROM Jobs \
           WHERE job_type = $1 AND status = 'Pending' AND lock_by IS NULL \
           AND (run_at IS NULL OR run_at <= strftime('%s', 'now')) \
           AND NOT EXISTS (SELECT 1 FROM queue_pauses WHERE queue = $1) \
           ORDER BY priority DESC, run_at ASC, id ASC LIMIT $3) \
     RETURNING id, job, attempts, max_attempts, priority, run_at";

fn transaction(tx: &mut TxInner) -> Result<&mut sqlx::SqliteConnection, StoreError> {
    match tx {
        TxInner::Sqlite(t) => Ok(&mut **t),
        TxInner::Postgres(_) => Err(StoreError::Corrupt(
            "the SQLite driver was given a PostgreSQL transaction".into(),
        )),
    }
}

/// `at` in whole seconds, rounded up, so no job runs before its time.
pub(crate) fn epoch_seconds_ceil(at: DateTime<Utc>) -> i64 {
    at.timestamp() + i64::from(at.timestamp_subsec_nanos() > 0)
}

#[async_trait]
impl Driver for SqliteDriver {
    async fn insert(
        &self,
        tx: &mut TxInner,
        job: NewJob<'_>,
        options: &EnqueueOptions,
    ) -> Result<Enqueued, StoreError> {
        let inserted: Option<String> = sqlx::query_scalar(
            "INSERT INTO Jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority, idempotency_key) \
             VALUES ($1, $2, $3, 'Pending', 0, $4, COALESCE($5, strftime('%s', 'now')), $6, $7) \
             ON CONFLICT (job_type, idempotency_key) WHERE idempotency_key IS NOT NULL \
             DO NOTHING RETURNING id",
        )
        .bind(job.id)
        .bind(job.queue)
        .bind(job.payload)
        .bind(job.max_attempts)
        .bind(options.run_at.map(epoch_seconds_ceil))
        .bind(options.priority)
        .bind(&options.unique_key)
        .fetch_optional(transaction(tx)?)
        .await?;
        Ok(match inserted {
            Some(id) => Enqueued::New(id),
            None => Enqueued::Duplicate,
        })
    }

    async fn insert_many(
        &self,
        tx: &mut TxInner,
        queue: &str,
        payloads: &[Vec<u8>],
        max_attempts: i32,
    ) -> Result<u64, StoreError> {
        let conn = transaction(tx)?;
        let mut inserted = 0;
        // Four parameters a row, well under SQLite's limit of 32,766 a statement.
        for chunk in payloads.chunks(500) {
            let mut builder = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO Jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority) ",
            );
            builder.push_values(chunk, |mut row, job| {
                row.push_bind(ulid::Ulid::generate().to_string())
                    .push_bind(queue)
                    .push_bind(job)
                    .push("'Pending'")
                    .push("0")
                    .push_bind(max_attempts)
                    .push("strftime('%s', 'now')")
                    .push("0");
            });
            inserted += builder.build().execute(&mut *conn).await?.rows_affected();
        }
        Ok(inserted)
    }

    async fn claim(
        &self,
        queue: &str,
        worker: &str,
        limit: i64,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        let _turn = self.gate.turn().await?;
        let rows: Vec<(String, Vec<u8>, i32, i32, i32, i64)> = sqlx::query_as(CLAIM)
            .bind(queue)
            .bind(worker)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, payload, attempts, max_attempts, priority, run_at)| {
                let due_at = DateTime::from_timestamp(run_at, 0)
                    .unwrap_or_default()
                    .max(crate::board::search::enqueued_at(&id));
                ClaimedJob {
                    id,
                    payload,
                    attempts,
                    max_attempts,
                    due_at,
                    priority,
                }
            })
            .collect())
    }

    async fn complete(&self, batch: &[Completion]) -> Result<Vec<bool>, StoreError> {
        let mut answers = vec![false; batch.len()];
        let (_turn, mut tx) = self.begin().await?;
        for round in rounds(batch) {
            let outcomes: Vec<&Completion> = round.iter().map(|&i| &batch[i]).collect();
            let written = complete_round(&mut tx, &outcomes).await?;
            for i in round {
                answers[i] = written.contains(&batch[i].job_id);
            }
        }
        tx.commit().await?;
        Ok(answers)
    }

    fn concurrent_completions(&self) -> usize {
        // One writer: a second batch would only wait for the lock.
        1
    }

    async fn put_back(&self, worker: &str, ids: &[String]) -> Result<u64, StoreError> {
        let mut put_back = 0;
        let (_turn, mut tx) = self.begin().await?;
        for id in ids {
            put_back += sqlx::query(
                "UPDATE Jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL \
                 WHERE id = $1 AND lock_by = $2 AND status = 'Running'",
            )
            .bind(id)
            .bind(worker)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(put_back)
    }

    async fn release_worker(&self, worker: &str) -> Result<u64, StoreError> {
        let _turn = self.gate.turn().await?;
        Ok(sqlx::query(
            "UPDATE Jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL \
             WHERE lock_by = $1 AND status IN ('Queued', 'Running')",
        )
        .bind(worker)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    async fn register_worker(&self, name: &str) -> Result<(), StoreError> {
        let _turn = self.gate.turn().await?;
        sqlx::query(
            "INSERT INTO Workers (id, worker_type, storage_name, layers, last_seen) \
             VALUES ($1, 'zencall', 'zencall', '', strftime('%s', 'now')) \
             ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen",
        )
        .bind(name)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn rescue(&self, workers: &[String], reason: &str) -> Result<u64, StoreError> {
        let mut rescued = 0;
        let (_turn, mut tx) = self.begin().await?;
        for worker in workers {
            rescued += sqlx::query(
                "UPDATE Jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL, \
                 attempts = attempts + 1, last_result = $2 \
                 WHERE lock_by = $1 AND status IN ('Queued', 'Running')",
            )
            .bind(worker)
            .bind(reason)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(rescued)
    }

    async fn attempt_minutes(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<MinuteGroup>, StoreError> {
        // No array aggregate here: group the hour's rows in Rust.
        let rows: Vec<(
            String,
            String,
            DateTime<Utc>,
            DateTime<Utc>,
            Option<DateTime<Utc>>,
        )> = sqlx::query_as(
            "SELECT queue, outcome, started_at, finished_at, due_at FROM job_attempts \
                 WHERE finished_at >= $1 AND finished_at < $2",
        )
        .bind(from)
        .bind(until)
        .fetch_all(&self.pool)
        .await?;
        let mut by_minute: HashMap<(String, i64), (i64, i64, Vec<i64>)> = HashMap::new();
        for (queue, outcome, started_at, finished_at, due_at) in rows {
            let minute = (finished_at - from).num_seconds().div_euclid(60);
            let group = by_minute.entry((queue, minute)).or_default();
            if outcome == "done" {
                group.0 += 1;
            } else {
                group.1 += 1;
            }
            if let Some(due) = due_at {
                group
                    .2
                    .push((started_at - due).num_microseconds().unwrap_or(i64::MAX));
            }
        }
        Ok(by_minute
            .into_iter()
            .map(|((q, minute), (done, failed, pickups))| (q, minute, done, failed, pickups))
            .collect())
    }

    fn follow_inserts(&self, _hub: Arc<WakeHub>) {
        // One process: its own enqueues wake its workers after commit.
    }
}

/// Writes one round of outcomes (each job once) in `tx`: one `UPDATE ... FROM` over their
/// values, which returns the jobs still held by their workers, then one insert of those
/// attempts' history rows. Answers the jobs written.
async fn complete_round(
    tx: &mut sqlx::SqliteConnection,
    batch: &[&Completion],
) -> Result<HashSet<String>, StoreError> {
    let mut update = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
        "WITH i(id, worker, status, attempt, result, run_at) AS (",
    );
    update.push_values(batch.iter(), |mut row, c| {
        row.push_bind(&c.job_id)
            .push_bind(&c.worker)
            .push_bind(c.status)
            .push_bind(c.attempt)
            .push_bind(&c.result)
            .push_bind(c.run_at.map(epoch_seconds_ceil));
    });
    update.push(
        ") UPDATE Jobs SET status = i.status, attempts = i.attempt, last_result = i.result, \
         done_at = CASE WHEN i.status = 'Pending' THEN Jobs.done_at ELSE strftime('%s', 'now') END, \
         run_at = COALESCE(i.run_at, Jobs.run_at), \
         lock_by = CASE WHEN i.status = 'Pending' THEN NULL ELSE Jobs.lock_by END, \
         lock_at = CASE WHEN i.status = 'Pending' THEN NULL ELSE Jobs.lock_at END \
         FROM i WHERE Jobs.id = i.id AND Jobs.lock_by = i.worker RETURNING Jobs.id",
    );
    let updated: HashSet<String> = update
        .build_query_scalar::<String>()
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
    let recorded: Vec<&Completion> = batch
        .iter()
        .copied()
        .filter(|c| updated.contains(&c.job_id))
        .collect();
    if !recorded.is_empty() {
        let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO job_attempts (job_id, attempt, queue, kind, worker, started_at, \
             finished_at, outcome, error, due_at) ",
        );
        insert.push_values(recorded, |mut row, c| {
            row.push_bind(&c.job_id)
                .push_bind(c.attempt)
                .push_bind(c.queue)
                .push_bind(&c.kind)
                .push_bind(&c.worker)
                .push_bind(c.started_at)
                .push_bind(c.finished_at)
                .push_bind(c.outcome)
                .push_bind(&c.error)
                .push_bind(c.due_at);
        });
        insert.push(" ON CONFLICT (job_id, attempt) DO NOTHING");
        insert.build().execute(&mut *tx).await?;
    }
    Ok(updated)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::CLAIM;
    use crate::db::Pool;
    use crate::test_db::TestDb;

    #[tokio::test]
    async fn the_claim_reads_its_index_in_order_instead_of_scanning_the_job_table() {
        let t = TestDb::sqlite().await;
        if let Pool::Sqlite(p) = t.db.pool() {
            let plan: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {CLAIM}")))
                    .fetch_all(p)
                    .await
                    .unwrap();
            let detail: Vec<&str> = plan.iter().map(|r| r.3.as_str()).collect();
            assert!(
                detail.iter().all(|d| !d.starts_with("SCAN Jobs")),
                "{detail:?}"
            );
            assert!(
                detail
                    .iter()
                    .any(|d| d.contains("USING INDEX idx_jobs_pending")),
                "{detail:?}"
            );
            assert!(
                detail.iter().all(|d| !d.contains("TEMP B-TREE")),
                "the index gives the claim's order: {detail:?}"
            );
        }
        t.drop_database().await;
    }
}
