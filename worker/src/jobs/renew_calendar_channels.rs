//! RenewCalendarChannels (hourly): queue a WatchCalendar for each active channel that expires
//! within `calendar.renew_channels_within_hours`, stop the channels a newer one replaced (and
//! pending ones whose opening never finished), and forget expired OAuth states.

use chrono::Duration;
use zencall_core::jobs::payloads::{RenewCalendarChannels, WatchCalendar};
use zencall_core::store::calendar_channels::{self, Channel};
use zencall_core::store::calendar_connections::{self, ConnectionStatus};
use zencall_core::store::calendar_oauth_states;
use zencall_providers::ProviderError;
use zencall_providers::calendar_session::SessionError;
use zencall_queue::{JobError, JobRun};

use crate::JobContext;

/// Channels handled per tick; the rest wait for the next.
const BATCH: u32 = 500;

/// Runs one attempt.
pub async fn run(
    ctx: &JobContext,
    _job: RenewCalendarChannels,
    _run: JobRun,
) -> Result<(), JobError> {
    let now = ctx.clock.now();
    let within = i64::try_from(ctx.settings.calendar.renew_channels_within_hours).unwrap_or(24);
    let expiring =
        calendar_channels::expiring(&ctx.db, now + Duration::hours(within), BATCH).await?;
    for channel in &expiring {
        let mut tx = ctx.db.begin().await?;
        WatchCalendar::enqueue(
            &mut tx,
            &channel.org_id,
            &channel.connection_id,
            &format!("renew:{}", channel.id),
        )
        .await?;
        tx.commit().await?;
    }
    // A pending channel older than this never opened (its job died or gave up).
    let stale = now - Duration::hours(1);
    let mut stopped = 0;
    for channel in calendar_channels::to_stop(&ctx.db, stale, BATCH).await? {
        stop(ctx, &channel).await?;
        stopped += 1;
    }
    let pruned = calendar_oauth_states::prune_expired(&ctx.db, now).await?;
    tracing::info!(
        renewing = expiring.len(),
        stopped,
        pruned_states = pruned,
        "calendar channels renewed"
    );
    Ok(())
}

/// Stops one channel at Google when it can, then records it stopped.
pub async fn stop(ctx: &JobContext, channel: &Channel) -> Result<(), JobError> {
    let connection =
        calendar_connections::find(&ctx.db, &channel.org_id, &channel.connection_id).await?;
    if let (Some(connection), Some(resource_id)) = (connection, channel.resource_id.as_deref())
        && connection.status == ConnectionStatus::Active
    {
        let provider = ctx.calendar.as_ref();
        let channel_id = channel.id.as_str();
        let outcome = ctx
            .calendar_session()
            .call(&connection, |access| async move {
                provider
                    .stop_channel(&access, channel_id, resource_id)
                    .await
            })
            .await;
        match outcome {
            // Already stopped or expired at Google: nothing left to stop.
            Ok(()) | Err(SessionError::Provider(ProviderError::NotFound { .. })) => {}
            // The grant is gone: the channel dies with it.
            Err(SessionError::GrantLost(_) | SessionError::Inactive(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // Without an active connection there is no token to stop it with; it expires by itself and
    // its notifications are refused.
    calendar_channels::mark_stopped(&ctx.db, &channel.org_id, &channel.id, ctx.clock.now()).await?;
    Ok(())
}
