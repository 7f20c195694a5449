//! The platform's cron table: which job each schedule enqueues, and when. The scheduler runs
//! it and the board shows it (see `zencall_queue::runtime::cron` for how ticks are enqueued
//! once across scheduler replicas).

use zencall_queue::runtime::cron::CronEntry;

use super::payloads::{
    PlanCampaigns, PruneJobs, ReconcileUsage, RenewCalendarChannels, RescueStuckJobs, SendReminders,
};
use crate::config::{SchedulerSettings, Settings};

/// The platform's cron table, with the built-in configuration.
pub fn cron_table() -> Vec<CronEntry> {
    let defaults = Settings::defaults()
        .unwrap_or_else(|e| panic!("the built-in configuration is invalid: {e}"));
    cron_table_for(&defaults.scheduler)
}

/// The platform's cron table, with the configured schedules (`[scheduler]`).
pub fn cron_table_for(settings: &SchedulerSettings) -> Vec<CronEntry> {
    // Constants checked by the tests below, or configuration checked when it was loaded.
    let entries = [
        CronEntry::new("plan-campaigns", "0 * * * * *", &PlanCampaigns {}),
        CronEntry::new("prune-jobs", "0 17 * * * *", &PruneJobs {}),
        CronEntry::new(
            "rescue-stuck-jobs",
            &settings.rescue_stuck_jobs_cron,
            &RescueStuckJobs {},
        ),
        // Hourly: channels are renewed a day (`calendar.renew_channels_within_hours`) ahead.
        CronEntry::new(
            "renew-calendar-channels",
            "0 41 * * * *",
            &RenewCalendarChannels {},
        ),
        // Every minute, at second 30: the appointment reminders now due.
        CronEntry::new("send-reminders", "30 * * * * *", &SendReminders {}),
        // Daily, at night: usage at Stripe against our ledger.
        CronEntry::new("reconcile-usage", "0 23 4 * * *", &ReconcileUsage {}),
    ];
    entries
        .into_iter()
        .map(|entry| entry.unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::{DateTime, Utc};
    use zencall_queue::Job;

    use super::*;
    use crate::jobs::QueueName;

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
    fn prune_runs_hourly_at_minute_seventeen_on_the_maintenance_queue() {
        let table = cron_table();
        let prune = table.iter().find(|e| e.name == "prune-jobs").unwrap();
        let next = prune.next_tick(at("2026-11-22T10:20:00Z")).unwrap();
        assert_eq!(next.to_rfc3339(), "2026-11-22T11:17:00+00:00");
        assert_eq!(
            (prune.kind(), prune.queue()),
            (PruneJobs::KIND, QueueName::Maintenance.as_str())
        );
    }

    #[test]
    fn the_rescue_schedule_comes_from_the_configuration() {
        let mut settings = Settings::defaults().unwrap().scheduler;
        settings.rescue_stuck_jobs_cron = "0 */5 * * * *".into();
        let table = cron_table_for(&settings);
        let rescue = table
            .iter()
            .find(|e| e.name == "rescue-stuck-jobs")
            .unwrap();
        assert_eq!(rescue.expression, "0 */5 * * * *");
        assert_eq!(rescue.kind(), RescueStuckJobs::KIND);
    }
}
