//! Finding jobs for the queue board: by queue, state, kind, organisation, a piece of the
//! arguments and enqueue time, newest first, a page at a time (keyset on the id).
//!
//! apalis keeps a job's payload as bytea/BLOB, which no index can search. Its kind,
//! organisation and arguments are therefore copied once, at insert, into `job_search`
//! (migration 0006, kept by triggers), and filters on them read that table's indexes. The
//! enqueue time needs no column: ids are ULIDs made at enqueue, so a time range is an id range.

use super::admin::{JobState, last_error_of};
use crate::db::{Db, StoreError, now_micros};
pub(crate) use crate::driver::sql::{Arg, Sql};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Which jobs a board list or bulk action covers; every field narrows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobFilter {
    /// Exact queue (apalis's `job_type`).
    pub queue: Option<String>,
    /// State, as of the caller's `now`.
    pub state: Option<JobState>,
    /// Exact job kind, e.g. "ProvisionAssistant".
    pub kind: Option<String>,
    /// Exact `args.org_id`.
    pub org_id: Option<String>,
    /// Case-insensitive substring of the args JSON text (taken literally: `%` and `_` are
    /// plain characters).
    pub text: Option<String>,
    /// Enqueued at or after this (inclusive), on the id's ULID time.
    pub enqueued_after: Option<DateTime<Utc>>,
    /// Enqueued before this (exclusive), on the id's ULID time.
    pub enqueued_before: Option<DateTime<Utc>>,
}

/// One line of a board list.
#[derive(Debug, Clone, Serialize)]
pub struct JobSummary {
    /// Id (a ULID).
    pub id: String,
    /// Queue.
    pub queue: String,
    /// Kind, from the payload.
    pub kind: String,
    /// `args.org_id`, when it is a string.
    pub org_id: Option<String>,
    /// State, as of the caller's `now`.
    pub state: JobState,
    /// Attempts finished or abandoned.
    pub attempts: i64,
    /// Attempts allowed.
    pub max_attempts: i64,
    /// When it was enqueued (the id's ULID time, to the millisecond).
    pub enqueued_at: DateTime<Utc>,
    /// Not before.
    pub run_at: DateTime<Utc>,
    /// When it finished (done, dead or cancelled).
    pub done_at: Option<DateTime<Utc>>,
    /// The worker holding it, or that ran it last.
    pub worker: Option<String>,
    /// The last attempt's error, if it failed.
    pub last_error: Option<String>,
    /// The args JSON, cut to at most [`PREVIEW_CHARS`] characters.
    pub args_preview: String,
}

/// Length of [`JobSummary::args_preview`], in characters.
pub const PREVIEW_CHARS: usize = 160;

/// Jobs matching `filter`, newest first (id descending), only ids < `before_id` when given.
pub async fn list(
    db: &Db,
    filter: &JobFilter,
    before_id: Option<&str>,
    limit: u32,
    now: DateTime<Utc>,
) -> Result<Vec<JobSummary>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let now = now_micros(now);
    let mut sql = Sql::new(db.backend());
    let mut conditions = filter_conditions(&mut sql, filter, now);
    if let Some(before) = before_id {
        conditions.push(sql.id_below(before, filter_searches(filter)));
    }
    let statement = format!(
        "SELECT j.id, j.job_type, j.status, j.attempts, j.max_attempts, j.run_at, j.done_at, j.lock_by, \
         {last_result}, s.kind, s.org_id, substr(s.args, 1, {PREVIEW_CHARS}) \
         FROM {jobs} j {join} job_search s ON s.id = j.id \
         WHERE {conditions} ORDER BY {order} DESC LIMIT {limit}",
        last_result = sql.last_result_text("j"),
        jobs = sql.jobs_table(),
        join = if filter_searches(filter) {
            "JOIN"
        } else {
            "LEFT JOIN"
        },
        conditions = and_all(&conditions),
        // The same ids; SQLite only walks `job_search`'s indexes in order when told by name.
        order = if filter_searches(filter) {
            "s.id"
        } else {
            "j.id"
        },
    );
    let rows: Vec<SummaryRow> = sql.fetch_all(db, statement).await?;
    let summaries = rows.into_iter().map(|row| summary_from(row, now)).collect();
    Ok(summaries)
}

/// id, queue, status, attempts, max attempts, run at, done at, worker, last result, kind,
/// organisation, arguments' preview.
type SummaryRow = (
    String,
    String,
    String,
    i32,
    i32,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn summary_from(row: SummaryRow, now: DateTime<Utc>) -> JobSummary {
    let (
        id,
        queue,
        status,
        attempts,
        max_attempts,
        run_at,
        done_at,
        worker,
        last_result,
        kind,
        org_id,
        preview,
    ) = row;
    let attempts = i64::from(attempts);
    JobSummary {
        enqueued_at: enqueued_at(&id),
        state: JobState::from_row(&status, attempts, run_at, now),
        id,
        queue,
        kind: kind.unwrap_or_else(|| "unknown".into()),
        org_id,
        attempts,
        max_attempts: i64::from(max_attempts),
        run_at,
        done_at,
        worker,
        last_error: last_error_of(last_result.as_deref()),
        args_preview: cut_chars(preview.as_deref().unwrap_or(""), PREVIEW_CHARS).to_string(),
    }
}

/// The enqueue time of a job: its id's ULID time (the Unix epoch for an id that is not one).
pub fn enqueued_at(id: &str) -> DateTime<Utc> {
    ulid::Ulid::from_string(id)
        .ok()
        .and_then(|u| i64::try_from(u.timestamp_ms()).ok())
        .and_then(DateTime::from_timestamp_millis)
        .unwrap_or_default()
}

/// The smallest id a job enqueued at or after `at` can have (ULID times are milliseconds, so
/// a time within a millisecond rounds up).
pub(crate) fn first_id_at(at: DateTime<Utc>) -> String {
    let ms =
        at.timestamp_millis() + i64::from(!at.timestamp_subsec_nanos().is_multiple_of(1_000_000));
    ulid::Ulid::from_parts(u64::try_from(ms).unwrap_or(0), 0).to_string()
}

/// `text` cut to at most `max` characters, on a character boundary.
pub fn cut_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// `text` as a LIKE pattern matching it anywhere, its wildcards (`%`, `_`) and the escape
/// character (`\`) taken literally.
pub(crate) fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// True when the filter reads `job_search` (kind, organisation or text).
pub(crate) fn filter_searches(filter: &JobFilter) -> bool {
    filter.kind.is_some() || filter.org_id.is_some() || filter.text.is_some()
}

/// The conditions of `filter` on `j` (the jobs table) and `s` (`job_search`, joined when
/// [`filter_searches`]), with their values bound in `sql`.
pub(crate) fn filter_conditions(
    sql: &mut Sql,
    filter: &JobFilter,
    now: DateTime<Utc>,
) -> Vec<String> {
    let searched = filter_searches(filter);
    let mut conditions = Vec::new();
    if let Some(queue) = &filter.queue {
        conditions.push(format!(
            "j.job_type = {}",
            sql.bind(Arg::Text(queue.clone()))
        ));
    }
    if let Some(state) = filter.state {
        conditions.push(sql.state_condition("j.", &[state], now));
    }
    if let Some(kind) = &filter.kind {
        conditions.push(format!("s.kind = {}", sql.bind(Arg::Text(kind.clone()))));
    }
    if let Some(org) = &filter.org_id {
        conditions.push(format!("s.org_id = {}", sql.bind(Arg::Text(org.clone()))));
    }
    if let Some(text) = &filter.text {
        let pattern = sql.bind(Arg::Text(contains_pattern(text)));
        conditions.push(sql.like("s.args", &pattern));
    }
    if let Some(after) = filter.enqueued_after {
        let id = sql.bind(Arg::Text(first_id_at(after)));
        conditions.push(format!("j.id >= {id}"));
        if searched {
            conditions.push(format!("s.id >= {id}"));
        }
    }
    if let Some(before) = filter.enqueued_before {
        conditions.push(sql.id_below(&first_id_at(before), searched));
    }
    conditions
}

/// `conditions` joined with AND (TRUE when there are none).
pub(crate) fn and_all(conditions: &[String]) -> String {
    if conditions.is_empty() {
        "1 = 1".into()
    } else {
        conditions.join(" AND ")
    }
}

impl Sql {
    /// The rows (columns prefixed with `prefix`) in any of `states` as of `now`; the same
    /// rules as [`JobState::from_row`].
    pub(crate) fn state_condition(
        &mut self,
        prefix: &str,
        states: &[JobState],
        now: DateTime<Utc>,
    ) -> String {
        let mut parts = Vec::new();
        for state in states {
            let p = prefix;
            parts.push(match state {
                JobState::Scheduled => {
                    let now = self.bind(Arg::Time(now));
                    format!(
                        "({p}status IN ('Pending', 'Failed') AND {p}attempts = 0 AND {p}run_at > {now})"
                    )
                }
                JobState::Pending => {
                    let now = self.bind(Arg::Time(now));
                    format!(
                        "({p}status IN ('Pending', 'Failed') AND {p}attempts = 0 AND {p}run_at <= {now})"
                    )
                }
                JobState::Running => format!("{p}status IN ('Queued', 'Running')"),
                JobState::Retrying => {
                    format!("({p}status IN ('Pending', 'Failed') AND {p}attempts > 0)")
                }
                JobState::Dead => format!("{p}status = 'Killed'"),
                JobState::Cancelled => format!("{p}status = 'Cancelled'"),
                JobState::Done => format!("{p}status = 'Done'"),
            });
        }
        if parts.is_empty() {
            "1 = 0".into()
        } else {
            format!("({})", parts.join(" OR "))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::seed::{Seed, insert};
    use super::*;
    use crate::test_db::TestDb;
    use serde_json::json;

    fn minutes_ago(now: DateTime<Utc>, m: i64) -> DateTime<Utc> {
        now - chrono::Duration::minutes(m)
    }

    async fn ids(db: &Db, filter: &JobFilter, now: DateTime<Utc>) -> Vec<String> {
        list(db, filter, None, 1000, now)
            .await
            .unwrap()
            .into_iter()
            .map(|j| j.id)
            .collect()
    }

    /// Ids of `wanted` among `all`, newest first.
    fn newest_first(all: &[String], wanted: &[usize]) -> Vec<String> {
        let mut v: Vec<String> = wanted.iter().map(|i| all[*i].clone()).collect();
        v.sort();
        v.reverse();
        v
    }

    #[tokio::test]
    async fn each_filter_alone_and_combined_finds_exactly_the_matching_jobs() {
        for t in TestDb::all().await {
            let db = &t.db;
            // Whole milliseconds, as the ids' times.
            let now = DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap();
            let later = now + chrono::Duration::hours(1);
            let seeds =
                vec![
                // 0: done provisioning job of org_a
                Seed::new(minutes_ago(now, 50), "provisioning", "ProvisionAssistant",
                    json!({"org_id": "org_a", "assistant_id": "ast_1", "name": "Salon Dupont"}))
                    .with("Done", 1, minutes_ago(now, 50)),
                // 1: dead provisioning job of org_b
                Seed::new(minutes_ago(now, 40), "provisioning", "ProvisionAssistant",
                    json!({"org_id": "org_b", "assistant_id": "ast_2", "name": "Plomberie Martin"}))
                    .with("Killed", 3, minutes_ago(now, 40)),
                // 2: scheduled dialing job of org_a
                Seed::new(minutes_ago(now, 30), "dialing", "DialContact",
                    json!({"org_id": "org_a", "contact_id": "ct_1", "phone": "+33612345678"}))
                    .with("Pending", 0, later),
                // 3: pending dialing job of org_b
                Seed::new(minutes_ago(now, 20), "dialing", "DialContact",
                    json!({"org_id": "org_b", "contact_id": "ct_2", "phone": "+33698765432"}))
                    .with("Pending", 0, minutes_ago(now, 20)),
                // 4: retrying dialing job, org_id not a string
                Seed::new(minutes_ago(now, 10), "dialing", "DialContact",
                    json!({"org_id": 42, "contact_id": "ct_3", "phone": "+33600000000"}))
                    .with("Failed", 1, later),
                // 5: running webhook job without org
                Seed::new(minutes_ago(now, 5), "webhooks", "ProcessInboundEvent",
                    json!({"event_id": "evt_dupont"}))
                    .with("Running", 0, minutes_ago(now, 5)),
                // 6: cancelled dialing job of org_a
                Seed::new(minutes_ago(now, 2), "dialing", "DialContact",
                    json!({"org_id": "org_a", "contact_id": "ct_4", "phone": "+33611111111"}))
                    .with("Cancelled", 0, minutes_ago(now, 2)),
            ];
            let all = insert(db, &seeds).await;
            let f = JobFilter::default;
            let b = t.backend();

            assert_eq!(
                ids(db, &f(), now).await,
                newest_first(&all, &[0, 1, 2, 3, 4, 5, 6]),
                "{b:?}"
            );
            let queue = JobFilter {
                queue: Some("dialing".into()),
                ..f()
            };
            assert_eq!(
                ids(db, &queue, now).await,
                newest_first(&all, &[2, 3, 4, 6]),
                "{b:?}"
            );
            for (state, expected) in [
                (JobState::Done, vec![0]),
                (JobState::Dead, vec![1]),
                (JobState::Scheduled, vec![2]),
                (JobState::Pending, vec![3]),
                (JobState::Retrying, vec![4]),
                (JobState::Running, vec![5]),
                (JobState::Cancelled, vec![6]),
            ] {
                let filter = JobFilter {
                    state: Some(state),
                    ..f()
                };
                let found = list(db, &filter, None, 100, now).await.unwrap();
                assert_eq!(
                    found.iter().map(|j| j.id.clone()).collect::<Vec<_>>(),
                    newest_first(&all, &expected),
                    "{b:?}: {state:?}"
                );
                assert!(
                    found.iter().all(|j| j.state == state),
                    "{b:?}: {state:?}: {found:?}"
                );
            }
            let kind = JobFilter {
                kind: Some("ProvisionAssistant".into()),
                ..f()
            };
            assert_eq!(
                ids(db, &kind, now).await,
                newest_first(&all, &[0, 1]),
                "{b:?}"
            );
            let org = JobFilter {
                org_id: Some("org_a".into()),
                ..f()
            };
            assert_eq!(
                ids(db, &org, now).await,
                newest_first(&all, &[0, 2, 6]),
                "{b:?}"
            );
            let text = JobFilter {
                text: Some("dupont".into()),
                ..f()
            };
            assert_eq!(
                ids(db, &text, now).await,
                newest_first(&all, &[0, 5]),
                "{b:?}: case-insensitive"
            );
            let phone = JobFilter {
                text: Some("+3369876".into()),
                ..f()
            };
            assert_eq!(
                ids(db, &phone, now).await,
                newest_first(&all, &[3]),
                "{b:?}"
            );
            let kind_in_text = JobFilter {
                text: Some("DialContact".into()),
                ..f()
            };
            assert!(
                ids(db, &kind_in_text, now).await.is_empty(),
                "{b:?}: only the args are searched"
            );
            let range = JobFilter {
                enqueued_after: Some(minutes_ago(now, 40)),
                enqueued_before: Some(minutes_ago(now, 10)),
                ..f()
            };
            assert_eq!(
                ids(db, &range, now).await,
                newest_first(&all, &[1, 2, 3]),
                "{b:?}: after inclusive, before exclusive"
            );

            let combined = JobFilter {
                queue: Some("dialing".into()),
                state: Some(JobState::Scheduled),
                org_id: Some("org_a".into()),
                ..f()
            };
            assert_eq!(
                ids(db, &combined, now).await,
                newest_first(&all, &[2]),
                "{b:?}"
            );
            let combined = JobFilter {
                kind: Some("DialContact".into()),
                text: Some("+336".into()),
                enqueued_after: Some(minutes_ago(now, 25)),
                ..f()
            };
            assert_eq!(
                ids(db, &combined, now).await,
                newest_first(&all, &[3, 4, 6]),
                "{b:?}"
            );
            let none = JobFilter {
                kind: Some("DialContact".into()),
                org_id: Some("org_b".into()),
                state: Some(JobState::Done),
                ..f()
            };
            assert!(ids(db, &none, now).await.is_empty(), "{b:?}");

            // What a line shows.
            let found = list(db, &org, None, 1, now).await.unwrap();
            assert_eq!(found.len(), 1, "{b:?}: the limit");
            let line = &found[0];
            assert_eq!(line.id, all[6]);
            assert_eq!(
                (line.queue.as_str(), line.kind.as_str()),
                ("dialing", "DialContact")
            );
            assert_eq!(line.org_id.as_deref(), Some("org_a"));
            assert_eq!(line.state, JobState::Cancelled);
            assert_eq!(
                line.enqueued_at.timestamp_millis(),
                minutes_ago(now, 2).timestamp_millis()
            );
            assert!(line.done_at.is_some());
            assert!(
                line.args_preview.contains("+33611111111"),
                "{b:?}: {}",
                line.args_preview
            );
            let numeric_org = list(
                db,
                &JobFilter {
                    queue: Some("dialing".into()),
                    state: Some(JobState::Retrying),
                    ..f()
                },
                None,
                10,
                now,
            )
            .await
            .unwrap();
            assert_eq!(numeric_org[0].org_id, None, "{b:?}: a number is no org id");
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn pages_with_before_id_have_no_duplicates_and_no_gaps() {
        for t in TestDb::all().await {
            let db = &t.db;
            let now = Utc::now();
            let seeds: Vec<Seed> = (0..25)
                .map(|i| {
                    // Several jobs share a millisecond, as in a burst of enqueues.
                    Seed::new(
                        minutes_ago(now, 30 - i / 3),
                        "billing",
                        "ReportUsage",
                        json!({"org_id": format!("org_{}", i % 2), "n": i}),
                    )
                    .with(if i % 4 == 0 { "Killed" } else { "Done" }, 1, now)
                })
                .collect();
            insert(db, &seeds).await;
            for filter in [
                JobFilter::default(),
                JobFilter {
                    org_id: Some("org_1".into()),
                    ..JobFilter::default()
                },
                JobFilter {
                    queue: Some("billing".into()),
                    state: Some(JobState::Done),
                    ..JobFilter::default()
                },
            ] {
                let everything = ids(db, &filter, now).await;
                assert!(everything.len() > 7);
                let mut paged = Vec::new();
                let mut before: Option<String> = None;
                loop {
                    let page = list(db, &filter, before.as_deref(), 7, now).await.unwrap();
                    assert!(page.len() <= 7);
                    let Some(last) = page.last() else { break };
                    before = Some(last.id.clone());
                    paged.extend(page.into_iter().map(|j| j.id));
                }
                assert_eq!(paged, everything, "{:?}: {filter:?}", t.backend());
            }
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn like_wildcards_in_the_text_are_taken_literally() {
        for t in TestDb::all().await {
            let db = &t.db;
            let now = Utc::now();
            let all = insert(
                db,
                &[
                    Seed::new(
                        minutes_ago(now, 5),
                        "billing",
                        "ReportUsage",
                        json!({"note": "remise de 50% ce mois"}),
                    ),
                    Seed::new(
                        minutes_ago(now, 4),
                        "billing",
                        "ReportUsage",
                        json!({"note": "remise de 500 euros"}),
                    ),
                    Seed::new(
                        minutes_ago(now, 3),
                        "billing",
                        "ReportUsage",
                        json!({"note": "code a_b"}),
                    ),
                    Seed::new(
                        minutes_ago(now, 2),
                        "billing",
                        "ReportUsage",
                        json!({"note": "code axb"}),
                    ),
                    Seed::new(
                        minutes_ago(now, 1),
                        "billing",
                        "ReportUsage",
                        json!({"note": "dossier C:\\clients"}),
                    ),
                ],
            )
            .await;
            let text = |s: &str| JobFilter {
                text: Some(s.into()),
                ..JobFilter::default()
            };
            let b = t.backend();
            assert_eq!(
                ids(db, &text("50%"), now).await,
                vec![all[0].clone()],
                "{b:?}"
            );
            assert_eq!(
                ids(db, &text("a_b"), now).await,
                vec![all[2].clone()],
                "{b:?}"
            );
            assert_eq!(
                ids(db, &text("%"), now).await,
                vec![all[0].clone()],
                "{b:?}"
            );
            assert_eq!(
                ids(db, &text("\\\\clients"), now).await,
                vec![all[4].clone()],
                "{b:?}: the JSON text, escapes included"
            );
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn enqueued_jobs_are_searchable_and_their_search_rows_go_with_them() {
        for t in TestDb::all().await {
            let db = &t.db;
            #[derive(serde::Serialize, serde::Deserialize)]
            struct ProvisionAssistant {
                org_id: String,
                assistant_id: String,
            }
            impl crate::facade::Job for ProvisionAssistant {
                const KIND: &'static str = "ProvisionAssistant";
                const QUEUE: &'static str = "provisioning";
            }
            let job = ProvisionAssistant {
                org_id: "org_enqueued".into(),
                assistant_id: "ast_9".into(),
            };
            let crate::facade::Enqueued::New(id) =
                crate::facade::enqueue(db, &job, Default::default(), 5)
                    .await
                    .unwrap()
            else {
                panic!("a new job")
            };
            let filter = JobFilter {
                kind: Some("ProvisionAssistant".into()),
                org_id: Some("org_enqueued".into()),
                text: Some("ast_9".into()),
                ..JobFilter::default()
            };
            assert_eq!(
                ids(db, &filter, Utc::now()).await,
                vec![id.clone()],
                "{:?}",
                t.backend()
            );
            let left = || async {
                let n: i64 = crate::on_pool!(db, |p| sqlx::query_scalar(
                    "SELECT COUNT(*) FROM job_search"
                )
                .fetch_one(p)
                .await
                .unwrap());
                n
            };
            assert_eq!(left().await, 1);
            let gone = crate::board::actions::apply(
                db,
                &id,
                crate::board::actions::JobAction::Discard,
                Utc::now(),
            )
            .await
            .unwrap();
            assert_eq!(gone, crate::board::actions::ActionOutcome::Applied);
            assert_eq!(left().await, 0, "{:?}", t.backend());
            t.drop_database().await;
        }
    }

    #[test]
    fn wildcards_are_escaped_in_a_contains_pattern() {
        assert_eq!(contains_pattern("50%"), "%50\\%%");
        assert_eq!(contains_pattern("a_b\\c"), "%a\\_b\\\\c%");
        assert_eq!(contains_pattern("Dupont"), "%Dupont%");
    }

    #[test]
    fn a_preview_is_cut_on_a_character_boundary() {
        assert_eq!(cut_chars("éléphant", 3), "élé");
        assert_eq!(cut_chars("abc", 160), "abc");
        assert_eq!(cut_chars(&"é".repeat(200), 160).chars().count(), 160);
    }

    #[test]
    fn the_first_id_of_a_time_sorts_between_the_ids_around_it() {
        let at = DateTime::from_timestamp_millis(1_700_000_000_123).unwrap();
        let id = ulid::Ulid::from_parts(1_700_000_000_123, 42).to_string();
        assert!(first_id_at(at) <= id);
        let later = at + chrono::Duration::microseconds(1);
        assert!(
            first_id_at(later) > id,
            "a job of that millisecond is before it"
        );
        assert_eq!(enqueued_at(&id), at);
    }
}

/// Jobs written straight into the queue table in any state, for tests of the board's layer.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod seed {
    use chrono::{DateTime, Utc};

    use crate::db::{Db, Pool};

    /// A job to write.
    #[derive(Debug, Clone)]
    pub(crate) struct Seed {
        pub id: String,
        pub queue: &'static str,
        pub kind: &'static str,
        pub args: serde_json::Value,
        pub status: &'static str,
        pub attempts: i32,
        pub max_attempts: i32,
        pub run_at: DateTime<Utc>,
        pub done_at: Option<DateTime<Utc>>,
    }

    impl Seed {
        /// A due pending job of `kind` on `queue` with `args`, enqueued at `at`.
        pub(crate) fn new(
            at: DateTime<Utc>,
            queue: &'static str,
            kind: &'static str,
            args: serde_json::Value,
        ) -> Self {
            Seed {
                id: ulid::Ulid::from_parts(
                    u64::try_from(at.timestamp_millis()).unwrap(),
                    rand::RngExt::random::<u64>(&mut rand::rng()).into(),
                )
                .to_string(),
                queue,
                kind,
                args,
                status: "Pending",
                attempts: 0,
                max_attempts: 3,
                run_at: at,
                done_at: None,
            }
        }

        /// The same job with this status, attempts and run_at.
        pub(crate) fn with(
            mut self,
            status: &'static str,
            attempts: i32,
            run_at: DateTime<Utc>,
        ) -> Self {
            self.status = status;
            self.attempts = attempts;
            self.run_at = run_at;
            if matches!(status, "Done" | "Killed" | "Cancelled") {
                self.done_at = Some(run_at);
            }
            self
        }
    }

    /// Writes `jobs` in one transaction; returns their ids.
    pub(crate) async fn insert(db: &Db, jobs: &[Seed]) -> Vec<String> {
        let mut tx = db.begin().await.unwrap();
        for j in jobs {
            let payload =
                serde_json::to_vec(&serde_json::json!({"kind": j.kind, "args": j.args})).unwrap();
            match tx.inner_mut() {
                crate::db::TxInner::Postgres(t) => {
                    sqlx::query(
                        "INSERT INTO apalis.jobs (id, job_type, job, status, attempts, max_attempts, run_at, done_at, priority) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0)",
                    )
                    .bind(&j.id)
                    .bind(j.queue)
                    .bind(&payload)
                    .bind(j.status)
                    .bind(j.attempts)
                    .bind(j.max_attempts)
                    .bind(j.run_at)
                    .bind(j.done_at)
                    .execute(&mut **t)
                    .await
                    .unwrap();
                }
                crate::db::TxInner::Sqlite(t) => {
                    sqlx::query(
                        "INSERT INTO Jobs (id, job_type, job, status, attempts, max_attempts, run_at, done_at, priority) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0)",
                    )
                    .bind(&j.id)
                    .bind(j.queue)
                    .bind(&payload)
                    .bind(j.status)
                    .bind(j.attempts)
                    .bind(j.max_attempts)
                    .bind(j.run_at.timestamp())
                    .bind(j.done_at.map(|d| d.timestamp()))
                    .execute(&mut **t)
                    .await
                    .unwrap();
                }
            }
        }
        tx.commit().await.unwrap();
        jobs.iter().map(|j| j.id.clone()).collect()
    }

    /// The stored status of job `id`.
    pub(crate) async fn status(db: &Db, id: &str) -> Option<String> {
        match db.pool() {
            Pool::Postgres(p) => sqlx::query_scalar("SELECT status FROM apalis.jobs WHERE id = $1")
                .bind(id)
                .fetch_optional(p)
                .await
                .unwrap(),
            Pool::Sqlite(p) => sqlx::query_scalar("SELECT status FROM Jobs WHERE id = $1")
                .bind(id)
                .fetch_optional(p)
                .await
                .unwrap(),
        }
    }
}
