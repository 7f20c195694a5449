//! Pausing a queue: workers of every replica stop taking its jobs, then take them again when
//! it is resumed. The `queue_pauses` table is the truth; each runner keeps a copy of it in
//! its process's [`WakeHub`](super::wake::WakeHub), refreshed every `queue.pause_refresh_ms`
//! and at once when `pause` or `resume` run in the same process. While the copy says paused,
//! the queue's workers start no fetch; a job fetched just before the pause landed is put back
//! untouched (pending, unlocked, attempts unchanged) when its claim finds the queue paused
//! (the claim reads the table itself), and so are the jobs of that batch still waiting in a
//! worker's buffer. Jobs already running when the pause lands finish normally.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::store::{Db, StoreError};

/// A paused queue.
#[derive(Debug, Clone, Serialize)]
pub struct QueuePause {
    /// The queue's stored name.
    pub queue: String,
    /// When it was paused.
    pub paused_at: DateTime<Utc>,
    /// Who paused it (free text: an admin's name, a key id).
    pub paused_by: String,
}

/// Pauses `queue`; false when it was already paused.
pub async fn pause(db: &Db, queue: &str, by: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let now = crate::store::now_micros(now);
    let inserted = crate::on_pool!(db, |p| sqlx::query(
        "INSERT INTO queue_pauses (queue, paused_at, paused_by) VALUES ($1, $2, $3) \
         ON CONFLICT (queue) DO NOTHING",
    )
    .bind(queue)
    .bind(now)
    .bind(by)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    db.wake_hub().set_paused(queue, true);
    Ok(inserted > 0)
}

/// Resumes `queue`; false when it was not paused.
pub async fn resume(db: &Db, queue: &str) -> Result<bool, StoreError> {
    let deleted = crate::on_pool!(db, |p| sqlx::query(
        "DELETE FROM queue_pauses WHERE queue = $1"
    )
    .bind(queue)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    let hub = db.wake_hub();
    hub.set_paused(queue, false);
    hub.wake(queue);
    Ok(deleted > 0)
}

/// Every paused queue.
pub async fn list(db: &Db) -> Result<Vec<QueuePause>, StoreError> {
    let rows: Vec<(String, DateTime<Utc>, String)> = crate::on_pool!(db, |p| sqlx::query_as(
        "SELECT queue, paused_at, paused_by FROM queue_pauses ORDER BY queue"
    )
    .fetch_all(p)
    .await)?;
    Ok(rows
        .into_iter()
        .map(|(queue, paused_at, paused_by)| QueuePause {
            queue,
            paused_at,
            paused_by,
        })
        .collect())
}

/// Copies the table's pause flags of `queues` into this process's wake hub.
pub(crate) async fn refresh(db: &Db, queues: &[&str]) -> Result<(), StoreError> {
    let paused = list(db).await?;
    let hub = db.wake_hub();
    for queue in queues {
        let is_paused = paused.iter().any(|p| p.queue == *queue);
        if hub.is_paused(queue) && !is_paused {
            // Resumed by another process: this process's workers fetch at once.
            hub.set_paused(queue, false);
            hub.wake(queue);
        } else {
            hub.set_paused(queue, is_paused);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use serde::{Deserialize, Serialize};
    use tokio::sync::watch;

    use super::*;
    use crate::domain::backoff::Backoff;
    use crate::jobs::admin::{self, JobState};
    use crate::jobs::runner::{Registry, Runner, RunnerSettings};
    use crate::jobs::{EnqueueOptions, Enqueued, Job, QueueName, enqueue};
    use crate::store::Pool;
    use crate::store::test_db::TestDb;

    #[derive(Debug, Serialize, Deserialize)]
    struct Counted {}

    impl Job for Counted {
        const KIND: &'static str = "PauseProbe";
        const QUEUE: QueueName = QueueName::Bench;
    }

    fn settings() -> RunnerSettings {
        RunnerSettings {
            backoff: Backoff {
                base: Duration::from_secs(1),
                max: Duration::from_secs(1),
            },
            job_timeout: Duration::from_secs(5),
            heartbeat: Duration::from_secs(5),
            missed_heartbeats: 3,
            poll_interval: Duration::from_millis(100),
            concurrency: 4,
            shutdown_timeout: Duration::from_secs(5),
            max_attempts: 5,
            pause_refresh: Duration::from_millis(100),
        }
    }

    fn counting(calls: Arc<AtomicU32>) -> Registry {
        let mut r = Registry::default();
        r.register::<Counted, _, _>(move |_, _| {
            let calls = calls.clone();
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        });
        r
    }

    async fn push(db: &Db) -> String {
        match enqueue(db, &Counted {}, EnqueueOptions::default(), 5)
            .await
            .unwrap()
        {
            Enqueued::New(id) => id,
            Enqueued::Duplicate => panic!("unexpected duplicate"),
        }
    }

    async fn await_done(db: &Db, id: &str) -> admin::JobRecord {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let job = admin::find(db, id).await.unwrap().unwrap();
            if job.state == JobState::Done {
                return job;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "job {id} never done: {job:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn pausing_and_resuming_say_whether_they_changed_anything_and_are_listed() {
        for t in TestDb::all().await {
            let db = &t.db;
            let now = crate::store::now_micros(Utc::now());
            assert!(pause(db, "dialing", "alice", now).await.unwrap());
            assert!(!pause(db, "dialing", "bob", now).await.unwrap());
            assert!(pause(db, "billing", "bob", now).await.unwrap());
            let listed = list(db).await.unwrap();
            let names: Vec<_> = listed.iter().map(|p| p.queue.as_str()).collect();
            assert_eq!(names, ["billing", "dialing"], "{:?}", t.backend());
            assert_eq!(listed[1].paused_by, "alice", "the first pause is kept");
            assert_eq!(listed[1].paused_at, now);
            assert!(resume(db, "dialing").await.unwrap());
            assert!(!resume(db, "dialing").await.unwrap());
            assert!(!db.wake_hub().is_paused("dialing"));
            assert_eq!(list(db).await.unwrap().len(), 1);
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn a_job_on_a_paused_queue_waits_until_the_queue_is_resumed() {
        for t in TestDb::all().await {
            let db = &t.db;
            let calls = Arc::new(AtomicU32::new(0));
            let runner = Runner::new(db.clone(), counting(calls.clone()), settings());
            let (stop, mut rx) = watch::channel(false);
            let task = tokio::spawn(runner.run(&[QueueName::Bench], async move {
                let _ = rx.wait_for(|s| *s).await;
            }));
            let first = push(db).await;
            await_done(db, &first).await;
            assert!(pause(db, "bench", "test", Utc::now()).await.unwrap());
            let held = push(db).await;
            // Many fallback polls and pause refreshes go by.
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let job = admin::find(db, &held).await.unwrap().unwrap();
            assert_eq!(job.state, JobState::Pending, "{:?}: {job:?}", t.backend());
            assert_eq!(job.attempts, 0);
            assert_eq!(calls.load(Ordering::SeqCst), 1);
            assert!(resume(db, "bench").await.unwrap());
            let job = await_done(db, &held).await;
            assert_eq!(job.attempts, 1);
            assert_eq!(calls.load(Ordering::SeqCst), 2);
            let _ = stop.send(true);
            task.await.unwrap().unwrap();
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn a_pause_from_another_process_is_seen_and_its_resume_too() {
        for t in TestDb::all().await {
            let db = &t.db;
            let calls = Arc::new(AtomicU32::new(0));
            let runner = Runner::new(db.clone(), counting(calls.clone()), settings());
            let (stop, mut rx) = watch::channel(false);
            let task = tokio::spawn(runner.run(&[QueueName::Bench], async move {
                let _ = rx.wait_for(|s| *s).await;
            }));
            // Another process: its own pool and hub.
            let other = Db::connect(&secrecy::SecretString::from(t.url.clone()), 1)
                .await
                .unwrap();
            assert!(pause(&other, "bench", "ops", Utc::now()).await.unwrap());
            let held = push(&other).await;
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let job = admin::find(db, &held).await.unwrap().unwrap();
            assert_eq!(job.state, JobState::Pending, "{:?}: {job:?}", t.backend());
            assert!(db.wake_hub().is_paused("bench"), "refreshed from the table");
            assert!(resume(&other, "bench").await.unwrap());
            await_done(db, &held).await;
            assert_eq!(calls.load(Ordering::SeqCst), 1);
            other.close().await;
            let _ = stop.send(true);
            task.await.unwrap().unwrap();
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn a_job_put_back_at_its_claim_is_not_fetched_again_while_the_queue_is_paused() {
        for t in TestDb::all().await {
            let db = &t.db;
            let calls = Arc::new(AtomicU32::new(0));
            // The runner never re-reads the table: only the claim can tell it of the pause.
            let slow_refresh = RunnerSettings {
                pause_refresh: Duration::from_secs(3600),
                ..settings()
            };
            let runner = Runner::new(db.clone(), counting(calls.clone()), slow_refresh);
            let (stop, mut rx) = watch::channel(false);
            let task = tokio::spawn(runner.run(&[QueueName::Bench], async move {
                let _ = rx.wait_for(|s| *s).await;
            }));
            let other = Db::connect(&secrecy::SecretString::from(t.url.clone()), 1)
                .await
                .unwrap();
            pause(&other, "bench", "ops", Utc::now()).await.unwrap();
            let held = push(db).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            // Fetched and put back again and again, it would often be seen held.
            for _ in 0..20 {
                let job = admin::find(db, &held).await.unwrap().unwrap();
                assert_eq!(job.state, JobState::Pending, "{:?}: {job:?}", t.backend());
                assert_eq!(job.worker, None);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert_eq!(calls.load(Ordering::SeqCst), 0);
            assert!(db.wake_hub().is_paused("bench"));
            assert!(resume(db, "bench").await.unwrap());
            await_done(db, &held).await;
            other.close().await;
            let _ = stop.send(true);
            task.await.unwrap().unwrap();
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn jobs_left_fetched_in_a_workers_buffer_are_given_back_while_the_queue_is_paused() {
        for t in TestDb::all().await {
            let db = &t.db;
            let calls = Arc::new(AtomicU32::new(0));
            let runner = Runner::new(db.clone(), counting(calls.clone()), settings());
            let worker = format!("{}-bench", runner.replica());
            let (stop, mut rx) = watch::channel(false);
            let task = tokio::spawn(runner.run(&[QueueName::Bench], async move {
                let _ = rx.wait_for(|s| *s).await;
            }));
            assert!(pause(db, "bench", "test", Utc::now()).await.unwrap());
            let id = push(db).await;
            // As if the rest of a batch fetched as the pause landed: held by this replica's
            // bench worker (once apalis registered it), waiting in its buffer.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            loop {
                let held = match db.pool() {
                    Pool::Postgres(p) => sqlx::query("UPDATE apalis.jobs SET status = 'Queued', lock_by = $1, lock_at = now() WHERE id = $2 AND EXISTS (SELECT 1 FROM apalis.workers WHERE id = $1)")
                        .bind(&worker).bind(&id).execute(p).await.unwrap().rows_affected(),
                    Pool::Sqlite(p) => sqlx::query("UPDATE Jobs SET status = 'Queued', lock_by = $1, lock_at = strftime('%s', 'now') WHERE id = $2 AND EXISTS (SELECT 1 FROM Workers WHERE id = $1)")
                        .bind(&worker).bind(&id).execute(p).await.unwrap().rows_affected(),
                };
                if held == 1 {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the worker never registered"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            loop {
                let job = admin::find(db, &id).await.unwrap().unwrap();
                if job.state == JobState::Pending && job.worker.is_none() {
                    assert_eq!(job.attempts, 0);
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{:?}: never given back: {job:?}",
                    t.backend()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert_eq!(calls.load(Ordering::SeqCst), 0);
            assert!(resume(db, "bench").await.unwrap());
            await_done(db, &id).await;
            let _ = stop.send(true);
            task.await.unwrap().unwrap();
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn a_job_fetched_as_the_pause_lands_is_put_back_with_its_attempts_unchanged() {
        for t in TestDb::all().await {
            let db = &t.db;
            let calls = Arc::new(AtomicU32::new(0));
            let runner = Runner::new(db.clone(), counting(calls.clone()), settings());
            let id = push(db).await;
            // As if a worker fetched it (after a failed attempt), then the pause landed.
            match db.pool() {
                Pool::Postgres(p) => {
                    sqlx::query("INSERT INTO apalis.workers (id, worker_type, storage_name, layers, last_seen) VALUES ('w1', 'bench', 'x', '', now())").execute(p).await.unwrap();
                    sqlx::query("UPDATE apalis.jobs SET status = 'Queued', lock_by = 'w1', lock_at = now(), attempts = 2 WHERE id = $1")
                        .bind(&id).execute(p).await.unwrap();
                }
                Pool::Sqlite(p) => {
                    sqlx::query("INSERT INTO Workers (id, worker_type, storage_name, layers, last_seen) VALUES ('w1', 'bench', 'x', '', strftime('%s', 'now'))").execute(p).await.unwrap();
                    sqlx::query("UPDATE Jobs SET status = 'Queued', lock_by = 'w1', lock_at = strftime('%s', 'now'), attempts = 2 WHERE id = $1")
                        .bind(&id).execute(p).await.unwrap();
                }
            }
            // Paused by another process: this one has not heard of it yet.
            let other = Db::connect(&secrecy::SecretString::from(t.url.clone()), 1)
                .await
                .unwrap();
            pause(&other, "bench", "ops", Utc::now()).await.unwrap();
            assert!(!db.wake_hub().is_paused("bench"));
            let payload = serde_json::json!({"kind": "PauseProbe", "args": {}});
            runner.execute(&id, "w1", payload.clone()).await.unwrap();
            let job = admin::find(db, &id).await.unwrap().unwrap();
            assert_eq!(calls.load(Ordering::SeqCst), 0, "{:?}", t.backend());
            assert_eq!(job.attempts, 2, "{job:?}");
            assert_eq!(job.worker, None, "the lock is cleared");
            assert_eq!(job.state, JobState::Retrying, "back to waiting: {job:?}");
            assert!(admin::attempts(db, &id).await.unwrap().is_empty());
            assert!(db.wake_hub().is_paused("bench"), "the claim told the hub");
            // A job fetched while this process knows the queue is paused: put back too.
            let status: String = match db.pool() {
                Pool::Postgres(p) => {
                    sqlx::query(
                        "UPDATE apalis.jobs SET status = 'Queued', lock_by = 'w1' WHERE id = $1",
                    )
                    .bind(&id)
                    .execute(p)
                    .await
                    .unwrap();
                    runner.execute(&id, "w1", payload.clone()).await.unwrap();
                    sqlx::query_scalar("SELECT status FROM apalis.jobs WHERE id = $1")
                        .bind(&id)
                        .fetch_one(p)
                        .await
                        .unwrap()
                }
                Pool::Sqlite(p) => {
                    sqlx::query("UPDATE Jobs SET status = 'Queued', lock_by = 'w1' WHERE id = $1")
                        .bind(&id)
                        .execute(p)
                        .await
                        .unwrap();
                    runner.execute(&id, "w1", payload.clone()).await.unwrap();
                    sqlx::query_scalar("SELECT status FROM Jobs WHERE id = $1")
                        .bind(&id)
                        .fetch_one(p)
                        .await
                        .unwrap()
                }
            };
            assert_eq!(status, "Pending");
            assert_eq!(calls.load(Ordering::SeqCst), 0);
            other.close().await;
            t.drop_database().await;
        }
    }
}
