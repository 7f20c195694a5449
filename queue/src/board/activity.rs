//! A cheap fingerprint of the queue's visible state, so open board pages refresh only when
//! something changed. It reads the partial index of unfinished jobs, the newest job id, the
//! newest finished attempt, the paused queues and the replicas' heartbeats.

use std::hash::{DefaultHasher, Hash, Hasher};

use chrono::{DateTime, Utc};

use crate::db::{Db, Pool, StoreError};
use crate::runtime::{job_metrics, pauses, replicas};

/// A number that changes whenever jobs are enqueued, change state or finish, a queue is
/// paused or resumed, or a replica beats, starts or stops.
pub async fn fingerprint(db: &Db, now: DateTime<Utc>) -> Result<u64, StoreError> {
    let mut counts = job_metrics::unfinished_counts(db, now).await?;
    counts.sort();
    let (newest_job, newest_attempt): (Option<String>, Option<String>) = match db.pool() {
        Pool::Postgres(p) => (
            sqlx::query_scalar("SELECT MAX(id) FROM apalis.jobs")
                .fetch_one(p)
                .await?,
            sqlx::query_scalar("SELECT MAX(finished_at)::text FROM job_attempts")
                .fetch_one(p)
                .await?,
        ),
        Pool::Sqlite(p) => (
            sqlx::query_scalar("SELECT MAX(id) FROM Jobs")
                .fetch_one(p)
                .await?,
            sqlx::query_scalar("SELECT CAST(MAX(finished_at) AS TEXT) FROM job_attempts")
                .fetch_one(p)
                .await?,
        ),
    };
    let paused = pauses::list(db).await?;
    let replicas = replicas::list(db, now).await?;
    let mut hasher = DefaultHasher::new();
    counts.hash(&mut hasher);
    newest_job.hash(&mut hasher);
    newest_attempt.hash(&mut hasher);
    for p in &paused {
        p.queue.hash(&mut hasher);
    }
    for r in &replicas {
        r.name.hash(&mut hasher);
        r.heartbeat_at.hash(&mut hasher);
        r.stopped_at.hash(&mut hasher);
        r.in_flight.hash(&mut hasher);
    }
    Ok(hasher.finish())
}
