//! SyncCalendar: read what changed in a connection's calendar. Without a sync token, a full
//! sync pages `events.list` over a window of days (`calendar.sync_past_days` and
//! `sync_future_days`) and replaces the stored events; with one, an incremental sync applies
//! the changes (cancelled events removed). The events and the next sync token are written in
//! one transaction, and only if no other run moved the token meanwhile, so a re-run or an
//! overlapping run never loses a change. An expired sync token (410) wipes the connection's
//! events and syncs in full. Quota answers are transient with Google's `Retry-After`; a lost
//! grant marks the connection `needs_reconnect` and is not retried.
//!
//! Two-way: an appointment's own event changed in the calendar changes the appointment in the
//! same transaction. Moved, the appointment moves with it (the calendar wins on time; its
//! history records who moved it), cancelled, it is cancelled; each with its outbound event.
//! Our own pushes come back the same way and change nothing (same times, already cancelled),
//! and an event last changed before its appointment was changed is left to that change's push.
//! A full sync lists no deleted events, so only an incremental one cancels appointments.

use chrono::Duration;
use zencall_core::events::{self, EventType};
use zencall_core::jobs::payloads::SyncCalendar;
use zencall_core::store::appointments::{
    self, Actor, Appointment, Cancellation, MoveRule, Rescheduling,
};
use zencall_core::store::calendar_connections::{self, Connection, ConnectionStatus};
use zencall_core::store::calendar_events::{self, EventSpan, SyncedEvent};
use zencall_core::store::{StoreError, Tx};
use zencall_providers::ProviderError;
use zencall_providers::calendar::{CalendarEvent, EventQuery, EventStatus, EventTime};
use zencall_providers::calendar_session::SessionError;
use zencall_queue::{JobError, JobRun};

use crate::JobContext;

/// What one sync read: the events to store or remove, and the next sync token.
struct Changes {
    events: Vec<CalendarEvent>,
    next_sync_token: String,
    full: bool,
}

/// Runs one attempt.
pub async fn run(ctx: &JobContext, job: SyncCalendar, _run: JobRun) -> Result<(), JobError> {
    let Some(connection) =
        calendar_connections::find(&ctx.db, &job.org_id, &job.connection_id).await?
    else {
        return Err(JobError::permanent(format!(
            "calendar connection {} does not exist",
            job.connection_id
        )));
    };
    if connection.status != ConnectionStatus::Active {
        tracing::info!(connection.id = %connection.id, status = connection.status.as_str(), "calendar sync skipped: the connection is not active");
        return Ok(());
    }
    // Before reading anything: a sync asked for from now on is a new job, so a change made
    // while this run reads is read by the next one.
    calendar_connections::begin_sync(&ctx.db, &job.org_id, &job.connection_id).await?;

    let changes = match read_changes(ctx, &connection, connection.sync_token.clone()).await {
        Err(SessionError::Provider(ProviderError::SyncTokenExpired { .. })) => {
            tracing::info!(connection.id = %connection.id, "sync token expired; syncing in full");
            let mut tx = ctx.db.begin().await?;
            calendar_connections::restart_sync(&mut tx, &connection.org_id, &connection.id).await?;
            tx.commit().await?;
            let restarted = Connection {
                sync_token: None,
                ..connection.clone()
            };
            return store(ctx, &restarted, read_changes(ctx, &restarted, None).await?).await;
        }
        other => other?,
    };
    store(ctx, &connection, changes).await
}

/// Reads every page of a full sync (no token) or of the changes since `sync_token`.
async fn read_changes(
    ctx: &JobContext,
    connection: &Connection,
    sync_token: Option<String>,
) -> Result<Changes, SessionError> {
    let settings = &ctx.settings.calendar;
    let now = ctx.clock.now();
    let session = ctx.calendar_session();
    let full = sync_token.is_none();
    let mut events = Vec::new();
    let mut page_token: Option<String> = None;
    loop {
        let query = match &sync_token {
            Some(token) => EventQuery::Incremental {
                sync_token: token.clone(),
                page_size: settings.page_size,
                page_token: page_token.clone(),
            },
            None => EventQuery::Full {
                time_min: now - Duration::days(i64::from(settings.sync_past_days)),
                time_max: now + Duration::days(i64::from(settings.sync_future_days)),
                page_size: settings.page_size,
                page_token: page_token.clone(),
            },
        };
        let calendar_id = connection.calendar_id.as_str();
        let provider = ctx.calendar.as_ref();
        let page = session
            .call(connection, |token| {
                let query = query.clone();
                async move { provider.list_events(&token, calendar_id, &query).await }
            })
            .await?;
        events.extend(page.events);
        match (page.next_page_token, page.next_sync_token) {
            (Some(next), _) => page_token = Some(next),
            (None, Some(next_sync_token)) => {
                return Ok(Changes {
                    events,
                    next_sync_token,
                    full,
                });
            }
            (None, None) => {
                return Err(SessionError::Provider(ProviderError::Permanent {
                    provider: "google-calendar",
                    message: "the last page of events carried no sync token".into(),
                }));
            }
        }
    }
}

/// The stored form of an event still happening; `None` for one without a usable span.
fn synced(event: &CalendarEvent) -> Option<SyncedEvent> {
    let span = match (event.start?, event.end?) {
        (EventTime::At(start), EventTime::At(end)) if end > start => {
            EventSpan::Timed { start, end }
        }
        (EventTime::AllDay(start), EventTime::AllDay(end)) if end > start => {
            EventSpan::AllDay { start, end }
        }
        _ => return None,
    };
    Some(SyncedEvent {
        event_id: event.id.clone(),
        status: event.status.as_str().to_string(),
        span,
        summary: event.summary.clone(),
        transparency: event.transparency.as_str().to_string(),
        updated: event.updated,
    })
}

/// Writes what a sync read, and its next sync token, in one transaction.
async fn store(
    ctx: &JobContext,
    connection: &Connection,
    changes: Changes,
) -> Result<(), JobError> {
    let now = ctx.clock.now();
    let (org_id, id) = (connection.org_id.as_str(), connection.id.as_str());
    let mut tx = ctx.db.begin().await?;
    if changes.full {
        // A full sync lists everything that exists: what it does not list is gone.
        calendar_events::delete_all(&mut tx, org_id, id).await?;
    }
    let (mut stored, mut removed, mut skipped) = (0u32, 0u32, 0u32);
    let mut ours = appointments::booked_with_events_in(&mut tx, org_id, id).await?;
    let mut changed_appointments = Vec::new();
    for event in &changes.events {
        if let Some(appointment) = ours.remove(&event.id) {
            changed_appointments.push((appointment, event));
        }
        if event.status == EventStatus::Cancelled {
            if calendar_events::delete(&mut tx, org_id, id, &event.id).await? {
                removed += 1;
            }
            continue;
        }
        match synced(event) {
            Some(e) => {
                calendar_events::upsert(&mut tx, org_id, id, &e, now).await?;
                stored += 1;
            }
            None => {
                // Google never sends these for live events; storing one would break availability.
                calendar_events::delete(&mut tx, org_id, id, &event.id).await?;
                skipped += 1;
            }
        }
    }
    // Moves first: they lock their assistant's row before the appointment's, as the API's
    // moves do, so taking the cancellations' appointment rows last keeps one lock order.
    changed_appointments.sort_by_key(|(_, event)| event.status == EventStatus::Cancelled);
    let mut followed = 0u32;
    for (appointment, event) in changed_appointments {
        if follow(ctx, &mut tx, &appointment, event).await? {
            followed += 1;
        }
    }
    let recorded = calendar_connections::finish_sync(
        &mut tx,
        org_id,
        id,
        &connection.calendar_id,
        connection.sync_token.as_deref(),
        &changes.next_sync_token,
        now,
    )
    .await?;
    if !recorded {
        // Another run moved the token, the calendar changed, or the connection stopped: what
        // this run read may be older than what is stored.
        tx.rollback().await?;
        tracing::info!(connection.id = %id, "calendar sync superseded; nothing written");
        return Ok(());
    }
    tx.commit().await?;
    tracing::info!(connection.id = %id, org_id, full = changes.full, stored, removed, skipped, appointments_changed = followed, "calendar synced");
    Ok(())
}

/// Changes `appointment` the way its calendar `event` was changed, inside `tx`, with its
/// outbound event; true when it changed.
async fn follow(
    ctx: &JobContext,
    tx: &mut Tx,
    appointment: &Appointment,
    event: &CalendarEvent,
) -> Result<bool, StoreError> {
    // An event last changed before the appointment was is ours coming back late (a push that
    // a newer change of the appointment has overtaken), or older than that change: the newer
    // change stands, and its own push brings the event in line.
    if let Some(updated) = event.updated
        && updated <= appointment.updated_at
    {
        return Ok(false);
    }
    let now = ctx.clock.now();
    let max_attempts = ctx.settings.webhooks.outbound.max_attempts;
    if event.status == EventStatus::Cancelled {
        let outcome = appointments::cancel_in(
            tx,
            &appointment.org_id,
            &appointment.id,
            Actor::Calendar,
            Some("deleted in the calendar"),
            now,
        )
        .await?;
        let Some(Cancellation::Cancelled(cancelled)) = outcome else {
            return Ok(false);
        };
        events::emit_in(
            tx,
            &cancelled.org_id,
            EventType::AppointmentCancelled,
            &cancelled.id,
            &cancelled,
            now,
            max_attempts,
        )
        .await?;
        tracing::info!(appointment.id = %cancelled.id, "appointment cancelled: its event was deleted in the calendar");
        return Ok(true);
    }
    let (Some(EventTime::At(start)), Some(EventTime::At(end))) = (event.start, event.end) else {
        tracing::warn!(appointment.id = %appointment.id, event.id = %event.id, "the appointment's event became an all-day event; the appointment keeps its times");
        return Ok(false);
    };
    if end <= start {
        return Ok(false);
    }
    let outcome = appointments::reschedule_in(
        tx,
        &appointment.org_id,
        &appointment.id,
        start,
        end,
        MoveRule::AsTheCalendarSays(event.updated),
        Actor::Calendar,
        Some("moved in the calendar"),
        now,
    )
    .await?;
    match outcome {
        Rescheduling::Moved(moved) => {
            // One event per move: the subject names the move, as the API's moves do.
            let subject = format!("{}:moved:{}", moved.id, moved.updated_at.timestamp_micros());
            events::emit_in(
                tx,
                &moved.org_id,
                EventType::AppointmentUpdated,
                &subject,
                &*moved,
                now,
                max_attempts,
            )
            .await?;
            tracing::info!(appointment.id = %moved.id, starts_at = %moved.starts_at, "appointment moved with its event in the calendar");
            Ok(true)
        }
        Rescheduling::SlotTaken => {
            tracing::warn!(appointment.id = %appointment.id, "the appointment's event was moved onto the start of another appointment; the appointment keeps its times");
            Ok(false)
        }
        _ => Ok(false),
    }
}
