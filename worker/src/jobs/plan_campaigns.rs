//! PlanCampaigns: the scheduler's minute tick for campaigns. It queues one PlanCampaign per
//! scheduled or running campaign; a re-run queues them again, which plans nothing twice since
//! planning passes take turns on each campaign's lock. The campaigns of an organisation whose
//! entitlement lapsed (no trialing or active subscription past the grace period) are paused
//! instead: they place no more calls until it pays and resumes them.

use std::collections::HashMap;

use zencall_core::domain::billing::Entitlement;
use zencall_core::domain::campaign::CampaignAction;
use zencall_core::jobs::payloads::{PlanCampaign, PlanCampaigns};
use zencall_core::store::{billing_subscriptions, campaigns, now_micros};
use zencall_queue::{JobError, JobRun};

use crate::JobContext;

/// Runs one attempt.
pub async fn run(ctx: &JobContext, _job: PlanCampaigns, _run: JobRun) -> Result<(), JobError> {
    let live = campaigns::live(&ctx.db).await?;
    let now = now_micros(ctx.clock.now());
    let mut lapsed: HashMap<String, bool> = HashMap::new();
    for (org_id, _) in &live {
        if lapsed.contains_key(org_id) {
            continue;
        }
        let entitlement = billing_subscriptions::entitlement_of(
            &ctx.db,
            org_id,
            ctx.settings.billing.grace_period_days,
            now,
        )
        .await?;
        lapsed.insert(
            org_id.clone(),
            matches!(entitlement, Some(Entitlement::Lapsed { .. })),
        );
    }
    let (to_pause, to_plan): (Vec<_>, Vec<_>) = live
        .iter()
        .partition(|(org_id, _)| lapsed.get(org_id).copied().unwrap_or(false));
    for (org_id, campaign_id) in &to_pause {
        let mut tx = ctx.db.begin().await?;
        match campaigns::transition(&mut tx, org_id, campaign_id, CampaignAction::Pause, now)
            .await?
        {
            Some(Ok(_)) => {
                tx.commit().await?;
                tracing::info!(%org_id, %campaign_id, "campaign paused: the organisation's subscription lapsed");
            }
            // Gone, or a state that cannot be paused: nothing to do.
            None | Some(Err(_)) => tx.rollback().await?,
        }
    }
    for chunk in to_plan.chunks(500) {
        let mut tx = ctx.db.begin().await?;
        for (org_id, campaign_id) in chunk {
            PlanCampaign::enqueue_now(&mut tx, org_id, campaign_id).await?;
        }
        tx.commit().await?;
    }
    tracing::debug!(
        campaigns = to_plan.len(),
        paused = to_pause.len(),
        "campaign planning queued"
    );
    Ok(())
}
