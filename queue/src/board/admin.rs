//! Reading and maintaining the queue: job state as people name it, one job with its timeline,
//! counts per state, the attempt history, and pruning. apalis has none of these for its SQL backends.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::db::{Db, StoreError};
use crate::driver::sql::{Arg, Sql};

/// A job's state as the board and the API show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
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
    /// Cancelled from the queue board: never run again (stored status `Cancelled`, which
    /// apalis never fetches).
    Cancelled,
    /// Finished.
    Done,
}

impl JobState {
    /// Every state, in the board's order.
    pub const ALL: [JobState; 7] = [
        JobState::Scheduled,
        JobState::Pending,
        JobState::Running,
        JobState::Retrying,
        JobState::Dead,
        JobState::Cancelled,
        JobState::Done,
    ];

    /// The name it is serialized as (`retrying`).
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Scheduled => "scheduled",
            JobState::Pending => "pending",
            JobState::Running => "running",
            JobState::Retrying => "retrying",
            JobState::Dead => "dead",
            JobState::Cancelled => "cancelled",
            JobState::Done => "done",
        }
    }

    /// Parses the name [`JobState::as_str`] gives.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The state of a stored row as of `now`. The SQL conditions of
    /// [`crate::board::search`] follow the same rules: status Pending or Failed is retrying
    /// after an attempt, else scheduled while `run_at` is ahead, else pending.
    pub(crate) fn from_row(
        status: &str,
        attempts: i64,
        run_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Self {
        match status {
            "Done" => JobState::Done,
            "Killed" => JobState::Dead,
            "Cancelled" => JobState::Cancelled,
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
    /// `args.org_id` from the payload, when it is a string.
    pub org_id: Option<String>,
    /// Arguments, from the payload.
    pub args: serde_json::Value,
    /// State.
    pub state: JobState,
    /// Attempts finished or abandoned.
    pub attempts: i64,
    /// Attempts allowed.
    pub max_attempts: i64,
    /// When it was enqueued (the id's ULID time, to the millisecond).
    pub enqueued_at: DateTime<Utc>,
    /// Not before.
    pub run_at: DateTime<Utc>,
    /// When a worker last took it (cleared when it is retried or put back).
    pub lock_at: Option<DateTime<Utc>>,
    /// When it finished: done, dead or cancelled.
    pub done_at: Option<DateTime<Utc>>,
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
    /// When the job was due (its `run_at` when the attempt began); `None` for attempts
    /// recorded before this was kept.
    pub due_at: Option<DateTime<Utc>>,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End.
    pub finished_at: DateTime<Utc>,
    /// `done`, `retry` or `dead`.
    pub outcome: String,
    /// Its error.
    pub error: Option<String>,
}

/// A job row, its times decoded from the backend's form.
#[derive(sqlx::FromRow)]
struct RawJob {
    id: String,
    queue: String,
    payload: Vec<u8>,
    status: String,
    attempts: i32,
    max_attempts: i32,
    worker: Option<String>,
    last_result: Option<String>,
    run_at: DateTime<Utc>,
    lock_at: Option<DateTime<Utc>>,
    done_at: Option<DateTime<Utc>>,
}

/// The error of a stored `last_result` (`{"Err": "..."}`), if it holds one.
pub(crate) fn last_error_of(last_result: Option<&str>) -> Option<String> {
    last_result
        .and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok())
        .and_then(|v| v.get("Err").and_then(|e| e.as_str()).map(str::to_string))
}

fn to_record(raw: RawJob, now: DateTime<Utc>) -> JobRecord {
    let payload: serde_json::Value =
        serde_json::from_slice(&raw.payload).unwrap_or(serde_json::Value::Null);
    let args = payload
        .get("args")
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    JobRecord {
        enqueued_at: super::search::enqueued_at(&raw.id),
        kind: payload
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or("unknown")
            .to_string(),
        org_id: args
            .get("org_id")
            .and_then(|o| o.as_str())
            .map(str::to_string),
        args,
        state: JobState::from_row(&raw.status, i64::from(raw.attempts), raw.run_at, now),
        attempts: i64::from(raw.attempts),
        max_attempts: i64::from(raw.max_attempts),
        run_at: raw.run_at,
        lock_at: raw.lock_at,
        done_at: raw.done_at,
        worker: raw.worker,
        last_error: last_error_of(raw.last_result.as_deref()),
        id: raw.id,
        queue: raw.queue,
    }
}

/// The job `id`, if it exists.
pub async fn find(db: &Db, id: &str) -> Result<Option<JobRecord>, StoreError> {
    find_at(db, id, Utc::now()).await
}

/// The job `id`, if it exists, its state as of `now`.
pub async fn find_at(
    db: &Db,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<JobRecord>, StoreError> {
    let mut sql = Sql::new(db.backend());
    let id = sql.bind(Arg::Text(id.to_string()));
    let statement = format!(
        "SELECT id, job_type AS queue, job AS payload, status, attempts, max_attempts, \
         lock_by AS worker, {last_result} AS last_result, run_at, lock_at, done_at \
         FROM {jobs} j WHERE id = {id}",
        last_result = sql.last_result_text("j"),
        jobs = sql.jobs_table(),
    );
    let raw: Option<RawJob> = sql.fetch_optional(db, statement).await?;
    Ok(raw.map(|raw| to_record(raw, now)))
}

/// Every finished attempt of job `id`, first first.
pub async fn attempts(db: &Db, id: &str) -> Result<Vec<AttemptRecord>, StoreError> {
    Ok(crate::on_pool!(db, |p| {
        sqlx::query_as::<_, AttemptRecord>(
        "SELECT attempt, worker, due_at, started_at, finished_at, outcome, error FROM job_attempts WHERE job_id = $1 ORDER BY attempt"
    )
    .bind(id)
    .fetch_all(p)
    .await
    })?)
}

/// Jobs per state in `queue`.
pub async fn counts(db: &Db, queue: &str) -> Result<BTreeMap<JobState, i64>, StoreError> {
    let now = Utc::now();
    let mut sql = Sql::new(db.backend());
    let queue = sql.bind(Arg::Text(queue.to_string()));
    let statement = format!(
        "SELECT status, attempts > 0, run_at > {now}, COUNT(*) FROM {jobs} WHERE job_type = {queue} GROUP BY 1, 2, 3",
        now = sql.now(),
        jobs = sql.jobs_table(),
    );
    let rows: Vec<(String, bool, bool, i64)> = sql.fetch_all(db, statement).await?;
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

/// Deletes done jobs finished before `done_before`, dead and cancelled ones before
/// `dead_before`, and the attempt history of all of them. Returns the number of jobs deleted.
pub async fn prune(
    db: &Db,
    done_before: DateTime<Utc>,
    dead_before: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let mut sql = Sql::new(db.backend());
    let expired = format!(
        "(status = 'Done' AND done_at < {done}) OR (status IN ('Killed', 'Cancelled') AND done_at < {dead})",
        done = sql.bind(Arg::Time(done_before)),
        dead = sql.bind(Arg::Time(dead_before)),
    );
    let jobs = sql.jobs_table();
    let mut tx = db.begin().await?;
    sql.execute_in(
        &mut tx,
        format!("DELETE FROM job_attempts WHERE job_id IN (SELECT id FROM {jobs} WHERE {expired})"),
    )
    .await?;
    let deleted = sql
        .execute_in(&mut tx, format!("DELETE FROM {jobs} WHERE {expired}"))
        .await?;
    tx.commit().await?;
    Ok(deleted)
}

/// Puts back jobs held since before `locked_before` by a worker that is still alive: a worker
/// whose database writes failed for good may leave a job claimed or running forever, and the
/// runners rescue only the jobs of dead replicas. The caller picks a cut-off past the longest
/// possible run (twice the job timeout: a wait for a slot, then a run). Returns the number of
/// jobs put back; the abandoned attempt counts as one.
pub async fn rescue_stuck(db: &Db, locked_before: DateTime<Utc>) -> Result<u64, StoreError> {
    const MESSAGE: &str =
        r#"{"Err": "put back: held by a worker for longer than any run can take"}"#;
    let mut sql = Sql::new(db.backend());
    let statement = format!(
        "UPDATE {jobs} SET status = 'Pending', lock_by = NULL, lock_at = NULL, attempts = attempts + 1, \
         last_result = {message} WHERE status IN ('Queued', 'Running') AND lock_at < {before}",
        jobs = sql.jobs_table(),
        message = sql.json(MESSAGE),
        before = sql.bind(Arg::Time(locked_before)),
    );
    sql.execute(db, statement).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::backoff::Backoff;
    use crate::board::actions::{self, JobAction};
    use crate::board::search::seed::{Seed, insert};
    use crate::facade::Noop;
    use crate::facade::{BENCH_QUEUE, Enqueued, enqueue};
    use crate::runtime::runner::{Registry, Runner, RunnerSettings};
    use crate::test_db::TestDb;

    #[tokio::test]
    async fn cancelled_jobs_are_pruned_with_the_dead_ones_retention() {
        for t in TestDb::all().await {
            let db = &t.db;
            let now = Utc::now();
            let ids = insert(
                db,
                &[Seed::new(
                    now,
                    "billing",
                    "ReportUsage",
                    serde_json::json!({"org_id": "o"}),
                )],
            )
            .await;
            let cancelled_at = now - chrono::Duration::days(10);
            assert_eq!(
                actions::apply(db, &ids[0], JobAction::Cancel, cancelled_at)
                    .await
                    .unwrap(),
                actions::ActionOutcome::Applied
            );
            let job = find(db, &ids[0]).await.unwrap().unwrap();
            assert_eq!(job.state, JobState::Cancelled);
            assert_eq!(job.org_id.as_deref(), Some("o"));
            assert_eq!(job.enqueued_at.timestamp_millis(), now.timestamp_millis());
            let keep_cancelled = now - chrono::Duration::days(30);
            assert_eq!(
                prune(db, now, keep_cancelled).await.unwrap(),
                0,
                "{:?}",
                t.backend()
            );
            let past_retention = now - chrono::Duration::days(5);
            assert_eq!(
                prune(db, now - chrono::Duration::days(30), past_retention)
                    .await
                    .unwrap(),
                1,
                "{:?}",
                t.backend()
            );
            assert!(find(db, &ids[0]).await.unwrap().is_none());
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn each_attempt_records_when_its_job_was_due() {
        for t in TestDb::all().await {
            let db = &t.db;
            let mut registry = Registry::default();
            registry.register::<Noop, _, _>(|_, _| async { Ok(()) });
            let runner = Runner::new(
                db.clone(),
                registry,
                RunnerSettings {
                    backoff: Backoff {
                        base: Duration::from_secs(1),
                        max: Duration::from_secs(1),
                    },
                    job_timeout: Duration::from_secs(5),
                    heartbeat: Duration::from_secs(5),
                    missed_heartbeats: 3,
                    poll_interval: Duration::from_millis(100),
                    concurrency: 2,
                    prefetch: 2,
                    shutdown_timeout: Duration::from_secs(5),
                    max_attempts: 3,
                    pause_refresh: Duration::from_secs(1),
                },
            );
            let (stop, mut rx) = tokio::sync::watch::channel(false);
            let task = tokio::spawn(runner.run(&[BENCH_QUEUE], async move {
                let _ = rx.wait_for(|s| *s).await;
            }));
            let Enqueued::New(id) = enqueue(db, &Noop { seq: 1 }, Default::default(), 3)
                .await
                .unwrap()
            else {
                panic!("a new job")
            };
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            let job = loop {
                let job = find(db, &id).await.unwrap().unwrap();
                if job.state == JobState::Done {
                    break job;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{:?}: {job:?}",
                    t.backend()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            };
            let _ = stop.send(true);
            task.await.unwrap().unwrap();
            let attempts = attempts(db, &id).await.unwrap();
            assert_eq!(attempts.len(), 1);
            // Due when it was enqueued, to the millisecond, though SQLite keeps `run_at` in
            // whole seconds.
            let due = attempts[0].due_at.unwrap();
            let expected = match t.backend() {
                crate::db::Backend::Postgres => job.run_at,
                crate::db::Backend::Sqlite => job.run_at.max(job.enqueued_at),
            };
            assert_eq!(due, expected, "{:?}", t.backend());
            let pickup = attempts[0].started_at - due;
            assert!(
                pickup < chrono::Duration::seconds(1)
                    && pickup > -chrono::Duration::milliseconds(5),
                "{:?}: {pickup}",
                t.backend()
            );
            assert!(
                job.done_at.is_some() && job.lock_at.is_some(),
                "{:?}: {job:?}",
                t.backend()
            );
            t.drop_database().await;
        }
    }
}
