//! The worker registry: every worker replica (one `zencall worker` or `zencall up` process)
//! records itself in `worker_replicas` when its runner starts, beats every heartbeat period
//! and notes a clean shutdown, so the board can list replicas as alive, dead or stopped with
//! the jobs each one holds, and so that live replicas can tell whose jobs to rescue. apalis's
//! `workers` table, which the jobs table's lock holder refers to, has one row per queue worker
//! and no notion of a process, a host or a shutdown.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::db::{Db, StoreError};
use crate::driver::sql::Sql;

/// Days a stopped or dead replica stays listed before the prune job deletes it.
pub const RETAIN_DAYS: i64 = 7;

/// Whether a replica is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplicaStatus {
    /// Beating.
    Alive,
    /// Silent for longer than its heartbeat period times its missed heartbeats.
    Dead,
    /// Shut down cleanly.
    Stopped,
}

/// One worker replica as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct ReplicaRecord {
    /// Unique name: host, pid and a random suffix; its queue workers are `{name}-{queue}`.
    pub name: String,
    /// Host name.
    pub host: String,
    /// Process id on the host.
    pub pid: i64,
    /// Queues it serves.
    pub queues: Vec<String>,
    /// Jobs at once per queue.
    pub concurrency: i64,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Its last heartbeat.
    pub heartbeat_at: DateTime<Utc>,
    /// When it shut down cleanly, if it did.
    pub stopped_at: Option<DateTime<Utc>>,
    /// Jobs it holds (claimed or running).
    pub in_flight: i64,
    /// Alive, dead or stopped.
    pub status: ReplicaStatus,
}

/// What a runner says about itself at each heartbeat.
#[derive(Debug, Clone)]
pub(crate) struct Beat<'a> {
    pub name: &'a str,
    pub host: &'a str,
    pub pid: i64,
    pub queues: &'a [&'a str],
    pub concurrency: i64,
    pub dead_after_secs: i64,
}

/// Records that the replica is alive at `now`, creating its row on the first beat.
pub(crate) async fn beat(db: &Db, b: &Beat<'_>, now: DateTime<Utc>) -> Result<(), StoreError> {
    let now = crate::db::now_micros(now);
    crate::on_pool!(db, |p| {
        sqlx::query(
        "INSERT INTO worker_replicas (name, host, pid, queues, concurrency, dead_after_secs, started_at, heartbeat_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
         ON CONFLICT (name) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, stopped_at = NULL",
    )
    .bind(b.name)
    .bind(b.host)
    .bind(b.pid)
    .bind(b.queues.join(","))
    .bind(b.concurrency)
    .bind(b.dead_after_secs)
    .bind(now)
    .execute(p)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Records a clean shutdown.
pub(crate) async fn stopped(db: &Db, name: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
    let now = crate::db::now_micros(now);
    crate::on_pool!(db, |p| sqlx::query(
        "UPDATE worker_replicas SET stopped_at = $2, heartbeat_at = $2 WHERE name = $1"
    )
    .bind(name)
    .bind(now)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

type Row = (
    String,
    String,
    i64,
    String,
    i64,
    i64,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    i64,
);

fn status_of(
    heartbeat_at: DateTime<Utc>,
    dead_after_secs: i64,
    stopped_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> ReplicaStatus {
    if stopped_at.is_some() {
        ReplicaStatus::Stopped
    } else if now - heartbeat_at > chrono::Duration::seconds(dead_after_secs) {
        ReplicaStatus::Dead
    } else {
        ReplicaStatus::Alive
    }
}

/// Every replica seen, alive first, then by name.
pub async fn list(db: &Db, now: DateTime<Utc>) -> Result<Vec<ReplicaRecord>, StoreError> {
    // The queue workers of a replica are `{replica}-{queue}` and `{replica}-{queue}-r{n}`.
    // The held jobs (few: the partial index of migration 0022 holds only them) are counted
    // once per holder, then summed per replica, rather than read again for every replica
    // ever recorded. `MATERIALIZED` makes that true: PostgreSQL otherwise inlines a CTE used
    // once into the subquery, which then ran the count again for each replica row; under
    // load (an index full of entries for jobs claimed and finished since the last vacuum)
    // that took about a second for 49 replicas, every heartbeat.
    const SELECT: &str = "WITH held AS MATERIALIZED (SELECT lock_by, COUNT(*) AS n FROM {jobs} \
         WHERE status IN ('Queued', 'Running') AND lock_by IS NOT NULL GROUP BY lock_by) \
         SELECT r.name, r.host, r.pid, r.queues, r.concurrency, r.dead_after_secs, \
         r.started_at, r.heartbeat_at, r.stopped_at, \
         (SELECT CAST(COALESCE(SUM(h.n), 0) AS BIGINT) FROM held h WHERE h.lock_by LIKE r.name || '-%') \
         FROM worker_replicas r";
    let sql = Sql::new(db.backend());
    let rows: Vec<Row> = sql
        .fetch_all(db, SELECT.replace("{jobs}", sql.jobs_table()))
        .await?;
    let mut replicas: Vec<ReplicaRecord> = rows
        .into_iter()
        .map(
            |(
                name,
                host,
                pid,
                queues,
                concurrency,
                dead_after_secs,
                started_at,
                heartbeat_at,
                stopped_at,
                in_flight,
            )| ReplicaRecord {
                status: status_of(heartbeat_at, dead_after_secs, stopped_at, now),
                name,
                host,
                pid,
                queues: queues
                    .split(',')
                    .filter(|q| !q.is_empty())
                    .map(str::to_string)
                    .collect(),
                concurrency,
                started_at,
                heartbeat_at,
                stopped_at,
                in_flight,
            },
        )
        .collect();
    replicas.sort_by(|a, b| {
        (a.status != ReplicaStatus::Alive, &a.name)
            .cmp(&(b.status != ReplicaStatus::Alive, &b.name))
    });
    Ok(replicas)
}

/// Deletes replicas stopped or dead since before `before`; returns how many.
pub async fn prune(db: &Db, before: DateTime<Utc>) -> Result<u64, StoreError> {
    // Replicas are few: decide in Rust, where "dead since" (last heartbeat plus the replica's
    // own allowance) is the same on both backends, and delete each row only if it has not
    // beaten since it was read.
    type Gone = (String, i64, DateTime<Utc>, Option<DateTime<Utc>>);
    let rows: Vec<Gone> = crate::on_pool!(db, |p| sqlx::query_as(
        "SELECT name, dead_after_secs, heartbeat_at, stopped_at FROM worker_replicas"
    )
    .fetch_all(p)
    .await)?;
    let mut deleted = 0;
    for (name, dead_after_secs, heartbeat_at, stopped_at) in rows {
        let gone_since =
            stopped_at.unwrap_or(heartbeat_at + chrono::Duration::seconds(dead_after_secs));
        if gone_since >= before {
            continue;
        }
        deleted += crate::on_pool!(db, |p| sqlx::query(
            "DELETE FROM worker_replicas WHERE name = $1 AND heartbeat_at = $2"
        )
        .bind(&name)
        .bind(heartbeat_at)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::db::Pool;
    use crate::test_db::TestDb;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn beat_of<'a>(name: &'a str, queues: &'a [&'a str]) -> Beat<'a> {
        Beat {
            name,
            host: "web-1",
            pid: 42,
            queues,
            concurrency: 8,
            dead_after_secs: 15,
        }
    }

    #[tokio::test]
    async fn replicas_are_alive_dead_or_stopped_with_the_jobs_they_hold() {
        for t in TestDb::all().await {
            let db = &t.db;
            let t0 = at("2026-11-23T10:00:00Z");
            beat(db, &beat_of("b-host-1-aa", &["bench", "maintenance"]), t0)
                .await
                .unwrap();
            beat(db, &beat_of("a-host-2-bb", &["bench"]), t0)
                .await
                .unwrap();
            beat(db, &beat_of("c-host-3-cc", &["bench"]), t0)
                .await
                .unwrap();
            let t1 = t0 + chrono::Duration::seconds(10);
            beat(db, &beat_of("b-host-1-aa", &["bench", "maintenance"]), t1)
                .await
                .unwrap();
            stopped(db, "c-host-3-cc", t1).await.unwrap();
            // Two jobs held by b's queue workers (one restarted), one done, one of another
            // replica whose name starts the same way but is not b's.
            let held = [
                ("j1", "b-host-1-aa-bench", "Running"),
                ("j2", "b-host-1-aa-maintenance-r1", "Queued"),
                ("j3", "b-host-1-aa-bench", "Done"),
                ("j4", "b-host-1-aab-bench", "Running"),
            ];
            for (id, worker, status) in held {
                match db.pool() {
                    Pool::Postgres(p) => {
                        sqlx::query("INSERT INTO apalis.workers (id, worker_type, storage_name, layers, last_seen) VALUES ($1, 'bench', 'x', '', now()) ON CONFLICT DO NOTHING").bind(worker).execute(p).await.unwrap();
                        sqlx::query("INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority, lock_by) VALUES ($1, 'bench', '\\x7b7d', $2, 0, 3, now(), 0, $3)").bind(id).bind(status).bind(worker).execute(p).await.unwrap();
                    }
                    Pool::Sqlite(p) => {
                        sqlx::query("INSERT INTO Workers (id, worker_type, storage_name, layers, last_seen) VALUES ($1, 'bench', 'x', '', strftime('%s', 'now')) ON CONFLICT DO NOTHING").bind(worker).execute(p).await.unwrap();
                        sqlx::query("INSERT INTO Jobs (id, job_type, job, status, attempts, max_attempts, run_at, priority, lock_by) VALUES ($1, 'bench', X'7b7d', $2, 0, 3, strftime('%s', 'now'), 0, $3)").bind(id).bind(status).bind(worker).execute(p).await.unwrap();
                    }
                }
            }
            // 20 s after t0: a's last beat is older than its 15 s allowance, b's is not.
            let now = t0 + chrono::Duration::seconds(20);
            let listed = list(db, now).await.unwrap();
            let summary: Vec<_> = listed
                .iter()
                .map(|r| (r.name.as_str(), r.status, r.in_flight))
                .collect();
            assert_eq!(
                summary,
                [
                    ("b-host-1-aa", ReplicaStatus::Alive, 2),
                    ("a-host-2-bb", ReplicaStatus::Dead, 0),
                    ("c-host-3-cc", ReplicaStatus::Stopped, 0),
                ],
                "{:?}",
                t.backend()
            );
            let b = &listed[0];
            assert_eq!(b.queues, ["bench", "maintenance"]);
            assert_eq!((b.host.as_str(), b.pid, b.concurrency), ("web-1", 42, 8));
            assert_eq!((b.started_at, b.heartbeat_at), (t0, t1));
            assert_eq!(listed[2].stopped_at, Some(t1));
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn a_runner_records_itself_beats_and_notes_its_clean_shutdown() {
        use crate::runtime::runner::{Registry, Runner, RunnerSettings};
        use std::time::Duration;

        for t in TestDb::all().await {
            let db = &t.db;
            let settings = RunnerSettings {
                heartbeat: Duration::from_secs(1),
                missed_heartbeats: 4,
                concurrency: 3,
                ..RunnerSettings::default()
            };
            let runner = Runner::new(db.clone(), Registry::default(), settings);
            let name = runner.replica().to_string();
            let (stop, mut rx) = tokio::sync::watch::channel(false);
            let task = tokio::spawn(runner.run(
                &[crate::facade::BENCH_QUEUE, "maintenance"],
                async move {
                    let _ = rx.wait_for(|s| *s).await;
                },
            ));
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            let first = loop {
                let listed = list(db, Utc::now()).await.unwrap();
                if let Some(r) = listed.into_iter().next() {
                    break r;
                }
                assert!(tokio::time::Instant::now() < deadline, "never registered");
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            assert_eq!(first.name, name, "{:?}", t.backend());
            assert_eq!(first.queues, ["bench", "maintenance"]);
            assert_eq!(
                (first.concurrency, first.pid),
                (3, i64::from(std::process::id()))
            );
            assert_eq!(first.status, ReplicaStatus::Alive);
            assert!(name.starts_with(&format!("{}-{}-", first.host, first.pid)));
            // Dead only once 4 heartbeats of 1 s are missed.
            let silent = first.heartbeat_at + chrono::Duration::milliseconds(3900);
            assert_eq!(
                list(db, silent).await.unwrap()[0].status,
                ReplicaStatus::Alive
            );
            let silent = first.heartbeat_at + chrono::Duration::milliseconds(4100);
            assert_eq!(
                list(db, silent).await.unwrap()[0].status,
                ReplicaStatus::Dead
            );
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            loop {
                let now = list(db, Utc::now()).await.unwrap().remove(0);
                if now.heartbeat_at > first.heartbeat_at {
                    break;
                }
                assert!(tokio::time::Instant::now() < deadline, "never beat again");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let _ = stop.send(true);
            task.await.unwrap().unwrap();
            let last = list(db, Utc::now()).await.unwrap().remove(0);
            assert_eq!(last.status, ReplicaStatus::Stopped);
            assert!(last.stopped_at.is_some());
            assert_eq!(last.started_at, first.started_at);
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn pruning_deletes_only_replicas_gone_before_the_cut_off() {
        for t in TestDb::all().await {
            let db = &t.db;
            let t0 = at("2026-11-01T10:00:00Z");
            beat(db, &beat_of("dead", &["bench"]), t0).await.unwrap();
            beat(db, &beat_of("stopped", &["bench"]), t0).await.unwrap();
            stopped(db, "stopped", t0 + chrono::Duration::hours(1))
                .await
                .unwrap();
            beat(
                db,
                &beat_of("alive", &["bench"]),
                at("2026-11-23T10:00:00Z"),
            )
            .await
            .unwrap();
            let before = t0 + chrono::Duration::minutes(30);
            assert_eq!(prune(db, before).await.unwrap(), 1, "{:?}", t.backend());
            let before = at("2026-11-16T10:00:00Z");
            assert_eq!(prune(db, before).await.unwrap(), 1);
            let left = list(db, at("2026-11-23T10:00:01Z")).await.unwrap();
            assert_eq!(left.len(), 1);
            assert_eq!(left[0].name, "alive");
            assert_eq!(left[0].status, ReplicaStatus::Alive);
            t.drop_database().await;
        }
    }
}
