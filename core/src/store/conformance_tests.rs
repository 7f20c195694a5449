//! The conformance suite: every store operation and every queue guarantee, run against each
//! backend (SQLite always, PostgreSQL when ZENCALL_TEST_DATABASE_URL is set).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::test_db::TestDb;
use super::{Backend, Db, Pool, api_keys, assistants, organisations};
use crate::domain::assistant::{AssistantChange, AssistantRequest, AssistantStatus};
use crate::jobs::QueueName;
use zencall_queue::backoff::Backoff;
use zencall_queue::board::admin::{self, JobState};
use zencall_queue::runtime::runner::{Registry, Runner, RunnerSettings};
use zencall_queue::{EnqueueOptions, Enqueued, Job, JobError, enqueue, enqueue_in};

fn new_assistant() -> crate::domain::assistant::NewAssistant {
    let r: AssistantRequest = serde_json::from_value(serde_json::json!({
        "name": "Salon Dupont", "sector": "hair_beauty_salon",
        "business": {"name": "Salon Dupont", "services": ["coupe"]},
        "sector_details": {"sector": "hair_beauty_salon",
            "services": [{"name": "coupe", "duration_minutes": 30, "price_cents": 2500}]},
    }))
    .unwrap();
    r.validate().unwrap()
}

async fn org(db: &Db, name: &str) -> String {
    let mut tx = db.begin().await.unwrap();
    let o = organisations::create(&mut tx, name, Utc::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    o.id
}

#[tokio::test]
async fn migrations_are_idempotent_and_leave_the_database_ready() {
    for t in TestDb::all().await {
        t.db.migrate().await.unwrap();
        assert!(t.db.is_ready().await, "{:?}", t.backend());
        t.drop_database().await;
    }
}

#[tokio::test]
async fn sqlite_connections_never_run_without_durable_commits() {
    let t = TestDb::sqlite().await;
    if let Pool::Sqlite(p) = t.db.pool() {
        let mut held = Vec::new();
        for _ in 0..4 {
            let mut c = p.acquire().await.unwrap();
            let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&mut *c)
                .await
                .unwrap();
            let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&mut *c)
                .await
                .unwrap();
            assert!(sync >= 1, "synchronous must be NORMAL or FULL, got {sync}");
            assert_eq!(journal, "wal");
            held.push(c);
        }
    }
    t.drop_database().await;
}

#[tokio::test]
async fn organisations_and_api_keys_work_alike_on_every_backend() {
    for t in TestDb::all().await {
        let db = &t.db;
        assert_eq!(organisations::count(db).await.unwrap(), 0);
        let org_id = org(db, "ACME").await;
        assert_eq!(
            organisations::find(db, &org_id)
                .await
                .unwrap()
                .unwrap()
                .name,
            "ACME"
        );
        let mut tx = db.begin().await.unwrap();
        let key = api_keys::create(&mut tx, &org_id, "ci", api_keys::Scope::Write, Utc::now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let found = api_keys::authenticate(db, &key.secret)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.org_id, org_id);
        assert_eq!(found.scope, api_keys::Scope::Write);
        assert!(
            api_keys::authenticate(db, "zc_nope")
                .await
                .unwrap()
                .is_none()
        );
        let mut wrong = key.secret.clone();
        wrong.pop();
        wrong.push('x');
        assert!(api_keys::authenticate(db, &wrong).await.unwrap().is_none());
        assert!(
            api_keys::revoke(db, &org_id, &found.id, Utc::now())
                .await
                .unwrap()
        );
        assert!(
            api_keys::authenticate(db, &key.secret)
                .await
                .unwrap()
                .is_none()
        );
        t.drop_database().await;
    }
}

#[tokio::test]
async fn assistants_are_stored_listed_changed_and_kept_within_their_organisation() {
    for t in TestDb::all().await {
        let db = &t.db;
        let org_a = org(db, "A").await;
        let org_b = org(db, "B").await;
        let mut ids = Vec::new();
        for _ in 0..5 {
            let mut tx = db.begin().await.unwrap();
            ids.push(
                assistants::insert(&mut tx, &org_a, &new_assistant(), Utc::now())
                    .await
                    .unwrap()
                    .id,
            );
            tx.commit().await.unwrap();
        }
        let a = assistants::find(db, &org_a, &ids[0])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(a.status, AssistantStatus::Provisioning);
        assert_eq!(a.business.services, vec!["coupe".to_string()]);
        assert_eq!(a.sector_details, new_assistant().sector_details);
        assert!(a.sector_details.is_some());
        {
            let mut tx = db.begin().await.unwrap();
            assert!(
                assistants::set_sector_details(&mut tx, &org_a, &ids[4], None, Utc::now())
                    .await
                    .unwrap()
            );
            assert!(
                !assistants::set_sector_details(&mut tx, &org_b, &ids[4], None, Utc::now())
                    .await
                    .unwrap(),
                "another organisation's assistant"
            );
            tx.commit().await.unwrap();
            let cleared = assistants::find(db, &org_a, &ids[4])
                .await
                .unwrap()
                .unwrap();
            assert_eq!(cleared.sector_details, None);
        }
        assert!(
            assistants::find(db, &org_b, &ids[0])
                .await
                .unwrap()
                .is_none(),
            "{:?}: another organisation's assistant",
            t.backend()
        );

        let page1 = assistants::list(db, &org_a, None, None, 3).await.unwrap();
        assert_eq!(page1.len(), 3);
        assert_eq!(page1[0].id, ids[4], "newest first");
        let page2 = assistants::list(db, &org_a, None, Some(&page1[2].id), 3)
            .await
            .unwrap();
        assert_eq!(page2.len(), 2);
        assert!(
            assistants::list(db, &org_b, None, None, 10)
                .await
                .unwrap()
                .is_empty()
        );

        assistants::record(
            db,
            &org_a,
            &ids[0],
            assistants::Step::VapiAssistantCreated("v1"),
            Utc::now(),
        )
        .await
        .unwrap();
        assistants::record(
            db,
            &org_a,
            &ids[0],
            assistants::Step::NumberBought {
                sid: "PN1",
                number: "+33142868000",
            },
            Utc::now(),
        )
        .await
        .unwrap();
        assistants::record(db, &org_a, &ids[0], assistants::Step::Activated, Utc::now())
            .await
            .unwrap();
        let active = assistants::list(db, &org_a, Some(AssistantStatus::Active), None, 10)
            .await
            .unwrap();
        assert_eq!(active.len(), 1);
        assert_eq!(active[0].phone_number.as_deref(), Some("+33142868000"));

        let mut tx = db.begin().await.unwrap();
        let change = AssistantChange {
            greeting: Some("Bonjour !".into()),
            ..Default::default()
        };
        assert_eq!(
            assistants::apply_change(&mut tx, &org_a, &ids[0], &change, Utc::now())
                .await
                .unwrap(),
            Some(2)
        );
        assert_eq!(
            assistants::apply_change(&mut tx, &org_b, &ids[0], &change, Utc::now())
                .await
                .unwrap(),
            None
        );
        tx.commit().await.unwrap();
        assistants::record(db, &org_a, &ids[0], assistants::Step::Synced(2), Utc::now())
            .await
            .unwrap();
        assistants::record(db, &org_a, &ids[0], assistants::Step::Synced(1), Utc::now())
            .await
            .unwrap();
        let a = assistants::find(db, &org_a, &ids[0])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (a.greeting.as_str(), a.config_version, a.synced_version),
            ("Bonjour !", 2, 2),
            "synced version never goes back"
        );

        let mut tx = db.begin().await.unwrap();
        assert!(
            assistants::mark_deleting(&mut tx, &org_a, &ids[1], Utc::now())
                .await
                .unwrap()
        );
        assert!(
            !assistants::mark_deleting(&mut tx, &org_b, &ids[1], Utc::now())
                .await
                .unwrap()
        );
        tx.commit().await.unwrap();
        assistants::record(
            db,
            &org_a,
            &ids[1],
            assistants::Step::Failed("late"),
            Utc::now(),
        )
        .await
        .unwrap();
        let deleting = assistants::find(db, &org_a, &ids[1])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            deleting.status,
            AssistantStatus::Deleting,
            "a failure never overrides a deletion"
        );
        t.drop_database().await;
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Probe {
    label: String,
}

impl Job for Probe {
    const KIND: &'static str = "Probe";
    const QUEUE: &'static str = QueueName::Bench.as_str();
    const MAX_ATTEMPTS: Option<u32> = Some(3);
}

#[tokio::test]
async fn an_enqueue_joins_the_callers_transaction() {
    for t in TestDb::all().await {
        let db = &t.db;
        let mut tx = db.begin().await.unwrap();
        let Enqueued::New(id) = enqueue_in(
            &mut tx,
            &Probe { label: "x".into() },
            EnqueueOptions::default(),
            5,
        )
        .await
        .unwrap() else {
            panic!("expected a new job")
        };
        tx.rollback().await.unwrap();
        assert!(
            admin::find(db, &id).await.unwrap().is_none(),
            "{:?}: rolled back with the caller",
            t.backend()
        );

        let mut tx = db.begin().await.unwrap();
        let Enqueued::New(id) = enqueue_in(
            &mut tx,
            &Probe { label: "y".into() },
            EnqueueOptions::default(),
            5,
        )
        .await
        .unwrap() else {
            panic!("expected a new job")
        };
        tx.commit().await.unwrap();
        let job = admin::find(db, &id).await.unwrap().unwrap();
        assert_eq!(
            (job.kind.as_str(), job.state, job.max_attempts),
            ("Probe", JobState::Pending, 3)
        );
        assert_eq!(job.args["label"], "y");
        t.drop_database().await;
    }
}

#[tokio::test]
async fn a_duplicate_unique_key_is_reported_and_does_not_abort_the_transaction() {
    for t in TestDb::all().await {
        let db = &t.db;
        let org_id = org(db, "A").await;
        let first = enqueue(
            db,
            &Probe { label: "1".into() },
            EnqueueOptions::unique("k"),
            5,
        )
        .await
        .unwrap();
        assert!(matches!(first, Enqueued::New(_)));
        let mut tx = db.begin().await.unwrap();
        let again = enqueue_in(
            &mut tx,
            &Probe { label: "2".into() },
            EnqueueOptions::unique("k"),
            5,
        )
        .await
        .unwrap();
        assert_eq!(again, Enqueued::Duplicate, "{:?}", t.backend());
        // The transaction is still usable after the duplicate.
        let a = assistants::insert(&mut tx, &org_id, &new_assistant(), Utc::now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(
            assistants::find(db, &org_id, &a.id)
                .await
                .unwrap()
                .is_some(),
            "{:?}",
            t.backend()
        );
        assert_eq!(
            admin::counts(db, "bench")
                .await
                .unwrap()
                .values()
                .sum::<i64>(),
            1
        );
        t.drop_database().await;
    }
}

#[tokio::test]
async fn a_job_for_later_is_scheduled() {
    for t in TestDb::all().await {
        let options = EnqueueOptions {
            run_at: Some(Utc::now() + chrono::Duration::hours(2)),
            ..Default::default()
        };
        let Enqueued::New(id) = enqueue(
            &t.db,
            &Probe {
                label: "later".into(),
            },
            options,
            5,
        )
        .await
        .unwrap() else {
            panic!()
        };
        assert_eq!(
            admin::find(&t.db, &id).await.unwrap().unwrap().state,
            JobState::Scheduled
        );
        t.drop_database().await;
    }
}

/// Behaviour of the probe handler, chosen by the job's label.
fn probe_registry(calls: Arc<AtomicU32>) -> Registry {
    let mut r = Registry::default();
    r.register::<Probe, _, _>(move |job, run| {
        let calls = calls.clone();
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            match job.label.as_str() {
                "ok" => Ok(()),
                "flaky" if run.attempt < 2 => Err(JobError::transient("the provider answered 503")),
                "flaky" => Ok(()),
                "always-503" => Err(JobError::transient("the provider answered 503")),
                "refused" => Err(JobError::permanent("credentials refused")),
                "panics" => panic!("boom"),
                "slow" => {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    Ok(())
                }
                other => Err(JobError::permanent(format!("unknown label {other}"))),
            }
        }
    });
    r
}

fn quick_settings() -> RunnerSettings {
    RunnerSettings {
        backoff: Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(1),
        },
        job_timeout: Duration::from_secs(2),
        heartbeat: Duration::from_secs(5),
        missed_heartbeats: 3,
        poll_interval: Duration::from_millis(200),
        concurrency: 4,
        prefetch: 4,
        shutdown_timeout: Duration::from_secs(5),
        max_attempts: 5,
        pause_refresh: Duration::from_secs(1),
    }
}

struct Workers {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), super::StoreError>>,
}

fn start_workers(db: &Db, registry: Registry, settings: RunnerSettings) -> Workers {
    let runner = Runner::new(db.clone(), registry, settings);
    let (stop, mut rx) = watch::channel(false);
    let task = tokio::spawn(
        runner.run(&[zencall_queue::facade::BENCH_QUEUE], async move {
            let _ = rx.wait_for(|s| *s).await;
        }),
    );
    Workers { stop, task }
}

impl Workers {
    async fn stop(self) {
        let _ = self.stop.send(true);
        self.task.await.unwrap().unwrap();
    }
}

/// Waits until job `id` is in `state`; fails after 30 s.
async fn await_state(db: &Db, id: &str, state: JobState) -> admin::JobRecord {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(job) = admin::find(db, id).await.unwrap() {
            if job.state == state {
                return job;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "job {id} stuck in {:?}, wanted {state:?}: {job:?}",
                job.state
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until job `id` has finished at least one attempt; fails after 30 s.
async fn await_first_attempt(db: &Db, id: &str) -> Vec<admin::AttemptRecord> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let attempts = admin::attempts(db, id).await.unwrap();
        if !attempts.is_empty() {
            return attempts;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job {id} never finished an attempt"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn push(db: &Db, label: &str) -> String {
    match enqueue(
        db,
        &Probe {
            label: label.into(),
        },
        EnqueueOptions::default(),
        5,
    )
    .await
    .unwrap()
    {
        Enqueued::New(id) => id,
        Enqueued::Duplicate => panic!("unexpected duplicate"),
    }
}

#[tokio::test]
async fn a_transient_error_is_retried_later_and_every_attempt_is_recorded() {
    for t in TestDb::all().await {
        let db = &t.db;
        let calls = Arc::new(AtomicU32::new(0));
        let workers = start_workers(db, probe_registry(calls.clone()), quick_settings());
        let id = push(db, "flaky").await;
        let job = await_state(db, &id, JobState::Done).await;
        assert_eq!(job.attempts, 2, "{:?}", t.backend());
        let attempts = admin::attempts(db, &id).await.unwrap();
        assert_eq!(attempts.len(), 2);
        assert_eq!(attempts[0].outcome, "retry");
        assert_eq!(
            attempts[0].error.as_deref(),
            Some("the provider answered 503")
        );
        assert_eq!(attempts[1].outcome, "done");
        let gap = attempts[1].started_at - attempts[0].finished_at;
        assert!(
            gap >= chrono::Duration::milliseconds(900),
            "{:?}: retried after {gap} instead of backing off",
            t.backend()
        );
        workers.stop().await;
        t.drop_database().await;
    }
}

#[tokio::test]
async fn a_permanent_error_makes_the_job_dead_at_once_with_its_reason() {
    for t in TestDb::all().await {
        let db = &t.db;
        let calls = Arc::new(AtomicU32::new(0));
        let workers = start_workers(db, probe_registry(calls.clone()), quick_settings());
        let id = push(db, "refused").await;
        let job = await_state(db, &id, JobState::Dead).await;
        assert_eq!(job.last_error.as_deref(), Some("credentials refused"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        workers.stop().await;
        t.drop_database().await;
    }
}

#[tokio::test]
async fn the_last_failed_attempt_makes_the_job_dead_keeping_every_error() {
    for t in TestDb::all().await {
        let db = &t.db;
        let calls = Arc::new(AtomicU32::new(0));
        let workers = start_workers(db, probe_registry(calls.clone()), quick_settings());
        let id = push(db, "always-503").await;
        let job = await_state(db, &id, JobState::Dead).await;
        assert_eq!(
            job.attempts,
            3,
            "{:?}: Probe allows 3 attempts",
            t.backend()
        );
        let attempts = admin::attempts(db, &id).await.unwrap();
        let outcomes: Vec<_> = attempts.iter().map(|a| a.outcome.as_str()).collect();
        assert_eq!(outcomes, ["retry", "retry", "dead"]);
        assert!(
            attempts
                .iter()
                .all(|a| a.error.as_deref().is_some_and(|e| e.contains("503")))
        );
        workers.stop().await;
        t.drop_database().await;
    }
}

#[tokio::test]
async fn a_panic_or_a_timeout_is_a_transient_failure_not_a_crash() {
    for t in TestDb::all().await {
        let db = &t.db;
        let calls = Arc::new(AtomicU32::new(0));
        let workers = start_workers(db, probe_registry(calls.clone()), quick_settings());
        let panics = push(db, "panics").await;
        let slow = push(db, "slow").await;
        let ok = push(db, "ok").await;
        await_state(db, &ok, JobState::Done).await;
        let attempts = await_first_attempt(db, &panics).await;
        assert!(
            attempts[0]
                .error
                .as_deref()
                .unwrap()
                .contains("panicked: boom"),
            "{attempts:?}"
        );
        let attempts = await_first_attempt(db, &slow).await;
        assert!(
            attempts[0].error.as_deref().unwrap().contains("timed out"),
            "{attempts:?}"
        );
        workers.stop().await;
        t.drop_database().await;
    }
}

#[tokio::test]
async fn an_idle_worker_is_woken_by_a_new_job_without_waiting_for_a_poll_or_heartbeat() {
    for t in TestDb::all().await {
        let db = &t.db;
        let calls = Arc::new(AtomicU32::new(0));
        // Polls and heartbeats so rare that only a wake-up can start the job within the test.
        let settings = RunnerSettings {
            poll_interval: Duration::from_secs(3600),
            heartbeat: Duration::from_secs(3600),
            ..quick_settings()
        };
        let workers = start_workers(db, probe_registry(calls.clone()), settings);
        // Let the workers register and go idle first.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let id = push(db, "ok").await;
        await_state(db, &id, JobState::Done).await;
        if t.backend() == Backend::Postgres {
            // Another process's enqueue (a separate pool, so no in-process wake-up): NOTIFY.
            let other = Db::connect(&secrecy::SecretString::from(t.url.clone()), 1)
                .await
                .unwrap();
            let id = push(&other, "ok").await;
            await_state(db, &id, JobState::Done).await;
            other.close().await;
        }
        workers.stop().await;
        t.drop_database().await;
    }
}

#[tokio::test]
async fn pruning_deletes_only_finished_jobs_past_their_retention() {
    for t in TestDb::all().await {
        let db = &t.db;
        let calls = Arc::new(AtomicU32::new(0));
        let workers = start_workers(db, probe_registry(calls.clone()), quick_settings());
        let done = push(db, "ok").await;
        let dead = push(db, "refused").await;
        await_state(db, &done, JobState::Done).await;
        await_state(db, &dead, JobState::Dead).await;
        workers.stop().await;
        let later = push(db, "later-never-run").await;
        let past = Utc::now() - chrono::Duration::hours(1);
        assert_eq!(
            admin::prune(db, past, past).await.unwrap(),
            0,
            "nothing is old enough yet"
        );
        let future = Utc::now() + chrono::Duration::hours(1);
        assert_eq!(
            admin::prune(db, future, past).await.unwrap(),
            1,
            "{:?}: only the done job",
            t.backend()
        );
        assert!(admin::find(db, &done).await.unwrap().is_none());
        assert!(admin::attempts(db, &done).await.unwrap().is_empty());
        assert!(admin::find(db, &dead).await.unwrap().is_some());
        assert!(admin::find(db, &later).await.unwrap().is_some());
        t.drop_database().await;
    }
}

#[tokio::test]
async fn an_idle_worker_is_woken_even_when_every_core_is_busy() {
    use std::sync::atomic::AtomicBool;
    let busy = Arc::new(AtomicBool::new(true));
    let hogs: Vec<_> = (0..4)
        .map(|_| {
            let busy = busy.clone();
            std::thread::spawn(move || {
                let mut x = 0u64;
                while busy.load(Ordering::Relaxed) {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                }
                x
            })
        })
        .collect();
    for t in TestDb::all().await {
        let db = &t.db;
        let calls = Arc::new(AtomicU32::new(0));
        let settings = RunnerSettings {
            poll_interval: Duration::from_secs(3600),
            heartbeat: Duration::from_secs(3600),
            ..quick_settings()
        };
        let workers = start_workers(db, probe_registry(calls.clone()), settings);
        tokio::time::sleep(Duration::from_millis(500)).await;
        for _ in 0..5 {
            let id = push(db, "ok").await;
            await_state(db, &id, JobState::Done).await;
        }
        workers.stop().await;
        t.drop_database().await;
    }
    busy.store(false, Ordering::Relaxed);
    for h in hogs {
        h.join().unwrap();
    }
}

#[tokio::test]
async fn jobs_stuck_with_a_live_worker_are_put_back_after_the_longest_possible_run() {
    for t in TestDb::all().await {
        let db = &t.db;
        let id = push(db, "ok").await;
        // As if a worker fetched it and then lost its database connection for good.
        let long_ago = Utc::now() - chrono::Duration::hours(2);
        match db.pool() {
            Pool::Postgres(p) => {
                sqlx::query("INSERT INTO apalis.workers (id, worker_type, storage_name, layers, last_seen) VALUES ('w1', 'bench', 'x', '', now())").execute(p).await.unwrap();
                sqlx::query("UPDATE apalis.jobs SET status = 'Running', lock_by = 'w1', lock_at = $1 WHERE id = $2").bind(long_ago).bind(&id).execute(p).await.unwrap();
            }
            Pool::Sqlite(p) => {
                sqlx::query("INSERT INTO Workers (id, worker_type, storage_name, layers, last_seen) VALUES ('w1', 'bench', 'x', '', strftime('%s', 'now'))").execute(p).await.unwrap();
                sqlx::query("UPDATE Jobs SET status = 'Running', lock_by = 'w1', lock_at = $1 WHERE id = $2").bind(long_ago.timestamp()).bind(&id).execute(p).await.unwrap();
            }
        }
        let fresh = push(db, "ok").await;
        match db.pool() {
            Pool::Postgres(p) => sqlx::query("UPDATE apalis.jobs SET status = 'Running', lock_by = 'w1', lock_at = now() WHERE id = $1").bind(&fresh).execute(p).await.map(|_| ()).unwrap(),
            Pool::Sqlite(p) => sqlx::query("UPDATE Jobs SET status = 'Running', lock_by = 'w1', lock_at = strftime('%s', 'now') WHERE id = $1").bind(&fresh).execute(p).await.map(|_| ()).unwrap(),
        }
        let rescued = admin::rescue_stuck(db, Utc::now() - chrono::Duration::hours(1))
            .await
            .unwrap();
        assert_eq!(rescued, 1, "{:?}", t.backend());
        assert_eq!(
            admin::find(db, &id).await.unwrap().unwrap().state,
            JobState::Retrying
        );
        assert_eq!(
            admin::find(db, &fresh).await.unwrap().unwrap().state,
            JobState::Running
        );
        t.drop_database().await;
    }
}

fn analysis_of(label: &str, intents: &[&str]) -> crate::domain::analysis::TranscriptAnalysis {
    serde_json::from_value(serde_json::json!({
        "status": "completed", "analyzer": "lexicon", "analyzer_version": "lexicon-1",
        "language": "fr",
        "sentiment": {"score": if label == "negative" { -0.6 } else { 0.5 }, "label": label,
                      "trend": "steady", "turns": [], "evidence": []},
        "intents": intents.iter().map(|i| serde_json::json!({"name": i, "confidence": 0.9, "trigger": "x"})).collect::<Vec<_>>(),
        "summary": "Client : bonjour.", "tags": [], "actions": [], "notes": []
    }))
    .unwrap()
}

#[tokio::test]
async fn analyses_are_stored_once_per_request_and_the_newest_is_the_calls_current_one() {
    use super::call_analyses;
    use super::calls::{self, CallFilter, CallReport, StatsScope};
    for t in TestDb::all().await {
        let db = &t.db;
        let org_id = org(db, "Salon Dupont").await;
        let report = CallReport {
            status: Some("ended".into()),
            started_at: Some(Utc::now() - chrono::Duration::seconds(90)),
            ended_at: Some(Utc::now()),
            transcript: Some("User: bonjour".into()),
            provider_analysis: Some(r#"{"summary":"ok"}"#.into()),
            ..CallReport::default()
        };
        let mut tx = db.begin().await.unwrap();
        let call = calls::merge_vapi_report(
            &mut tx,
            &org_id,
            None,
            "vapi-a",
            "inbound",
            &report,
            Utc::now(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();

        let first = analysis_of("negative", &["complaint", "cancellation"]);
        let mut tx = db.begin().await.unwrap();
        let stored = call_analyses::store_current(
            &mut tx,
            &org_id,
            &call.id,
            "auto:lexicon-1",
            &first,
            Utc::now(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        assert!(stored.is_some(), "{:?}", t.backend());
        let mut tx = db.begin().await.unwrap();
        let again = call_analyses::store_current(
            &mut tx,
            &org_id,
            &call.id,
            "auto:lexicon-1",
            &first,
            Utc::now(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        assert!(again.is_none(), "a second run stores nothing");

        let listed = |filter: CallFilter| {
            let org_id = org_id.clone();
            async move { calls::list(db, &org_id, &filter, None, 10).await.unwrap() }
        };
        let negative = listed(CallFilter {
            sentiment: Some("negative".into()),
            ..CallFilter::default()
        })
        .await;
        assert_eq!(negative.len(), 1);
        assert_eq!(negative[0].intents.0, ["complaint", "cancellation"]);
        let cancel = listed(CallFilter {
            intent: Some("cancellation".into()),
            ..CallFilter::default()
        })
        .await;
        assert_eq!(cancel.len(), 1);
        assert!(
            listed(CallFilter {
                intent: Some("booking".into()),
                ..CallFilter::default()
            })
            .await
            .is_empty()
        );

        let second = analysis_of("positive", &["booking"]);
        let mut tx = db.begin().await.unwrap();
        call_analyses::store_current(&mut tx, &org_id, &call.id, "anr_1", &second, Utc::now())
            .await
            .unwrap()
            .unwrap();
        tx.commit().await.unwrap();
        let current = call_analyses::current(db, &org_id, &call.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(current.request_key, "anr_1");
        assert_eq!(current.analysis, second);
        let history = call_analyses::history(db, &org_id, &call.id).await.unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(history.iter().filter(|h| h.is_current).count(), 1);
        assert!(
            listed(CallFilter {
                sentiment: Some("negative".into()),
                ..CallFilter::default()
            })
            .await
            .is_empty()
        );
        assert_eq!(
            call_analyses::provider_analysis(db, &org_id, &call.id)
                .await
                .unwrap()
                .as_deref(),
            Some(r#"{"summary":"ok"}"#)
        );

        let other = org(db, "Autre").await;
        assert!(
            call_analyses::current(db, &other, &call.id)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            call_analyses::history(db, &other, &call.id)
                .await
                .unwrap()
                .is_empty()
        );

        let stats = calls::stats(db, &org_id, &StatsScope::default())
            .await
            .unwrap();
        assert_eq!(
            (stats.total.calls, stats.total.answered),
            (1, 1),
            "{:?}",
            t.backend()
        );
        assert_eq!(stats.total.total_duration_secs, 90);
        assert_eq!(stats.total.sentiment.get("positive"), Some(&1));
        assert_eq!(stats.total.intents.get("booking"), Some(&1));
        assert_eq!(stats.days.len(), 1);
        assert_eq!(
            stats.days[0].0,
            call.created_at.format("%Y-%m-%d").to_string()
        );
        t.drop_database().await;
    }
}
