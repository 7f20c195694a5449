//! ReconcileUsage (daily): for each metered subscription, the minutes our ledger reported for
//! calls that ended in the current period so far, against the totals Stripe's meter holds for
//! the same span. A difference is logged and kept for `/metrics`; nothing is corrected
//! automatically (a difference means a bug or a manual change at Stripe, for a person to look
//! at). Calls not reported yet are counted apart, on neither side.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use zencall_core::jobs::payloads::ReconcileUsage;
use zencall_core::store::usage_reconciliations::{self, Reconciliation};
use zencall_core::store::{billing_subscriptions, billing_usage};
use zencall_queue::{JobError, JobRun};

use crate::JobContext;

/// `at` rounded down to the minute (Stripe's summaries want whole minutes).
fn minute_floor(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::minutes(1)).unwrap_or(at)
}

/// Runs one attempt.
pub async fn run(ctx: &JobContext, _job: ReconcileUsage, _run: JobRun) -> Result<(), JobError> {
    let now = ctx.clock.now();
    // Up to the next whole minute, so the calls of the last minute count on both sides.
    let end = minute_floor(now) + TimeDelta::minutes(1);
    let mut mismatched = 0;
    for subscription in billing_subscriptions::metered(&ctx.db).await? {
        let Some(plan) = subscription
            .plan
            .as_deref()
            .and_then(|name| ctx.settings.billing.plan(name))
        else {
            continue;
        };
        let start = minute_floor(subscription.current_period_start);
        if start >= end {
            continue;
        }
        let summaries = ctx
            .payments
            .list_meter_event_summaries(
                &plan.meter_id,
                &subscription.stripe_customer_id,
                start,
                end,
            )
            .await?;
        let stripe_minutes: f64 = summaries.iter().map(|s| s.aggregated_value).sum();
        let (ledger_minutes, unreported_calls) =
            billing_usage::reported_between(&ctx.db, &subscription.org_id, start, end).await?;
        let r = Reconciliation {
            stripe_subscription_id: subscription.stripe_subscription_id.clone(),
            org_id: subscription.org_id.clone(),
            period_start: start,
            period_end: end,
            ledger_minutes,
            stripe_minutes: stripe_minutes.round() as i64,
            unreported_calls,
            checked_at: now,
        };
        if r.difference() != 0 {
            mismatched += 1;
            tracing::warn!(org_id = %r.org_id, subscription = %r.stripe_subscription_id, ledger_minutes = r.ledger_minutes, stripe_minutes = r.stripe_minutes, difference = r.difference(), "usage at Stripe differs from the ledger");
        }
        usage_reconciliations::record(&ctx.db, &r).await?;
    }
    tracing::info!(mismatched, "usage reconciled");
    Ok(())
}
