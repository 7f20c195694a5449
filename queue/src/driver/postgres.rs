//! The PostgreSQL driver: claims with `FOR UPDATE SKIP LOCKED`, batches of outcomes in one
//! statement (a data-modifying CTE over `unnest`ed arrays), bulk inserts with `unnest`.
//!
//! Claims and outcomes commit without waiting for their WAL to reach the disk
//! (`synchronous_commit` off for their own transaction only): waiting for that flush was most
//! of their time under load. Nothing is lost by it. A job is durable once enqueued (inserts
//! still wait). If PostgreSQL itself crashes, the claims and outcomes of its last fraction of a
//! second may be forgotten: those jobs are pending again and run again, as after any lost
//! attempt (delivery is at least once), and an attempt forgotten is forgotten with its history
//! row, so no job is ever recorded as finishing twice. The next transaction that waits for its
//! flush (any enqueue, any handler's own writes) flushes the ones before it.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::time::MissedTickBehavior;

use super::{ClaimedJob, Completion, Driver, MinuteGroup, NewJob, rounds};
use crate::db::{StoreError, TxInner};
use crate::facade::{EnqueueOptions, Enqueued};
use crate::runtime::wake::WakeHub;

/// The queue's operations on PostgreSQL.
#[derive(Debug, Clone)]
pub(crate) struct PostgresDriver {
    pool: PgPool,
}

impl PostgresDriver {
    /// The driver of `pool`.
    pub(crate) fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Writes one round of outcomes (each job once) in one statement: each job's new state,
    /// unless its worker lost it meanwhile, and its attempt's history row. Answers the jobs
    /// written.
    async fn complete_round(&self, batch: &[&Completion]) -> Result<HashSet<String>, StoreError> {
        let column =
            |f: &dyn Fn(&Completion) -> String| batch.iter().map(|c| f(c)).collect::<Vec<_>>();
        let ids = column(&|c| c.job_id.clone());
        let workers = column(&|c| c.worker.clone());
        let statuses = column(&|c| c.status.to_string());
        let results = column(&|c| c.result.clone());
        let queues = column(&|c| c.queue.to_string());
        let kinds = column(&|c| c.kind.clone());
        let outcomes = column(&|c| c.outcome.to_string());
        let attempts: Vec<i32> = batch.iter().map(|c| c.attempt).collect();
        let run_ats: Vec<Option<DateTime<Utc>>> = batch.iter().map(|c| c.run_at).collect();
        let started: Vec<DateTime<Utc>> = batch.iter().map(|c| c.started_at).collect();
        let finished: Vec<DateTime<Utc>> = batch.iter().map(|c| c.finished_at).collect();
        let errors: Vec<Option<String>> = batch.iter().map(|c| c.error.clone()).collect();
        let due: Vec<DateTime<Utc>> = batch.iter().map(|c| c.due_at).collect();
        let written: Vec<String> = sqlx::query_scalar(
            "WITH input AS ( \
               SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], \
                 $6::timestamptz[], $7::text[], $8::text[], $9::timestamptz[], $10::timestamptz[], \
                 $11::text[], $12::text[], $13::timestamptz[]) \
               AS t(id, worker, attempt, status, result, run_at, queue, kind, started_at, \
                 finished_at, outcome, error, due_at)), \
             updated AS ( \
               UPDATE apalis.jobs j SET status = i.status, attempts = i.attempt, \
                 last_result = i.result::jsonb, \
                 done_at = CASE WHEN i.status = 'Pending' THEN j.done_at ELSE now() END, \
                 run_at = COALESCE(i.run_at, j.run_at), \
                 lock_by = CASE WHEN i.status = 'Pending' THEN NULL ELSE j.lock_by END, \
                 lock_at = CASE WHEN i.status = 'Pending' THEN NULL ELSE j.lock_at END \
               FROM input i WHERE j.id = i.id AND j.lock_by = i.worker RETURNING j.id), \
             recorded AS ( \
               INSERT INTO job_attempts (job_id, attempt, queue, kind, worker, started_at, \
                 finished_at, outcome, error, due_at) \
               SELECT i.id, i.attempt, i.queue, i.kind, i.worker, i.started_at, i.finished_at, \
                 i.outcome, i.error, i.due_at FROM input i JOIN updated u ON u.id = i.id \
               ON CONFLICT (job_id, attempt) DO NOTHING), \
             no_flush AS (SELECT set_config('synchronous_commit', 'off', true)) \
             SELECT id FROM updated, no_flush",
        )
        .bind(&ids)
        .bind(&workers)
        .bind(&attempts)
        .bind(&statuses)
        .bind(&results)
        .bind(&run_ats)
        .bind(&queues)
        .bind(&kinds)
        .bind(&started)
        .bind(&finished)
        .bind(&outcomes)
        .bind(&errors)
        .bind(&due)
        .fetch_all(&self.pool)
        .await?;
        Ok(written.into_iter().collect())
    }
}

fn transaction(tx: &mut TxInner) -> Result<&mut sqlx::PgConnection, StoreError> {
    match tx {
        TxInner::Postgres(t) => Ok(&mut **t),
        TxInner::Sqlite(_) => Err(StoreError::Corrupt(
            "the PostgreSQL driver was given a SQLite transaction".into(),
        )),
    }
}

#[async_trait]
impl Driver for PostgresDriver {
    async fn insert(
        &self,
        tx: &mut TxInner,
        job: NewJob<'_>,
        options: &EnqueueOptions,
    ) -> Result<Enqueued, StoreError> {
        let inserted: Option<String> = sqlx::query_scalar(
            "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority, idempotency_key) \
             VALUES ($1, $2, $3, 'Pending', 0, $4, COALESCE($5, now()), $6, $7) \
             ON CONFLICT (job_type, idempotency_key) WHERE idempotency_key IS NOT NULL \
             DO NOTHING RETURNING id",
        )
        .bind(job.id)
        .bind(job.queue)
        .bind(job.payload)
        .bind(job.max_attempts)
        .bind(options.run_at)
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
        for chunk in payloads.chunks(5_000) {
            let ids: Vec<String> = chunk
                .iter()
                .map(|_| ulid::Ulid::generate().to_string())
                .collect();
            inserted += sqlx::query(
                "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority) \
                 SELECT id, $2, job, 'Pending', 0, $4, now(), 0 FROM UNNEST($1::text[], $3::bytea[]) AS t(id, job)",
            )
            .bind(&ids)
            .bind(queue)
            .bind(chunk)
            .bind(max_attempts)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        }
        Ok(inserted)
    }

    async fn claim(
        &self,
        queue: &str,
        worker: &str,
        limit: i64,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        let rows: Vec<(String, Vec<u8>, i32, i32, i32, DateTime<Utc>)> = sqlx::query_as(
            "UPDATE apalis.jobs j SET status = 'Running', lock_by = $2, lock_at = now() \
             FROM (SELECT id FROM apalis.jobs \
                   WHERE job_type = $1 AND status = 'Pending' AND run_at <= now() \
                   AND NOT EXISTS (SELECT 1 FROM queue_pauses WHERE queue = $1) \
                   ORDER BY priority DESC, run_at LIMIT $3 \
                   FOR UPDATE SKIP LOCKED) c, \
                  (SELECT set_config('synchronous_commit', 'off', true)) no_flush \
             WHERE j.id = c.id \
             RETURNING j.id, j.job, j.attempts, j.max_attempts, j.priority, j.run_at",
        )
        .bind(queue)
        .bind(worker)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, payload, attempts, max_attempts, priority, due_at)| ClaimedJob {
                    id,
                    payload,
                    attempts,
                    max_attempts,
                    due_at,
                    priority,
                },
            )
            .collect())
    }

    async fn complete(&self, batch: &[Completion]) -> Result<Vec<bool>, StoreError> {
        let mut answers = vec![false; batch.len()];
        for round in rounds(batch) {
            let outcomes: Vec<&Completion> = round.iter().map(|&i| &batch[i]).collect();
            let written = self.complete_round(&outcomes).await?;
            for i in round {
                answers[i] = written.contains(&batch[i].job_id);
            }
        }
        Ok(answers)
    }

    fn concurrent_completions(&self) -> usize {
        // The next batch is written while one commits.
        2
    }

    async fn put_back(&self, worker: &str, ids: &[String]) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE apalis.jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL \
             WHERE id = ANY($1) AND lock_by = $2 AND status = 'Running'",
        )
        .bind(ids)
        .bind(worker)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    async fn release_worker(&self, worker: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE apalis.jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL \
             WHERE lock_by = $1 AND status IN ('Queued', 'Running')",
        )
        .bind(worker)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    async fn register_worker(&self, name: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO apalis.workers (id, worker_type, storage_name, layers, last_seen) \
             VALUES ($1, 'zencall', 'zencall', '', now()) \
             ON CONFLICT (id) DO UPDATE SET last_seen = now()",
        )
        .bind(name)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn rescue(&self, workers: &[String], reason: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE apalis.jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL, \
             attempts = attempts + 1, last_result = $2::jsonb \
             WHERE lock_by = ANY($1) AND status IN ('Queued', 'Running')",
        )
        .bind(workers)
        .bind(reason)
        .execute(&self.pool)
        .await?
        .rows_affected())
    }

    async fn attempt_minutes(
        &self,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<MinuteGroup>, StoreError> {
        // One array of pickups per queue and minute costs less than sorting the hour's rows
        // for `percentile_cont`, or reading them one by one.
        let rows: Vec<(String, i64, i64, i64, Option<Vec<i64>>)> = sqlx::query_as(
            "SELECT queue, floor(date_part('epoch', finished_at - $1) / 60)::int8, \
             COUNT(*) FILTER (WHERE outcome = 'done'), COUNT(*) FILTER (WHERE outcome <> 'done'), \
             array_agg(round(date_part('epoch', started_at - due_at) * 1000000)::int8) FILTER (WHERE due_at IS NOT NULL) \
             FROM job_attempts WHERE finished_at >= $1 AND finished_at < $2 GROUP BY 1, 2",
        )
        .bind(from)
        .bind(until)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(q, minute, done, failed, pickups)| {
                (q, minute, done, failed, pickups.unwrap_or_default())
            })
            .collect())
    }

    fn follow_inserts(&self, hub: Arc<WakeHub>) {
        tokio::spawn(listen(self.pool.clone(), hub));
    }
}

/// Listens to the insert notifications (`apalis::job::insert`, one per queue and insert
/// statement, migration 0012) and wakes the matching queues in this
/// process; reconnects by itself. Runs until the process ends.
async fn listen(pool: PgPool, hub: Arc<WakeHub>) {
    let mut interval = tokio::time::interval(Duration::from_secs(2));
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(mut listener) => {
                if let Err(e) = listener.listen("apalis::job::insert").await {
                    tracing::warn!(error = %e, "cannot LISTEN for new jobs; retrying");
                } else {
                    loop {
                        match listener.recv().await {
                            Ok(n) => {
                                let payload: Option<serde_json::Value> =
                                    serde_json::from_str(n.payload()).ok();
                                if let Some(queue) = payload
                                    .as_ref()
                                    .and_then(|v| v.get("job_type"))
                                    .and_then(|q| q.as_str())
                                {
                                    hub.wake(queue);
                                }
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "job notifications interrupted; reconnecting");
                                break;
                            }
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot connect the job listener; retrying"),
        }
        interval.tick().await;
    }
}
