//! Zencall scheduler: runs the cron table (defined in `zencall_core::jobs::cron`, so the board
//! can show it; each entry's ticks are enqueued by `zencall_queue::runtime::cron`). It only enqueues. Any number of replicas may run: each
//! tick is enqueued with the unique key `cron:{name}:{tick}`, so N schedulers give exactly one
//! job per tick. Ticks missed while every scheduler was down are not back-filled.

use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use zencall_core::config::SchedulerSettings;
use zencall_core::store::Db;
use zencall_queue::Enqueued;

pub use zencall_core::jobs::cron::{cron_table, cron_table_for};
pub use zencall_queue::runtime::cron::CronEntry;

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
