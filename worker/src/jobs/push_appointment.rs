//! PushAppointment: write an appointment to its assistant's calendar as it stands when the job
//! runs (not as it stood when queued, so pushes that overtake each other still end right).
//!
//! - Booked: the event is inserted with an id derived from the appointment
//!   ([`event_id_for`]`("appointment:{id}")`), so a re-run meets the event it created (Google's
//!   409) instead of creating a second; an event found at another time is moved to the
//!   appointment's. Where it went (connection, calendar, event id) is stored on the
//!   appointment. If the appointment was cancelled meanwhile, the event is deleted again.
//! - Cancelled: the event is deleted where it was written (or, if no push recorded it, where
//!   the derived id would have put it); one already gone counts as deleted.
//!
//! An assistant without a calendar has nowhere to write: the job does nothing and logs so.

use std::collections::BTreeMap;

use zencall_core::jobs::payloads::PushAppointment;
use zencall_core::store::appointments::{self, Appointment, AppointmentEvent, AppointmentStatus};
use zencall_core::store::assistants::{self, Assistant};
use zencall_core::store::calendar_connections;
use zencall_providers::ProviderError;
use zencall_providers::calendar::{
    EventPatch, EventStatus, EventTime, NewEvent, Transparency, event_id_for,
};
use zencall_providers::calendar_session::SessionError;
use zencall_queue::{JobError, JobRun};

use crate::JobContext;

/// The private extended property that names the appointment an event stands for.
pub const APPOINTMENT_PROPERTY: &str = "zencall_appointment_id";

/// The calendar event id of an appointment: the same on every run.
pub fn event_id(appointment_id: &str) -> String {
    event_id_for(&format!("appointment:{appointment_id}"))
}

/// Runs one attempt.
pub async fn run(ctx: &JobContext, job: PushAppointment, _run: JobRun) -> Result<(), JobError> {
    let Some(appointment) = appointments::find(&ctx.db, &job.org_id, &job.appointment_id).await?
    else {
        return Err(JobError::permanent(format!(
            "appointment {} does not exist",
            job.appointment_id
        )));
    };
    let Some(assistant) =
        assistants::find(&ctx.db, &appointment.org_id, &appointment.assistant_id).await?
    else {
        return Err(JobError::permanent(format!(
            "assistant {} does not exist",
            appointment.assistant_id
        )));
    };
    match appointment.status {
        AppointmentStatus::Booked => write(ctx, &assistant, &appointment).await,
        AppointmentStatus::Cancelled => remove(ctx, &assistant, &appointment).await,
    }
}

/// Where the appointment's event is (or goes): where a push put it, else the assistant's
/// calendar under the derived id; `None` when the assistant has no calendar.
fn location(assistant: &Assistant, appointment: &Appointment) -> Option<AppointmentEvent> {
    if let Some(event) = &appointment.calendar_event {
        return Some(event.clone());
    }
    assistant.calendar.as_ref().map(|c| AppointmentEvent {
        connection_id: c.connection_id.clone(),
        calendar_id: c.calendar_id.clone(),
        event_id: event_id(&appointment.id),
    })
}

/// The event of a booked appointment.
fn new_event(assistant: &Assistant, appointment: &Appointment, id: &str) -> NewEvent {
    let fr = assistant.language == zencall_core::domain::sector::Language::Fr;
    let what = appointment.service.clone().unwrap_or_else(|| {
        if fr {
            "Rendez-vous".into()
        } else {
            "Appointment".into()
        }
    });
    let mut description = if fr {
        format!(
            "Pris par l'assistant {} pour {} ({}).",
            assistant.name, appointment.caller_name, appointment.caller_number
        )
    } else {
        format!(
            "Booked by the assistant {} for {} ({}).",
            assistant.name, appointment.caller_name, appointment.caller_number
        )
    };
    description.push_str(&format!("\n{}", appointment.id));
    NewEvent {
        id: id.to_string(),
        summary: format!("{what} — {}", appointment.caller_name),
        description: Some(description),
        location: assistant.business.address.clone(),
        start: EventTime::At(appointment.starts_at),
        end: EventTime::At(appointment.ends_at),
        time_zone: assistant
            .business
            .hours
            .as_ref()
            .map(|h| h.time_zone().name().to_string()),
        transparency: Transparency::Opaque,
        private_properties: BTreeMap::from([(
            APPOINTMENT_PROPERTY.to_string(),
            appointment.id.clone(),
        )]),
    }
}

async fn connection(
    ctx: &JobContext,
    org_id: &str,
    place: &AppointmentEvent,
) -> Result<calendar_connections::Connection, JobError> {
    calendar_connections::find(&ctx.db, org_id, &place.connection_id)
        .await?
        .ok_or_else(|| {
            JobError::permanent(format!(
                "calendar connection {} does not exist",
                place.connection_id
            ))
        })
}

async fn write(
    ctx: &JobContext,
    assistant: &Assistant,
    appointment: &Appointment,
) -> Result<(), JobError> {
    let Some(place) = location(assistant, appointment) else {
        tracing::info!(appointment.id = %appointment.id, assistant.id = %assistant.id, "appointment not pushed: its assistant has no calendar");
        return Ok(());
    };
    let connection = connection(ctx, &appointment.org_id, &place).await?;
    let session = ctx.calendar_session();
    let provider = ctx.calendar.as_ref();
    let event = new_event(assistant, appointment, &place.event_id);
    let (calendar_id, event_ref) = (place.calendar_id.as_str(), &event);
    let inserted = session
        .call(&connection, |token| async move {
            provider.insert_event(&token, calendar_id, event_ref).await
        })
        .await?;
    let found = &inserted.event;
    if !inserted.created && found.status == EventStatus::Cancelled {
        // Deleted in the calendar after an earlier push: not written again (the calendar's
        // owner removed it).
        tracing::info!(appointment.id = %appointment.id, event.id = %place.event_id, "the appointment's event was deleted in the calendar; not written again");
    } else if !inserted.created
        && (found.start != Some(event.start) || found.end != Some(event.end))
    {
        let patch = EventPatch {
            start: Some(event.start),
            end: Some(event.end),
            time_zone: event.time_zone.clone(),
            ..EventPatch::default()
        };
        let (event_id, patch) = (place.event_id.as_str(), &patch);
        session
            .call(&connection, |token| async move {
                provider
                    .patch_event(&token, calendar_id, event_id, patch)
                    .await
            })
            .await?;
        tracing::info!(appointment.id = %appointment.id, event.id = %place.event_id, "appointment event moved");
    }
    appointments::set_calendar_event(&ctx.db, &appointment.org_id, &appointment.id, Some(&place))
        .await?;
    tracing::info!(appointment.id = %appointment.id, event.id = %place.event_id, created = inserted.created, "appointment pushed to its calendar");
    // Cancelled while this run wrote: the cancellation's own push may have deleted before
    // this insert, so delete again.
    if let Some(now) = appointments::find(&ctx.db, &appointment.org_id, &appointment.id).await?
        && now.status == AppointmentStatus::Cancelled
    {
        return delete(ctx, appointment, &place).await;
    }
    Ok(())
}

async fn remove(
    ctx: &JobContext,
    assistant: &Assistant,
    appointment: &Appointment,
) -> Result<(), JobError> {
    let Some(place) = location(assistant, appointment) else {
        tracing::info!(appointment.id = %appointment.id, assistant.id = %assistant.id, "cancelled appointment not pushed: its assistant has no calendar");
        return Ok(());
    };
    delete(ctx, appointment, &place).await
}

async fn delete(
    ctx: &JobContext,
    appointment: &Appointment,
    place: &AppointmentEvent,
) -> Result<(), JobError> {
    let connection = connection(ctx, &appointment.org_id, place).await?;
    let provider = ctx.calendar.as_ref();
    let (calendar_id, event_id) = (place.calendar_id.as_str(), place.event_id.as_str());
    let deleted = ctx
        .calendar_session()
        .call(&connection, |token| async move {
            provider.delete_event(&token, calendar_id, event_id).await
        })
        .await;
    match deleted {
        Ok(()) => {
            tracing::info!(appointment.id = %appointment.id, event.id = %event_id, "cancelled appointment's event deleted");
            Ok(())
        }
        Err(SessionError::Provider(ProviderError::NotFound { .. })) => {
            tracing::info!(appointment.id = %appointment.id, event.id = %event_id, "cancelled appointment had no event to delete");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}
