//! Reading and maintaining the queue: job state as people name it, counts per state, the
//! attempt history, and pruning. apalis has none of these for its SQL backends.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;

use crate::store::{Db, Pool, StoreError};

/// A job's state as the board and the API show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for its `run_at`.
    Scheduled,
    /// Due, waiting for a worker.
    Pending,
    /// Held by a worker.
    Running,
    /// Failed at least once, waiting for its next attempt.
    Retrying,
    /// Failed for good.
    Dead,
    /// Finished.
    Done,
}

impl JobState {
    fn from_row(status: &str, attempts: i64, run_at: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        match status {
            "Done" => JobState::Done,
            "Killed" => JobState::Dead,
            "Queued" | "Running" => JobState::Running,
            _ if attempts > 0 => JobState::Retrying,
            _ if run_at > now => JobState::Scheduled,
            _ => JobState::Pending,
        }
    }
}

/// One job as stored.
#[derive(Debug, Clone, Serialize)]
pub struct JobRecord {
    /// Id (a ULID).
    pub id: String,
    /// Queue.
    pub queue: String,
    /// Kind, from the payload.
    pub kind: String,
    /// Arguments, from the payload.
    pub args: serde_json::Value,
    /// State.
    pub state: JobState,
    /// Attempts finished or abandoned.
    pub attempts: i64,
    /// Attempts allowed.
    pub max_attempts: i64,
    /// Not before.
    pub run_at: DateTime<Utc>,
    /// The worker holding it, or that ran it last.
    pub worker: Option<String>,
    /// The last attempt's error, if it failed.
    pub last_error: Option<String>,
}

/// One finished attempt.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AttemptRecord {
    /// 1 for the first.
    pub attempt: i32,
    /// The replica that ran it.
    pub worker: String,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End.
    pub finished_at: DateTime<Utc>,
    /// `done`, `retry` or `dead`.
    pub outcome: String,
    /// Its error.
    pub error: Option<String>,
}

/// A job row with its `run_at` as each backend stores it.
type RowWithRunAt<T> = (
    String,
    String,
    Vec<u8>,
    String,
    i32,
    i32,
    Option<String>,
    Option<String>,
    T,
);

type RawJob = (
    String,
    String,
    Vec<u8>,
    String,
    i32,
    i32,
    Option<String>,
    Option<String>,
);

fn to_record(raw: RawJob, run_at: DateTime<Utc>, now: DateTime<Utc>) -> JobRecord {
    let (id, queue, payload, status, attempts, max_attempts, worker, last_result) = raw;
    let payload: serde_json::Value =
        serde_json::from_slice(&payload).unwrap_or(serde_json::Value::Null);
    let last_error = last_result
        .and_then(|r| serde_json::from_str::<serde_json::Value>(&r).ok())
        .and_then(|v| v.get("Err").and_then(|e| e.as_str()).map(str::to_string));
    JobRecord {
        id,
        queue,
        kind: payload
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or("unknown")
            .to_string(),
        args: payload
            .get("args")
            .cloned()
            .unwrap_or(serde_json::Value::Null),
        state: JobState::from_row(&status, i64::from(attempts), run_at, now),
        attempts: i64::from(attempts),
        max_attempts: i64::from(max_attempts),
        run_at,
        worker,
        last_error,
    }
}

fn epoch(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
}

/// The job `id`, if it exists.
pub async fn find(db: &Db, id: &str) -> Result<Option<JobRecord>, StoreError> {
    let now = Utc::now();
    Ok(match db.pool() {
        Pool::Postgres(p) => {
            let row: Option<RowWithRunAt<DateTime<Utc>>> = sqlx::query_as(
                "SELECT id, job_type, job, status, attempts, max_attempts, lock_by, last_result::text, run_at FROM apalis.jobs WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(p)
            .await?;
            row.map(|(a, b, c, d, e, f, g, h, run_at)| {
                to_record((a, b, c, d, e, f, g, h), run_at, now)
            })
        }
        Pool::Sqlite(p) => {
            let row: Option<RowWithRunAt<i64>> = sqlx::query_as(
                "SELECT id, job_type, job, status, attempts, max_attempts, lock_by, last_result, run_at FROM Jobs WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(p)
            .await?;
            row.map(|(a, b, c, d, e, f, g, h, run_at)| {
                to_record((a, b, c, d, e, f, g, h), epoch(run_at), now)
            })
        }
    })
}

/// Every finished attempt of job `id`, first first.
pub async fn attempts(db: &Db, id: &str) -> Result<Vec<AttemptRecord>, StoreError> {
    Ok(crate::on_pool!(db, |p| {
        sqlx::query_as::<_, AttemptRecord>(
        "SELECT attempt, worker, started_at, finished_at, outcome, error FROM job_attempts WHERE job_id = $1 ORDER BY attempt"
    )
    .bind(id)
    .fetch_all(p)
    .await
    })?)
}

/// Jobs per state in `queue`.
pub async fn counts(db: &Db, queue: &str) -> Result<BTreeMap<JobState, i64>, StoreError> {
    let now = Utc::now();
    let rows: Vec<(String, bool, bool, i64)> = match db.pool() {
        Pool::Postgres(p) => sqlx::query_as(
            "SELECT status, attempts > 0, run_at > now(), COUNT(*) FROM apalis.jobs WHERE job_type = $1 GROUP BY 1, 2, 3",
        )
        .bind(queue)
        .fetch_all(p)
        .await?,
        Pool::Sqlite(p) => sqlx::query_as(
            "SELECT status, attempts > 0, run_at > strftime('%s', 'now'), COUNT(*) FROM Jobs WHERE job_type = $1 GROUP BY 1, 2, 3",
        )
        .bind(queue)
        .fetch_all(p)
        .await?,
    };
    let mut counts = BTreeMap::new();
    for (status, retried, future, n) in rows {
        let run_at = if future {
            now + chrono::Duration::days(1)
        } else {
            now
        };
        *counts
            .entry(JobState::from_row(&status, i64::from(retried), run_at, now))
            .or_insert(0) += n;
    }
    Ok(counts)
}

/// Deletes done jobs finished before `done_before`, dead ones before `dead_before`, and the
/// attempt history of both. Returns the number of jobs deleted.
pub async fn prune(
    db: &Db,
    done_before: DateTime<Utc>,
    dead_before: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let mut tx = db.begin().await?;
    let deleted = match tx.inner_mut() {
        crate::store::TxInner::Postgres(t) => {
            const EXPIRED: &str =
                "(status = 'Done' AND done_at < $1) OR (status = 'Killed' AND done_at < $2)";
            sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM job_attempts WHERE job_id IN (SELECT id FROM apalis.jobs WHERE {EXPIRED})")))
                .bind(done_before)
                .bind(dead_before)
                .execute(&mut **t)
                .await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM apalis.jobs WHERE {EXPIRED}"
            )))
            .bind(done_before)
            .bind(dead_before)
            .execute(&mut **t)
            .await?
            .rows_affected()
        }
        crate::store::TxInner::Sqlite(t) => {
            const EXPIRED: &str =
                "(status = 'Done' AND done_at < $1) OR (status = 'Killed' AND done_at < $2)";
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM job_attempts WHERE job_id IN (SELECT id FROM Jobs WHERE {EXPIRED})"
            )))
            .bind(done_before.timestamp())
            .bind(dead_before.timestamp())
            .execute(&mut **t)
            .await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM Jobs WHERE {EXPIRED}"
            )))
            .bind(done_before.timestamp())
            .bind(dead_before.timestamp())
            .execute(&mut **t)
            .await?
            .rows_affected()
        }
    };
    tx.commit().await?;
    Ok(deleted)
}

/// Puts back jobs held since before `locked_before` by a worker that is still alive: a worker
/// whose database writes failed for good may leave a job fetched or running forever, and
/// apalis rescues only the jobs of dead workers. The caller picks a cut-off past the longest
/// possible run (twice the job timeout: a wait for a slot, then a run). Returns the number of
/// jobs put back; the abandoned attempt counts as one.
pub async fn rescue_stuck(db: &Db, locked_before: DateTime<Utc>) -> Result<u64, StoreError> {
    const MESSAGE: &str =
        r#"{"Err": "put back: held by a worker for longer than any run can take"}"#;
    Ok(match db.pool() {
        Pool::Postgres(p) => sqlx::query(
            "UPDATE apalis.jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL, attempts = attempts + 1, \
             last_result = $2::jsonb WHERE status IN ('Queued', 'Running') AND lock_at < $1",
        )
        .bind(locked_before)
        .bind(MESSAGE)
        .execute(p)
        .await?
        .rows_affected(),
        Pool::Sqlite(p) => sqlx::query(
            "UPDATE Jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL, attempts = attempts + 1, \
             last_result = $2 WHERE status IN ('Queued', 'Running') AND lock_at < $1",
        )
        .bind(locked_before.timestamp())
        .bind(MESSAGE)
        .execute(p)
        .await?
        .rows_affected(),
    })
}
