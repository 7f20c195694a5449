//! The drivers' conformance suite: every operation of [`Driver`] on both backends, called
//! directly, with the same expectations. The runtime's and the board's own tests cover how
//! they use these operations.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Completion, NewJob};
use crate::board::admin::{self, JobState};
use crate::db::{Db, now_micros};
use crate::facade::{EnqueueOptions, Enqueued};
use crate::test_db::TestDb;

const QUEUE: &str = "conformance";

async fn insert(db: &Db, seq: u64, options: &EnqueueOptions) -> Enqueued {
    let id = ulid::Ulid::generate().to_string();
    let payload = format!(r#"{{"kind":"Noop","args":{{"seq":{seq}}}}}"#).into_bytes();
    let mut tx = db.begin().await.unwrap();
    let job = NewJob {
        id: &id,
        queue: QUEUE,
        payload: &payload,
        max_attempts: 3,
    };
    let enqueued = db
        .driver()
        .insert(tx.inner_mut(), job, options)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    enqueued
}

fn completion(job_id: &str, worker: &str, status: &'static str) -> Completion {
    let now = now_micros(Utc::now());
    Completion {
        job_id: job_id.to_string(),
        worker: worker.to_string(),
        attempt: 1,
        status,
        result: match status {
            "Done" => r#"{"Ok": null}"#.into(),
            _ => r#"{"Err": "boom"}"#.into(),
        },
        run_at: None,
        queue: QUEUE,
        kind: "Noop".into(),
        started_at: now,
        finished_at: now,
        outcome: match status {
            "Done" => "done",
            "Killed" => "dead",
            _ => "retry",
        },
        error: (status != "Done").then(|| "boom".to_string()),
        due_at: now - chrono::Duration::milliseconds(5),
    }
}

#[tokio::test]
async fn an_insert_reports_a_duplicate_unique_key_and_a_later_run_is_not_claimed_early() {
    for t in TestDb::all().await {
        let db = &t.db;
        let d = db.driver();
        d.register_worker("w").await.unwrap();
        let key = EnqueueOptions::unique("once");
        let Enqueued::New(first) = insert(db, 1, &key).await else {
            panic!("a new job")
        };
        assert_eq!(insert(db, 2, &key).await, Enqueued::Duplicate);
        let later = EnqueueOptions {
            run_at: Some(Utc::now() + chrono::Duration::minutes(10)),
            ..EnqueueOptions::default()
        };
        let Enqueued::New(scheduled) = insert(db, 3, &later).await else {
            panic!("a new job")
        };
        let claimed = d.claim(QUEUE, "w", 10).await.unwrap();
        let ids: Vec<&str> = claimed.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids, [first.as_str()], "{:?}", t.backend());
        let job = &claimed[0];
        assert_eq!((job.attempts, job.max_attempts), (0, 3));
        assert_eq!(job.payload, br#"{"kind":"Noop","args":{"seq":1}}"#);
        // Due when enqueued, to the millisecond on both backends.
        let enqueued = crate::board::search::enqueued_at(&first);
        assert!(
            (job.due_at - enqueued).num_milliseconds().abs() <= 1_000,
            "{:?}: due {} enqueued {}",
            t.backend(),
            job.due_at,
            enqueued
        );
        let waiting = admin::find(db, &scheduled).await.unwrap().unwrap();
        assert_eq!(waiting.state, JobState::Scheduled);
        t.drop_database().await;
    }
}

#[tokio::test]
async fn a_bulk_insert_counts_its_jobs_and_each_is_claimed_once() {
    for t in TestDb::all().await {
        let db = &t.db;
        let d = db.driver();
        let payloads: Vec<Vec<u8>> = (0..1_200)
            .map(|seq| format!(r#"{{"kind":"Noop","args":{{"seq":{seq}}}}}"#).into_bytes())
            .collect();
        let mut tx = db.begin().await.unwrap();
        let inserted = d
            .insert_many(tx.inner_mut(), QUEUE, &payloads, 3)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(inserted, 1_200, "{:?}", t.backend());
        d.register_worker("a").await.unwrap();
        d.register_worker("b").await.unwrap();
        let (a, b) = tokio::join!(d.claim(QUEUE, "a", 700), d.claim(QUEUE, "b", 700));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.len() + b.len(), 1_200, "{:?}", t.backend());
        let mut ids: Vec<&str> = a.iter().chain(&b).map(|j| j.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 1_200, "no job claimed twice");
        assert!(d.claim(QUEUE, "a", 10).await.unwrap().is_empty());
        t.drop_database().await;
    }
}

#[tokio::test]
async fn outcomes_finish_retry_or_kill_their_jobs_and_record_every_attempt() {
    for t in TestDb::all().await {
        let db = &t.db;
        let d = db.driver();
        let mut ids = Vec::new();
        for seq in 0..3 {
            let Enqueued::New(id) = insert(db, seq, &EnqueueOptions::default()).await else {
                panic!("a new job")
            };
            ids.push(id);
        }
        d.register_worker("w").await.unwrap();
        assert_eq!(d.claim(QUEUE, "w", 3).await.unwrap().len(), 3);
        let retry_at = Utc::now() + chrono::Duration::minutes(5);
        let mut retry = completion(&ids[1], "w", "Pending");
        retry.run_at = Some(retry_at);
        let written = d
            .complete(&[
                completion(&ids[0], "w", "Done"),
                retry,
                completion(&ids[2], "w", "Killed"),
                // Another worker's word on a job it does not hold is dropped.
                completion(&ids[0], "intruder", "Killed"),
            ])
            .await
            .unwrap();
        assert_eq!(written, [true, true, true, false], "{:?}", t.backend());
        let states: Vec<JobState> = {
            let mut out = Vec::new();
            for id in &ids {
                out.push(admin::find(db, id).await.unwrap().unwrap().state);
            }
            out
        };
        assert_eq!(
            states,
            [JobState::Done, JobState::Retrying, JobState::Dead],
            "{:?}",
            t.backend()
        );
        let retried = admin::find(db, &ids[1]).await.unwrap().unwrap();
        assert!(retried.run_at >= retry_at - chrono::Duration::seconds(1));
        assert_eq!(retried.worker, None, "a retry holds no worker");
        assert!(
            d.claim(QUEUE, "w", 3).await.unwrap().is_empty(),
            "a retry waits for its time"
        );
        for id in &ids {
            let attempts = admin::attempts(db, id).await.unwrap();
            assert_eq!(attempts.len(), 1, "{:?}: {id}", t.backend());
        }
        assert_eq!(
            admin::attempts(db, &ids[2]).await.unwrap()[0]
                .error
                .as_deref(),
            Some("boom")
        );
        t.drop_database().await;
    }
}

#[tokio::test]
async fn a_worker_gives_back_and_releases_only_its_own_jobs() {
    for t in TestDb::all().await {
        let db = &t.db;
        let d = db.driver();
        for seq in 0..4 {
            insert(db, seq, &EnqueueOptions::default()).await;
        }
        d.register_worker("a").await.unwrap();
        d.register_worker("b").await.unwrap();
        let a: Vec<String> = d
            .claim(QUEUE, "a", 2)
            .await
            .unwrap()
            .into_iter()
            .map(|j| j.id)
            .collect();
        let b: Vec<String> = d
            .claim(QUEUE, "b", 2)
            .await
            .unwrap()
            .into_iter()
            .map(|j| j.id)
            .collect();
        assert_eq!(d.put_back("a", &b).await.unwrap(), 0, "{:?}", t.backend());
        assert_eq!(d.put_back("a", &a[..1]).await.unwrap(), 1);
        assert_eq!(d.release_worker("b").await.unwrap(), 2);
        assert_eq!(d.release_worker("b").await.unwrap(), 0);
        let counts = admin::counts(db, QUEUE).await.unwrap();
        assert_eq!(counts.get(&JobState::Pending), Some(&3), "{counts:?}");
        assert_eq!(counts.get(&JobState::Running), Some(&1), "{counts:?}");
        for id in a.iter().chain(&b) {
            let job = admin::find(db, id).await.unwrap().unwrap();
            assert_eq!(job.attempts, 0, "giving back costs no attempt");
        }
        t.drop_database().await;
    }
}

#[tokio::test]
async fn a_rescue_counts_the_abandoned_attempt_and_keeps_its_reason() {
    for t in TestDb::all().await {
        let db = &t.db;
        let d = db.driver();
        for seq in 0..3 {
            insert(db, seq, &EnqueueOptions::default()).await;
        }
        d.register_worker("dead").await.unwrap();
        d.register_worker("alive").await.unwrap();
        let lost = d.claim(QUEUE, "dead", 2).await.unwrap();
        let kept = d.claim(QUEUE, "alive", 1).await.unwrap();
        let reason = r#"{"Err": "put back: gone"}"#;
        assert_eq!(
            d.rescue(&["dead".to_string()], reason).await.unwrap(),
            2,
            "{:?}",
            t.backend()
        );
        let job = admin::find(db, &lost[0].id).await.unwrap().unwrap();
        assert_eq!(job.state, JobState::Retrying);
        assert_eq!(job.attempts, 1);
        assert_eq!(job.last_error.as_deref(), Some("put back: gone"));
        let job = admin::find(db, &kept[0].id).await.unwrap().unwrap();
        assert_eq!(job.state, JobState::Running);
        t.drop_database().await;
    }
}

#[tokio::test]
async fn finished_attempts_are_grouped_by_queue_and_minute_with_their_pickups() {
    for t in TestDb::all().await {
        let db = &t.db;
        let d = db.driver();
        let from = DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let at = |secs: i64| from + chrono::Duration::seconds(secs);
        let rows = [
            ("j1", "done", at(10), at(11), Some(at(9))),
            ("j2", "retry", at(20), at(21), None),
            ("j3", "done", at(61), at(62), Some(at(60))),
            ("j4", "done", at(3_700), at(3_701), Some(at(3_699))),
        ];
        for (id, outcome, started, finished, due) in rows {
            insert_attempt(db, id, outcome, started, finished, due).await;
        }
        let mut groups = d.attempt_minutes(from, at(3_600)).await.unwrap();
        groups.sort();
        assert_eq!(
            groups,
            [
                (QUEUE.to_string(), 0, 1, 1, vec![1_000_000]),
                (QUEUE.to_string(), 1, 1, 0, vec![1_000_000]),
            ],
            "{:?}",
            t.backend()
        );
        t.drop_database().await;
    }
}

async fn insert_attempt(
    db: &Db,
    id: &str,
    outcome: &str,
    started: DateTime<Utc>,
    finished: DateTime<Utc>,
    due: Option<DateTime<Utc>>,
) {
    crate::on_pool!(db, |p| {
        sqlx::query(
        "INSERT INTO job_attempts (job_id, attempt, queue, kind, worker, started_at, finished_at, outcome, error, due_at) \
         VALUES ($1, 1, $2, 'Noop', 'w', $3, $4, $5, NULL, $6)"
    )
    .bind(id)
    .bind(QUEUE)
    .bind(started)
    .bind(finished)
    .bind(outcome)
    .bind(due)
    .execute(p)
    .await
    .unwrap()
    .rows_affected()
    });
}

#[tokio::test]
async fn a_driver_that_can_follow_other_processes_inserts_wakes_the_queue() {
    use futures::StreamExt;
    // PostgreSQL only: SQLite serves one process, whose enqueues wake it after commit.
    let Some(t) = TestDb::postgres().await else {
        return;
    };
    let db = &t.db;
    let other = Db::connect(&secrecy::SecretString::from(t.url.clone()), 1)
        .await
        .unwrap();
    let mut wakes = db.wake_hub().stream(QUEUE, Duration::from_secs(3_600));
    db.driver().follow_inserts(db.wake_hub().clone());
    // Inserted by another handle (another process): only the notification can tell.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut woken = false;
    while !woken && tokio::time::Instant::now() < deadline {
        insert(&other, 1, &EnqueueOptions::default()).await;
        woken = tokio::time::timeout(Duration::from_millis(500), wakes.next())
            .await
            .is_ok();
    }
    assert!(woken, "the insert of another process woke nobody");
    other.close().await;
    t.drop_database().await;
}
