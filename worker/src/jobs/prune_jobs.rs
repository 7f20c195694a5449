//! PruneJobs: delete finished jobs, and their attempt history, past their retention, and the
//! worker replicas stopped or dead for longer than theirs.

use zencall_core::jobs::payloads::PruneJobs;
use zencall_queue::board::admin;
use zencall_queue::runtime::replicas;
use zencall_queue::{JobError, JobRun};

use crate::JobContext;

/// Runs one attempt.
pub async fn run(ctx: &JobContext, _job: PruneJobs, _run: JobRun) -> Result<(), JobError> {
    let now = ctx.clock.now();
    let s = &ctx.settings.scheduler;
    let done_before = now - chrono::Duration::days(i64::from(s.retain_done_days));
    let dead_before = now - chrono::Duration::days(i64::from(s.retain_dead_days));
    let pruned = admin::prune(&ctx.db, done_before, dead_before).await?;
    tracing::info!(pruned, "pruned finished jobs");
    let gone_before = now - chrono::Duration::days(replicas::RETAIN_DAYS);
    let replicas = replicas::prune(&ctx.db, gone_before).await?;
    tracing::info!(replicas, "pruned stopped and dead worker replicas");
    Ok(())
}
