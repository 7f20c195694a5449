//! The queue's hot path on the database side: claiming due jobs, giving back jobs a replica
//! holds but will not run, and rescuing the jobs of replicas that died.
//!
//! A claim takes up to N due jobs of one queue in one statement (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, one `UPDATE ... RETURNING` on SQLite's single writer), highest priority first,
//! then the longest due, and never while the queue is paused in `queue_pauses`. A claimed job
//! is `Running`, held by its worker (`lock_by`), its attempts unchanged until its outcome is
//! recorded.

use chrono::{DateTime, Utc};

use crate::db::{Db, Pool, StoreError};

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
    /// When it was due, as the claim read it.
    pub due_at: DateTime<Utc>,
    /// Higher first.
    pub priority: i32,
}

type ClaimRow = (String, Vec<u8>, i32, i32, i32);

/// Claims up to `limit` due jobs of `queue` for `worker`, in the order they should run.
pub(crate) async fn claim(
    db: &Db,
    queue: &str,
    worker: &str,
    limit: usize,
) -> Result<Vec<ClaimedJob>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut jobs: Vec<ClaimedJob> = match db.pool() {
        Pool::Postgres(p) => {
            let rows: Vec<(ClaimRow, DateTime<Utc>)> =
                sqlx::query_as::<_, (String, Vec<u8>, i32, i32, i32, DateTime<Utc>)>(
                    "UPDATE apalis.jobs j SET status = 'Running', lock_by = $2, lock_at = now() \
                 FROM (SELECT id FROM apalis.jobs \
                       WHERE job_type = $1 AND status = 'Pending' AND run_at <= now() \
                       AND NOT EXISTS (SELECT 1 FROM queue_pauses WHERE queue = $1) \
                       ORDER BY priority DESC, run_at LIMIT $3 \
                       FOR UPDATE SKIP LOCKED) c \
                 WHERE j.id = c.id \
                 RETURNING j.id, j.job, j.attempts, j.max_attempts, j.priority, j.run_at",
                )
                .bind(queue)
                .bind(worker)
                .bind(limit)
                .fetch_all(p)
                .await?
                .into_iter()
                .map(|(id, job, a, m, prio, due)| ((id, job, a, m, prio), due))
                .collect();
            rows.into_iter()
                .map(|(row, due)| claimed(row, due))
                .collect()
        }
        Pool::Sqlite(p) => {
            let rows: Vec<(String, Vec<u8>, i32, i32, i32, i64)> = sqlx::query_as(
                "UPDATE Jobs SET status = 'Running', lock_by = $2, lock_at = strftime('%s', 'now') \
                 WHERE id IN (SELECT id FROM Jobs \
                       WHERE job_type = $1 AND status = 'Pending' AND lock_by IS NULL \
                       AND (run_at IS NULL OR run_at <= strftime('%s', 'now')) \
                       AND NOT EXISTS (SELECT 1 FROM queue_pauses WHERE queue = $1) \
                       ORDER BY priority DESC, run_at ASC, id ASC LIMIT $3) \
                 RETURNING id, job, attempts, max_attempts, priority, run_at",
            )
            .bind(queue)
            .bind(worker)
            .bind(limit)
            .fetch_all(p)
            .await?;
            rows.into_iter()
                .map(|(id, job, a, m, prio, run_at)| {
                    // `run_at` keeps whole seconds here (floored for a job enqueued to run at
                    // once, rounded up for a later run). A job due at once was due when it was
                    // enqueued, which its id records to the millisecond.
                    let due = DateTime::from_timestamp(run_at, 0)
                        .unwrap_or_default()
                        .max(crate::board::search::enqueued_at(&id));
                    claimed((id, job, a, m, prio), due)
                })
                .collect()
        }
    };
    // RETURNING keeps no order: run the most urgent first.
    jobs.sort_by(|a, b| {
        b.priority
            .cmp(&a.priority)
            .then(a.due_at.cmp(&b.due_at))
            .then(a.id.cmp(&b.id))
    });
    Ok(jobs)
}

fn claimed(
    (id, payload, attempts, max_attempts, priority): ClaimRow,
    due_at: DateTime<Utc>,
) -> ClaimedJob {
    ClaimedJob {
        id,
        payload,
        attempts,
        max_attempts,
        due_at,
        priority,
    }
}

/// Gives back jobs `worker` claimed but did not start (its queue was paused, or the replica is
/// stopping): pending again, unlocked, their attempts unchanged. Returns how many went back.
pub(crate) async fn put_back(db: &Db, worker: &str, ids: &[String]) -> Result<u64, StoreError> {
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(match db.pool() {
        Pool::Postgres(p) => sqlx::query(
            "UPDATE apalis.jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL \
             WHERE id = ANY($1) AND lock_by = $2 AND status = 'Running'",
        )
        .bind(ids)
        .bind(worker)
        .execute(p)
        .await?
        .rows_affected(),
        Pool::Sqlite(p) => {
            let mut put_back = 0;
            let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
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
            put_back
        }
    })
}

/// Gives back every job `worker` still holds (at the end of a shutdown's grace period), so
/// another replica takes them at once instead of waiting for this one to be declared dead.
pub(crate) async fn release_worker(db: &Db, worker: &str) -> Result<u64, StoreError> {
    Ok(match db.pool() {
        Pool::Postgres(p) => sqlx::query(
            "UPDATE apalis.jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL \
             WHERE lock_by = $1 AND status IN ('Queued', 'Running')",
        )
        .bind(worker)
        .execute(p)
        .await?
        .rows_affected(),
        Pool::Sqlite(p) => sqlx::query(
            "UPDATE Jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL \
             WHERE lock_by = $1 AND status IN ('Queued', 'Running')",
        )
        .bind(worker)
        .execute(p)
        .await?
        .rows_affected(),
    })
}

/// Records the worker names a replica locks jobs with. The jobs table refers to its workers
/// table (a foreign key apalis created), so a name must be there before it holds a job.
pub(crate) async fn register_workers(db: &Db, names: &[String]) -> Result<(), StoreError> {
    for name in names {
        match db.pool() {
            Pool::Postgres(p) => {
                sqlx::query(
                    "INSERT INTO apalis.workers (id, worker_type, storage_name, layers, last_seen) \
                     VALUES ($1, 'zencall', 'zencall', '', now()) \
                     ON CONFLICT (id) DO UPDATE SET last_seen = now()",
                )
                .bind(name)
                .execute(p)
                .await?;
            }
            Pool::Sqlite(p) => {
                sqlx::query(
                    "INSERT INTO Workers (id, worker_type, storage_name, layers, last_seen) \
                     VALUES ($1, 'zencall', 'zencall', '', strftime('%s', 'now')) \
                     ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen",
                )
                .bind(name)
                .execute(p)
                .await?;
            }
        }
    }
    Ok(())
}

/// Puts back the jobs held by replicas that stopped beating (dead) or that shut down without
/// giving back what they held; the abandoned attempt counts as one. Any live replica may run
/// this: the update only touches jobs of replicas that are not alive at `now`. Returns the
/// number of jobs put back.
pub(crate) async fn rescue_dead_replicas(db: &Db, now: DateTime<Utc>) -> Result<u64, StoreError> {
    const MESSAGE: &str = r#"{"Err": "put back: the replica running it stopped beating"}"#;
    let replicas = super::replicas::list(db, now).await?;
    let workers: Vec<String> = replicas
        .iter()
        .filter(|r| r.status != super::replicas::ReplicaStatus::Alive && r.in_flight > 0)
        .flat_map(|r| r.queues.iter().map(move |q| format!("{}-{q}", r.name)))
        .collect();
    if workers.is_empty() {
        return Ok(0);
    }
    Ok(match db.pool() {
        Pool::Postgres(p) => sqlx::query(
            "UPDATE apalis.jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL, \
             attempts = attempts + 1, last_result = $2::jsonb \
             WHERE lock_by = ANY($1) AND status IN ('Queued', 'Running')",
        )
        .bind(&workers)
        .bind(MESSAGE)
        .execute(p)
        .await?
        .rows_affected(),
        Pool::Sqlite(p) => {
            let mut rescued = 0;
            let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
            for worker in &workers {
                rescued += sqlx::query(
                    "UPDATE Jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL, \
                     attempts = attempts + 1, last_result = $2 \
                     WHERE lock_by = $1 AND status IN ('Queued', 'Running')",
                )
                .bind(worker)
                .bind(MESSAGE)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
            tx.commit().await?;
            rescued
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::board::admin::{self, JobState};
    use crate::facade::Noop;
    use crate::facade::{EnqueueOptions, Enqueued, enqueue};
    use crate::runtime::pauses;
    use crate::runtime::replicas::{self, Beat};
    use crate::test_db::TestDb;

    async fn push(db: &Db, seq: u64, options: EnqueueOptions) -> String {
        match enqueue(db, &Noop { seq }, options, 5).await.unwrap() {
            Enqueued::New(id) => id,
            Enqueued::Duplicate => panic!("unexpected duplicate"),
        }
    }

    fn with_priority(priority: i32) -> EnqueueOptions {
        EnqueueOptions {
            priority,
            ..EnqueueOptions::default()
        }
    }

    #[tokio::test]
    async fn a_claim_takes_due_jobs_by_priority_then_age_up_to_its_limit() {
        for t in TestDb::all().await {
            let db = &t.db;
            let low = push(db, 1, with_priority(0)).await;
            let high = push(db, 2, with_priority(5)).await;
            let low_later = push(db, 3, with_priority(0)).await;
            let later = EnqueueOptions {
                run_at: Some(Utc::now() + chrono::Duration::hours(1)),
                priority: 9,
                ..EnqueueOptions::default()
            };
            let not_due = push(db, 4, later).await;
            register_workers(db, &["w1".into(), "w2".into()])
                .await
                .unwrap();

            let first = claim(db, "bench", "w1", 2).await.unwrap();
            let ids: Vec<&str> = first.iter().map(|j| j.id.as_str()).collect();
            assert_eq!(ids, [high.as_str(), low.as_str()], "{:?}", t.backend());
            assert_eq!(first[0].attempts, 0);
            assert_eq!(first[0].max_attempts, 5);
            let payload: serde_json::Value = serde_json::from_slice(&first[0].payload).unwrap();
            assert_eq!(payload["kind"], "Noop");
            // Due when enqueued, to the millisecond on both backends.
            let lag = first[0].due_at - crate::board::search::enqueued_at(&high);
            assert!(
                lag.num_milliseconds().abs() < 50,
                "{:?}: {lag}",
                t.backend()
            );
            assert!(first[0].due_at <= Utc::now());
            let job = admin::find(db, &high).await.unwrap().unwrap();
            assert_eq!(job.state, JobState::Running);
            assert_eq!(job.worker.as_deref(), Some("w1"));

            // What one worker holds, another never gets; the job not yet due stays.
            let rest = claim(db, "bench", "w2", 10).await.unwrap();
            let ids: Vec<&str> = rest.iter().map(|j| j.id.as_str()).collect();
            assert_eq!(ids, [low_later.as_str()]);
            assert!(claim(db, "bench", "w2", 10).await.unwrap().is_empty());
            let job = admin::find(db, &not_due).await.unwrap().unwrap();
            assert_eq!(job.state, JobState::Scheduled, "{job:?}");
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn a_paused_queue_is_not_claimed() {
        for t in TestDb::all().await {
            let db = &t.db;
            let id = push(db, 1, EnqueueOptions::default()).await;
            register_workers(db, &["w1".into()]).await.unwrap();
            pauses::pause(db, "bench", "ops", Utc::now()).await.unwrap();
            assert!(claim(db, "bench", "w1", 10).await.unwrap().is_empty());
            pauses::resume(db, "bench").await.unwrap();
            let claimed = claim(db, "bench", "w1", 10).await.unwrap();
            assert_eq!(claimed.len(), 1, "{:?}", t.backend());
            assert_eq!(claimed[0].id, id);
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn a_job_given_back_keeps_its_attempts_and_only_its_holder_can_give_it_back() {
        for t in TestDb::all().await {
            let db = &t.db;
            let id = push(db, 1, EnqueueOptions::default()).await;
            register_workers(db, &["w1".into()]).await.unwrap();
            assert_eq!(claim(db, "bench", "w1", 1).await.unwrap().len(), 1);
            assert_eq!(
                put_back(db, "w2", std::slice::from_ref(&id)).await.unwrap(),
                0
            );
            assert_eq!(
                put_back(db, "w1", std::slice::from_ref(&id)).await.unwrap(),
                1
            );
            let job = admin::find(db, &id).await.unwrap().unwrap();
            assert_eq!(job.state, JobState::Pending, "{:?}: {job:?}", t.backend());
            assert_eq!((job.attempts, job.worker), (0, None));
            assert_eq!(claim(db, "bench", "w1", 1).await.unwrap().len(), 1);
            assert_eq!(release_worker(db, "w1").await.unwrap(), 1);
            assert_eq!(
                admin::find(db, &id).await.unwrap().unwrap().state,
                JobState::Pending
            );
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn the_jobs_of_a_dead_replica_are_rescued_and_a_live_ones_are_not() {
        for t in TestDb::all().await {
            let db = &t.db;
            let now = crate::db::now_micros(Utc::now());
            for (name, beat_at) in [
                ("dead", now - chrono::Duration::seconds(60)),
                ("alive", now - chrono::Duration::seconds(1)),
            ] {
                let beat = Beat {
                    name,
                    host: "h",
                    pid: 1,
                    queues: &["bench"],
                    concurrency: 1,
                    dead_after_secs: 15,
                };
                replicas::beat(db, &beat, beat_at).await.unwrap();
            }
            register_workers(db, &["dead-bench".into(), "alive-bench".into()])
                .await
                .unwrap();
            push(db, 1, EnqueueOptions::default()).await;
            push(db, 2, EnqueueOptions::default()).await;
            let lost = claim(db, "bench", "dead-bench", 1).await.unwrap()[0]
                .id
                .clone();
            let kept = claim(db, "bench", "alive-bench", 1).await.unwrap()[0]
                .id
                .clone();

            assert_eq!(
                rescue_dead_replicas(db, now).await.unwrap(),
                1,
                "{:?}",
                t.backend()
            );
            let job = admin::find(db, &lost).await.unwrap().unwrap();
            assert_eq!(job.state, JobState::Retrying, "{job:?}");
            assert_eq!(
                (job.attempts, job.worker),
                (1, None),
                "the lost attempt counts"
            );
            assert!(job.last_error.unwrap().contains("stopped beating"));
            let job = admin::find(db, &kept).await.unwrap().unwrap();
            assert_eq!(job.state, JobState::Running);
            assert_eq!(rescue_dead_replicas(db, now).await.unwrap(), 0);
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn a_runner_that_cannot_register_its_workers_still_stops_when_asked() {
        use crate::runtime::runner::{Registry, Runner, RunnerSettings};

        // A database without the queue's tables: every registration fails.
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("empty.db").display());
        let db = Db::connect(&secrecy::SecretString::from(url), 1)
            .await
            .unwrap();
        let settings = RunnerSettings::default();
        let runner = Runner::new(db, Registry::default(), settings);
        let stopped = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            runner.run(
                &[crate::facade::BENCH_QUEUE],
                tokio::time::sleep(std::time::Duration::from_millis(300)),
            ),
        )
        .await;
        assert!(stopped.is_ok(), "the runner never stopped");
    }
}
