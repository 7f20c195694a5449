//! The queue's hot path on the database side: claiming due jobs, giving back jobs a replica
//! holds but will not run, and rescuing the jobs of replicas that died.
//!
//! A claim takes up to N due jobs of one queue in one statement (each driver says how),
//! highest priority first, then the longest due, and never while the queue is paused in
//! `queue_pauses`. A claimed job is `Running`, held by its worker (`lock_by`), its attempts
//! unchanged until its outcome is recorded.

use chrono::{DateTime, Utc};

use crate::db::{Db, StoreError};
pub(crate) use crate::driver::ClaimedJob;

/// Claims up to `limit` due jobs of `queue` for `worker`, in the order they should run.
pub(crate) async fn claim(
    db: &Db,
    queue: &str,
    worker: &str,
    limit: usize,
) -> Result<Vec<ClaimedJob>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut jobs = db.driver().claim(queue, worker, limit).await?;
    // RETURNING keeps no order: run the most urgent first.
    jobs.sort_by(|a, b| {
        b.priority
            .cmp(&a.priority)
            .then(a.due_at.cmp(&b.due_at))
            .then(a.id.cmp(&b.id))
    });
    Ok(jobs)
}

/// Gives back jobs `worker` claimed but did not start (its queue was paused, or the replica is
/// stopping): pending again, unlocked, their attempts unchanged. Returns how many went back.
pub(crate) async fn put_back(db: &Db, worker: &str, ids: &[String]) -> Result<u64, StoreError> {
    if ids.is_empty() {
        return Ok(0);
    }
    db.driver().put_back(worker, ids).await
}

/// Gives back every job `worker` still holds (at the end of a shutdown's grace period), so
/// another replica takes them at once instead of waiting for this one to be declared dead.
pub(crate) async fn release_worker(db: &Db, worker: &str) -> Result<u64, StoreError> {
    db.driver().release_worker(worker).await
}

/// Records the worker names a replica locks jobs with. The jobs table refers to its workers
/// table (a foreign key apalis created), so a name must be there before it holds a job.
pub(crate) async fn register_workers(db: &Db, names: &[String]) -> Result<(), StoreError> {
    for name in names {
        db.driver().register_worker(name).await?;
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
    db.driver().rescue(&workers, MESSAGE).await
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
