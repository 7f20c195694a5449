//! ProvisionConfigurator: create or update an organisation's configurator at the voice
//! platform, with its prompt in its language and our MCP server as its tool server. Each
//! attempt makes a fresh API key for the tool server (its secret is never stored, so a retry
//! cannot reuse the last one) and revokes the one before, so at most one key per configurator
//! is live. A re-run after a lost reply finds the assistant it created by our id and updates it
//! instead of creating a second one.

use chrono::TimeDelta;
use zencall_core::domain::assistant::default_voice;
use zencall_core::domain::configurator;
use zencall_core::jobs::payloads::ProvisionConfigurator;
use zencall_core::store::api_keys::{self, Scope};
use zencall_core::store::configurators::{self, Configurator, ConfiguratorStatus};
use zencall_providers::ProviderError;
use zencall_providers::voice::{AssistantSpec, McpToolServer};
use zencall_queue::{JobError, JobRun};

use crate::JobContext;

/// Runs one attempt.
pub async fn run(
    ctx: &JobContext,
    job: ProvisionConfigurator,
    run: JobRun,
) -> Result<(), JobError> {
    let configurator = configurators::find(&ctx.db, &job.configurator_id)
        .await?
        .filter(|c| c.org_id == job.org_id)
        .ok_or_else(|| {
            JobError::permanent(format!(
                "configurator {} of {} does not exist",
                job.configurator_id, job.org_id
            ))
        })?;
    if configurator.status != ConfiguratorStatus::Provisioning {
        tracing::info!(
            status = configurator.status.as_str(),
            "configurator no longer provisioning; nothing to do"
        );
        return Ok(());
    }
    let reason = match provision(ctx, &configurator, &run).await {
        Ok(()) => return Ok(()),
        Err(JobError::Permanent(reason)) => reason.clone(),
        Err(JobError::Transient { message, .. }) if run.is_last_attempt() => {
            format!("gave up after {} attempts: {message}", run.attempt)
        }
        Err(e) => return Err(e),
    };
    // The key of a configurator that is not at the voice platform opens nothing.
    let now = ctx.clock.now();
    let mut tx = ctx.db.begin().await?;
    if let Some(current) = configurators::find(&ctx.db, &configurator.id).await?
        && let Some(key) = &current.api_key_id
    {
        api_keys::revoke_in(&mut tx, &current.org_id, key, now).await?;
    }
    tx.commit().await?;
    configurators::fail(&ctx.db, &configurator.id, &reason, now).await?;
    Err(JobError::Permanent(reason))
}

async fn provision(
    ctx: &JobContext,
    configurator: &Configurator,
    run: &JobRun,
) -> Result<(), JobError> {
    let now = ctx.clock.now();
    let language = configurator.language;
    let code = language.code();
    let mut tx = ctx.db.begin().await?;
    let key = api_keys::create(
        &mut tx,
        &configurator.org_id,
        &format!("configurator ({code})"),
        Scope::Write,
        now,
    )
    .await?;
    if let Some(previous) = &configurator.api_key_id {
        api_keys::revoke_in(&mut tx, &configurator.org_id, previous, now).await?;
    }
    if !configurators::set_key(&mut tx, &configurator.id, &key.key.id, now).await? {
        // Deleted meanwhile: the key is not made (the transaction is dropped).
        tracing::info!("configurator no longer provisioning; nothing to do");
        return Ok(());
    }
    tx.commit().await?;

    let spec = AssistantSpec {
        external_id: configurator.id.clone(),
        name: configurator::name(language).to_string(),
        language: code.to_string(),
        system_prompt: configurator::system_prompt(language),
        greeting: configurator::greeting(language).to_string(),
        voice: default_voice(language).to_string(),
        server_url: format!(
            "{}/webhooks/vapi",
            ctx.settings.server.public_url.trim_end_matches('/')
        ),
        booking: None,
        tool_server: Some(McpToolServer {
            url: configurator.mcp_url.clone(),
            api_key: key.secret,
        }),
    };
    let existing = match &configurator.voice_assistant_id {
        Some(id) => Some(id.clone()),
        // A previous attempt may have created it and lost the reply.
        None if run.attempt > 1 => {
            ctx.voice
                .find_assistant(
                    &configurator.id,
                    configurator.updated_at - TimeDelta::minutes(5),
                )
                .await?
        }
        None => None,
    };
    let (voice_id, created) = match existing {
        Some(id) => match ctx.voice.update_assistant(&id, &spec).await {
            Ok(()) => (id, false),
            // Deleted at the voice platform since: made again.
            Err(ProviderError::NotFound { .. }) => (ctx.voice.create_assistant(&spec).await?, true),
            Err(e) => return Err(e.into()),
        },
        None => (ctx.voice.create_assistant(&spec).await?, true),
    };
    if !configurators::activate(&ctx.db, &configurator.id, &voice_id, ctx.clock.now()).await?
        && created
    {
        // Deleted while it was being made: what was made here goes too.
        super::delete_assistant::gone_is_fine(ctx.voice.delete_assistant(&voice_id).await)?;
    }
    Ok(())
}
