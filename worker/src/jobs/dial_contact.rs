//! DialContact: places one planned attempt. Just before placing, every rule is checked again
//! (the campaign still running, the window open in the contact's time zone, the lists and the
//! caps), so what changed since planning is respected; a call that may no longer be placed is
//! given back to its contact. Calls from one caller number are paced (calls per second, shared
//! by every worker replica through Redis when configured): a dial over the pace is queued
//! again for when it may go, without using one of the job's attempts.
//!
//! The attempt id is the call's idempotency key: the attempt is marked `placing` before the
//! voice platform is asked, and a re-run that finds it `placing` first looks for the call the
//! earlier run may have placed (by the id in its metadata) before asking again with the same
//! key, so a re-run never places a second call.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use zencall_core::domain::campaign::CampaignState;
use zencall_core::domain::campaign::{Decision, DialContext, Outcome, decide};
use zencall_core::jobs::payloads::{DialContact, PlanCampaign};
use zencall_core::store::call_attempts::{self, Attempt, AttemptState};
use zencall_core::store::campaign_contacts::{self, Contact, ContactMove};
use zencall_core::store::campaigns::{self, Campaign};
use zencall_core::store::{assistants, now_micros};
use zencall_providers::voice::OutboundCall;
use zencall_queue::{EnqueueOptions, JobError, JobRun, enqueue_in};

use crate::JobContext;

/// How far before the attempt was marked `placing` a call found at the platform may have been
/// created (clocks differ).
const FIND_SLACK: TimeDelta = TimeDelta::minutes(5);

/// Runs one attempt.
pub async fn run(ctx: &JobContext, job: DialContact, _run: JobRun) -> Result<(), JobError> {
    let Some(attempt) = call_attempts::find(&ctx.db, &job.attempt_id).await? else {
        return Err(JobError::permanent(format!(
            "attempt {} does not exist",
            job.attempt_id
        )));
    };
    if attempt.org_id != job.org_id {
        return Err(JobError::permanent(format!(
            "attempt {} is not of organisation {}",
            attempt.id, job.org_id
        )));
    }
    if !matches!(attempt.state, AttemptState::Planned | AttemptState::Placing) {
        return Ok(());
    }
    let Some(campaign) = campaigns::find(&ctx.db, &attempt.org_id, &attempt.campaign_id).await?
    else {
        return Err(JobError::permanent(format!(
            "campaign {} does not exist",
            attempt.campaign_id
        )));
    };
    let Some(contact) = campaign_contacts::find(&ctx.db, &attempt.contact_id).await? else {
        return Err(JobError::permanent(format!(
            "contact {} does not exist",
            attempt.contact_id
        )));
    };
    let call = match outbound_call(ctx, &campaign, &contact, &attempt).await? {
        Ok(call) => call,
        Err(reason) => return fail(ctx, &campaign, &attempt, &reason).await,
    };
    if attempt.state == AttemptState::Planned {
        if !still_allowed(ctx, &campaign, &contact, &attempt).await? {
            return Ok(());
        }
        if let Some(wait) = pace(ctx, &campaign.caller_number).await? {
            requeue(ctx, &job, wait).await?;
            return Ok(());
        }
        let now = now_micros(ctx.clock.now());
        if !call_attempts::start_placing(&ctx.db, &attempt.id, now).await? {
            // Paused, cancelled, or placed by a twin run meanwhile.
            return Ok(());
        }
    } else {
        let since = attempt.placed_at.unwrap_or(attempt.planned_at) - FIND_SLACK;
        if let Some(id) = ctx
            .voice
            .find_call(&attempt.id, &call.assistant_id, since)
            .await?
        {
            call_attempts::mark_placed(&ctx.db, &attempt.id, &id).await?;
            return Ok(());
        }
    }
    match ctx.voice.place_call(&call).await {
        Ok(id) => {
            call_attempts::mark_placed(&ctx.db, &attempt.id, &id).await?;
            tracing::info!(attempt = %attempt.id, call = %id, "call placed");
            Ok(())
        }
        Err(e) if e.is_transient() => Err(e.into()),
        Err(e) => fail(ctx, &campaign, &attempt, &e.to_string()).await,
    }
}

/// The call to place, or why it cannot be (the caller number or assistant is not usable).
async fn outbound_call(
    ctx: &JobContext,
    campaign: &Campaign,
    contact: &Contact,
    attempt: &Attempt,
) -> Result<Result<OutboundCall, String>, JobError> {
    let assistant = assistants::find(&ctx.db, &campaign.org_id, &campaign.assistant_id).await?;
    let Some(assistant_id) = assistant.and_then(|a| a.vapi_assistant_id) else {
        return Ok(Err(format!(
            "assistant {} is not provisioned at the voice platform",
            campaign.assistant_id
        )));
    };
    let caller = assistants::find_by_number(&ctx.db, &campaign.caller_number)
        .await?
        .filter(|a| a.org_id == campaign.org_id);
    let Some(phone_number_id) = caller.and_then(|a| a.vapi_phone_number_id) else {
        return Ok(Err(format!(
            "the caller number {} is not one of the organisation's provisioned numbers",
            campaign.caller_number
        )));
    };
    Ok(Ok(OutboundCall {
        attempt_id: attempt.id.clone(),
        assistant_id,
        phone_number_id,
        caller_number: campaign.caller_number.clone(),
        customer_number: contact.number.clone(),
        customer_name: contact.name.clone(),
        variables: contact.variables.clone(),
    }))
}

/// Checks every rule again just before placing; when one says no, the attempt is given back
/// and the contact moved as the rule says. True when the call may go.
async fn still_allowed(
    ctx: &JobContext,
    campaign: &Campaign,
    contact: &Contact,
    attempt: &Attempt,
) -> Result<bool, JobError> {
    let now = now_micros(ctx.clock.now());
    let mut tx = ctx.db.begin().await?;
    let Some(campaign) = campaigns::lock(&mut tx, &campaign.org_id, &campaign.id).await? else {
        return Ok(false);
    };
    let rules = campaign.rules()?;
    let tz = contact
        .time_zone
        .parse::<chrono_tz::Tz>()
        .map_err(|_| JobError::permanent(format!("contact {}: unknown time zone", contact.id)))?;
    let decision = if campaign.state == CampaignState::Running {
        let facts = call_attempts::person_facts(
            &mut tx,
            &campaign.org_id,
            &contact.number,
            now,
            Some(&attempt.id),
        )
        .await?;
        let dial = DialContext {
            rules: &rules,
            purpose: campaign.purpose,
            max_attempts: campaign.max_attempts,
            ends_at: campaign.ends_at,
        };
        decide(&dial, tz, contact.attempts.saturating_sub(1), &facts, now)
    } else {
        Decision::WaitUntil(now)
    };
    let to = match decision {
        Decision::Dial => {
            tx.rollback().await?;
            return Ok(true);
        }
        Decision::WaitUntil(at) => ContactMove::Wait(at),
        Decision::Skip(reason) => ContactMove::Skip(reason),
        Decision::Exhausted => ContactMove::Exhausted,
    };
    let detail = match to {
        ContactMove::Wait(_) if campaign.state != CampaignState::Running => {
            format!("the campaign is {}", campaign.state.as_str())
        }
        ContactMove::Wait(at) => format!("not allowed before {}", at.to_rfc3339()),
        ContactMove::Skip(reason) => format!("skipped: {}", reason.as_str()),
        ContactMove::Exhausted => "no attempt left".to_string(),
    };
    if call_attempts::cancel(&mut tx, attempt, &detail, now).await?
        && campaign.state == CampaignState::Running
    {
        campaign_contacts::settle(&mut tx, &contact.id, to, now).await?;
        PlanCampaign::enqueue_now(&mut tx, &campaign.org_id, &campaign.id).await?;
    }
    tx.commit().await?;
    tracing::info!(attempt = %attempt.id, detail, "call not placed");
    Ok(false)
}

/// The wait before the next call from `caller_number` may go, if it may not go now.
async fn pace(ctx: &JobContext, caller_number: &str) -> Result<Option<Duration>, JobError> {
    let per_second = ctx.settings.campaigns.calls_per_second_per_number;
    let interval = Duration::from_secs_f64(1.0 / per_second);
    match ctx
        .pacer
        .check(&format!("pace:{caller_number}"), interval, 1)
        .await
    {
        Ok(Ok(())) => Ok(None),
        Ok(Err(wait)) => Ok(Some(wait)),
        Err(e) => Err(JobError::transient(e.to_string())),
    }
}

/// Queues the same dial again after `wait`.
async fn requeue(ctx: &JobContext, job: &DialContact, wait: Duration) -> Result<(), JobError> {
    let run_at = Utc::now() + TimeDelta::from_std(wait).unwrap_or(TimeDelta::seconds(1));
    let mut tx = ctx.db.begin().await?;
    enqueue_in(
        &mut tx,
        job,
        EnqueueOptions {
            run_at: Some(run_at),
            ..EnqueueOptions::default()
        },
        ctx.settings.queue.max_attempts,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The voice platform refused the call for good: the attempt fails (the contact is retried
/// per the policy) and the job ends without error, since the outcome is recorded.
async fn fail(
    ctx: &JobContext,
    campaign: &Campaign,
    attempt: &Attempt,
    reason: &str,
) -> Result<(), JobError> {
    let now = now_micros(ctx.clock.now());
    let mut tx = ctx.db.begin().await?;
    call_attempts::record_outcome(
        &mut tx,
        campaign,
        attempt,
        Outcome::Failed,
        Some(reason),
        None,
        now,
    )
    .await?;
    PlanCampaign::enqueue_now(&mut tx, &campaign.org_id, &campaign.id).await?;
    tx.commit().await?;
    tracing::warn!(attempt = %attempt.id, reason, "call failed before it was placed");
    Ok(())
}
