//! Queue controls across processes on one PostgreSQL: two `zencall worker` replicas stop
//! taking a queue's jobs while it is paused and take them again once it is resumed, and the
//! worker registry lists both replicas, alive, then stopped.

use std::time::Duration;

use chrono::Utc;
use reqwest::StatusCode;
use zencall_core::store::Pool;
use zencall_core::store::test_db::TestDb;
use zencall_queue::Job;
use zencall_queue::Noop;
use zencall_queue::facade::{encode, enqueue_many_raw};
use zencall_queue::runtime::pauses;
use zencall_queue::runtime::replicas::{self, ReplicaStatus};

use crate::spawned::{Spawned, client, zencall_json};

const JOBS: u64 = 40;

/// A `zencall worker` on `url` serving the bench queue.
fn worker(url: &str) -> Spawned {
    let mut c = zencall_json(&["worker", "--queues", "bench", "--concurrency", "4"]);
    c.env("ZENCALL__DATABASE__URL", url)
        .env("ZENCALL__DATABASE__MAX_CONNECTIONS", "4")
        .env("ZENCALL__QUEUE__POLL_INTERVAL_MS", "200")
        .env("ZENCALL__QUEUE__PAUSE_REFRESH_MS", "300");
    Spawned::spawn(c)
}

/// Waits until `done` holds, checking every 100 ms; fails after `secs` with `what`.
async fn wait_until<F, Fut>(secs: u64, what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        match done().await {
            Ok(()) => return,
            Err(state) => assert!(
                tokio::time::Instant::now() < deadline,
                "{what} never happened: {state}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Bench jobs per status.
async fn statuses(pool: &sqlx::PgPool) -> Vec<(String, i64)> {
    sqlx::query_as(
        "SELECT status, COUNT(*) FROM apalis.jobs WHERE job_type = 'bench' GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn two_worker_replicas_take_no_job_of_a_paused_queue_and_take_them_all_once_resumed() {
    let Some(t) = TestDb::postgres().await else {
        return;
    };
    let Pool::Postgres(pool) = t.db.pool().clone() else {
        unreachable!("a PostgreSQL test database")
    };
    let mut workers = vec![worker(&t.url), worker(&t.url)];
    for w in workers.iter_mut() {
        let url = w.ops_url().await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(r) = client().get(format!("{url}/readyz")).send().await
                && r.status() == StatusCode::OK
            {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{url} never ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    wait_until(60, "both replicas registered", || {
        let db = t.db.clone();
        async move {
            let listed = replicas::list(&db, Utc::now())
                .await
                .map_err(|e| e.to_string())?;
            let alive = listed
                .iter()
                .filter(|r| r.status == ReplicaStatus::Alive && r.queues == ["bench"])
                .count();
            if alive == 2 {
                Ok(())
            } else {
                Err(format!("{listed:?}"))
            }
        }
    })
    .await;

    // Paused from this process: the workers hear of it only through the database.
    assert!(
        pauses::pause(&t.db, "bench", "e2e", Utc::now())
            .await
            .unwrap()
    );
    let payloads: Vec<Vec<u8>> = (0..JOBS)
        .map(|seq| encode(&Noop { seq }).unwrap())
        .collect();
    let mut tx = t.db.begin().await.unwrap();
    enqueue_many_raw(&mut tx, Noop::QUEUE, payloads, 3)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // Many fallback polls (200 ms) and pause refreshes (300 ms) go by, and every insert was
    // announced to the workers by NOTIFY.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        statuses(&pool).await,
        [("Pending".to_string(), JOBS as i64)],
        "no job taken while paused"
    );
    let attempts: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM job_attempts WHERE queue = 'bench'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(attempts, 0, "no attempt started while paused");
    let held: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM apalis.jobs WHERE job_type = 'bench' AND (lock_by IS NOT NULL OR attempts > 0)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(held, 0, "no job left locked or with an attempt counted");

    assert!(pauses::resume(&t.db, "bench").await.unwrap());
    assert!(pauses::list(&t.db).await.unwrap().is_empty());
    wait_until(60, "every job done after the resume", || {
        let pool = pool.clone();
        async move {
            let s = statuses(&pool).await;
            if s == [("Done".to_string(), JOBS as i64)] {
                Ok(())
            } else {
                Err(format!("{s:?}"))
            }
        }
    })
    .await;
    let once: Vec<(String, i64)> = sqlx::query_as(
        "SELECT job_id, COUNT(*) FROM job_attempts WHERE queue = 'bench' GROUP BY 1 HAVING COUNT(*) <> 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(once.is_empty(), "each job ran exactly once: {once:?}");

    for w in workers.drain(..) {
        w.terminate().await;
    }
    let listed = replicas::list(&t.db, Utc::now()).await.unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(
        listed
            .iter()
            .all(|r| r.status == ReplicaStatus::Stopped && r.in_flight == 0),
        "{listed:?}"
    );
    t.drop_database().await;
}
