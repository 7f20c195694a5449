//! Chaos: worker processes killed outright (SIGKILL), again and again, while they drain a
//! backlog on PostgreSQL. Delivery is at least once: a killed attempt may run again, but no
//! job is lost and none finishes twice.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};
use zencall_core::jobs::QueueName;
use zencall_core::store::Pool;
use zencall_core::store::test_db::TestDb;
use zencall_queue::Noop;
use zencall_queue::facade::{encode, enqueue_many_raw};

const JOBS: i64 = 50_000;
const KILLS: usize = 20;
const WORKERS: usize = 3;

fn bench_worker(url: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_zencall"))
        .args(["worker", "--queues", "bench", "--concurrency", "8"])
        .env_remove("RUST_LOG")
        .env("ZENCALL__OPS__PORT", "0")
        .env("ZENCALL__DATABASE__URL", url)
        // A killed replica is dead after 2 s; the others rescue its jobs within a second.
        .env("ZENCALL__QUEUE__HEARTBEAT_SECS", "1")
        .env("ZENCALL__QUEUE__MISSED_HEARTBEATS", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

async fn count(pool: &sqlx::PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn every_job_finishes_exactly_once_while_workers_are_killed_again_and_again() {
    let Some(t) = TestDb::postgres().await else {
        return;
    };
    let Pool::Postgres(pool) = t.db.pool().clone() else {
        unreachable!("a PostgreSQL test database")
    };
    let payloads = (0..JOBS as u64)
        .map(|seq| encode(&Noop { seq }))
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let mut tx = t.db.begin().await.unwrap();
    enqueue_many_raw(&mut tx, QueueName::Bench.as_str(), payloads, 100)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let unfinished =
        "SELECT COUNT(*) FROM apalis.jobs WHERE job_type = 'bench' AND status <> 'Done'";
    let mut workers: Vec<Child> = (0..WORKERS).map(|_| bench_worker(&t.url)).collect();
    let mut kills_during_the_backlog = 0;
    for kill in 0..KILLS {
        // Irregular gaps, so kills land at every stage of a job's life.
        tokio::time::sleep(Duration::from_millis(150 + (kill as u64 * 97) % 300)).await;
        if count(&pool, unfinished).await > 0 {
            kills_during_the_backlog += 1;
        }
        let victim = kill % WORKERS;
        workers[victim].kill().await.unwrap();
        workers[victim] = bench_worker(&t.url);
    }

    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    loop {
        let left = count(&pool, unfinished).await;
        if left == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{left} jobs never finished"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for worker in &mut workers {
        worker.kill().await.unwrap();
    }

    assert_eq!(
        kills_during_the_backlog, KILLS,
        "every kill must land while jobs are left, or the test proves little"
    );
    let done = "SELECT COUNT(*) FROM apalis.jobs WHERE job_type = 'bench' AND status = 'Done'";
    assert_eq!(count(&pool, done).await, JOBS, "no job lost");
    let done_attempts =
        "SELECT COUNT(*) FROM job_attempts WHERE queue = 'bench' AND outcome = 'done'";
    assert_eq!(
        count(&pool, done_attempts).await,
        JOBS,
        "none finished twice"
    );
    let jobs_done = "SELECT COUNT(DISTINCT job_id) FROM job_attempts WHERE queue = 'bench' AND outcome = 'done'";
    assert_eq!(count(&pool, jobs_done).await, JOBS);
    let other_outcomes =
        "SELECT COUNT(*) FROM job_attempts WHERE queue = 'bench' AND outcome <> 'done'";
    assert_eq!(
        count(&pool, other_outcomes).await,
        0,
        "no-op jobs never fail"
    );
    // Kills did interrupt work: jobs held by a killed replica went back with the lost attempt
    // counted, and ran again.
    let rerun = "SELECT COUNT(*) FROM apalis.jobs WHERE job_type = 'bench' AND attempts > 1";
    let rerun = count(&pool, rerun).await;
    println!("{KILLS} kills, {rerun} of {JOBS} jobs ran again after a kill");
    assert!(rerun > 0, "no kill interrupted a job");
    t.drop_database().await;
}
