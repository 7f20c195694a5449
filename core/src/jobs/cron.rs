//! The cron table: which job each schedule enqueues, and when. The scheduler runs it (any
//! number of replicas: each tick is enqueued with the unique key `cron:{name}:{tick}`, so N
//! schedulers give exactly one job per tick), and the board shows it with each entry's last
//! and next run. The tick that enqueued a job is recorded in `cron_runs`, in the job's own
//! transaction.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::payloads::{PlanCampaigns, PruneJobs, RescueStuckJobs};
use super::{EnqueueOptions, Enqueued, Job, QueueName, enqueue_in};
use crate::config::{SchedulerSettings, Settings};
use crate::store::{Db, StoreError, Tx};

/// One entry of the cron table.
#[derive(Debug, Clone)]
pub struct CronEntry {
    /// Stable name, part of each tick's unique key.
    pub name: &'static str,
    /// When, in the `cron` crate's syntax (with seconds), in UTC.
    pub schedule: cron::Schedule,
    /// The expression `schedule` was parsed from, as configured.
    pub expression: String,
    kind: EntryKind,
}

#[derive(Debug, Clone, Copy)]
enum EntryKind {
    PlanCampaigns,
    PruneJobs,
    RescueStuckJobs,
}

/// The platform's cron table, with the built-in configuration.
pub fn cron_table() -> Vec<CronEntry> {
    let defaults = Settings::defaults()
        .unwrap_or_else(|e| panic!("the built-in configuration is invalid: {e}"));
    cron_table_for(&defaults.scheduler)
}

/// The platform's cron table, with the configured schedules (`[scheduler]`).
pub fn cron_table_for(settings: &SchedulerSettings) -> Vec<CronEntry> {
    let entry = |name, expr: &str, kind| CronEntry {
        name,
        // Constants checked by the tests below, or configuration checked when it was loaded.
        schedule: cron::Schedule::from_str(expr)
            .unwrap_or_else(|e| panic!("cron expression {expr}: {e}")),
        expression: expr.to_string(),
        kind,
    };
    vec![
        entry("plan-campaigns", "0 * * * * *", EntryKind::PlanCampaigns),
        entry("prune-jobs", "0 17 * * * *", EntryKind::PruneJobs),
        entry(
            "rescue-stuck-jobs",
            &settings.rescue_stuck_jobs_cron,
            EntryKind::RescueStuckJobs,
        ),
    ]
}

impl CronEntry {
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
        match self.kind {
            EntryKind::PlanCampaigns => PlanCampaigns::KIND,
            EntryKind::PruneJobs => PruneJobs::KIND,
            EntryKind::RescueStuckJobs => RescueStuckJobs::KIND,
        }
    }

    /// The queue that job runs on.
    pub fn queue(&self) -> QueueName {
        match self.kind {
            EntryKind::PlanCampaigns => PlanCampaigns::QUEUE,
            EntryKind::PruneJobs => PruneJobs::QUEUE,
            EntryKind::RescueStuckJobs => RescueStuckJobs::QUEUE,
        }
    }

    /// Enqueues the job of `tick`, once across every scheduler replica, and records the tick
    /// as this entry's last run when the job is new.
    pub async fn enqueue_tick(
        &self,
        db: &Db,
        tick: DateTime<Utc>,
        max_attempts: u32,
    ) -> Result<Enqueued, StoreError> {
        let options = EnqueueOptions::unique(self.tick_key(tick));
        let mut tx = db.begin().await?;
        let enqueued = match self.kind {
            EntryKind::PlanCampaigns => {
                enqueue_in(&mut tx, &PlanCampaigns {}, options, max_attempts).await?
            }
            EntryKind::PruneJobs => {
                enqueue_in(&mut tx, &PruneJobs {}, options, max_attempts).await?
            }
            EntryKind::RescueStuckJobs => {
                enqueue_in(&mut tx, &RescueStuckJobs {}, options, max_attempts).await?
            }
        };
        if let Enqueued::New(id) = &enqueued {
            record_run(&mut tx, self.name, tick, id).await?;
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
    let now = crate::store::now_micros(Utc::now());
    // Ticks are whole seconds, so their stored forms compare in time order on both backends.
    let tick = crate::store::now_micros(tick);
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

/// The configured cron table with each schedule's last and next run.
pub async fn status(
    db: &Db,
    settings: &SchedulerSettings,
    now: DateTime<Utc>,
) -> Result<Vec<CronStatus>, StoreError> {
    let runs: Vec<(String, DateTime<Utc>, String)> = crate::on_pool!(db, |p| sqlx::query_as(
        "SELECT name, last_tick, job_id FROM cron_runs"
    )
    .fetch_all(p)
    .await)?;
    Ok(cron_table_for(settings)
        .into_iter()
        .map(|entry| {
            let run = runs.iter().find(|(name, _, _)| name == entry.name);
            CronStatus {
                name: entry.name.to_string(),
                schedule: entry.expression.clone(),
                queue: entry.queue().as_str().to_string(),
                kind: entry.kind().to_string(),
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
    use crate::jobs::admin;
    use crate::store::test_db::TestDb;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn every_cron_expression_parses_and_names_are_unique() {
        let table = cron_table();
        let mut names: Vec<_> = table.iter().map(|e| e.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), table.len());
    }

    #[test]
    fn prune_runs_hourly_at_minute_seventeen() {
        let table = cron_table();
        let prune = table.iter().find(|e| e.name == "prune-jobs").unwrap();
        let next = prune.next_tick(at("2026-11-22T10:20:00Z")).unwrap();
        assert_eq!(next.to_rfc3339(), "2026-11-22T11:17:00+00:00");
        assert_eq!(
            prune.tick_key(next),
            format!("cron:prune-jobs:{}", next.timestamp())
        );
        assert_eq!(
            (prune.kind(), prune.queue()),
            ("PruneJobs", QueueName::Maintenance)
        );
    }

    #[tokio::test]
    async fn a_tick_records_its_last_run_and_status_reports_last_and_next() {
        let settings = Settings::defaults().unwrap().scheduler;
        for t in TestDb::all().await {
            let db = &t.db;
            let now = at("2026-11-23T10:20:05Z");
            let before = status(db, &settings, now).await.unwrap();
            let prune = before.iter().find(|s| s.name == "prune-jobs").unwrap();
            assert_eq!(prune.last_tick, None);
            assert_eq!(prune.schedule, "0 17 * * * *");
            assert_eq!(
                (prune.queue.as_str(), prune.kind.as_str()),
                ("maintenance", "PruneJobs")
            );
            assert_eq!(prune.next_tick, Some(at("2026-11-23T11:17:00Z")));

            let entry = cron_table_for(&settings)
                .into_iter()
                .find(|e| e.name == "prune-jobs")
                .unwrap();
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
            let after = status(db, &settings, now).await.unwrap();
            let prune = after.iter().find(|s| s.name == "prune-jobs").unwrap();
            assert_eq!(prune.last_tick, Some(tick), "{:?}", t.backend());
            assert_eq!(prune.last_job_id.as_deref(), Some(id.as_str()));
            assert!(admin::find(db, &id).await.unwrap().is_some());
            // The next tick moves it forward.
            let later = at("2026-11-23T11:17:00Z");
            let Enqueued::New(later_id) = entry.enqueue_tick(db, later, 3).await.unwrap() else {
                panic!("a new job")
            };
            let moved = status(db, &settings, now).await.unwrap();
            let prune = moved.iter().find(|s| s.name == "prune-jobs").unwrap();
            assert_eq!(prune.last_tick, Some(later));
            assert_eq!(prune.last_job_id.as_deref(), Some(later_id.as_str()));
            let plan = after.iter().find(|s| s.name == "plan-campaigns").unwrap();
            assert_eq!(plan.last_tick, None, "other entries are untouched");
            assert_eq!(plan.next_tick, Some(at("2026-11-23T10:21:00Z")));
            assert_eq!(after.len(), cron_table().len());
            t.drop_database().await;
        }
    }
}
