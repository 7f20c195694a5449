//! Outcomes of finished attempts, written in batches ([`Batcher`]): attempts that finish
//! together are recorded in one statement (PostgreSQL) or one transaction (SQLite). A job
//! whose lease was lost meanwhile is not overwritten.

use std::collections::HashSet;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};

use super::batch::Batcher;
use crate::db::{Db, Pool, StoreError, TxInner};

/// The runner's batch writer of outcomes, started on first use.
#[derive(Default)]
pub(super) struct AttemptWriter {
    completions: OnceLock<Batcher<Completion, bool>>,
}

impl AttemptWriter {
    /// Writes an attempt's outcome on its job and in `job_attempts`; false when the worker
    /// no longer held the job (its outcome is then dropped).
    pub(super) async fn complete(
        &self,
        db: &Db,
        completion: Completion,
    ) -> Result<bool, StoreError> {
        self.completions
            .get_or_init(|| {
                let db = db.clone();
                // PostgreSQL writes the next batch while one commits; SQLite has one writer.
                let in_flight = match db.pool() {
                    Pool::Postgres(_) => 2,
                    Pool::Sqlite(_) => 1,
                };
                Batcher::start(in_flight, move |batch| complete_batch(db.clone(), batch))
            })
            .call(completion)
            .await
    }
}

async fn complete_batch(db: Db, batch: Vec<Completion>) -> Result<Vec<bool>, String> {
    match db.pool() {
        Pool::Postgres(p) => complete_batch_postgres(p.clone(), batch).await,
        Pool::Sqlite(_) => complete_batch_sqlite(&db, batch)
            .await
            .map_err(|e| e.to_string()),
    }
}

/// SQLite has no data-modifying CTE: a batch is one `UPDATE ... FROM` over its outcomes,
/// which returns the jobs still held by their workers, then one insert of those attempts'
/// history rows, in one `BEGIN IMMEDIATE` transaction.
async fn complete_batch_sqlite(db: &Db, batch: Vec<Completion>) -> Result<Vec<bool>, StoreError> {
    let mut tx = db.begin().await?;
    let TxInner::Sqlite(t) = tx.inner_mut() else {
        return Err(StoreError::Corrupt(
            "a SQLite pool gave another transaction".into(),
        ));
    };
    let mut update = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
        "WITH i(id, worker, status, attempt, result, run_at) AS (",
    );
    update.push_values(&batch, |mut row, c| {
        row.push_bind(&c.job_id)
            .push_bind(&c.worker)
            .push_bind(c.status)
            .push_bind(c.attempt)
            .push_bind(&c.result)
            .push_bind(c.run_at.map(crate::facade::enqueue::epoch_seconds_ceil));
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
        .fetch_all(&mut **t)
        .await?
        .into_iter()
        .collect();
    let recorded: Vec<&Completion> = batch
        .iter()
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
        insert.build().execute(&mut **t).await?;
    }
    tx.commit().await?;
    Ok(batch.iter().map(|c| updated.contains(&c.job_id)).collect())
}

/// One finished attempt's outcome, as the batched completion writes it.
#[derive(Clone)]
pub(super) struct Completion {
    pub(super) job_id: String,
    pub(super) worker: String,
    pub(super) attempt: i32,
    /// The job's new status: `Done`, `Killed` or `Pending` (a retry).
    pub(super) status: &'static str,
    pub(super) result: String,
    /// For a retry, the next run.
    pub(super) run_at: Option<DateTime<Utc>>,
    pub(super) queue: &'static str,
    pub(super) kind: String,
    pub(super) started_at: DateTime<Utc>,
    pub(super) finished_at: DateTime<Utc>,
    pub(super) outcome: &'static str,
    pub(super) error: Option<String>,
    pub(super) due_at: DateTime<Utc>,
}

/// Writes a batch of outcomes in one statement: each job's new state (unless its worker lost
/// it meanwhile) and its attempt's history row. Answers, per outcome, whether it was written.
async fn complete_batch_postgres(
    pool: sqlx::PgPool,
    batch: Vec<Completion>,
) -> Result<Vec<bool>, String> {
    let column = |f: &dyn Fn(&Completion) -> String| batch.iter().map(f).collect::<Vec<_>>();
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
           ON CONFLICT (job_id, attempt) DO NOTHING) \
         SELECT id FROM updated",
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
    .fetch_all(&pool)
    .await
    .map_err(|e| e.to_string())?;
    let written: HashSet<String> = written.into_iter().collect();
    Ok(ids.iter().map(|id| written.contains(id)).collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::board::admin::{self, JobState};
    use crate::facade::Noop;
    use crate::facade::{EnqueueOptions, enqueue};
    use crate::runtime::claims::{claim, put_back, register_workers};
    use crate::test_db::TestDb;

    fn outcome(job_id: &str, status: &'static str, run_at: Option<DateTime<Utc>>) -> Completion {
        let now = crate::db::now_micros(Utc::now());
        Completion {
            job_id: job_id.to_string(),
            worker: "w1".into(),
            attempt: 1,
            status,
            result: r#"{"Ok": null}"#.into(),
            run_at,
            queue: "bench",
            kind: "Noop".into(),
            started_at: now,
            finished_at: now,
            outcome: if status == "Done" { "done" } else { "retry" },
            error: None,
            due_at: now,
        }
    }

    #[tokio::test]
    async fn outcomes_written_together_skip_a_job_whose_lease_was_lost() {
        for t in TestDb::all().await {
            let db = &t.db;
            for seq in 0..3 {
                enqueue(db, &Noop { seq }, EnqueueOptions::default(), 3)
                    .await
                    .unwrap();
            }
            register_workers(db, &["w1".into()]).await.unwrap();
            let held: Vec<String> = claim(db, "bench", "w1", 3)
                .await
                .unwrap()
                .into_iter()
                .map(|j| j.id)
                .collect();
            // One job is taken away from w1 (given back, as a rescue would) before w1 reports.
            put_back(db, "w1", &held[2..]).await.unwrap();
            let writer = AttemptWriter::default();
            let retry_at = Utc::now() + chrono::Duration::minutes(5);
            let (done, retried, lost) = tokio::join!(
                writer.complete(db, outcome(&held[0], "Done", None)),
                writer.complete(db, outcome(&held[1], "Pending", Some(retry_at))),
                writer.complete(db, outcome(&held[2], "Done", None)),
            );
            assert_eq!(
                (done.unwrap(), retried.unwrap(), lost.unwrap()),
                (true, true, false),
                "{:?}",
                t.backend()
            );
            let job = admin::find(db, &held[0]).await.unwrap().unwrap();
            assert_eq!((job.state, job.attempts), (JobState::Done, 1), "{job:?}");
            let job = admin::find(db, &held[1]).await.unwrap().unwrap();
            assert_eq!(job.state, JobState::Retrying, "{job:?}");
            assert_eq!(job.worker, None);
            assert!(job.run_at >= retry_at - chrono::Duration::seconds(1));
            let job = admin::find(db, &held[2]).await.unwrap().unwrap();
            assert_eq!(
                (job.state, job.attempts),
                (JobState::Pending, 0),
                "untouched: {job:?}"
            );
            assert_eq!(admin::attempts(db, &held[0]).await.unwrap().len(), 1);
            assert_eq!(admin::attempts(db, &held[1]).await.unwrap().len(), 1);
            assert!(admin::attempts(db, &held[2]).await.unwrap().is_empty());
            t.drop_database().await;
        }
    }
}
