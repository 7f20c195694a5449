//! SendReminders (every minute): a text message to the caller of each booked appointment now
//! within `appointments.reminder_before_minutes` of its start, from the assistant's number, in
//! its language. Each reminder is recorded as being sent before the provider is called and is
//! never sent from any other state: a crash in between leaves it unsent (never sent twice).
//! A refusal that created no message (rate limited, unavailable) is forgotten, so the next tick
//! sends it; one that may have gone out (no answer) is kept as `unconfirmed`.

use chrono_tz::Tz;
use futures::StreamExt;
use zencall_core::domain::reminder::{ReminderFacts, reminder_text};
use zencall_core::jobs::payloads::SendReminders;
use zencall_core::store::appointment_reminders::{self, ReminderKey, ReminderStatus};
use zencall_core::store::appointments::{self, Appointment};
use zencall_core::store::assistants;
use zencall_providers::ProviderError;
use zencall_providers::telephony::Sms;
use zencall_queue::{JobError, JobRun};

use crate::JobContext;

/// Reminders sent at once.
const CONCURRENCY: usize = 8;

/// What became of one appointment's reminder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Sent,
    Skipped,
    Failed,
    Unconfirmed,
    /// Refused without being sent: the next tick tries again.
    Deferred,
    /// Another sender took it.
    Taken,
}

/// Runs one attempt.
pub async fn run(ctx: &JobContext, _job: SendReminders, _run: JobRun) -> Result<(), JobError> {
    let Some(before) = ctx.settings.appointments.reminder_before() else {
        return Ok(());
    };
    let now = ctx.clock.now();
    let limit = i64::from(ctx.settings.appointments.reminders_per_tick);
    let due = appointments::awaiting_reminder(&ctx.db, now, now + before, limit).await?;
    if due.is_empty() {
        return Ok(());
    }
    let outcomes: Vec<Result<Outcome, JobError>> = futures::stream::iter(due)
        .map(|appointment| async move { remind(ctx, &appointment, before).await })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut counts = [0usize; 6];
    for outcome in outcomes {
        counts[outcome? as usize] += 1;
    }
    tracing::info!(
        sent = counts[Outcome::Sent as usize],
        skipped = counts[Outcome::Skipped as usize],
        failed = counts[Outcome::Failed as usize],
        unconfirmed = counts[Outcome::Unconfirmed as usize],
        deferred = counts[Outcome::Deferred as usize],
        "appointment reminders"
    );
    Ok(())
}

async fn remind(
    ctx: &JobContext,
    appointment: &Appointment,
    before: chrono::TimeDelta,
) -> Result<Outcome, JobError> {
    let now = ctx.clock.now();
    let key = ReminderKey {
        org_id: &appointment.org_id,
        appointment_id: &appointment.id,
        starts_at: appointment.starts_at,
        recipient: &appointment.caller_number,
    };
    let key = &key;
    let skip = |why: String| async move {
        appointment_reminders::begin(&ctx.db, key, Some(&why), now).await?;
        tracing::info!(appointment = %appointment.id, reason = %why, "reminder skipped");
        Ok::<_, JobError>(Outcome::Skipped)
    };
    if appointment.created_at > appointment.starts_at - before {
        return skip("booked less than the reminder delay before it starts".into()).await;
    }
    let assistant =
        assistants::find(&ctx.db, &appointment.org_id, &appointment.assistant_id).await?;
    let Some((assistant, from)) =
        assistant.and_then(|a| a.phone_number.clone().map(|number| (a, number)))
    else {
        return skip("the assistant has no phone number to send from".into()).await;
    };
    let zone: Tz = assistant
        .business
        .hours
        .as_ref()
        .map(|h| h.time_zone())
        .unwrap_or(chrono_tz::Europe::Paris);
    let body = reminder_text(
        assistant.language,
        &ReminderFacts {
            business: &assistant.business.name,
            starts_at: appointment.starts_at,
            time_zone: zone,
            service: appointment.service.as_deref(),
            call_back: &from,
        },
    );
    if !appointment_reminders::begin(&ctx.db, key, None, now).await? {
        return Ok(Outcome::Taken);
    }
    let sms = Sms {
        from,
        to: appointment.caller_number.clone(),
        body,
    };
    let (status, provider_id, error, outcome) = match ctx.telephony.send_sms(&sms).await {
        Ok(sid) => (ReminderStatus::Sent, Some(sid), None, Outcome::Sent),
        Err(failure) if failure.maybe_sent => (
            ReminderStatus::Unconfirmed,
            None,
            Some(failure.error.to_string()),
            Outcome::Unconfirmed,
        ),
        Err(failure) if matches!(failure.error, ProviderError::Transient { .. }) => {
            appointment_reminders::release(&ctx.db, key).await?;
            tracing::warn!(appointment = %appointment.id, error = %failure.error, "reminder refused for now; the next tick sends it");
            return Ok(Outcome::Deferred);
        }
        Err(failure) => (
            ReminderStatus::Failed,
            None,
            Some(failure.error.to_string()),
            Outcome::Failed,
        ),
    };
    let finished_at = ctx.clock.now();
    appointment_reminders::finish(
        &ctx.db,
        key,
        status,
        provider_id.as_deref(),
        error.as_deref(),
        finished_at,
    )
    .await?;
    match outcome {
        Outcome::Sent => {
            tracing::info!(appointment = %appointment.id, "reminder sent");
        }
        _ => {
            tracing::warn!(appointment = %appointment.id, status = status.as_str(), error = error.as_deref().unwrap_or(""), "reminder not sent");
        }
    }
    Ok(outcome)
}
