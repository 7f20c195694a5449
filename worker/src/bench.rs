//! The queue benchmark (`zencall bench queue`), measured the way the peers measure theirs
//! (graphile-worker, BullMQ, River): N no-op jobs enqueued in bulk before the clock starts,
//! workers started with a total concurrency, the clock stopped at the last completion; then
//! pickup latency measured on idle workers, one job at a time (the pickup latency of a bulk
//! push only measures the queue's depth). It prints one line:
//! `peer=zencall backend=postgres jobs=N throughput_jobs_s=X pickup_p50_ms=Y pickup_p99_ms=Z`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use zencall_core::jobs::QueueName;
use zencall_core::store::{Backend, Db, Pool};
use zencall_queue::Noop;
use zencall_queue::backoff::Backoff;
use zencall_queue::board::admin;
use zencall_queue::facade::{encode, enqueue_many_raw};
use zencall_queue::runtime::runner::{Registry, Runner, RunnerSettings};
use zencall_queue::runtime::{pauses, replicas};
use zencall_queue::{EnqueueOptions, Enqueued, Job, enqueue};

/// Latency samples taken after the throughput run, by default.
pub const LATENCY_SAMPLES: u64 = 200;

/// What the benchmark measured.
#[derive(Debug, Clone)]
pub struct QueueReport {
    /// Backend measured.
    pub backend: Backend,
    /// Jobs in the throughput run.
    pub jobs: u64,
    /// Total worker concurrency.
    pub concurrency: usize,
    /// Worker processes sharing it.
    pub processes: usize,
    /// From the workers' start to the last job's recorded completion.
    pub elapsed: Duration,
    /// The bulk enqueue of the N jobs, before the clock started.
    pub enqueue: Duration,
    /// Pickup latencies on an idle worker, sorted.
    pub pickup: Vec<Duration>,
    /// Whether the connections to PostgreSQL are encrypted (`None` on SQLite). Over loopback,
    /// TLS costs about a third of the throughput; the peers' clients connect in plain text.
    pub tls: Option<bool>,
}

impl QueueReport {
    /// Jobs per second, end to end.
    pub fn throughput(&self) -> f64 {
        self.jobs as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    /// The `q` quantile of the pickup latency.
    pub fn pickup_quantile(&self, q: f64) -> Duration {
        if self.pickup.is_empty() {
            return Duration::ZERO;
        }
        let index = ((self.pickup.len() as f64 - 1.0) * q).round() as usize;
        self.pickup[index.min(self.pickup.len() - 1)]
    }
}

impl fmt::Display for QueueReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        write!(
            f,
            "peer=zencall backend={} jobs={} concurrency={} processes={} throughput_jobs_s={:.0} pickup_p50_ms={:.1} pickup_p99_ms={:.1} elapsed_s={:.2} enqueue_s={:.2} pickup_samples={}",
            self.backend.as_str(),
            self.jobs,
            self.concurrency,
            self.processes,
            self.throughput(),
            ms(self.pickup_quantile(0.5)),
            ms(self.pickup_quantile(0.99)),
            self.elapsed.as_secs_f64(),
            self.enqueue.as_secs_f64(),
            self.pickup.len(),
        )?;
        match self.tls {
            Some(tls) => write!(f, " tls={}", if tls { "on" } else { "off" }),
            None => Ok(()),
        }
    }
}

/// Whether `db`'s connections to PostgreSQL are encrypted; `None` on SQLite. The worker
/// processes of a multi-process run connect with the same URL, so the same answer holds for
/// them.
async fn connection_tls(db: &Db) -> anyhow::Result<Option<bool>> {
    Ok(match db.pool() {
        Pool::Postgres(p) => Some(
            sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                .fetch_one(p)
                .await?,
        ),
        Pool::Sqlite(_) => None,
    })
}

/// Runs the benchmark on `db` (migrated) with `jobs` jobs, `concurrency` slots and `prefetch`
/// jobs claimed ahead of them, then
/// `samples` pickups on idle workers.
pub async fn queue(
    db: Db,
    jobs: u64,
    concurrency: usize,
    prefetch: usize,
    samples: u64,
) -> anyhow::Result<QueueReport> {
    anyhow::ensure!(jobs > 0, "--jobs must be at least 1");
    anyhow::ensure!(concurrency > 0, "--concurrency must be at least 1");
    clear_bench_queue(&db).await?;

    let finished = Arc::new(AtomicU64::new(0));
    let (started_tx, mut started_rx) = mpsc::unbounded_channel::<(u64, Instant)>();
    let mut registry = Registry::default();
    let counter = finished.clone();
    registry.register::<Noop, _, _>(move |job, _run| {
        let counter = counter.clone();
        let started = started_tx.clone();
        async move {
            let _ = started.send((job.seq, Instant::now()));
            counter.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
    });
    let settings = RunnerSettings {
        backoff: Backoff {
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
        },
        job_timeout: Duration::from_secs(60),
        heartbeat: Duration::from_secs(5),
        missed_heartbeats: 3,
        poll_interval: Duration::from_secs(1),
        concurrency,
        prefetch,
        shutdown_timeout: Duration::from_secs(10),
        max_attempts: 3,
        pause_refresh: Duration::from_secs(1),
    };
    // The jobs wait in the queue before the workers and the clock start.
    let enqueue_time = enqueue_backlog(&db, jobs).await?;

    let runner = Runner::new(db.clone(), registry, settings);
    let (stop, stop_rx) = watch::channel(false);
    let t0 = Instant::now();
    let worker = tokio::spawn(
        runner.run(&[zencall_queue::facade::BENCH_QUEUE], async move {
            let mut rx = stop_rx;
            let _ = rx.wait_for(|s| *s).await;
        }),
    );
    while finished.load(Ordering::Relaxed) < jobs {
        tokio::time::sleep(Duration::from_millis(5)).await;
        anyhow::ensure!(
            !worker.is_finished(),
            "the workers stopped during the benchmark"
        );
    }
    // Handlers have run; wait for the last outcomes to be recorded.
    wait_until_done(&db, jobs, Duration::from_millis(5), || Ok(())).await?;
    let elapsed = t0.elapsed();
    while started_rx.try_recv().is_ok() {}

    // Pickup latency: one job at a time, each to idle workers.
    let mut pickup = Vec::new();
    for i in 0..samples {
        let seq = jobs + i;
        // Irregular gaps, so samples do not line up with any timer.
        tokio::time::sleep(Duration::from_millis(3 + (seq * 7919) % 17)).await;
        let sent = Instant::now();
        enqueue(&db, &Noop { seq }, EnqueueOptions::default(), 3).await?;
        loop {
            match tokio::time::timeout(Duration::from_secs(60), started_rx.recv()).await {
                Ok(Some((s, at))) if s == seq => {
                    pickup.push(at.duration_since(sent));
                    break;
                }
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => {
                    anyhow::bail!("a latency sample was not picked up within 60 s")
                }
            }
        }
    }
    pickup.sort();

    let _ = stop.send(true);
    worker.await??;
    clear_bench_queue(&db).await?;
    Ok(QueueReport {
        backend: db.backend(),
        jobs,
        concurrency,
        processes: 1,
        elapsed,
        enqueue: enqueue_time,
        pickup,
        tls: connection_tls(&db).await?,
    })
}

/// How a multi-process run starts its worker processes.
#[derive(Debug, Clone)]
pub struct WorkerProcesses {
    /// The `zencall` executable.
    pub program: std::path::PathBuf,
    /// The database URL the workers connect to (the same database as the benchmark's).
    pub database_url: String,
    /// How many worker processes share the total concurrency.
    pub count: usize,
}

/// Runs the benchmark with the jobs served by `processes.count` separate `zencall worker`
/// processes (PostgreSQL only), sharing `concurrency` slots. The workers start with the bench
/// queue paused and the clock starts when it is resumed, so their start-up is not measured.
/// Pickup latency is read from the attempts' recorded start times.
pub async fn queue_processes(
    db: Db,
    processes: WorkerProcesses,
    jobs: u64,
    concurrency: usize,
    prefetch: usize,
    samples: u64,
) -> anyhow::Result<QueueReport> {
    anyhow::ensure!(jobs > 0, "--jobs must be at least 1");
    anyhow::ensure!(
        processes.count > 0 && concurrency >= processes.count,
        "--concurrency must be at least --processes"
    );
    anyhow::ensure!(
        db.backend() == Backend::Postgres,
        "--processes needs PostgreSQL: SQLite serves one process only"
    );
    let queue = QueueName::Bench.as_str();
    clear_bench_queue(&db).await?;
    pauses::pause(&db, queue, "bench", chrono::Utc::now()).await?;
    let started = chrono::Utc::now() - chrono::Duration::seconds(1);
    let mut children = Vec::with_capacity(processes.count);
    for i in 0..processes.count {
        // The total concurrency, spread as evenly as it goes.
        let share = concurrency / processes.count + usize::from(i < concurrency % processes.count);
        let child = tokio::process::Command::new(&processes.program)
            .args([
                "worker",
                "--queues",
                queue,
                "--concurrency",
                &share.to_string(),
            ])
            .env("ZENCALL__DATABASE__URL", &processes.database_url)
            .env("ZENCALL__QUEUE__PREFETCH", prefetch.to_string())
            // The resume reaches the workers within 10 ms.
            .env("ZENCALL__QUEUE__PAUSE_REFRESH_MS", "10")
            .env("ZENCALL__OPS__PORT", "0")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        children.push(child);
    }
    let outcome = measure_processes(&db, &mut children, started, jobs, samples).await;
    for child in &mut children {
        stop_child(child).await;
    }
    let _ = pauses::resume(&db, queue).await;
    clear_bench_queue(&db).await?;
    let (elapsed, enqueue_time, pickup) = outcome?;
    Ok(QueueReport {
        backend: db.backend(),
        jobs,
        concurrency,
        processes: processes.count,
        elapsed,
        enqueue: enqueue_time,
        pickup,
        tls: connection_tls(&db).await?,
    })
}

/// The throughput run and the pickup samples of [`queue_processes`]: (elapsed, enqueue time,
/// sorted pickups).
async fn measure_processes(
    db: &Db,
    children: &mut [tokio::process::Child],
    started: chrono::DateTime<chrono::Utc>,
    jobs: u64,
    samples: u64,
) -> anyhow::Result<(Duration, Duration, Vec<Duration>)> {
    let queue = QueueName::Bench.as_str();
    // Every worker process is up when it has recorded its replica.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let alive = replicas::list(db, chrono::Utc::now())
            .await?
            .into_iter()
            .filter(|r| {
                r.status == replicas::ReplicaStatus::Alive
                    && r.started_at >= started
                    && r.queues.iter().any(|q| q == queue)
            })
            .count();
        if alive >= children.len() {
            break;
        }
        ensure_running(children)?;
        anyhow::ensure!(
            Instant::now() < deadline,
            "the worker processes did not start within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let enqueue_time = enqueue_backlog(db, jobs).await?;

    // The clock stops at the last completion the workers recorded, read once every job is
    // done: polling for it every few milliseconds would count the backlog again and again,
    // taking database time from the workers being measured.
    let t0 = chrono::Utc::now();
    pauses::resume(db, queue).await?;
    wait_until_done(db, jobs, Duration::from_millis(100), || {
        ensure_running(children)
    })
    .await?;
    let elapsed = (last_finished(db).await? - t0).to_std().unwrap_or_default();

    let mut pickup = Vec::new();
    for i in 0..samples {
        let seq = jobs + i;
        tokio::time::sleep(Duration::from_millis(3 + (seq * 7919) % 17)).await;
        let sent = chrono::Utc::now();
        let Enqueued::New(id) = enqueue(db, &Noop { seq }, EnqueueOptions::default(), 3).await?
        else {
            anyhow::bail!("a latency sample was refused as a duplicate");
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        let started_at = loop {
            if let Some(first) = admin::attempts(db, &id).await?.first() {
                break first.started_at;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "a latency sample was not picked up within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        pickup.push((started_at - sent).to_std().unwrap_or_default());
    }
    pickup.sort();
    Ok((elapsed, enqueue_time, pickup))
}

/// Enqueues the `jobs` no-op jobs of a run in one transaction; returns how long it took.
async fn enqueue_backlog(db: &Db, jobs: u64) -> anyhow::Result<Duration> {
    let payloads = (0..jobs)
        .map(|seq| encode(&Noop { seq }))
        .collect::<Result<Vec<_>, _>>()?;
    let started = Instant::now();
    let mut tx = db.begin().await?;
    enqueue_many_raw(&mut tx, Noop::QUEUE, payloads, 3).await?;
    tx.commit().await?;
    Ok(started.elapsed())
}

/// Waits until `jobs` bench jobs are recorded done, looking every `every` and checking
/// `alive` between looks.
async fn wait_until_done(
    db: &Db,
    jobs: u64,
    every: Duration,
    mut alive: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    loop {
        let counts = admin::counts(db, QueueName::Bench.as_str()).await?;
        if counts.get(&admin::JobState::Done).copied().unwrap_or(0) >= jobs as i64 {
            return Ok(());
        }
        alive()?;
        tokio::time::sleep(every).await;
    }
}

/// When the last attempt of the bench queue finished, as its worker recorded it.
async fn last_finished(db: &Db) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    const LAST: &str = "SELECT MAX(finished_at) FROM job_attempts WHERE queue = $1";
    let queue = QueueName::Bench.as_str();
    let last: Option<chrono::DateTime<chrono::Utc>> = match db.pool() {
        Pool::Postgres(p) => sqlx::query_scalar(LAST).bind(queue).fetch_one(p).await?,
        Pool::Sqlite(p) => sqlx::query_scalar(LAST).bind(queue).fetch_one(p).await?,
    };
    last.ok_or_else(|| anyhow::anyhow!("no attempt of the bench queue was recorded"))
}

fn ensure_running(children: &mut [tokio::process::Child]) -> anyhow::Result<()> {
    for child in children {
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("a worker process stopped during the benchmark ({status})");
        }
    }
    Ok(())
}

/// Asks a worker process to stop (SIGTERM), and kills it if it is still there after 15 s.
async fn stop_child(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id() {
        let _ = tokio::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await;
    }
    if tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

async fn clear_bench_queue(db: &Db) -> anyhow::Result<()> {
    let queue = Noop::QUEUE;
    match db.pool() {
        Pool::Postgres(p) => {
            sqlx::query("DELETE FROM job_attempts WHERE queue = $1")
                .bind(queue)
                .execute(p)
                .await?;
            sqlx::query("DELETE FROM apalis.jobs WHERE job_type = $1")
                .bind(queue)
                .execute(p)
                .await?;
            // Every run starts from the same tables: without it the dead versions of the
            // last run's rows (four per job) wait for autovacuum, and a run right after
            // another reads through them.
            sqlx::raw_sql("VACUUM apalis.jobs, job_attempts, job_search")
                .execute(p)
                .await?;
        }
        Pool::Sqlite(p) => {
            sqlx::query("DELETE FROM job_attempts WHERE queue = $1")
                .bind(queue)
                .execute(p)
                .await?;
            sqlx::query("DELETE FROM Jobs WHERE job_type = $1")
                .bind(queue)
                .execute(p)
                .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use zencall_core::store::test_db::TestDb;

    use super::*;

    #[tokio::test]
    async fn the_benchmark_runs_every_job_and_prints_the_peers_line() {
        for test in TestDb::all().await {
            let backend = test.backend();
            let name = backend.as_str();
            let report = queue(test.db.clone(), 40, 4, 2, 3).await.unwrap();
            assert_eq!(report.jobs, 40);
            assert_eq!(report.pickup.len(), 3);
            assert!(report.throughput() > 0.0);
            let line = report.to_string();
            assert!(
                line.starts_with(&format!(
                    "peer=zencall backend={name} jobs=40 concurrency=4 processes=1 throughput_jobs_s="
                )),
                "{line}"
            );
            assert!(line.contains(" pickup_p50_ms=") && line.contains(" pickup_p99_ms="));
            // Whether PostgreSQL's connections are encrypted is said, as it moves the figures.
            match backend {
                Backend::Sqlite => assert!(!line.contains(" tls="), "{line}"),
                Backend::Postgres => assert!(
                    line.ends_with(" tls=on") || line.ends_with(" tls=off"),
                    "{line}"
                ),
            }
            // The benchmark leaves no job behind.
            let counts = admin::counts(&test.db, QueueName::Bench.as_str())
                .await
                .unwrap();
            assert!(counts.values().all(|n| *n == 0), "{counts:?}");
            test.drop_database().await;
        }
    }
}
