//! Pausing a queue: workers of every replica stop taking its jobs, then take them again when
//! it is resumed. The `queue_pauses` table is the truth; each runner keeps a copy of it in
//! its process's [`WakeHub`](super::wake::WakeHub), refreshed every `queue.pause_refresh_ms`
//! and at once when `pause` or `resume` run in the same process. The claim itself reads the
//! table, so a paused queue is never claimed, even by a replica that has not heard of the
//! pause yet. While the copy says paused, the queue's feeders claim nothing, and the jobs they
//! claimed but did not start are given back untouched (pending, unlocked, attempts unchanged).
//! Jobs already running when the pause lands finish normally.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::db::{Db, StoreError};

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
    let now = crate::db::now_micros(now);
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
    use crate::backoff::Backoff;
    use crate::board::admin::{self, JobState};
    use crate::facade::{BENCH_QUEUE, EnqueueOptions, Enqueued, Job, enqueue};
    use crate::runtime::runner::{Registry, Runner, RunnerSettings};
    use crate::test_db::TestDb;

    #[derive(Debug, Serialize, Deserialize)]
    struct Counted {}

    impl Job for Counted {
        const KIND: &'static str = "PauseProbe";
        const QUEUE: &'static str = BENCH_QUEUE;
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
            prefetch: 4,
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

    /// Waits until a runner started on `db` has beaten once, which it does after reading the
    /// paused queues.
    async fn await_first_beat(db: &Db) {
        for _ in 0..500 {
            if !crate::runtime::replicas::list(db, Utc::now())
                .await
                .unwrap()
                .is_empty()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the runner never beat");
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
            let now = crate::db::now_micros(Utc::now());
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
            let task = tokio::spawn(runner.run(&[BENCH_QUEUE], async move {
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
            let task = tokio::spawn(runner.run(&[BENCH_QUEUE], async move {
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
    async fn a_queue_paused_by_another_process_is_not_claimed_before_this_one_hears_of_it() {
        for t in TestDb::all().await {
            let db = &t.db;
            let calls = Arc::new(AtomicU32::new(0));
            // The runner never re-reads the table: only the claim itself sees the pause.
            let slow_refresh = RunnerSettings {
                pause_refresh: Duration::from_secs(3600),
                ..settings()
            };
            let runner = Runner::new(db.clone(), counting(calls.clone()), slow_refresh);
            let (stop, mut rx) = watch::channel(false);
            let task = tokio::spawn(runner.run(&[BENCH_QUEUE], async move {
                let _ = rx.wait_for(|s| *s).await;
            }));
            // The runner reads the pauses once at start: pause only after that read.
            await_first_beat(db).await;
            let other = Db::connect(&secrecy::SecretString::from(t.url.clone()), 1)
                .await
                .unwrap();
            pause(&other, "bench", "ops", Utc::now()).await.unwrap();
            let held = push(db).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            for _ in 0..20 {
                let job = admin::find(db, &held).await.unwrap().unwrap();
                assert_eq!(job.state, JobState::Pending, "{:?}: {job:?}", t.backend());
                assert_eq!(job.worker, None);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert_eq!(calls.load(Ordering::SeqCst), 0);
            assert!(!db.wake_hub().is_paused("bench"), "not heard of yet");
            assert!(resume(db, "bench").await.unwrap());
            await_done(db, &held).await;
            other.close().await;
            let _ = stop.send(true);
            task.await.unwrap().unwrap();
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn jobs_claimed_but_not_started_are_given_back_when_the_queue_is_paused() {
        for t in TestDb::all().await {
            let db = &t.db;
            let calls = Arc::new(AtomicU32::new(0));
            let gate = Arc::new(tokio::sync::Semaphore::new(0));
            let mut registry = Registry::default();
            {
                let (calls, gate) = (calls.clone(), gate.clone());
                registry.register::<Counted, _, _>(move |_, _| {
                    let (calls, gate) = (calls.clone(), gate.clone());
                    async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        // Held until the test lets it go.
                        let _ = gate.acquire().await.map(|p| p.forget());
                        Ok(())
                    }
                });
            }
            // One slot and a prefetch of three: the first job runs, the next three wait
            // claimed in the worker's buffer.
            let one_slot = RunnerSettings {
                concurrency: 1,
                prefetch: 3,
                ..settings()
            };
            let ids = [
                push(db).await,
                push(db).await,
                push(db).await,
                push(db).await,
            ];
            let runner = Runner::new(db.clone(), registry, one_slot);
            let (stop, mut rx) = watch::channel(false);
            let task = tokio::spawn(runner.run(&[BENCH_QUEUE], async move {
                let _ = rx.wait_for(|s| *s).await;
            }));
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            loop {
                let mut running = 0;
                for id in &ids {
                    let job = admin::find(db, id).await.unwrap().unwrap();
                    running += usize::from(job.state == JobState::Running);
                }
                if running == ids.len() && calls.load(Ordering::SeqCst) == 1 {
                    break;
                }
                assert!(tokio::time::Instant::now() < deadline, "never all claimed");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(pause(db, "bench", "test", Utc::now()).await.unwrap());
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            loop {
                let mut waiting = Vec::new();
                for id in &ids {
                    let job = admin::find(db, id).await.unwrap().unwrap();
                    if job.state == JobState::Pending && job.worker.is_none() {
                        assert_eq!(job.attempts, 0, "given back, not failed: {job:?}");
                        waiting.push(job.id);
                    }
                }
                if waiting.len() == 3 {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{:?}: the buffered jobs were never given back",
                    t.backend()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            // The running job finishes; nothing else starts while paused.
            gate.add_permits(1);
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(calls.load(Ordering::SeqCst), 1);
            gate.add_permits(10);
            assert!(resume(db, "bench").await.unwrap());
            for id in &ids {
                let job = await_done(db, id).await;
                assert_eq!(job.attempts, 1, "{job:?}");
            }
            assert_eq!(calls.load(Ordering::SeqCst), 4);
            let _ = stop.send(true);
            task.await.unwrap().unwrap();
            t.drop_database().await;
        }
    }
}
