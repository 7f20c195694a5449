//! Scaling out on one PostgreSQL: one API, three workers and two schedulers, each a separate
//! `zencall` process. 10,000 jobs and a fast cron schedule go through them; every job runs to
//! completion exactly once, and every cron tick gives exactly one job, even after one
//! scheduler is killed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use reqwest::StatusCode;
use zencall_core::jobs::QueueName;
use zencall_core::store::Pool;
use zencall_core::store::test_db::TestDb;
use zencall_queue::Job;
use zencall_queue::Noop;
use zencall_queue::facade::{encode, enqueue_many_raw};

use crate::spawned::{Spawned, client, zencall_json};

const JOBS: u64 = 10_000;
/// The fast cron schedule, through its documented key: every two seconds.
const TICK_SECS: i64 = 2;
const RESCUE_CRON: &str = "*/2 * * * * *";

/// A `zencall` role on `url` with JSON logs.
fn role(url: &str, args: &[&str]) -> Spawned {
    let mut c = zencall_json(args);
    c.env("ZENCALL__DATABASE__URL", url)
        .env("ZENCALL__DATABASE__MAX_CONNECTIONS", "8")
        .env("ZENCALL__QUEUE__POLL_INTERVAL_MS", "200")
        .env("ZENCALL__SCHEDULER__RESCUE_STUCK_JOBS_CRON", RESCUE_CRON);
    Spawned::spawn(c)
}

/// Waits until `url/readyz` answers 200.
async fn await_ready(url: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(r) = client().get(format!("{url}/readyz")).send().await
            && r.status() == StatusCode::OK
        {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{url} never ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The tick times (epoch seconds) of the rescue-stuck-jobs jobs, with their job ids.
async fn cron_ticks(pool: &sqlx::PgPool) -> BTreeMap<i64, Vec<String>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT idempotency_key, id FROM apalis.jobs WHERE idempotency_key LIKE 'cron:rescue-stuck-jobs:%'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut ticks: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for (key, id) in rows {
        let tick: i64 = key.rsplit(':').next().unwrap().parse().unwrap();
        ticks.entry(tick).or_default().push(id);
    }
    ticks
}

/// Waits until `done` holds, checking every 200 ms; fails after `secs` with `what`.
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
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn three_workers_and_two_schedulers_run_every_job_once_and_every_cron_tick_once() {
    let Some(t) = TestDb::postgres().await else {
        return;
    };
    let Pool::Postgres(pool) = t.db.pool().clone() else {
        unreachable!("a PostgreSQL test database")
    };
    // Every child is killed when its `Spawned` is dropped, on success or failure alike.
    let mut api = role(&t.url, &["api", "--port", "0"]);
    let mut workers: Vec<Spawned> = (0..3)
        .map(|_| {
            role(
                &t.url,
                &[
                    "worker",
                    "--queues",
                    "bench,maintenance",
                    "--concurrency",
                    "25",
                ],
            )
        })
        .collect();
    let mut schedulers: Vec<Spawned> = (0..2).map(|_| role(&t.url, &["scheduler"])).collect();
    let api_url = format!(
        "http://{}",
        api.wait_for_message("API listening", 120).await["fields"]["addr"]
            .as_str()
            .unwrap()
    );
    let mut urls = vec![api_url.clone()];
    for p in workers.iter_mut().chain(schedulers.iter_mut()) {
        urls.push(p.ops_url().await);
    }
    for url in &urls {
        await_ready(url).await;
    }

    // 10,000 jobs at once, woken across processes by LISTEN/NOTIFY.
    let payloads: Vec<Vec<u8>> = (0..JOBS)
        .map(|seq| encode(&Noop { seq }).unwrap())
        .collect();
    let mut tx = t.db.begin().await.unwrap();
    let pushed = enqueue_many_raw(&mut tx, Noop::QUEUE, payloads, 3)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(pushed, JOBS);
    wait_until(100, "every job done", || {
        let pool = pool.clone();
        async move {
            let done: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM apalis.jobs WHERE job_type = 'bench' AND status = 'Done'",
            )
            .fetch_one(&pool)
            .await
            .map_err(|e| e.to_string())?;
            if done == JOBS as i64 {
                Ok(())
            } else {
                Err(format!("{done} of {JOBS} done"))
            }
        }
    })
    .await;

    // The cron keeps ticking with one scheduler killed outright.
    wait_until(60, "three cron ticks", || {
        let pool = pool.clone();
        async move {
            let n = cron_ticks(&pool).await.len();
            if n >= 3 {
                Ok(())
            } else {
                Err(format!("{n} ticks"))
            }
        }
    })
    .await;
    let mut killed = schedulers.remove(0);
    killed.child.kill().await.unwrap();
    let killed_at = chrono::Utc::now().timestamp();
    wait_until(60, "three ticks after a scheduler was killed", || {
        let pool = pool.clone();
        async move {
            let after = cron_ticks(&pool)
                .await
                .keys()
                .filter(|tick| **tick > killed_at)
                .count();
            if after >= 3 {
                Ok(())
            } else {
                Err(format!("{after} ticks since"))
            }
        }
    })
    .await;
    let metrics = client()
        .get(format!("{api_url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    // Stop gracefully: the schedulers first, then the workers once the last tick's job ran.
    for p in schedulers {
        p.terminate().await;
    }
    wait_until(60, "every cron job done", || {
        let pool = pool.clone();
        async move {
            let open: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM apalis.jobs WHERE idempotency_key LIKE 'cron:rescue-stuck-jobs:%' AND status <> 'Done'",
            )
            .fetch_one(&pool)
            .await
            .map_err(|e| e.to_string())?;
            if open == 0 { Ok(()) } else { Err(format!("{open} not done")) }
        }
    })
    .await;
    for p in workers.into_iter().chain([api]) {
        p.terminate().await;
    }

    // Every job ran to completion, none lost, none completed twice.
    let jobs: Vec<(String, String)> =
        sqlx::query_as("SELECT id, status FROM apalis.jobs WHERE job_type = 'bench'")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(jobs.len() as u64, JOBS, "no job lost or added");
    assert!(jobs.iter().all(|(_, status)| status == "Done"));
    let attempts: Vec<(String, String, String)> =
        sqlx::query_as("SELECT job_id, outcome, worker FROM job_attempts WHERE queue = 'bench'")
            .fetch_all(&pool)
            .await
            .unwrap();
    let mut done_per_job: BTreeMap<&str, u32> = BTreeMap::new();
    let mut per_worker: BTreeMap<&str, u32> = BTreeMap::new();
    for (job, outcome, worker) in &attempts {
        assert_eq!(outcome, "done", "a no-op never fails: {job}");
        *done_per_job.entry(job.as_str()).or_default() += 1;
        *per_worker.entry(worker.as_str()).or_default() += 1;
    }
    assert_eq!(done_per_job.len() as u64, JOBS, "every job has its attempt");
    let twice: Vec<_> = done_per_job.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "completed twice: {twice:?}");
    let ids: BTreeSet<&str> = jobs.iter().map(|(id, _)| id.as_str()).collect();
    assert!(done_per_job.keys().all(|id| ids.contains(id)));
    assert_eq!(per_worker.len(), 3, "each worker ran jobs: {per_worker:?}");

    // Every tick from the first to the last gave exactly one job, which ran once.
    let ticks = cron_ticks(&pool).await;
    let (first, last) = (
        *ticks.keys().next().unwrap(),
        *ticks.keys().next_back().unwrap(),
    );
    let expected: Vec<i64> = (first..=last).step_by(TICK_SECS as usize).collect();
    assert_eq!(
        ticks.keys().copied().collect::<Vec<_>>(),
        expected,
        "no tick missed"
    );
    for (tick, ids) in &ticks {
        assert_eq!(ids.len(), 1, "tick {tick}: {ids:?}");
        let done: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM job_attempts WHERE job_id = $1 AND outcome = 'done'",
        )
        .bind(&ids[0])
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(done, 1, "tick {tick} ran once");
    }
    // The shared table seen from the API: nothing left to run on the bench queue.
    let bench = QueueName::Bench.as_str();
    for state in ["pending", "running", "retrying", "dead"] {
        let line = format!("zencall_jobs{{queue=\"{bench}\",state=\"{state}\"}} 0");
        assert!(metrics.contains(&line), "{line}:\n{metrics}");
    }
    drop(killed);
    t.drop_database().await;
}
