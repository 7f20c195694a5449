//! ReportUsage: send one ended call's billable minutes to the billing meter of the
//! organisation's plan. The meter event's identifier is the call id, so Stripe counts a call
//! once however often it is sent; the ledger row is marked reported after Stripe accepted it,
//! and a reported row is never sent again.

use zencall_core::jobs::payloads::ReportUsage;
use zencall_core::store::{billing_customers, billing_subscriptions, billing_usage};
use zencall_providers::payments::MeterEvent;
use zencall_queue::{JobError, JobRun};

use crate::JobContext;

/// Runs one attempt.
pub async fn run(ctx: &JobContext, job: ReportUsage, _run: JobRun) -> Result<(), JobError> {
    let Some(usage) = billing_usage::find(&ctx.db, &job.org_id, &job.call_id).await? else {
        return Err(JobError::permanent(format!(
            "call {} of {} has no usage record",
            job.call_id, job.org_id
        )));
    };
    if usage.reported_at.is_some() {
        return Ok(());
    }
    let Ok(value) = u64::try_from(usage.billable_minutes) else {
        return Err(JobError::permanent(format!(
            "call {} has negative minutes",
            usage.call_id
        )));
    };
    if value == 0 {
        // Nothing to bill: the row is settled without a meter event.
        billing_usage::mark_reported(&ctx.db, &job.org_id, &job.call_id, ctx.clock.now()).await?;
        return Ok(());
    }
    let customer = billing_customers::find(&ctx.db, &job.org_id).await?;
    let plan = billing_subscriptions::current(&ctx.db, &job.org_id)
        .await?
        .and_then(|s| s.plan)
        .and_then(|name| ctx.settings.billing.plan(&name).cloned());
    let (Some(customer), Some(plan)) = (customer, plan) else {
        // Calls of an organisation that never subscribed (its grace period) are not billed;
        // the row stays unreported, visible in the ledger.
        tracing::info!(org_id = %job.org_id, call_id = %job.call_id, "usage not reported: the organisation has no customer or no known plan");
        return Ok(());
    };
    let event = MeterEvent {
        event_name: plan.meter_event_name.clone(),
        customer_id: customer.stripe_customer_id,
        value,
        identifier: usage.call_id.clone(),
        // Stripe refuses events from the future; a call reported as ending later than now
        // (a clock ahead of ours) is metered now.
        timestamp: usage.ended_at.min(ctx.clock.now()),
    };
    ctx.payments.report_meter_event(&event).await?;
    billing_usage::mark_reported(&ctx.db, &job.org_id, &job.call_id, ctx.clock.now()).await?;
    tracing::info!(org_id = %job.org_id, call_id = %job.call_id, minutes = value, "usage reported");
    Ok(())
}
