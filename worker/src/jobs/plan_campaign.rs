//! PlanCampaign: one planning pass over one campaign, run by the scheduler every minute, after
//! each state change, and after each call ends. Under the campaign's lock it:
//! 1. starts a scheduled campaign whose start came, completes one whose end passed;
//! 2. closes attempts whose end never came (a lost report, a dead dialing job);
//! 3. picks due contacts, one open time zone at a time, up to the free concurrency, asks
//!    [`decide`] about each, and plans a [`DialContact`] for those it may call now; the others
//!    are moved to when they may be called, or skipped for good with the reason;
//! 4. completes the campaign once every contact is done.
//!
//! Work is proportional to the due contacts of open time zones: contacts that are not due,
//! or whose window is closed, are not read.

use chrono::{DateTime, TimeDelta, Utc};
use zencall_core::domain::campaign::{CampaignState, Decision, DialContext, Outcome, decide};
use zencall_core::jobs::payloads::{DialContact, PlanCampaign};
use zencall_core::store::campaign_contacts::{self, ContactMove};
use zencall_core::store::campaigns::{self, Campaign};
use zencall_core::store::{Tx, call_attempts, now_micros};
use zencall_queue::{EnqueueOptions, JobError, JobRun, enqueue_in};

use crate::JobContext;

/// Contacts read per query while filling free slots.
const READ_BATCH: u32 = 200;
/// Contacts considered per time zone and pass, at most, so one pass stays short.
const MAX_CONSIDERED: usize = 5_000;

/// What one planning pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanReport {
    /// Calls planned.
    pub planned: u32,
    /// Contacts moved to a later time.
    pub postponed: u32,
    /// Contacts skipped or exhausted.
    pub settled: u32,
    /// Overdue attempts closed.
    pub closed: u32,
    /// The campaign's state after the pass.
    pub state: Option<CampaignState>,
}

/// Runs one attempt.
pub async fn run(ctx: &JobContext, job: PlanCampaign, _run: JobRun) -> Result<(), JobError> {
    let report = plan(ctx, &job.org_id, &job.campaign_id).await?;
    tracing::debug!(campaign = %job.campaign_id, ?report, "campaign planned");
    Ok(())
}

/// One planning pass over the campaign, in one transaction.
pub async fn plan(
    ctx: &JobContext,
    org_id: &str,
    campaign_id: &str,
) -> Result<PlanReport, JobError> {
    let now = now_micros(ctx.clock.now());
    let mut tx = ctx.db.begin().await?;
    let Some(mut campaign) = campaigns::lock(&mut tx, org_id, campaign_id).await? else {
        return Err(JobError::permanent(format!(
            "campaign {campaign_id} does not exist"
        )));
    };
    let mut report = PlanReport::default();
    if campaign.state == CampaignState::Scheduled && now >= campaign.starts_at {
        campaigns::set_state(&mut tx, &campaign.id, CampaignState::Running, now).await?;
        campaign.state = CampaignState::Running;
    }
    if campaign.state.is_finished() || campaign.state == CampaignState::Draft {
        report.state = Some(campaign.state);
        tx.commit().await?;
        return Ok(report);
    }
    report.closed = close_overdue(ctx, &mut tx, &campaign, now).await?;
    if campaign.ends_at.is_some_and(|end| now >= end) {
        call_attempts::cancel_unplaced(&mut tx, &campaign.id, true, now).await?;
        campaign_contacts::cancel_pending(&mut tx, &campaign.id, "campaign_ended", now).await?;
        campaigns::set_state(&mut tx, &campaign.id, CampaignState::Completed, now).await?;
        report.state = Some(CampaignState::Completed);
        tx.commit().await?;
        return Ok(report);
    }
    if campaign.state == CampaignState::Running {
        fill(ctx, &mut tx, &campaign, now, &mut report).await?;
        if !campaign_contacts::has_unfinished(&mut tx, &campaign.id).await? {
            campaigns::set_state(&mut tx, &campaign.id, CampaignState::Completed, now).await?;
            campaign.state = CampaignState::Completed;
        }
    }
    report.state = Some(campaign.state);
    tx.commit().await?;
    Ok(report)
}

/// Closes attempts whose end never came: a placed call without a report is failed (and its
/// contact retried per the policy), a planned call never placed is given back.
async fn close_overdue(
    ctx: &JobContext,
    tx: &mut Tx,
    campaign: &Campaign,
    now: DateTime<Utc>,
) -> Result<u32, JobError> {
    let settings = &ctx.settings.campaigns;
    let minutes = |m: u64| TimeDelta::minutes(i64::try_from(m).unwrap_or(i64::MAX / 120_000));
    let overdue = call_attempts::overdue(
        tx,
        &campaign.id,
        now - minutes(settings.unplaced_timeout_minutes),
        now - minutes(settings.report_timeout_minutes),
    )
    .await?;
    let mut closed = 0;
    for attempt in overdue {
        let done = match attempt.state {
            call_attempts::AttemptState::Placed => {
                let detail = format!(
                    "no end-of-call report within {} minutes",
                    settings.report_timeout_minutes
                );
                call_attempts::record_outcome(
                    tx,
                    campaign,
                    &attempt,
                    Outcome::Failed,
                    Some(&detail),
                    None,
                    now,
                )
                .await?
            }
            _ => {
                let detail = format!(
                    "not placed within {} minutes",
                    settings.unplaced_timeout_minutes
                );
                call_attempts::cancel(tx, &attempt, &detail, now).await?
            }
        };
        closed += u32::from(done);
    }
    Ok(closed)
}

/// Plans calls for due contacts up to the campaign's free concurrency.
async fn fill(
    ctx: &JobContext,
    tx: &mut Tx,
    campaign: &Campaign,
    now: DateTime<Utc>,
    report: &mut PlanReport,
) -> Result<(), JobError> {
    let open = call_attempts::open_count(tx, &campaign.id).await?;
    let mut free = campaign.max_concurrent_calls.saturating_sub(open);
    if free == 0 {
        return Ok(());
    }
    let rules = campaign.rules()?;
    let dial = DialContext {
        rules: &rules,
        purpose: campaign.purpose,
        max_attempts: campaign.max_attempts,
        ends_at: campaign.ends_at,
    };
    let zones = campaign_contacts::due_time_zones(tx, &campaign.id, now).await?;
    for zone in zones {
        let Ok(tz) = zone.parse::<chrono_tz::Tz>() else {
            tracing::warn!(campaign = %campaign.id, zone, "contacts with an unknown time zone");
            continue;
        };
        if !rules.window.is_open(now, tz) {
            // Closed here now: these contacts are not even read.
            continue;
        }
        let mut considered = 0;
        while free > 0 && considered < MAX_CONSIDERED {
            let batch =
                campaign_contacts::due(tx, &campaign.id, &zone, now, READ_BATCH.min(free * 4))
                    .await?;
            if batch.is_empty() {
                break;
            }
            considered += batch.len();
            for contact in batch {
                if free == 0 {
                    break;
                }
                let facts =
                    call_attempts::person_facts(tx, &campaign.org_id, &contact.number, now, None)
                        .await?;
                let to = match decide(&dial, tz, contact.attempts, &facts, now) {
                    Decision::Dial => {
                        match call_attempts::plan(
                            tx,
                            &campaign.org_id,
                            &campaign.id,
                            &contact.id,
                            &contact.number,
                            now,
                        )
                        .await?
                        {
                            Some(attempt_id) => {
                                let job = DialContact {
                                    org_id: campaign.org_id.clone(),
                                    attempt_id,
                                };
                                enqueue_in(
                                    tx,
                                    &job,
                                    EnqueueOptions::default(),
                                    ctx.settings.queue.max_attempts,
                                )
                                .await?;
                                free -= 1;
                                report.planned += 1;
                                continue;
                            }
                            // Someone else planned a call to this person meanwhile.
                            None => ContactMove::Wait(
                                now + zencall_core::domain::campaign::BUSY_ELSEWHERE_RETRY,
                            ),
                        }
                    }
                    Decision::WaitUntil(at) => ContactMove::Wait(at),
                    Decision::Skip(reason) => ContactMove::Skip(reason),
                    Decision::Exhausted => ContactMove::Exhausted,
                };
                match to {
                    ContactMove::Wait(_) => report.postponed += 1,
                    _ => report.settled += 1,
                }
                campaign_contacts::settle(tx, &contact.id, to, now).await?;
            }
        }
    }
    Ok(())
}
