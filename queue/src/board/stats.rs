//! Queue statistics for the board: jobs per state in each queue, and from the attempt history
//! (`job_attempts`) of the last hour, minute by minute, how many attempts finished or failed
//! and how long due jobs waited for a worker (pickup latency: an attempt's start minus its
//! `due_at`).
//!
//! The hour is the 60 whole minutes ending with the current one. The done jobs are counted on
//! a partial index of done jobs by queue (migration 0006; an index-only count on PostgreSQL
//! once the table is vacuumed), so their count costs in proportion to their number: about
//! 40 ms for 900,000 done jobs on a 2-core machine. The other states are counted from the
//! partial index of unfinished jobs (migration 0005).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::Serialize;

use super::admin::JobState;
use super::search::Sql;
use crate::db::{Db, StoreError, now_micros};

/// Minutes in an overview.
pub const MINUTES: usize = 60;

/// One minute of one queue.
#[derive(Debug, Clone, Serialize)]
pub struct MinuteStats {
    /// Start of the minute.
    pub minute: DateTime<Utc>,
    /// Attempts that finished the job in this minute.
    pub done: i64,
    /// Attempts that failed in this minute (to be retried, or dead).
    pub failed: i64,
    /// Median pickup latency of the attempts that finished in this minute, in milliseconds.
    pub pickup_p50_ms: Option<f64>,
}

/// One queue at a glance.
#[derive(Debug, Clone, Serialize)]
pub struct QueueOverview {
    /// Queue.
    pub queue: String,
    /// Jobs per state; every state, zeros included.
    pub counts: BTreeMap<JobState, i64>,
    /// Exactly [`MINUTES`] minutes, oldest first, ending with the current minute.
    pub minutes: Vec<MinuteStats>,
    /// Attempts finished per minute over the last hour.
    pub throughput_per_minute: f64,
    /// Median pickup latency over the last hour, in milliseconds.
    pub pickup_p50_ms: Option<f64>,
    /// 95th percentile of the pickup latency over the last hour, in milliseconds.
    pub pickup_p95_ms: Option<f64>,
    /// Failed attempts (retry and dead) per attempt over the last hour.
    pub failure_rate: Option<f64>,
}

/// One entry per queue of `known` (each shown even when empty), then any other queue present
/// in the table, by name.
pub async fn overview(
    db: &Db,
    known: &[&str],
    now: DateTime<Utc>,
) -> Result<Vec<QueueOverview>, StoreError> {
    let now = now_micros(now);
    let current = now.duration_trunc(TimeDelta::minutes(1)).unwrap_or(now);
    let from = current - TimeDelta::minutes(MINUTES as i64 - 1);
    let until = current + TimeDelta::minutes(1);
    // Independent reads, each on a connection of its own.
    let (counts, attempts) =
        tokio::try_join!(state_counts(db, now), attempt_stats(db, from, until))?;

    let mut queues: Vec<String> = known.iter().map(|q| q.to_string()).collect();
    let mut others: Vec<String> = counts
        .keys()
        .filter(|q| !queues.contains(q))
        .cloned()
        .collect();
    others.sort();
    queues.extend(others);

    Ok(queues
        .into_iter()
        .map(|queue| {
            let mut state_counts: BTreeMap<JobState, i64> =
                JobState::ALL.into_iter().map(|s| (s, 0)).collect();
            if let Some(found) = counts.get(&queue) {
                for (state, n) in found {
                    *state_counts.entry(*state).or_insert(0) += n;
                }
            }
            let stats = attempts.get(&queue);
            let minutes = (0..MINUTES)
                .map(|i| {
                    let bucket = stats.and_then(|s| s.minutes.get(&(i as i64)));
                    MinuteStats {
                        minute: from + TimeDelta::minutes(i as i64),
                        done: bucket.map_or(0, |b| b.done),
                        failed: bucket.map_or(0, |b| b.failed),
                        pickup_p50_ms: bucket.and_then(|b| b.pickup_p50_ms),
                    }
                })
                .collect::<Vec<_>>();
            let total: i64 = minutes.iter().map(|m| m.done + m.failed).sum();
            let failed: i64 = minutes.iter().map(|m| m.failed).sum();
            QueueOverview {
                queue,
                counts: state_counts,
                throughput_per_minute: total as f64 / MINUTES as f64,
                pickup_p50_ms: stats.and_then(|s| s.pickup_p50_ms),
                pickup_p95_ms: stats.and_then(|s| s.pickup_p95_ms),
                failure_rate: (total > 0).then(|| failed as f64 / total as f64),
                minutes,
            }
        })
        .collect())
}

fn state_named(name: &str) -> Option<JobState> {
    JobState::ALL.into_iter().find(|s| s.as_str() == name)
}

/// Jobs per queue and state (only the non-zero ones).
async fn state_counts(
    db: &Db,
    now: DateTime<Utc>,
) -> Result<HashMap<String, Vec<(JobState, i64)>>, StoreError> {
    let (unfinished, done) = tokio::try_join!(
        crate::runtime::job_metrics::unfinished_counts(db, now),
        done_counts(db)
    )?;
    let mut counts: HashMap<String, Vec<(JobState, i64)>> = HashMap::new();
    for (queue, state, n) in unfinished {
        let entry = counts.entry(queue).or_default();
        if let Some(state) = state_named(&state) {
            entry.push((state, n));
        }
    }
    for (queue, n) in done {
        counts.entry(queue).or_default().push((JobState::Done, n));
    }
    Ok(counts)
}

/// Done jobs per queue (only queues holding jobs), counted on the partial index
/// `zencall_jobs_done_by_queue` (migration 0006), whose few distinct keys deduplicate well.
/// The queues are found by skipping from one to the next on that same index rather than
/// reading every row (the skip names its predicate, or no index on the queue alone applies).
async fn done_counts(db: &Db) -> Result<Vec<(String, i64)>, StoreError> {
    let jobs = Sql::new(db.backend()).jobs_table();
    let statement = format!(
        "WITH RECURSIVE queues(t) AS ( \
           SELECT MIN(job_type) FROM {jobs} WHERE status = 'Done' \
           UNION ALL \
           SELECT (SELECT MIN(job_type) FROM {jobs} WHERE status = 'Done' AND job_type > queues.t) \
           FROM queues WHERE queues.t IS NOT NULL) \
         SELECT t, (SELECT COUNT(*) FROM {jobs} WHERE job_type = t AND status = 'Done') FROM queues WHERE t IS NOT NULL"
    );
    let rows: Vec<(String, i64)> = crate::on_pool!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(
        statement.clone()
    ))
    .fetch_all(p)
    .await)?;
    Ok(rows.into_iter().filter(|(_, n)| *n > 0).collect())
}

#[derive(Debug, Default)]
struct Bucket {
    done: i64,
    failed: i64,
    pickup_p50_ms: Option<f64>,
}

#[derive(Debug, Default)]
struct QueueAttempts {
    /// By minute index from the start of the hour.
    minutes: HashMap<i64, Bucket>,
    pickup_p50_ms: Option<f64>,
    pickup_p95_ms: Option<f64>,
}

/// Attempts finished in `[from, until)`, per queue and minute. Percentiles are computed here
/// for both backends, interpolated as `percentile_cont` does: SQLite has no percentile
/// aggregate, and on PostgreSQL one array of pickups per queue and minute costs less than
/// sorting the hour's rows for `percentile_cont`, or reading them one by one.
async fn attempt_stats(
    db: &Db,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<HashMap<String, QueueAttempts>, StoreError> {
    let groups = db.driver().attempt_minutes(from, until).await?;
    let as_ms = |micros: &[i64]| -> Vec<f64> {
        micros
            .iter()
            .map(|us| (*us as f64 / 1000.0).max(0.0))
            .collect()
    };
    let mut out: HashMap<String, QueueAttempts> = HashMap::new();
    let mut hour_pickups: HashMap<String, Vec<f64>> = HashMap::new();
    for (queue, bucket, done, failed, pickups) in groups {
        let mut values = as_ms(&pickups);
        let bucket_stats = Bucket {
            done,
            failed,
            pickup_p50_ms: percentile_cont(&mut values, 0.5),
        };
        hour_pickups
            .entry(queue.clone())
            .or_default()
            .extend(values);
        out.entry(queue)
            .or_default()
            .minutes
            .insert(bucket, bucket_stats);
    }
    for (queue, mut values) in hour_pickups {
        if let Some(q) = out.get_mut(&queue) {
            q.pickup_p50_ms = percentile_cont(&mut values, 0.5);
            q.pickup_p95_ms = percentile_cont(&mut values, 0.95);
        }
    }
    Ok(out)
}

/// The `q` quantile of `values` with linear interpolation, as PostgreSQL's `percentile_cont`.
pub fn percentile_cont(values: &mut [f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let position = q.clamp(0.0, 1.0) * (values.len() - 1) as f64;
    let low = position.floor() as usize;
    let high = position.ceil() as usize;
    Some(values[low] + (values[high] - values[low]) * (position - low as f64))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::board::search::seed::{Seed, insert};
    use crate::test_db::TestDb;
    use serde_json::json;

    async fn attempt(
        db: &Db,
        (job, queue, outcome): (&str, &str, &str),
        due_at: Option<DateTime<Utc>>,
        started_at: DateTime<Utc>,
        finished_at: DateTime<Utc>,
    ) {
        crate::on_pool!(db, |p| {
            sqlx::query(
            "INSERT INTO job_attempts (job_id, attempt, queue, kind, worker, started_at, finished_at, outcome, error, due_at) \
             VALUES ($1, (SELECT COUNT(*) + 1 FROM job_attempts WHERE job_id = $1), $2, 'K', 'w1', $3, $4, $5, NULL, $6)"
        )
        .bind(job)
        .bind(queue)
        .bind(started_at)
        .bind(finished_at)
        .bind(outcome)
        .bind(due_at)
        .execute(p)
        .await
        .unwrap()
        .rows_affected()
        });
    }

    #[tokio::test]
    async fn the_overview_counts_every_state_and_buckets_the_last_hour_by_minute() {
        for t in TestDb::all().await {
            let db = &t.db;
            let b = t.backend();
            // 12:34:30: the current minute is 12:34, the hour starts at 11:35.
            let now = DateTime::parse_from_rfc3339("2026-11-23T12:34:30Z")
                .unwrap()
                .with_timezone(&Utc);
            let at = |m: i64, s: i64| now - TimeDelta::minutes(m) + TimeDelta::seconds(s);
            let later = now + TimeDelta::hours(1);
            let seed = |q: &'static str| Seed::new(at(100, 0), q, "K", json!({}));
            insert(
                db,
                &[
                    seed("dialing").with("Done", 1, at(100, 0)),
                    seed("dialing").with("Done", 1, at(100, 0)),
                    seed("dialing").with("Killed", 3, at(100, 0)),
                    seed("dialing").with("Pending", 0, later),
                    seed("dialing").with("Pending", 0, at(1, 0)),
                    seed("dialing").with("Failed", 2, later),
                    seed("dialing").with("Running", 0, at(1, 0)),
                    seed("dialing").with("Cancelled", 0, at(1, 0)),
                    seed("zz-custom").with("Done", 1, at(100, 0)),
                ],
            )
            .await;
            let ms = TimeDelta::milliseconds;
            // Current minute (12:34): two done with pickups 100 and 300 ms, one retry without due_at.
            attempt(
                db,
                ("a", "dialing", "done"),
                Some(at(0, -20)),
                at(0, -20) + ms(100),
                at(0, -10),
            )
            .await;
            attempt(
                db,
                ("b", "dialing", "done"),
                Some(at(0, -20)),
                at(0, -20) + ms(300),
                at(0, -5),
            )
            .await;
            attempt(db, ("c", "dialing", "retry"), None, at(0, -20), at(0, -1)).await;
            // 12:00: one dead with pickup 1 s.
            attempt(
                db,
                ("d", "dialing", "dead"),
                Some(at(34, -30)),
                at(34, -29),
                at(34, -28),
            )
            .await;
            // 11:35, the first minute of the hour: done, pickup 2 s.
            attempt(
                db,
                ("e", "dialing", "done"),
                Some(at(59, -30)),
                at(59, -28),
                at(59, -25),
            )
            .await;
            // 11:34:59, just before the hour: left out.
            attempt(
                db,
                ("f", "dialing", "done"),
                Some(at(60, -30)),
                at(60, -30),
                at(59, -31),
            )
            .await;
            // Another queue's attempt.
            attempt(
                db,
                ("g", "billing", "retry"),
                Some(at(1, -10)),
                at(1, -10),
                at(1, -9),
            )
            .await;

            let known = ["provisioning", "dialing", "analysis", "billing"];
            let all = overview(db, &known, now).await.unwrap();
            let names: Vec<&str> = all.iter().map(|q| q.queue.as_str()).collect();
            let mut expected = known.to_vec();
            expected.push("zz-custom");
            assert_eq!(names, expected, "{b:?}");
            let dialing = all.iter().find(|q| q.queue == "dialing").unwrap();
            let counts: Vec<(JobState, i64)> =
                dialing.counts.iter().map(|(s, n)| (*s, *n)).collect();
            assert_eq!(
                counts,
                vec![
                    (JobState::Scheduled, 1),
                    (JobState::Pending, 1),
                    (JobState::Running, 1),
                    (JobState::Retrying, 1),
                    (JobState::Dead, 1),
                    (JobState::Cancelled, 1),
                    (JobState::Done, 2),
                ],
                "{b:?}"
            );
            let provisioning = all.iter().find(|q| q.queue == "provisioning").unwrap();
            assert_eq!(provisioning.counts.len(), JobState::ALL.len());
            assert!(provisioning.counts.values().all(|n| *n == 0));
            assert_eq!(provisioning.minutes.len(), MINUTES);
            assert_eq!(provisioning.failure_rate, None);

            let m = &dialing.minutes;
            assert_eq!(m.len(), MINUTES, "{b:?}");
            assert_eq!(
                m[0].minute,
                DateTime::parse_from_rfc3339("2026-11-23T11:35:00Z").unwrap()
            );
            assert_eq!(
                m[59].minute,
                DateTime::parse_from_rfc3339("2026-11-23T12:34:00Z").unwrap()
            );
            assert_eq!((m[59].done, m[59].failed), (2, 1), "{b:?}");
            assert_eq!(m[59].pickup_p50_ms, Some(200.0), "{b:?}");
            assert_eq!(
                (m[25].done, m[25].failed, m[25].pickup_p50_ms),
                (0, 1, Some(1000.0)),
                "{b:?}: 12:00"
            );
            assert_eq!(
                (m[0].done, m[0].failed, m[0].pickup_p50_ms),
                (1, 0, Some(2000.0)),
                "{b:?}: 11:35"
            );
            let busy: i64 = m.iter().map(|x| x.done + x.failed).sum();
            assert_eq!(busy, 5, "{b:?}: the attempt before the hour is left out");
            assert!((dialing.throughput_per_minute - 5.0 / 60.0).abs() < 1e-9);
            assert_eq!(dialing.failure_rate, Some(2.0 / 5.0), "{b:?}");
            // Pickups of the hour: 100, 300, 1000, 2000 ms.
            assert_eq!(dialing.pickup_p50_ms, Some(650.0), "{b:?}");
            let p95 = dialing.pickup_p95_ms.unwrap();
            assert!((p95 - 1850.0).abs() < 1e-6, "{b:?}: {p95}");
            let billing = all.iter().find(|q| q.queue == "billing").unwrap();
            assert_eq!(billing.failure_rate, Some(1.0));
            assert_eq!(billing.pickup_p50_ms, Some(0.0));
            t.drop_database().await;
        }
    }

    #[test]
    fn percentiles_interpolate_like_postgresql() {
        assert_eq!(percentile_cont(&mut [], 0.5), None);
        assert_eq!(percentile_cont(&mut [7.0], 0.95), Some(7.0));
        assert_eq!(percentile_cont(&mut [4.0, 1.0, 3.0, 2.0], 0.5), Some(2.5));
        let mut hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        let p95 = percentile_cont(&mut hundred, 0.95).unwrap();
        assert!((p95 - 95.05).abs() < 1e-9, "{p95}");
    }
}
