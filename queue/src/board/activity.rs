//! A cheap fingerprint of the queue's visible state, so open board pages refresh only when
//! something changed. It reads the partial index of unfinished jobs, the newest job id, the
//! newest finished attempt, the paused queues and the replicas' heartbeats.

use std::hash::{DefaultHasher, Hash, Hasher};

use chrono::{DateTime, Utc};

use crate::db::{Db, StoreError};
use crate::driver::sql::Sql;
use crate::runtime::{job_metrics, pauses, replicas};

/// A number that changes whenever jobs are enqueued, change state or finish, a queue is
/// paused or resumed, or a replica beats, starts or stops.
pub async fn fingerprint(db: &Db, now: DateTime<Utc>) -> Result<u64, StoreError> {
    let mut counts = job_metrics::unfinished_counts(db, now).await?;
    counts.sort();
    let sql = Sql::new(db.backend());
    let statement = format!(
        "SELECT (SELECT MAX(id) FROM {jobs}), (SELECT {finished} FROM job_attempts)",
        jobs = sql.jobs_table(),
        finished = sql.time_text("MAX(finished_at)"),
    );
    let newest: Option<(Option<String>, Option<String>)> =
        sql.fetch_optional(db, statement).await?;
    let (newest_job, newest_attempt) = newest.unwrap_or_default();
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
