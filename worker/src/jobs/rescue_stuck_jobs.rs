//! RescueStuckJobs: put back jobs a live worker has held for longer than any run can take
//! (a wait for a free slot, then a run, each bounded by the job timeout), so a worker that lost
//! its database for good cannot strand them. Runners themselves rescue only dead replicas' jobs.

use zencall_core::jobs::payloads::RescueStuckJobs;
use zencall_queue::board::admin;
use zencall_queue::{JobError, JobRun};

use crate::JobContext;

/// Runs one attempt.
pub async fn run(ctx: &JobContext, _job: RescueStuckJobs, _run: JobRun) -> Result<(), JobError> {
    let longest = 2 * ctx.settings.queue.job_timeout_secs + 60;
    let cut_off =
        ctx.clock.now() - chrono::Duration::seconds(i64::try_from(longest).unwrap_or(i64::MAX / 2));
    let rescued = admin::rescue_stuck(&ctx.db, cut_off).await?;
    if rescued > 0 {
        tracing::warn!(rescued, "put back jobs stuck with a live worker");
    }
    Ok(())
}
