//! Cron entries: a schedule and the job each tick enqueues. The scheduler runs a table of them
//! (any number of replicas: each tick is enqueued with the unique key `cron:{name}:{tick}`, so
//! N schedulers give exactly one job per tick), and the board shows it with each entry's last
//! and next run. The tick that enqueued a job is recorded in `cron_runs`, in the job's own
//! transaction.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::db::{Db, StoreError, Tx, now_micros};
use crate::facade::enqueue::{encode, insert_raw, wake_after_commit};
use crate::facade::{EnqueueOptions, Enqueued, Job};

/// One entry of a cron table.
#[derive(Debug, Clone)]
pub struct CronEntry {
    /// Stable name, part of each tick's unique key.
    pub name: &'static str,
    /// When, in the `cron` crate's syntax (with seconds), in UTC.
    pub schedule: cron::Schedule,
    /// The expression `schedule` was parsed from, as configured.
    pub expression: String,
    kind: &'static str,
    queue: &'static str,
    max_attempts: Option<u32>,
    /// The job every tick enqueues, encoded.
    payload: Vec<u8>,
}

/// Why a cron entry cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum CronError {
    /// The expression is not a schedule.
    #[error("cron expression {expression:?} of {name}: {reason}")]
    Schedule {
        /// The entry.
        name: &'static str,
        /// The expression.
        expression: String,
        /// The parser's reason.
        reason: String,
    },
    /// The job cannot be encoded.
    #[error("the job of cron entry {name}: {reason}")]
    Job {
        /// The entry.
        name: &'static str,
        /// Why.
        reason: String,
    },
}

impl CronEntry {
    /// An entry named `name` that enqueues `job` at every tick of `expression`.
    pub fn new<J: Job>(name: &'static str, expression: &str, job: &J) -> Result<Self, CronError> {
        let schedule = cron::Schedule::from_str(expression).map_err(|e| CronError::Schedule {
            name,
            expression: expression.to_string(),
            reason: e.to_string(),
        })?;
        let payload = encode(job).map_err(|e| CronError::Job {
            name,
            reason: e.to_string(),
        })?;
        Ok(Self {
            name,
            schedule,
            expression: expression.to_string(),
            kind: J::KIND,
            queue: J::QUEUE,
            max_attempts: J::MAX_ATTEMPTS,
            payload,
        })
    }

    /// The first tick strictly after `after`.
    pub fn next_tick(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule.after(&after).next()
    }

    /// The unique key of the job of `tick`.
    pub fn tick_key(&self, tick: DateTime<Utc>) -> String {
        format!("cron:{}:{}", self.name, tick.timestamp())
    }

    /// The kind of job each tick enqueues.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// The queue that job runs on.
    pub fn queue(&self) -> &'static str {
        self.queue
    }

    /// Enqueues the job of `tick`, once across every scheduler replica, and records the tick
    /// as this entry's last run when the job is new.
    pub async fn enqueue_tick(
        &self,
        db: &Db,
        tick: DateTime<Utc>,
        default_max_attempts: u32,
    ) -> Result<Enqueued, StoreError> {
        let options = EnqueueOptions::unique(self.tick_key(tick));
        let max_attempts = self.max_attempts.unwrap_or(default_max_attempts).max(1);
        let mut tx = db.begin().await?;
        let enqueued = insert_raw(
            &mut tx,
            self.queue,
            self.payload.clone(),
            &options,
            max_attempts,
        )
        .await?;
        if let Enqueued::New(id) = &enqueued {
            record_run(&mut tx, self.name, tick, id).await?;
            wake_after_commit(&mut tx, self.queue);
        }
        tx.commit().await?;
        Ok(enqueued)
    }
}

/// Notes `tick` as the last run of entry `name`, unless a later tick is already noted.
async fn record_run(
    tx: &mut Tx,
    name: &str,
    tick: DateTime<Utc>,
    job_id: &str,
) -> Result<(), StoreError> {
    let now = now_micros(Utc::now());
    // Ticks are whole seconds, so their stored forms compare in time order on both backends.
    let tick = now_micros(tick);
    crate::on_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO cron_runs (name, last_tick, job_id, enqueued_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (name) DO UPDATE SET last_tick = excluded.last_tick, job_id = excluded.job_id, \
         enqueued_at = excluded.enqueued_at WHERE cron_runs.last_tick < excluded.last_tick",
    )
    .bind(name)
    .bind(tick)
    .bind(job_id)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// One cron entry as the board shows it.
#[derive(Debug, Clone, Serialize)]
pub struct CronStatus {
    /// The entry's name.
    pub name: String,
    /// The cron expression as configured.
    pub schedule: String,
    /// The queue of the job it enqueues.
    pub queue: String,
    /// The kind of that job.
    pub kind: String,
    /// The last tick that enqueued a job, if any.
    pub last_tick: Option<DateTime<Utc>>,
    /// That job's id.
    pub last_job_id: Option<String>,
    /// The first tick strictly after `now`.
    pub next_tick: Option<DateTime<Utc>>,
}

/// The entries of `table` with each one's last and next run.
pub async fn status(
    db: &Db,
    table: &[CronEntry],
    now: DateTime<Utc>,
) -> Result<Vec<CronStatus>, StoreError> {
    let runs: Vec<(String, DateTime<Utc>, String)> = crate::on_pool!(db, |p| sqlx::query_as(
        "SELECT name, last_tick, job_id FROM cron_runs"
    )
    .fetch_all(p)
    .await)?;
    Ok(table
        .iter()
        .map(|entry| {
            let run = runs.iter().find(|(name, _, _)| name == entry.name);
            CronStatus {
                name: entry.name.to_string(),
                schedule: entry.expression.clone(),
                queue: entry.queue.to_string(),
                kind: entry.kind.to_string(),
                last_tick: run.map(|(_, tick, _)| *tick),
                last_job_id: run.map(|(_, _, id)| id.clone()),
                next_tick: entry.next_tick(now),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::board::admin;
    use crate::facade::Noop;
    use crate::test_db::TestDb;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn table() -> Vec<CronEntry> {
        vec![
            CronEntry::new("hourly", "0 17 * * * *", &Noop { seq: 1 }).unwrap(),
            CronEntry::new("minutely", "0 * * * * *", &Noop { seq: 2 }).unwrap(),
        ]
    }

    #[test]
    fn an_entry_knows_its_ticks_keys_and_job() {
        let table = table();
        let hourly = &table[0];
        let next = hourly.next_tick(at("2026-11-22T10:20:00Z")).unwrap();
        assert_eq!(next.to_rfc3339(), "2026-11-22T11:17:00+00:00");
        assert_eq!(
            hourly.tick_key(next),
            format!("cron:hourly:{}", next.timestamp())
        );
        assert_eq!((hourly.kind(), hourly.queue()), ("Noop", "bench"));
    }

    #[test]
    fn a_bad_expression_is_refused_with_its_name() {
        let error = CronEntry::new("broken", "every tuesday", &Noop { seq: 1 }).unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("broken") && text.contains("every tuesday"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_tick_is_enqueued_once_records_its_last_run_and_status_reports_last_and_next() {
        for t in TestDb::all().await {
            let db = &t.db;
            let table = table();
            let now = at("2026-11-23T10:20:05Z");
            let before = status(db, &table, now).await.unwrap();
            let hourly = before.iter().find(|s| s.name == "hourly").unwrap();
            assert_eq!(hourly.last_tick, None);
            assert_eq!(hourly.schedule, "0 17 * * * *");
            assert_eq!(
                (hourly.queue.as_str(), hourly.kind.as_str()),
                ("bench", "Noop")
            );
            assert_eq!(hourly.next_tick, Some(at("2026-11-23T11:17:00Z")));

            let entry = &table[0];
            let tick = at("2026-11-23T10:17:00Z");
            let Enqueued::New(id) = entry.enqueue_tick(db, tick, 3).await.unwrap() else {
                panic!("a new job")
            };
            assert_eq!(
                entry.enqueue_tick(db, tick, 3).await.unwrap(),
                Enqueued::Duplicate,
                "another scheduler's copy of the tick"
            );
            // A late replica enqueuing an older tick does not move the last run back.
            let older = at("2026-11-23T09:17:00Z");
            assert!(matches!(
                entry.enqueue_tick(db, older, 3).await.unwrap(),
                Enqueued::New(_)
            ));
            let after = status(db, &table, now).await.unwrap();
            let hourly = after.iter().find(|s| s.name == "hourly").unwrap();
            assert_eq!(hourly.last_tick, Some(tick), "{:?}", t.backend());
            assert_eq!(hourly.last_job_id.as_deref(), Some(id.as_str()));
            let job = admin::find(db, &id).await.unwrap().unwrap();
            assert_eq!(job.args, serde_json::json!({ "seq": 1 }));
            // The next tick moves it forward.
            let later = at("2026-11-23T11:17:00Z");
            let Enqueued::New(later_id) = entry.enqueue_tick(db, later, 3).await.unwrap() else {
                panic!("a new job")
            };
            let moved = status(db, &table, now).await.unwrap();
            let hourly = moved.iter().find(|s| s.name == "hourly").unwrap();
            assert_eq!(hourly.last_tick, Some(later));
            assert_eq!(hourly.last_job_id.as_deref(), Some(later_id.as_str()));
            let minutely = after.iter().find(|s| s.name == "minutely").unwrap();
            assert_eq!(minutely.last_tick, None, "other entries are untouched");
            assert_eq!(minutely.next_tick, Some(at("2026-11-23T10:21:00Z")));
            assert_eq!(after.len(), 2);
            t.drop_database().await;
        }
    }
}
