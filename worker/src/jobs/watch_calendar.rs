//! WatchCalendar: open a push-notification channel on a connection's calendar, addressed to
//! `server.public_url/webhooks/google-calendar` with a token of its own. The channel is
//! recorded `pending` (with the token's hash) before Google is asked, so the `sync` message
//! Google sends at once is verified; once open it becomes `active` and the connection's older
//! channel `replaced`, to be stopped by RenewCalendarChannels. A re-run opens another channel,
//! which replaces this one: never two active channels.

use rand::RngExt;
use secrecy::SecretString;
use zencall_core::domain::ids::new_id;
use zencall_core::jobs::payloads::WatchCalendar;
use zencall_core::store::calendar_channels;
use zencall_core::store::calendar_connections::{self, ConnectionStatus};
use zencall_providers::calendar::WatchRequest;
use zencall_queue::{JobError, JobRun};

use crate::JobContext;

/// Runs one attempt.
pub async fn run(ctx: &JobContext, job: WatchCalendar, _run: JobRun) -> Result<(), JobError> {
    let Some(connection) =
        calendar_connections::find(&ctx.db, &job.org_id, &job.connection_id).await?
    else {
        return Err(JobError::permanent(format!(
            "calendar connection {} does not exist",
            job.connection_id
        )));
    };
    if connection.status != ConnectionStatus::Active {
        tracing::info!(connection.id = %connection.id, status = connection.status.as_str(), "calendar watch skipped: the connection is not active");
        return Ok(());
    }
    let channel_id = new_id("chan");
    let token: String = rand::rng()
        .random::<[u8; 32]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let now = ctx.clock.now();
    calendar_channels::insert_pending(
        &ctx.db,
        &channel_id,
        &connection.org_id,
        &connection.id,
        &connection.calendar_id,
        &calendar_channels::token_hash(&token),
        now,
    )
    .await?;
    let request = WatchRequest {
        channel_id: channel_id.clone(),
        token: SecretString::from(token),
        address: format!(
            "{}/webhooks/google-calendar",
            ctx.settings.server.public_url.trim_end_matches('/')
        ),
        ttl: Some(std::time::Duration::from_secs(
            ctx.settings.calendar.channel_ttl_hours.saturating_mul(3600),
        )),
    };
    let provider = ctx.calendar.as_ref();
    let calendar_id = connection.calendar_id.as_str();
    let request = &request;
    let channel = ctx
        .calendar_session()
        .call(&connection, |access| async move {
            provider.watch_events(&access, calendar_id, request).await
        })
        .await?;
    calendar_channels::activate(
        &ctx.db,
        &connection.org_id,
        &channel_id,
        &channel.resource_id,
        channel.expiration,
        ctx.clock.now(),
    )
    .await?;
    tracing::info!(connection.id = %connection.id, channel.id = %channel_id, expires_at = ?channel.expiration, "calendar watched");
    Ok(())
}
