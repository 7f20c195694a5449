//! DeleteConfigurator: delete the configurator at the voice platform (the one recorded, and one
//! a provisioning may have made without recording it), revoke its key, then forget it. Each
//! step tolerates "already gone", so a re-run finishes what a crashed one started.

use chrono::TimeDelta;
use zencall_core::jobs::payloads::DeleteConfigurator;
use zencall_core::store::api_keys;
use zencall_core::store::configurators::{self, ConfiguratorStatus};
use zencall_queue::{JobError, JobRun};

use crate::JobContext;

/// Runs one attempt.
pub async fn run(ctx: &JobContext, job: DeleteConfigurator, _run: JobRun) -> Result<(), JobError> {
    let Some(configurator) = configurators::find(&ctx.db, &job.configurator_id)
        .await?
        .filter(|c| c.org_id == job.org_id)
    else {
        tracing::info!("configurator gone already; nothing to do");
        return Ok(());
    };
    if configurator.status != ConfiguratorStatus::Deleting {
        return Ok(());
    }
    let mut at_voice_platform: Vec<String> =
        configurator.voice_assistant_id.iter().cloned().collect();
    if let Some(found) = ctx
        .voice
        .find_assistant(
            &configurator.id,
            configurator.created_at - TimeDelta::minutes(5),
        )
        .await?
        && !at_voice_platform.contains(&found)
    {
        at_voice_platform.push(found);
    }
    for id in &at_voice_platform {
        super::delete_assistant::gone_is_fine(ctx.voice.delete_assistant(id).await)?;
    }
    let now = ctx.clock.now();
    if let Some(key) = &configurator.api_key_id {
        let mut tx = ctx.db.begin().await?;
        api_keys::revoke_in(&mut tx, &configurator.org_id, key, now).await?;
        tx.commit().await?;
    }
    configurators::remove(&ctx.db, &configurator.id).await?;
    Ok(())
}
