//! DeleteAssistant: detach and remove the number at the voice platform, release it at the
//! telephony provider, delete the assistant at the voice platform, then mark it deleted.
//! Each step tolerates "already gone", so a re-run finishes what a crashed one started.

use zencall_core::domain::assistant::AssistantStatus;
use zencall_core::jobs::payloads::DeleteAssistant;
use zencall_core::store::assistants::{self, Step};
use zencall_providers::ProviderError;
use zencall_queue::{JobError, JobRun};

use crate::JobContext;

/// Runs one attempt.
pub async fn run(ctx: &JobContext, job: DeleteAssistant, run: JobRun) -> Result<(), JobError> {
    let Some(a) = assistants::find(&ctx.db, &job.org_id, &job.assistant_id).await? else {
        return Err(JobError::permanent(format!(
            "assistant {} does not exist",
            job.assistant_id
        )));
    };
    if a.status != AssistantStatus::Deleting {
        return Ok(());
    }
    let now = || ctx.clock.now();
    if let Some(id) = &a.vapi_phone_number_id {
        gone_is_fine(ctx.voice.delete_number(id).await)?;
    }
    let mut sid = a.twilio_number_sid.clone();
    if sid.is_none() && run.attempt > 1 {
        // A provisioning attempt may have bought a number whose purchase was never recorded.
        sid = ctx
            .telephony
            .find_owned_number(&super::provision_assistant::purchase_label(&a))
            .await?
            .map(|n| n.sid);
    }
    if let Some(sid) = &sid {
        gone_is_fine(ctx.telephony.release_number(sid).await)?;
    }
    assistants::record(&ctx.db, &a.org_id, &a.id, Step::NumberReleased, now()).await?;
    if let Some(id) = &a.vapi_assistant_id {
        gone_is_fine(ctx.voice.delete_assistant(id).await)?;
        assistants::record(&ctx.db, &a.org_id, &a.id, Step::VapiAssistantDeleted, now()).await?;
    }
    assistants::record(&ctx.db, &a.org_id, &a.id, Step::Deleted, now()).await?;
    Ok(())
}

/// `result`, with "already gone" taken as done.
pub(crate) fn gone_is_fine(result: Result<(), ProviderError>) -> Result<(), JobError> {
    match result {
        Ok(()) | Err(ProviderError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
