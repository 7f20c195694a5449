//! What the queue tells Prometheus: per job kind, how long a due job waited for a worker and
//! how long its attempt ran, and how each attempt ended (recorded by the runner through the
//! `metrics` facade); and the jobs per queue and state, counted when `/metrics` is scraped.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::db::{Db, StoreError};
use crate::driver::sql::{Arg, Sql};

/// Histogram: seconds from when a job was due (its `run_at`: the enqueue time unless
/// scheduled or retried later) to the start of its attempt, by `queue` and `kind`. SQLite
/// keeps `run_at` in whole seconds, so there it is precise to a second.
pub const PICKUP_SECONDS: &str = "zencall_job_pickup_seconds";
/// Histogram: seconds one attempt ran (handler and outcome write), by `queue` and `kind`.
pub const RUN_SECONDS: &str = "zencall_job_run_seconds";
/// Counter: finished attempts by `queue`, `kind` and `outcome`: `done`, `retry` (a transient
/// failure, run again later: the retries) or `dead` (a permanent failure or the last attempt:
/// the jobs that died).
pub const ATTEMPTS_TOTAL: &str = "zencall_job_attempts_total";
/// Gauge: unfinished jobs in the table by `queue` and `state` (`scheduled`, `pending`,
/// `running`, `retrying`, `dead`, `cancelled`), counted at scrape time. Every replica reports the same
/// shared table: aggregate with `max`, not `sum`.
pub const JOBS: &str = "zencall_jobs";

/// The states [`JOBS`] reports. Done jobs are left out: they are most of the table, so
/// counting them would cost a scan per scrape; [`ATTEMPTS_TOTAL`] counts completions.
pub const REPORTED_STATES: [&str; 6] = [
    "scheduled",
    "pending",
    "running",
    "retrying",
    "dead",
    "cancelled",
];

/// Buckets of [`PICKUP_SECONDS`]: from a prompt wake-up (milliseconds) to a long backlog.
pub const PICKUP_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0,
];
/// Buckets of [`RUN_SECONDS`]: from a no-op to the default job timeout (300 s).
pub const RUN_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// Describes the queue's metrics to the installed recorder.
pub fn describe() {
    metrics::describe_histogram!(
        PICKUP_SECONDS,
        metrics::Unit::Seconds,
        "Time from when a job was due to the start of its attempt"
    );
    metrics::describe_histogram!(
        RUN_SECONDS,
        metrics::Unit::Seconds,
        "Run time of one attempt of a job"
    );
    metrics::describe_counter!(
        ATTEMPTS_TOTAL,
        "Finished attempts by outcome: done, retry (retried later) or dead"
    );
    metrics::describe_gauge!(
        JOBS,
        "Unfinished jobs by queue and state, counted at scrape time (the same on every replica)"
    );
}

/// Records one finished attempt.
pub fn attempt_finished(
    queue: &'static str,
    kind: &str,
    outcome: &'static str,
    pickup: Duration,
    run: Duration,
) {
    let labels = [("queue", queue.to_string()), ("kind", kind.to_string())];
    metrics::histogram!(PICKUP_SECONDS, &labels).record(pickup.as_secs_f64());
    metrics::histogram!(RUN_SECONDS, &labels).record(run.as_secs_f64());
    metrics::counter!(ATTEMPTS_TOTAL, "queue" => queue, "kind" => kind.to_string(), "outcome" => outcome)
        .increment(1);
}

/// The state of a row as [`crate::board::admin::JobState`] names it, in SQL; `{now}` is the
/// caller's time, bound.
const STATE_CASE: &str = "CASE WHEN status = 'Killed' THEN 'dead' \
     WHEN status = 'Cancelled' THEN 'cancelled' \
     WHEN status IN ('Queued', 'Running') THEN 'running' \
     WHEN status NOT IN ('Pending', 'Failed') THEN 'other' \
     WHEN attempts > 0 THEN 'retrying' \
     WHEN run_at > {now} THEN 'scheduled' \
     ELSE 'pending' END";

/// Only unfinished rows, read from the partial index `zencall_jobs_unfinished` (migration
/// 0005), whose condition this must repeat word for word: the cost follows the number of
/// unfinished jobs, not the size of the table.
const UNFINISHED: &str = "status <> 'Done'";

/// Unfinished jobs per queue and state at `now`: `(queue, state, count)`, only the non-zero
/// ones. The board's overview counts them the same way.
pub async fn unfinished_counts(
    db: &Db,
    now: DateTime<Utc>,
) -> Result<Vec<(String, String, i64)>, StoreError> {
    let mut sql = Sql::new(db.backend());
    let now_p = sql.bind(Arg::Time(now));
    let statement = format!(
        "SELECT job_type, {state} AS state, COUNT(*) FROM {jobs} WHERE {UNFINISHED} GROUP BY 1, 2",
        state = STATE_CASE.replace("{now}", &now_p),
        jobs = sql.jobs_table(),
    );
    sql.fetch_all(db, statement).await
}
