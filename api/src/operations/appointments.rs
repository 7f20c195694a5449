//! Appointments for the dashboard: list, read (with its history and reminder), book, move and
//! cancel. A booking, a move or a cancellation writes the appointment, its `PushAppointment`
//! (which brings the calendar event along) and its `appointment.*` event in one transaction, as
//! a booking during a call does.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use zencall_core::domain::assistant::FieldError;
use zencall_core::domain::availability::{MAX_DURATION_MINUTES, MIN_DURATION_MINUTES};
use zencall_core::domain::booking_tools::{MAX_NAME_CHARS, MAX_SERVICE_CHARS};
use zencall_core::domain::phone::{CountryCode, PhoneNumber};
use zencall_core::events::{self, EventType};
use zencall_core::jobs::payloads::PushAppointment;
use zencall_core::store::api_keys::Scope;
use zencall_core::store::appointment_reminders::{self, Reminder};
use zencall_core::store::appointments::{
    self, Actor, Appointment, AppointmentChange, AppointmentStatus, Booking, Cancellation,
    ListFilter, MoveRule, NewAppointment, Rescheduling,
};
use zencall_core::store::assistants;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::http::pagination::page_limit;

/// The longest cancellation or move reason accepted, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// A booking to make through the API.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppointmentRequest {
    /// The assistant to book with (`asst_...`); it needs structured opening hours.
    #[schema(required = true)]
    pub assistant_id: Option<String>,
    /// Start, an RFC 3339 instant.
    #[schema(value_type = DateTime<Utc>, required = true)]
    pub start: Option<String>,
    /// End (exclusive), an RFC 3339 instant; give it or `duration_minutes`.
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub end: Option<String>,
    /// Length in minutes (5 to 480); give it or `end`.
    #[schema(minimum = 5, maximum = 480)]
    pub duration_minutes: Option<i64>,
    /// The caller's name (1 to 100 characters).
    #[schema(required = true)]
    pub caller_name: Option<String>,
    /// The caller's phone number: E.164, or national in the assistant's country.
    #[schema(required = true)]
    pub caller_number: Option<String>,
    /// The service booked (up to 100 characters).
    pub service: Option<String>,
}

/// A change to an appointment: a move (`start`, with `end` or `duration_minutes`, or keeping
/// its length) or a cancellation (`status: cancelled`), not both.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppointmentPatch {
    /// The new start, an RFC 3339 instant.
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub start: Option<String>,
    /// The new end (exclusive), an RFC 3339 instant; only with `start`.
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub end: Option<String>,
    /// The new length in minutes (5 to 480); only with `start`.
    #[schema(minimum = 5, maximum = 480)]
    pub duration_minutes: Option<i64>,
    /// `cancelled` cancels the appointment.
    #[schema(value_type = Option<AppointmentStatus>)]
    pub status: Option<String>,
    /// Why (up to 500 characters), kept in the history.
    pub reason: Option<String>,
}

/// The query of a list, as received.
#[derive(Debug, Default)]
pub struct ListQuery<'a> {
    /// Only this assistant's.
    pub assistant_id: Option<&'a str>,
    /// `booked` or `cancelled`.
    pub status: Option<&'a str>,
    /// RFC 3339: starting at or after.
    pub from: Option<&'a str>,
    /// RFC 3339: starting before.
    pub to: Option<&'a str>,
    /// Page size.
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    pub starting_after: Option<&'a str>,
}

/// An appointment with what the dashboard shows of it.
#[derive(Debug)]
pub struct Detailed {
    /// The appointment.
    pub appointment: Appointment,
    /// Its history, oldest first.
    pub history: Vec<AppointmentChange>,
    /// Its stored reminders (one per start it had when one was due).
    pub reminders: Vec<Reminder>,
    /// `appointments.reminder_before`, `None` when reminders are off.
    pub reminder_before: Option<TimeDelta>,
    /// When it was read.
    pub now: DateTime<Utc>,
}

/// An RFC 3339 instant of query parameter `name` (400 naming it otherwise).
fn query_instant(name: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| {
                ApiError::BadRequest(format!(
                    "{name}: {text:?} is not an RFC 3339 instant (2026-03-30T07:00:00Z)"
                ))
            }),
    }
}

/// A page of the organisation's appointments, latest start first: up to `limit` (checked)
/// after `starting_after`, kept by the filters. The page holds one more row than `limit` when
/// there are more. Needs `read`.
pub async fn list(
    state: &AppState,
    caller: &Caller,
    query: ListQuery<'_>,
) -> Result<(Vec<Appointment>, u32), ApiError> {
    caller.require(Scope::Read)?;
    let org_id = caller.org_id();
    let status = match query.status {
        None => None,
        Some(s) => Some(AppointmentStatus::parse(s).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "status: must be one of booked, cancelled, got {s:?}"
            ))
        })?),
    };
    let from = query_instant("from", query.from)?;
    let to = query_instant("to", query.to)?;
    if let (Some(from), Some(to)) = (from, to)
        && from >= to
    {
        return Err(ApiError::BadRequest("to: must be after from".into()));
    }
    let limit = page_limit(query.limit)?;
    let after = match query.starting_after {
        None => None,
        Some(id) => {
            let cursor = appointments::find(&state.db, org_id, id)
                .await?
                .ok_or_else(|| {
                    ApiError::BadRequest(format!("starting_after: no appointment {id}"))
                })?;
            Some((cursor.starts_at, cursor.id))
        }
    };
    let filter = ListFilter {
        assistant_id: query.assistant_id.map(str::to_string),
        status,
        from,
        to,
    };
    let rows = appointments::list(
        &state.db,
        org_id,
        &filter,
        after.as_ref().map(|(at, id)| (*at, id.as_str())),
        i64::from(limit) + 1,
    )
    .await?;
    Ok((rows, limit))
}

/// Appointment `id` with its history and reminders; 404 when the organisation has none such.
async fn detailed(state: &AppState, org_id: &str, id: &str) -> Result<Detailed, ApiError> {
    let appointment = appointments::find(&state.db, org_id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("appointment {id}")))?;
    let history = appointments::history(&state.db, org_id, id).await?;
    let reminders = appointment_reminders::of_appointment(&state.db, org_id, id).await?;
    Ok(Detailed {
        appointment,
        history,
        reminders,
        reminder_before: state.settings.appointments.reminder_before(),
        now: state.clock.now(),
    })
}

/// The organisation's appointment `id`, with its history and reminder. Needs `read`.
pub async fn get(state: &AppState, caller: &Caller, id: &str) -> Result<Detailed, ApiError> {
    caller.require(Scope::Read)?;
    detailed(state, caller.org_id(), id).await
}

/// A text field: trimmed, required when `required`, at most `max` characters.
fn text_field(
    errors: &mut Vec<FieldError>,
    name: &str,
    value: Option<&str>,
    required: bool,
    max: usize,
) -> Option<String> {
    match value.map(str::trim) {
        None | Some("") if required => {
            errors.push(FieldError::new(name, "is required"));
            None
        }
        None | Some("") => None,
        Some(text) if text.chars().count() > max || text.chars().any(char::is_control) => {
            errors.push(FieldError::new(
                name,
                format!("must be a text of 1 to {max} characters, without control characters"),
            ));
            None
        }
        Some(text) => Some(text.to_string()),
    }
}

/// An RFC 3339 instant of body field `name`.
fn body_instant(
    errors: &mut Vec<FieldError>,
    name: &str,
    value: Option<&str>,
) -> Option<DateTime<Utc>> {
    let text = value?.trim();
    match DateTime::parse_from_rfc3339(text) {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(_) => {
            errors.push(FieldError::new(
                name,
                format!("{text:?} is not an RFC 3339 instant (2026-03-30T07:00:00Z)"),
            ));
            None
        }
    }
}

/// The end of a slot starting at `start`, from `end` or `duration_minutes` (one of them, or
/// `default` when neither is given and there is one).
fn slot_end(
    errors: &mut Vec<FieldError>,
    start: Option<DateTime<Utc>>,
    end: Option<&str>,
    duration_minutes: Option<i64>,
    default: Option<TimeDelta>,
) -> Option<DateTime<Utc>> {
    let range = MIN_DURATION_MINUTES..=MAX_DURATION_MINUTES;
    let length = match (end, duration_minutes) {
        (Some(_), Some(_)) => {
            errors.push(FieldError::new(
                "duration_minutes",
                "give end or duration_minutes, not both",
            ));
            return None;
        }
        (None, None) => match default {
            Some(length) => length,
            None => {
                errors.push(FieldError::new("end", "give end or duration_minutes"));
                return None;
            }
        },
        (None, Some(minutes)) => {
            if !range.contains(&minutes) {
                errors.push(FieldError::new(
                    "duration_minutes",
                    format!(
                        "must be a number of minutes from {MIN_DURATION_MINUTES} to \
                         {MAX_DURATION_MINUTES}"
                    ),
                ));
                return None;
            }
            TimeDelta::minutes(minutes)
        }
        (Some(end), None) => {
            let end = body_instant(errors, "end", Some(end))?;
            let start = start?;
            let length = end - start;
            if length < TimeDelta::minutes(MIN_DURATION_MINUTES)
                || length > TimeDelta::minutes(MAX_DURATION_MINUTES)
            {
                errors.push(FieldError::new(
                    "end",
                    format!(
                        "must be {MIN_DURATION_MINUTES} to {MAX_DURATION_MINUTES} minutes after \
                         start"
                    ),
                ));
                return None;
            }
            length
        }
    };
    Some(start? + length)
}

/// Why a slot was refused, as an answer naming `start`.
fn refused(why: &str) -> ApiError {
    ApiError::Invalid(vec![FieldError::new("start", why)])
}

const CLOSED: &str = "the slot is not inside the assistant's opening hours (or falls on a \
    holiday or a closed date)";
const TOO_SOON: &str = "the slot starts in the past or sooner than the business's minimum notice";
const NO_HOURS: &str = "the assistant has no structured opening hours (business.hours) to book \
    against";
const TAKEN: &str = "the slot is taken: another appointment or a busy event of the calendar \
    overlaps it";

/// Books an appointment as `request` says, with its calendar push and `appointment.booked`, in
/// one transaction. Needs `write`.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    request: AppointmentRequest,
) -> Result<Detailed, ApiError> {
    caller.require(Scope::Write)?;
    let org_id = caller.org_id();
    let mut errors = Vec::new();
    let assistant_id = text_field(
        &mut errors,
        "assistant_id",
        request.assistant_id.as_deref(),
        true,
        100,
    );
    let start = match request.start.as_deref() {
        None => {
            errors.push(FieldError::new("start", "is required"));
            None
        }
        text => body_instant(&mut errors, "start", text),
    };
    let end = slot_end(
        &mut errors,
        start,
        request.end.as_deref(),
        request.duration_minutes,
        None,
    );
    let caller_name = text_field(
        &mut errors,
        "caller_name",
        request.caller_name.as_deref(),
        true,
        MAX_NAME_CHARS,
    );
    let number = text_field(
        &mut errors,
        "caller_number",
        request.caller_number.as_deref(),
        true,
        40,
    );
    let service = text_field(
        &mut errors,
        "service",
        request.service.as_deref(),
        false,
        MAX_SERVICE_CHARS,
    );
    let (Some(assistant_id), Some(start), Some(end), Some(caller_name), Some(number)) =
        (assistant_id, start, end, caller_name, number)
    else {
        return Err(ApiError::Invalid(errors));
    };
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let assistant = assistants::find(&state.db, org_id, &assistant_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("assistant {assistant_id}")))?;
    let country = CountryCode::parse(&assistant.phone_country).ok();
    let caller_number = PhoneNumber::parse(&number, country).map_err(|e| {
        ApiError::Invalid(vec![FieldError::new(
            "caller_number",
            format!("{e}: give it in E.164 (+33612345678) or national form"),
        )])
    })?;
    let new = NewAppointment {
        assistant_id: assistant.id.clone(),
        starts_at: start,
        ends_at: end,
        caller_name,
        caller_number,
        service,
        call_id: None,
        actor: Actor::Api,
    };
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let refusal = match appointments::book_in(&mut tx, org_id, &new, now).await? {
        Booking::Booked(appointment) => {
            PushAppointment::enqueue(&mut tx, org_id, &appointment.id, "booked").await?;
            events::emit_in(
                &mut tx,
                org_id,
                EventType::AppointmentBooked,
                &appointment.id,
                &*appointment,
                now,
                state.settings.webhooks.outbound.max_attempts,
            )
            .await?;
            tx.commit().await?;
            tracing::info!(appointment.id = %appointment.id, org_id = %org_id, "appointment booked through the API");
            return detailed(state, org_id, &appointment.id).await;
        }
        Booking::SlotTaken => ApiError::Conflict(TAKEN.into()),
        Booking::Closed => refused(CLOSED),
        Booking::TooSoon => refused(TOO_SOON),
        Booking::NoHours => ApiError::Invalid(vec![FieldError::new("assistant_id", NO_HOURS)]),
        Booking::UnknownAssistant => ApiError::NotFound(format!("assistant {assistant_id}")),
    };
    tx.rollback().await?;
    Err(refusal)
}

/// Applies `patch` to appointment `id`: a move checked like a booking, or a cancellation, each
/// with its calendar push and event in one transaction. Needs `write`.
pub async fn update(
    state: &AppState,
    caller: &Caller,
    id: &str,
    patch: AppointmentPatch,
) -> Result<Detailed, ApiError> {
    caller.require(Scope::Write)?;
    let org_id = caller.org_id();
    let mut errors = Vec::new();
    let reason = text_field(
        &mut errors,
        "reason",
        patch.reason.as_deref(),
        false,
        MAX_REASON_CHARS,
    );
    match patch.status.as_deref() {
        None => {}
        Some("cancelled") => {
            if patch.start.is_some() || patch.end.is_some() || patch.duration_minutes.is_some() {
                errors.push(FieldError::new(
                    "status",
                    "cancel or move in one request, not both",
                ));
            }
            if !errors.is_empty() {
                return Err(ApiError::Invalid(errors));
            }
            let current = appointments::find(&state.db, org_id, id)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("appointment {id}")))?;
            if current.status == AppointmentStatus::Cancelled {
                return Err(ApiError::Conflict(format!(
                    "appointment {id} is cancelled already"
                )));
            }
            return cancel_with(state, org_id, id, reason.as_deref()).await;
        }
        Some(other) => {
            errors.push(FieldError::new(
                "status",
                format!("only \"cancelled\" can be set, not {other:?}"),
            ));
            return Err(ApiError::Invalid(errors));
        }
    }
    let Some(start_text) = patch.start.as_deref() else {
        let field = if patch.end.is_some() || patch.duration_minutes.is_some() {
            "start"
        } else {
            "status"
        };
        errors.push(FieldError::new(
            field,
            "give start (to move it) or status: \"cancelled\" (to cancel it)",
        ));
        return Err(ApiError::Invalid(errors));
    };
    let current = appointments::find(&state.db, org_id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("appointment {id}")))?;
    let start = body_instant(&mut errors, "start", Some(start_text));
    let end = slot_end(
        &mut errors,
        start,
        patch.end.as_deref(),
        patch.duration_minutes,
        Some(current.ends_at - current.starts_at),
    );
    let (Some(start), Some(end)) = (start, end) else {
        return Err(ApiError::Invalid(errors));
    };
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let outcome = appointments::reschedule_in(
        &mut tx,
        org_id,
        id,
        start,
        end,
        MoveRule::LikeABooking,
        Actor::Api,
        reason.as_deref(),
        now,
    )
    .await?;
    let refusal = match outcome {
        Rescheduling::Moved(moved) => {
            let micros = moved.updated_at.timestamp_micros();
            PushAppointment::enqueue(&mut tx, org_id, &moved.id, &format!("moved:{micros}"))
                .await?;
            // One event per move: the subject names the change, not only the appointment.
            events::emit_in(
                &mut tx,
                org_id,
                EventType::AppointmentUpdated,
                &format!("{}:moved:{micros}", moved.id),
                &*moved,
                now,
                state.settings.webhooks.outbound.max_attempts,
            )
            .await?;
            tx.commit().await?;
            tracing::info!(appointment.id = %moved.id, starts_at = %moved.starts_at, "appointment moved through the API");
            return detailed(state, org_id, id).await;
        }
        Rescheduling::Unchanged(_) => {
            tx.rollback().await?;
            return detailed(state, org_id, id).await;
        }
        Rescheduling::NotBooked(_) => {
            ApiError::Conflict(format!("appointment {id} is cancelled: it cannot be moved"))
        }
        Rescheduling::NotFound => ApiError::NotFound(format!("appointment {id}")),
        Rescheduling::SlotTaken => ApiError::Conflict(TAKEN.into()),
        Rescheduling::Closed => refused(CLOSED),
        Rescheduling::TooSoon => refused(TOO_SOON),
        Rescheduling::NoHours => refused(NO_HOURS),
    };
    tx.rollback().await?;
    Err(refusal)
}

/// Cancels appointment `id`, with its calendar push and `appointment.cancelled`, in one
/// transaction; cancelling again changes nothing and answers it. Needs `write`.
pub async fn cancel(
    state: &AppState,
    caller: &Caller,
    id: &str,
    reason: Option<&str>,
) -> Result<Detailed, ApiError> {
    caller.require(Scope::Write)?;
    let mut errors = Vec::new();
    let reason = text_field(&mut errors, "reason", reason, false, MAX_REASON_CHARS);
    if !errors.is_empty() {
        return Err(ApiError::Invalid(errors));
    }
    cancel_with(state, caller.org_id(), id, reason.as_deref()).await
}

async fn cancel_with(
    state: &AppState,
    org_id: &str,
    id: &str,
    reason: Option<&str>,
) -> Result<Detailed, ApiError> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    match appointments::cancel_in(&mut tx, org_id, id, Actor::Api, reason, now).await? {
        Some(Cancellation::Cancelled(cancelled)) => {
            PushAppointment::enqueue(&mut tx, org_id, &cancelled.id, "cancelled").await?;
            events::emit_in(
                &mut tx,
                org_id,
                EventType::AppointmentCancelled,
                &cancelled.id,
                &cancelled,
                now,
                state.settings.webhooks.outbound.max_attempts,
            )
            .await?;
            tx.commit().await?;
            tracing::info!(appointment.id = %cancelled.id, org_id = %org_id, "appointment cancelled through the API");
        }
        Some(Cancellation::AlreadyCancelled(_)) => tx.rollback().await?,
        None => {
            tx.rollback().await?;
            return Err(ApiError::NotFound(format!("appointment {id}")));
        }
    }
    detailed(state, org_id, id).await
}
