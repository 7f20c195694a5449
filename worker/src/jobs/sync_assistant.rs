//! SyncAssistant: push an assistant's latest prompt, voice and greeting to the voice platform.
//! Versions make it idempotent and order-proof: only a newer config than the synced one is
//! pushed, and the recorded synced version never goes backwards.

use zencall_core::domain::assistant::AssistantStatus;
use zencall_core::jobs::payloads::SyncAssistant;
use zencall_core::store::assistants::{self, Step};
use zencall_queue::{JobError, JobRun};

use crate::JobContext;

/// Runs one attempt.
pub async fn run(ctx: &JobContext, job: SyncAssistant, _run: JobRun) -> Result<(), JobError> {
    let Some(a) = assistants::find(&ctx.db, &job.org_id, &job.assistant_id).await? else {
        return Err(JobError::permanent(format!(
            "assistant {} does not exist",
            job.assistant_id
        )));
    };
    if !matches!(
        a.status,
        AssistantStatus::Active | AssistantStatus::Provisioning
    ) || a.synced_version >= a.config_version
    {
        return Ok(());
    }
    let Some(vapi_id) = &a.vapi_assistant_id else {
        // Provisioning pushes the config it read; a change made meanwhile waits for it.
        return Err(JobError::transient(
            "the assistant is not yet created at the voice platform",
        ));
    };
    ctx.voice
        .update_assistant(vapi_id, &super::assistant_spec(ctx, &a))
        .await?;
    assistants::record(
        &ctx.db,
        &a.org_id,
        &a.id,
        Step::Synced(a.config_version),
        ctx.clock.now(),
    )
    .await?;
    Ok(())
}
