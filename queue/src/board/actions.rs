//! What the queue board does to jobs: retry, cancel or discard one job, or every job a filter
//! matches. Each statement re-checks the job's state in its WHERE clause, so a job a worker
//! fetched in the meantime is never touched; bulk actions go a batch at a time, each batch in
//! a transaction of its own, so a filter matching half a million jobs never holds one giant
//! transaction nor loads every id at once.

use chrono::{DateTime, Utc};

use super::admin::JobState;
use super::search::{Arg, JobFilter, Sql, and_all, filter_conditions, filter_searches};
use crate::db::{Db, StoreError, Tx, now_micros};

/// Jobs changed per transaction by [`apply_matching`].
pub const BATCH: usize = 1_000;

/// What `last_result` says of a cancelled job.
const CANCELLED_RESULT: &str = r#"{"Err": "cancelled from the queue board"}"#;

/// An action of the queue board on a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobAction {
    /// Run it again now: a dead job gets one more attempt, a scheduled one runs at once.
    Retry,
    /// Never run it (it stays visible as cancelled until pruned).
    Cancel,
    /// Delete it and its attempt history.
    Discard,
}

impl JobAction {
    /// Every action.
    pub const ALL: [JobAction; 3] = [JobAction::Retry, JobAction::Cancel, JobAction::Discard];

    /// Parses `retry`, `cancel` or `discard`.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == text)
    }

    /// The name [`JobAction::parse`] reads.
    pub fn as_str(self) -> &'static str {
        match self {
            JobAction::Retry => "retry",
            JobAction::Cancel => "cancel",
            JobAction::Discard => "discard",
        }
    }

    /// True when the action may be applied to a job in `state`.
    pub fn allowed_from(self, state: JobState) -> bool {
        match self {
            JobAction::Retry => matches!(
                state,
                JobState::Dead | JobState::Retrying | JobState::Scheduled | JobState::Cancelled
            ),
            JobAction::Cancel => matches!(
                state,
                JobState::Scheduled | JobState::Pending | JobState::Retrying
            ),
            JobAction::Discard => state != JobState::Running,
        }
    }

    fn allowed_states(self) -> Vec<JobState> {
        JobState::ALL
            .into_iter()
            .filter(|s| self.allowed_from(*s))
            .collect()
    }
}

/// What [`apply`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionOutcome {
    /// The job changed (or, for a discard, is gone).
    Applied,
    /// No such job.
    NotFound,
    /// The action is not allowed from the job's state, given here.
    NotAllowed(JobState),
}

/// Applies `action` to job `id`, if its state allows it.
pub async fn apply(
    db: &Db,
    id: &str,
    action: JobAction,
    now: DateTime<Utc>,
) -> Result<ActionOutcome, StoreError> {
    let now = now_micros(now);
    // The state read after a refused change may have moved on to an allowed one (a worker
    // failed the job meanwhile): then the change is tried again.
    for _ in 0..3 {
        let mut tx = db.begin().await?;
        let changed = apply_to_ids(&mut tx, vec![id.to_string()], action, now).await?;
        if changed > 0 {
            tx.commit().await?;
            return Ok(ActionOutcome::Applied);
        }
        tx.rollback().await?;
        match super::admin::find_at(db, id, now).await? {
            None => return Ok(ActionOutcome::NotFound),
            Some(job) if !action.allowed_from(job.state) => {
                return Ok(ActionOutcome::NotAllowed(job.state));
            }
            Some(_) => continue,
        }
    }
    match super::admin::find_at(db, id, now).await? {
        None => Ok(ActionOutcome::NotFound),
        Some(job) => Ok(ActionOutcome::NotAllowed(job.state)),
    }
}

/// Applies `action` to every job matching `filter` it is allowed on; returns how many changed.
pub async fn apply_matching(
    db: &Db,
    filter: &JobFilter,
    action: JobAction,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let now = now_micros(now);
    let searched = filter_searches(filter);
    let mut below: Option<String> = None;
    let mut changed = 0;
    loop {
        let mut sql = Sql::new(db.backend());
        let mut conditions = filter_conditions(&mut sql, filter, now);
        conditions.push(sql.state_condition("j.", &action.allowed_states(), now));
        if let Some(id) = &below {
            conditions.push(sql.id_below(id, searched));
        }
        let statement = format!(
            "SELECT j.id FROM {jobs} j {join} WHERE {conditions} ORDER BY {order} DESC LIMIT {BATCH}",
            jobs = sql.jobs_table(),
            join = if searched {
                "JOIN job_search s ON s.id = j.id"
            } else {
                ""
            },
            conditions = and_all(&conditions),
            order = if searched { "s.id" } else { "j.id" },
        );
        let ids: Vec<String> = sql
            .fetch_all::<(String,)>(db, statement)
            .await?
            .into_iter()
            .map(|(id,)| id)
            .collect();
        let Some(last) = ids.last().cloned() else {
            break;
        };
        let full = ids.len() == BATCH;
        let mut tx = db.begin().await?;
        changed += apply_to_ids(&mut tx, ids, action, now).await?;
        tx.commit().await?;
        if !full {
            break;
        }
        below = Some(last);
    }
    Ok(changed)
}

/// Applies `action` to the jobs `ids` whose state allows it, in `tx`; returns how many
/// changed. Retried queues are woken when `tx` commits.
async fn apply_to_ids(
    tx: &mut Tx,
    ids: Vec<String>,
    action: JobAction,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let mut sql = Sql::for_tx(tx);
    let ids_condition = sql.in_ids("j.id", ids);
    let allowed = sql.state_condition("j.", &action.allowed_states(), now);
    let jobs = sql.jobs_table();
    let statement = match action {
        JobAction::Retry => {
            let at = sql.bind(Arg::Time(now));
            format!(
                "UPDATE {jobs} AS j SET status = 'Pending', run_at = {at}, lock_by = NULL, lock_at = NULL, \
                 done_at = NULL, max_attempts = {greatest}(max_attempts, attempts + 1) \
                 WHERE {ids_condition} AND {allowed} RETURNING id, job_type",
                greatest = sql.greatest(),
            )
        }
        JobAction::Cancel => {
            let at = sql.bind(Arg::Time(now));
            let result = sql.json(CANCELLED_RESULT);
            format!(
                "UPDATE {jobs} AS j SET status = 'Cancelled', done_at = {at}, last_result = {result} \
                 WHERE {ids_condition} AND {allowed} RETURNING id, job_type"
            )
        }
        JobAction::Discard => format!(
            "DELETE FROM {jobs} AS j WHERE {ids_condition} AND {allowed} RETURNING id, job_type"
        ),
    };
    let rows: Vec<(String, String)> = sql.fetch_all_in(tx, statement).await?;
    let (changed, queues): (Vec<String>, Vec<String>) = rows.into_iter().unzip();
    if action == JobAction::Discard && !changed.is_empty() {
        let mut history = Sql::for_tx(tx);
        let condition = history.in_ids("job_id", changed);
        history
            .execute_in(tx, format!("DELETE FROM job_attempts WHERE {condition}"))
            .await?;
    }
    if action == JobAction::Retry {
        for queue in &queues {
            crate::facade::enqueue::wake_after_commit(tx, queue);
        }
    }
    Ok(queues.len() as u64)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::board::admin;
    use crate::board::search::seed::{Seed, insert, status};
    use crate::db::Backend;
    use crate::test_db::TestDb;
    use serde_json::json;

    /// A job in `state` as of `now`, with one recorded attempt.
    fn in_state(state: JobState, now: DateTime<Utc>, n: i64) -> Seed {
        let at = now - chrono::Duration::minutes(30) + chrono::Duration::seconds(n);
        let later = now + chrono::Duration::hours(1);
        let seed = Seed::new(
            at,
            "calendar",
            "SyncCalendar",
            json!({"org_id": "org_x", "n": n}),
        );
        match state {
            JobState::Scheduled => seed.with("Pending", 0, later),
            JobState::Pending => seed.with("Pending", 0, at),
            JobState::Running => seed.with("Running", 0, at),
            JobState::Retrying => seed.with("Failed", 1, later),
            JobState::Dead => seed.with("Killed", 3, at),
            JobState::Cancelled => seed.with("Cancelled", 0, at),
            JobState::Done => seed.with("Done", 1, at),
        }
    }

    async fn add_attempt(db: &Db, id: &str, now: DateTime<Utc>) {
        crate::on_pool!(db, |p| {
            sqlx::query(
            "INSERT INTO job_attempts (job_id, attempt, queue, kind, worker, started_at, finished_at, outcome, error) \
             VALUES ($1, 1, 'calendar', 'SyncCalendar', 'w1', $2, $2, 'retry', 'the provider answered 503')"
        )
        .bind(id)
        .bind(now)
        .execute(p)
        .await
        .unwrap()
        .rows_affected()
        });
    }

    #[tokio::test]
    async fn each_action_from_each_state_is_applied_only_where_allowed() {
        for t in TestDb::all().await {
            let db = &t.db;
            let now = crate::db::now_micros(Utc::now());
            let b = t.backend();
            let mut n = 0;
            for action in JobAction::ALL {
                for state in JobState::ALL {
                    n += 1;
                    let id = insert(db, &[in_state(state, now, n)]).await.remove(0);
                    add_attempt(db, &id, now).await;
                    assert_eq!(
                        admin::find_at(db, &id, now).await.unwrap().unwrap().state,
                        state
                    );
                    let outcome = apply(db, &id, action, now).await.unwrap();
                    let what = format!("{b:?}: {action:?} from {state:?}");
                    if !action.allowed_from(state) {
                        assert_eq!(outcome, ActionOutcome::NotAllowed(state), "{what}");
                        let job = admin::find_at(db, &id, now).await.unwrap().unwrap();
                        assert_eq!(job.state, state, "{what}: unchanged");
                        continue;
                    }
                    assert_eq!(outcome, ActionOutcome::Applied, "{what}");
                    let job = admin::find_at(db, &id, now).await.unwrap();
                    match action {
                        JobAction::Retry => {
                            let job = job.unwrap();
                            assert!(
                                matches!(job.state, JobState::Pending | JobState::Retrying),
                                "{what}: {job:?}"
                            );
                            assert!(job.run_at <= now, "{what}: due now");
                            assert!(
                                job.done_at.is_none()
                                    && job.lock_at.is_none()
                                    && job.worker.is_none(),
                                "{what}"
                            );
                            assert!(
                                job.max_attempts > job.attempts,
                                "{what}: one more attempt at least"
                            );
                            if state == JobState::Dead {
                                assert_eq!((job.attempts, job.max_attempts), (3, 4), "{what}");
                            }
                            assert_eq!(status(db, &id).await.as_deref(), Some("Pending"));
                        }
                        JobAction::Cancel => {
                            let job = job.unwrap();
                            assert_eq!(job.state, JobState::Cancelled, "{what}");
                            assert_eq!(
                                job.done_at.map(|d| d.timestamp()),
                                Some(now.timestamp()),
                                "{what}"
                            );
                            assert_eq!(
                                job.last_error.as_deref(),
                                Some("cancelled from the queue board")
                            );
                        }
                        JobAction::Discard => {
                            assert!(job.is_none(), "{what}");
                            assert!(
                                admin::attempts(db, &id).await.unwrap().is_empty(),
                                "{what}: history gone"
                            );
                        }
                    }
                }
            }
            assert_eq!(
                apply(db, "01JZZZZZZZZZZZZZZZZZZZZZZZ", JobAction::Retry, now)
                    .await
                    .unwrap(),
                ActionOutcome::NotFound
            );
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn a_job_a_worker_took_is_never_cancelled_nor_discarded() {
        for t in TestDb::all().await {
            let db = &t.db;
            let now = Utc::now();
            for status_now in ["Queued", "Running"] {
                let id = insert(db, &[in_state(JobState::Pending, now, 1)])
                    .await
                    .remove(0);
                // The worker's fetch lands between the board's read and its change.
                assert_eq!(
                    admin::find_at(db, &id, now).await.unwrap().unwrap().state,
                    JobState::Pending
                );
                crate::on_pool!(db, |p| sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE {} SET status = '{status_now}' WHERE id = $1",
                    if t.backend() == Backend::Postgres {
                        "apalis.jobs"
                    } else {
                        "Jobs"
                    }
                )))
                .bind(&id)
                .execute(p)
                .await
                .unwrap()
                .rows_affected());
                for action in JobAction::ALL {
                    let filter = JobFilter {
                        org_id: Some("org_x".into()),
                        ..JobFilter::default()
                    };
                    assert_eq!(apply_matching(db, &filter, action, now).await.unwrap(), 0);
                    assert_eq!(
                        apply(db, &id, action, now).await.unwrap(),
                        match action {
                            JobAction::Retry | JobAction::Cancel | JobAction::Discard =>
                                ActionOutcome::NotAllowed(JobState::Running),
                        }
                    );
                }
                assert_eq!(
                    status(db, &id).await.as_deref(),
                    Some(status_now),
                    "{:?}",
                    t.backend()
                );
                crate::on_pool!(db, |p| sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DELETE FROM {} WHERE id = $1",
                    if t.backend() == Backend::Postgres {
                        "apalis.jobs"
                    } else {
                        "Jobs"
                    }
                )))
                .bind(&id)
                .execute(p)
                .await
                .unwrap()
                .rows_affected());
            }
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn a_bulk_retry_by_text_changes_exactly_the_matching_dead_jobs() {
        for t in TestDb::all().await {
            let db = &t.db;
            let now = Utc::now();
            let at = |i: usize| {
                now - chrono::Duration::minutes(60) + chrono::Duration::milliseconds(i as i64)
            };
            let mut seeds = Vec::new();
            // More matching jobs than one batch, interleaved with others.
            for i in 0..2_600 {
                let marker = i % 2 == 0;
                let note = if marker {
                    "carte refusée MARK-7f3"
                } else {
                    "carte acceptée"
                };
                let seed = Seed::new(
                    at(i),
                    "billing",
                    "ReportUsage",
                    json!({"org_id": "org_b", "note": note}),
                );
                seeds.push(match i % 13 {
                    0 => seed.with("Running", 0, at(i)),
                    1 => seed.with("Done", 1, at(i)),
                    _ => seed.with("Killed", 3, at(i)),
                });
            }
            insert(db, &seeds).await;
            let expected = seeds
                .iter()
                .filter(|s| {
                    s.status == "Killed" && s.args["note"].as_str().unwrap().contains("MARK")
                })
                .count() as u64;
            assert!(expected > BATCH as u64);
            let filter = JobFilter {
                text: Some("mark-7F3".into()),
                ..JobFilter::default()
            };
            let changed = apply_matching(db, &filter, JobAction::Retry, now)
                .await
                .unwrap();
            assert_eq!(changed, expected, "{:?}", t.backend());
            for s in &seeds {
                let marked = s.args["note"].as_str().unwrap().contains("MARK");
                let want = match s.status {
                    "Killed" if marked => "Pending",
                    other => other,
                };
                assert_eq!(
                    status(db, &s.id).await.as_deref(),
                    Some(want),
                    "{:?}: {s:?}",
                    t.backend()
                );
            }
            // The same again finds nothing dead left, and a bulk cancel by queue and state
            // then a bulk discard change only their own jobs.
            let dead = JobFilter {
                text: Some("MARK-7F3".into()),
                state: Some(JobState::Dead),
                ..JobFilter::default()
            };
            assert_eq!(
                apply_matching(db, &dead, JobAction::Retry, now)
                    .await
                    .unwrap(),
                0
            );
            let retrying = JobFilter {
                queue: Some("billing".into()),
                state: Some(JobState::Retrying),
                ..JobFilter::default()
            };
            assert_eq!(
                apply_matching(db, &retrying, JobAction::Cancel, now)
                    .await
                    .unwrap(),
                expected
            );
            let cancelled = JobFilter {
                state: Some(JobState::Cancelled),
                ..JobFilter::default()
            };
            assert_eq!(
                apply_matching(db, &cancelled, JobAction::Discard, now)
                    .await
                    .unwrap(),
                expected
            );
            let left = crate::board::search::list(db, &JobFilter::default(), None, 10_000, now)
                .await
                .unwrap();
            assert_eq!(left.len() as u64, 2_600 - expected, "{:?}", t.backend());
            t.drop_database().await;
        }
    }

    #[test]
    fn actions_parse_their_names() {
        for action in JobAction::ALL {
            assert_eq!(JobAction::parse(action.as_str()), Some(action));
        }
        assert_eq!(JobAction::parse("kill"), None);
    }

    #[test]
    fn which_states_each_action_is_allowed_from() {
        use JobState::*;
        let allowed = |a: JobAction| -> Vec<JobState> {
            JobState::ALL
                .into_iter()
                .filter(|s| a.allowed_from(*s))
                .collect()
        };
        assert_eq!(
            allowed(JobAction::Retry),
            vec![Scheduled, Retrying, Dead, Cancelled]
        );
        assert_eq!(
            allowed(JobAction::Cancel),
            vec![Scheduled, Pending, Retrying]
        );
        assert_eq!(
            allowed(JobAction::Discard),
            vec![Scheduled, Pending, Retrying, Dead, Cancelled, Done]
        );
    }
}
