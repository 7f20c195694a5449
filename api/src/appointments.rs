//! `/v1/appointments`: the appointments booked with the organisation's assistants, for the
//! dashboard: list (filters, cursor pagination), read (with its history and reminder), book,
//! move, cancel. The calendar event follows each change through `PushAppointment`.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zencall_core::store::appointments::{Appointment, AppointmentChange, AppointmentStatus};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Json, Path, Query};
use crate::http::pagination::Page;
use crate::openapi::{
    BadRequest, Conflict, Forbidden, JsonBodyErrors, NotFound, Unprocessable, V1Errors,
};
use crate::operations;
use crate::operations::appointments::{AppointmentPatch, AppointmentRequest, Detailed, ListQuery};

/// Appointment routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, change, remove))
}

/// The query of `GET /v1/appointments`; any other parameter is refused (400).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// Only the appointments of this assistant.
    assistant_id: Option<String>,
    /// Only appointments in this status.
    #[param(value_type = Option<AppointmentStatus>)]
    status: Option<String>,
    /// RFC 3339 instant: only appointments starting at or after it.
    #[param(value_type = Option<DateTime<Utc>>)]
    from: Option<String>,
    /// RFC 3339 instant: only appointments starting before it.
    #[param(value_type = Option<DateTime<Utc>>)]
    to: Option<String>,
    /// Page size: 1 to 100, 20 by default.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    starting_after: Option<String>,
}

/// The query of `DELETE /v1/appointments/{id}`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct CancelParams {
    /// Why it is cancelled (up to 500 characters), kept in its history.
    reason: Option<String>,
}

/// The path parameter of one appointment's routes.
const APPOINTMENT_ID: &str = "The appointment's id, `appt_...`";

/// Where an appointment's calendar event is.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct CalendarEventView {
    /// The calendar connection (`ccon_...`).
    connection_id: String,
    /// The calendar's id at the provider.
    calendar_id: String,
    /// The event's id in that calendar.
    event_id: String,
}

/// One entry of an appointment's history.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ChangeView {
    /// `apch_...`, in the order the changes were made.
    id: String,
    /// `booked`, `moved` or `cancelled`.
    kind: String,
    /// The slot's start after the change.
    start: DateTime<Utc>,
    /// Its end.
    end: DateTime<Utc>,
    /// Who made it: `assistant` (during a call), `api` or `calendar` (its event was changed
    /// in the calendar).
    actor: String,
    /// Why, when a reason was given.
    reason: Option<String>,
    /// When.
    created_at: DateTime<Utc>,
}

impl From<AppointmentChange> for ChangeView {
    fn from(c: AppointmentChange) -> Self {
        ChangeView {
            id: c.id,
            kind: c.kind,
            start: c.starts_at,
            end: c.ends_at,
            actor: c.actor,
            reason: c.reason,
            created_at: c.created_at,
        }
    }
}

/// Where an appointment's reminder stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
enum ReminderState {
    /// Reminders are off (`appointments.reminder_before_minutes` is 0).
    Off,
    /// None will be sent: the appointment is cancelled, was booked less than the reminder
    /// delay before its start, or started without one.
    None,
    /// It will be sent at `due_at`.
    Scheduled,
    /// Handed to the provider; its answer is not recorded yet.
    Sending,
    /// Sent.
    Sent,
    /// No answer came back: it may have been sent; it is not sent again.
    Unconfirmed,
    /// Refused by the provider (`detail` says why).
    Failed,
    /// Not sent (`detail` says why).
    Skipped,
}

/// An appointment's reminder: the text message sent `appointments.reminder_before_minutes`
/// before its start.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ReminderView {
    /// `off`, `none` or `scheduled` while no reminder is recorded for the current start;
    /// then the recorded reminder's status.
    status: ReminderState,
    /// When it is due: the start minus `appointments.reminder_before_minutes`; null when
    /// reminders are off.
    #[schema(required = true)]
    due_at: Option<DateTime<Utc>>,
    /// Why none will be sent, or why it failed, was skipped or may not have been sent.
    #[schema(required = true)]
    detail: Option<String>,
}

impl ReminderView {
    fn of(d: &Detailed) -> Self {
        let a = &d.appointment;
        let Some(before) = d.reminder_before else {
            return ReminderView {
                status: ReminderState::Off,
                due_at: None,
                detail: None,
            };
        };
        let due_at = a.starts_at - before;
        let view = |status, detail: Option<&str>| ReminderView {
            status,
            due_at: Some(due_at),
            detail: detail.map(str::to_string),
        };
        if let Some(r) = d.reminders.iter().find(|r| r.starts_at == a.starts_at) {
            use zencall_core::store::appointment_reminders::ReminderStatus as S;
            let status = match r.status {
                S::Sending => ReminderState::Sending,
                S::Sent => ReminderState::Sent,
                S::Unconfirmed => ReminderState::Unconfirmed,
                S::Failed => ReminderState::Failed,
                S::Skipped => ReminderState::Skipped,
            };
            return view(status, r.error.as_deref());
        }
        if a.status == AppointmentStatus::Cancelled {
            view(ReminderState::None, Some("the appointment is cancelled"))
        } else if a.created_at > due_at {
            view(
                ReminderState::None,
                Some("booked less than the reminder delay before it starts"),
            )
        } else if a.starts_at <= d.now {
            view(ReminderState::None, Some("it started without a reminder"))
        } else {
            view(ReminderState::Scheduled, None)
        }
    }
}

/// An appointment.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct AppointmentView {
    /// Always `appointment`.
    #[schema(schema_with = appointment_object)]
    object: &'static str,
    /// `appt_...`
    id: String,
    /// The assistant it is booked with.
    assistant_id: String,
    /// `booked` or `cancelled`.
    status: AppointmentStatus,
    /// Start.
    start: DateTime<Utc>,
    /// End, exclusive.
    end: DateTime<Utc>,
    /// Its length in minutes.
    duration_minutes: i64,
    /// The caller's name.
    caller_name: String,
    /// The caller's number, E.164.
    caller_number: String,
    /// The service booked, when named.
    #[schema(required = true)]
    service: Option<String>,
    /// The call it was booked in (null when booked through the API).
    #[schema(required = true)]
    call_id: Option<String>,
    /// Why it was cancelled, when it was and a reason was given.
    #[schema(required = true)]
    cancel_reason: Option<String>,
    /// When it was cancelled.
    #[schema(required = true)]
    cancelled_at: Option<DateTime<Utc>>,
    /// Its calendar event, once written (null when its assistant has no calendar or the
    /// event is not written yet).
    #[schema(required = true)]
    calendar_event: Option<CalendarEventView>,
    /// Creation time.
    created_at: DateTime<Utc>,
    /// Last change.
    updated_at: DateTime<Utc>,
    /// Its changes, oldest first; not in lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    history: Option<Vec<ChangeView>>,
    /// Its reminder; not in lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    reminder: Option<ReminderView>,
}

fn appointment_object() -> utoipa::openapi::Object {
    zencall_core::schema::constant("appointment")
}

impl From<Appointment> for AppointmentView {
    fn from(a: Appointment) -> Self {
        AppointmentView {
            object: "appointment",
            duration_minutes: (a.ends_at - a.starts_at).num_minutes(),
            id: a.id,
            assistant_id: a.assistant_id,
            status: a.status,
            start: a.starts_at,
            end: a.ends_at,
            caller_name: a.caller_name,
            caller_number: a.caller_number,
            service: a.service,
            call_id: a.call_id,
            cancel_reason: a.cancel_reason,
            cancelled_at: a.cancelled_at,
            calendar_event: a.calendar_event.map(|e| CalendarEventView {
                connection_id: e.connection_id,
                calendar_id: e.calendar_id,
                event_id: e.event_id,
            }),
            created_at: a.created_at,
            updated_at: a.updated_at,
            history: None,
            reminder: None,
        }
    }
}

impl From<Detailed> for AppointmentView {
    fn from(d: Detailed) -> Self {
        let reminder = ReminderView::of(&d);
        let history = d.history.into_iter().map(ChangeView::from).collect();
        let mut view = AppointmentView::from(d.appointment);
        view.history = Some(history);
        view.reminder = Some(reminder);
        view
    }
}

/// Lists the organisation's appointments, latest start first.
#[utoipa::path(
    get,
    path = "/v1/appointments",
    tag = "appointments",
    operation_id = "list_appointments",
    summary = "List appointments",
    description = "The organisation's appointments, latest start first (then by id), without \
        their history and reminder. `from` and `to` bound the start (`from` included, `to` \
        excluded). 400 names a bad parameter. Needs the `read` scope.",
    params(ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of appointments", body = inline(Page<AppointmentView>)),
        (status = 400, response = BadRequest),
        V1Errors,
    )
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<ListParams>,
) -> Result<axum::Json<Page<AppointmentView>>, ApiError> {
    let query = ListQuery {
        assistant_id: params.assistant_id.as_deref(),
        status: params.status.as_deref(),
        from: params.from.as_deref(),
        to: params.to.as_deref(),
        limit: params.limit,
        starting_after: params.starting_after.as_deref(),
    };
    let (rows, limit) = operations::appointments::list(&state, &caller, query).await?;
    let views: Vec<AppointmentView> = rows.into_iter().map(Into::into).collect();
    Ok(axum::Json(Page::of(views, limit, |a| a.id.clone())))
}

/// Books an appointment.
#[utoipa::path(
    post,
    path = "/v1/appointments",
    tag = "appointments",
    operation_id = "create_appointment",
    summary = "Book an appointment",
    description = "Books the slot `[start, end)` (or `start` plus `duration_minutes`) with the \
        assistant, checked as a booking during a call is: inside its structured opening hours, \
        with the minimum notice, overlapping no busy event of its calendar and no booked \
        appointment. Its calendar event is written by a job and `appointment.booked` is sent to \
        your webhook endpoints. 404 when the organisation has no live assistant of that id; \
        409 when the slot is taken; 422 naming the field for bad input, a closed or too-soon \
        slot (`start`) or an assistant without opening hours (`assistant_id`). Needs the \
        `write` scope.",
    request_body = AppointmentRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Booked", body = AppointmentView, links(
            ("GetAppointment" = (operation_id = "get_appointment", parameters(("id" = "$response.body#/id")))),
            ("UpdateAppointment" = (operation_id = "update_appointment", parameters(("id" = "$response.body#/id")))),
            ("CancelAppointment" = (operation_id = "cancel_appointment", parameters(("id" = "$response.body#/id")))),
        )),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        JsonBodyErrors,
        V1Errors,
    )
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<AppointmentRequest>,
) -> Result<(StatusCode, axum::Json<AppointmentView>), ApiError> {
    let booked = operations::appointments::create(&state, &caller, request).await?;
    Ok((StatusCode::CREATED, axum::Json(booked.into())))
}

/// One appointment, with its history and reminder.
#[utoipa::path(
    get,
    path = "/v1/appointments/{id}",
    tag = "appointments",
    operation_id = "get_appointment",
    summary = "Get an appointment",
    description = "The appointment with its history (every booking, move and cancellation, by \
        whom) and its reminder. Needs the `read` scope.",
    params(("id" = String, Path, description = APPOINTMENT_ID)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The appointment", body = AppointmentView),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        V1Errors,
    )
)]
async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<AppointmentView>, ApiError> {
    let found = operations::appointments::get(&state, &caller, &id).await?;
    Ok(axum::Json(found.into()))
}

/// Moves or cancels an appointment.
#[utoipa::path(
    patch,
    path = "/v1/appointments/{id}",
    tag = "appointments",
    operation_id = "update_appointment",
    summary = "Move or cancel an appointment",
    description = "`start` (with `end`, or `duration_minutes`, or keeping its length) moves \
        it, checked like a booking (its own slot and event left out); `status: \"cancelled\"` \
        (with an optional `reason`) cancels it, as `DELETE` does. Its calendar event follows \
        and `appointment.updated` or `appointment.cancelled` is sent. Moving it to the times \
        it has changes nothing. 409 when it is cancelled already or the new slot is taken; 422 \
        naming the field for bad input or a closed or too-soon slot (`start`). Needs the \
        `write` scope.",
    params(("id" = String, Path, description = APPOINTMENT_ID)),
    request_body = AppointmentPatch,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Moved, cancelled or unchanged", body = AppointmentView),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        JsonBodyErrors,
        V1Errors,
    )
)]
async fn change(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(patch): Json<AppointmentPatch>,
) -> Result<axum::Json<AppointmentView>, ApiError> {
    let changed = operations::appointments::update(&state, &caller, &id, patch).await?;
    Ok(axum::Json(changed.into()))
}

/// Cancels an appointment.
#[utoipa::path(
    delete,
    path = "/v1/appointments/{id}",
    tag = "appointments",
    operation_id = "cancel_appointment",
    summary = "Cancel an appointment",
    description = "Cancels it, freeing its slot; its calendar event is deleted by a job and \
        `appointment.cancelled` is sent. Cancelling again is not an error: the answer is the \
        appointment as it is. Needs the `write` scope.",
    params(("id" = String, Path, description = APPOINTMENT_ID), CancelParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Cancelled (or cancelled already)", body = AppointmentView),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = Unprocessable),
        V1Errors,
    )
)]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(params): Query<CancelParams>,
) -> Result<axum::Json<AppointmentView>, ApiError> {
    let cancelled =
        operations::appointments::cancel(&state, &caller, &id, params.reason.as_deref()).await?;
    Ok(axum::Json(cancelled.into()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeDelta;
    use zencall_core::store::appointment_reminders::{Reminder, ReminderStatus};

    use super::*;

    fn t(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    /// A booked appointment on 2026-12-08 at 10:00Z, booked on 2026-12-01.
    fn detailed(before: Option<TimeDelta>, now: &str) -> Detailed {
        Detailed {
            appointment: Appointment {
                id: "appt_1".into(),
                org_id: "org_1".into(),
                assistant_id: "asst_1".into(),
                starts_at: t("2026-12-08T10:00:00Z"),
                ends_at: t("2026-12-08T10:30:00Z"),
                caller_name: "Jeanne".into(),
                caller_number: "+33612345678".into(),
                service: None,
                call_id: None,
                status: AppointmentStatus::Booked,
                cancel_reason: None,
                created_at: t("2026-12-01T09:00:00Z"),
                updated_at: t("2026-12-01T09:00:00Z"),
                cancelled_at: None,
                calendar_event: None,
            },
            history: Vec::new(),
            reminders: Vec::new(),
            reminder_before: before,
            now: t(now),
        }
    }

    fn reminder(starts_at: &str, status: ReminderStatus, error: Option<&str>) -> Reminder {
        Reminder {
            appointment_id: "appt_1".into(),
            org_id: "org_1".into(),
            starts_at: t(starts_at),
            channel: "sms".into(),
            recipient: "+33612345678".into(),
            status,
            provider_id: None,
            error: error.map(str::to_string),
            created_at: t("2026-12-07T10:00:00Z"),
            finished_at: None,
        }
    }

    const DAY: Option<TimeDelta> = Some(TimeDelta::hours(24));

    #[test]
    fn a_reminder_is_off_scheduled_recorded_or_none_with_why() {
        let off = ReminderView::of(&detailed(None, "2026-12-02T00:00:00Z"));
        assert_eq!((off.status, off.due_at), (ReminderState::Off, None));

        let scheduled = ReminderView::of(&detailed(DAY, "2026-12-02T00:00:00Z"));
        assert_eq!(scheduled.status, ReminderState::Scheduled);
        assert_eq!(scheduled.due_at, Some(t("2026-12-07T10:00:00Z")));
        assert_eq!(scheduled.detail, None);

        // Recorded for the current start: its own status and error.
        let mut d = detailed(DAY, "2026-12-07T10:01:00Z");
        d.reminders.push(reminder(
            "2026-12-08T10:00:00Z",
            ReminderStatus::Failed,
            Some("21211"),
        ));
        let failed = ReminderView::of(&d);
        assert_eq!(failed.status, ReminderState::Failed);
        assert_eq!(failed.detail.as_deref(), Some("21211"));

        // A reminder of the start it had before a move is not this one's.
        let mut d = detailed(DAY, "2026-12-02T00:00:00Z");
        d.reminders
            .push(reminder("2026-12-05T10:00:00Z", ReminderStatus::Sent, None));
        assert_eq!(ReminderView::of(&d).status, ReminderState::Scheduled);

        // None: booked inside the delay, cancelled, or started without one.
        let mut d = detailed(DAY, "2026-12-08T08:00:00Z");
        d.appointment.created_at = t("2026-12-08T07:00:00Z");
        let late = ReminderView::of(&d);
        assert_eq!(late.status, ReminderState::None);
        assert_eq!(
            late.detail.as_deref(),
            Some("booked less than the reminder delay before it starts")
        );
        let mut d = detailed(DAY, "2026-12-02T00:00:00Z");
        d.appointment.status = AppointmentStatus::Cancelled;
        assert_eq!(ReminderView::of(&d).status, ReminderState::None);
        let past = ReminderView::of(&detailed(DAY, "2026-12-09T00:00:00Z"));
        assert_eq!(past.status, ReminderState::None);
        assert_eq!(
            past.detail.as_deref(),
            Some("it started without a reminder")
        );
    }
}
