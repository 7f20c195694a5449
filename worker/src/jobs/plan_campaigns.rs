//! PlanCampaigns: the scheduler's minute tick for campaigns. It queues one PlanCampaign per
//! scheduled or running campaign; a re-run queues them again, which plans nothing twice since
//! planning passes take turns on each campaign's lock.

use zencall_core::jobs::payloads::{PlanCampaign, PlanCampaigns};
use zencall_core::store::campaigns;
use zencall_queue::{JobError, JobRun};

use crate::JobContext;

/// Runs one attempt.
pub async fn run(ctx: &JobContext, _job: PlanCampaigns, _run: JobRun) -> Result<(), JobError> {
    let live = campaigns::live(&ctx.db).await?;
    for chunk in live.chunks(500) {
        let mut tx = ctx.db.begin().await?;
        for (org_id, campaign_id) in chunk {
            PlanCampaign::enqueue_now(&mut tx, org_id, campaign_id).await?;
        }
        tx.commit().await?;
    }
    tracing::debug!(campaigns = live.len(), "campaign planning queued");
    Ok(())
}
