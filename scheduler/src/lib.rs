//! Zencall scheduler: the cron table. It only enqueues. Any number of replicas may run: each
//! tick is enqueued with the unique key `cron:{name}:{tick}`, so N schedulers give exactly one
//! job per tick. Ticks missed while every scheduler was down are not back-filled.

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use zencall_core::config::{SchedulerSettings, Settings};
use zencall_core::jobs::payloads::{PlanCampaigns, PruneJobs, RescueStuckJobs};
use zencall_core::jobs::{EnqueueOptions, Enqueued, Job, enqueue};
use zencall_core::store::{Db, StoreError};

/// One entry of the cron table.
#[derive(Debug, Clone)]
pub struct CronEntry {
    /// Stable name, part of each tick's unique key.
    pub name: &'static str,
    /// When, in the `cron` crate's syntax (with seconds), in UTC.
    pub schedule: cron::Schedule,
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

    /// Enqueues the job of `tick`, once across every scheduler replica.
    pub async fn enqueue_tick(
        &self,
        db: &Db,
        tick: DateTime<Utc>,
        max_attempts: u32,
    ) -> Result<Enqueued, StoreError> {
        let options = EnqueueOptions::unique(self.tick_key(tick));
        match self.kind {
            EntryKind::PlanCampaigns => {
                enqueue_job(db, &PlanCampaigns {}, options, max_attempts).await
            }
            EntryKind::PruneJobs => enqueue_job(db, &PruneJobs {}, options, max_attempts).await,
            EntryKind::RescueStuckJobs => {
                enqueue_job(db, &RescueStuckJobs {}, options, max_attempts).await
            }
        }
    }
}

async fn enqueue_job<J: Job>(
    db: &Db,
    job: &J,
    options: EnqueueOptions,
    max_attempts: u32,
) -> Result<Enqueued, StoreError> {
    enqueue(db, job, options, max_attempts).await
}

/// Runs the cron table configured by `settings` until `shutdown` resolves.
pub async fn run(
    db: Db,
    settings: &SchedulerSettings,
    max_attempts: u32,
    shutdown: impl Future<Output = ()>,
) {
    let table = cron_table_for(settings);
    tracing::info!(entries = table.len(), "cron scheduler started");
    tokio::pin!(shutdown);
    let mut last = Utc::now();
    loop {
        let next = table
            .iter()
            .filter_map(|e| e.next_tick(last).map(|t| (t, e)))
            .min_by_key(|(t, _)| *t);
        let Some((tick, _)) = next else { return };
        let wait = (tick - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(wait) => {}
        }
        for entry in table.iter().filter(|e| e.next_tick(last) == Some(tick)) {
            // A database outage must not stop the scheduler: log, and go on to the next tick.
            match entry.enqueue_tick(&db, tick, max_attempts).await {
                Ok(Enqueued::New(id)) => {
                    tracing::info!(cron = entry.name, %tick, job.id = %id, "cron tick enqueued")
                }
                Ok(Enqueued::Duplicate) => {
                    tracing::debug!(cron = entry.name, %tick, "cron tick already enqueued by another scheduler")
                }
                Err(e) => {
                    tracing::error!(cron = entry.name, %tick, error = %e, "cannot enqueue cron tick")
                }
            }
        }
        last = tick;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let at = DateTime::parse_from_rfc3339("2026-11-22T10:20:00Z")
            .map(|t| t.with_timezone(&Utc))
            .expect("time");
        let prune = table
            .iter()
            .find(|e| e.name == "prune-jobs")
            .expect("prune-jobs");
        let next = prune.next_tick(at).expect("tick");
        assert_eq!(next.to_rfc3339(), "2026-11-22T11:17:00+00:00");
        assert_eq!(
            prune.tick_key(next),
            format!("cron:prune-jobs:{}", next.timestamp())
        );
    }
}
