//! `/simulator/google/*`: with the simulated calendar (`zencall up` without a Google OAuth
//! client), the consent page the authorization URL points at (it plays the owner approving and
//! redirects the browser to our callback with the code, as Google does), and the owner's hand
//! in the calendar: list its events, move one, delete one. Those changes reach our webhook as
//! Google's push notifications do. Mounted only while the calendar is simulated.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zencall_providers::calendar::{CalendarEvent, EventTime};
use zencall_providers::simulated_calendar::ACCOUNT_EMAIL;
use zencall_providers::{ProviderError, SimulatedCalendar};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Json, Path, Query};
use crate::openapi::{BadRequest, JsonBodyErrors, NotFound};

/// The simulated consent page and calendar; mounted only while the calendar is simulated.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(authorize))
        .routes(routes!(list_events))
        .routes(routes!(move_event))
        .routes(routes!(delete_event))
}

fn calendar(state: &AppState) -> Result<&SimulatedCalendar, ApiError> {
    state
        .simulated_calendar
        .as_ref()
        .ok_or_else(|| ApiError::NotFound("the simulated calendar".into()))
}

/// An event of the simulated calendar, as its owner sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct SimulatedEvent {
    /// The event's id (an appointment's is derived from the appointment).
    id: String,
    /// `confirmed`, `tentative` or `cancelled` (deleted).
    status: String,
    /// Its title.
    #[schema(required = true)]
    summary: Option<String>,
    /// Start of a timed event.
    #[schema(required = true)]
    start: Option<DateTime<Utc>>,
    /// End of a timed event.
    #[schema(required = true)]
    end: Option<DateTime<Utc>>,
    /// First day of an all-day event.
    #[schema(required = true)]
    start_date: Option<chrono::NaiveDate>,
}

impl From<CalendarEvent> for SimulatedEvent {
    fn from(e: CalendarEvent) -> Self {
        let at = |t: Option<EventTime>| match t {
            Some(EventTime::At(at)) => Some(at),
            _ => None,
        };
        SimulatedEvent {
            status: e.status.as_str().to_string(),
            start_date: match e.start {
                Some(EventTime::AllDay(day)) => Some(day),
                _ => None,
            },
            start: at(e.start),
            end: at(e.end),
            summary: e.summary,
            id: e.id,
        }
    }
}

/// The simulated calendar's events.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct SimulatedEvents {
    /// Every event of the connected account's calendar, deleted ones included, by id.
    data: Vec<SimulatedEvent>,
}

/// Lists the simulated calendar's events.
#[utoipa::path(
    get,
    path = "/simulator/google/events",
    tag = "simulator",
    operation_id = "list_simulated_google_events",
    summary = "List the simulated calendar's events",
    description = "Served only while the calendar is simulated: every event of the connected \
        account's calendar, deleted ones included, as its owner would see them in Google.",
    responses(
        (status = 200, description = "The events", body = SimulatedEvents),
        (status = 404, response = NotFound),
    )
)]
async fn list_events(
    State(state): State<AppState>,
) -> Result<axum::Json<SimulatedEvents>, ApiError> {
    let calendar = calendar(&state)?;
    Ok(axum::Json(SimulatedEvents {
        data: calendar
            .events_in_google(ACCOUNT_EMAIL)
            .into_iter()
            .map(Into::into)
            .collect(),
    }))
}

/// The new times of a moved event.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct MoveEvent {
    /// The new start (RFC 3339).
    start: DateTime<Utc>,
    /// The new end (RFC 3339), after the start.
    end: DateTime<Utc>,
}

fn refused(e: ProviderError) -> ApiError {
    match e {
        ProviderError::NotFound { .. } => {
            ApiError::NotFound("no such live event in the simulated calendar".into())
        }
        other => ApiError::BadRequest(other.to_string()),
    }
}

/// Moves an event as its owner would, dragging it in Google.
#[utoipa::path(
    post,
    path = "/simulator/google/events/{id}/move",
    tag = "simulator",
    operation_id = "move_simulated_google_event",
    summary = "Move an event in the simulated calendar",
    description = "Served only while the calendar is simulated. The change reaches our webhook as \
        a push notification; an appointment's event moved this way moves the appointment.",
    params(("id" = String, Path, description = "The event's id")),
    request_body = MoveEvent,
    responses(
        (status = 200, description = "Moved", body = SimulatedEvent),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        JsonBodyErrors,
    )
)]
async fn move_event(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<MoveEvent>,
) -> Result<axum::Json<SimulatedEvent>, ApiError> {
    let calendar = calendar(&state)?;
    if body.end <= body.start {
        return Err(ApiError::BadRequest("end: must be after start".into()));
    }
    let notes = calendar
        .move_event_in_google(
            ACCOUNT_EMAIL,
            &id,
            EventTime::At(body.start),
            EventTime::At(body.end),
        )
        .map_err(refused)?;
    calendar.queue_notifications(notes);
    event_now(calendar, &id)
}

/// Deletes an event as its owner would in Google.
#[utoipa::path(
    post,
    path = "/simulator/google/events/{id}/delete",
    tag = "simulator",
    operation_id = "delete_simulated_google_event",
    summary = "Delete an event in the simulated calendar",
    description = "Served only while the calendar is simulated. The change reaches our webhook as \
        a push notification; an appointment's event deleted this way cancels the appointment.",
    params(("id" = String, Path, description = "The event's id")),
    responses(
        (status = 200, description = "Deleted (status `cancelled`)", body = SimulatedEvent),
        (status = 404, response = NotFound),
    )
)]
async fn delete_event(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<SimulatedEvent>, ApiError> {
    let calendar = calendar(&state)?;
    let notes = calendar
        .cancel_event_in_google(ACCOUNT_EMAIL, &id)
        .map_err(refused)?;
    calendar.queue_notifications(notes);
    event_now(calendar, &id)
}

fn event_now(
    calendar: &SimulatedCalendar,
    id: &str,
) -> Result<axum::Json<SimulatedEvent>, ApiError> {
    calendar
        .events_in_google(ACCOUNT_EMAIL)
        .into_iter()
        .find(|e| e.id == id)
        .map(|e| axum::Json(e.into()))
        .ok_or_else(|| ApiError::NotFound(format!("event {id}")))
}

/// The query of the consent page: what our authorization URL carries.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AuthorizeParams {
    /// The state of `POST /v1/calendar/connections`.
    state: Option<String>,
    /// `deny` plays the owner refusing; anything else (or nothing) approves.
    decision: Option<String>,
}

/// Plays the owner's consent on the simulated Google.
#[utoipa::path(
    get,
    path = "/simulator/google/authorize",
    tag = "simulator",
    operation_id = "simulated_google_authorize",
    summary = "Simulated Google consent page",
    description = "Served only while the calendar is simulated. Approves the authorization \
        begun with `state` (or refuses it with `decision=deny`) and redirects (303) to our OAuth \
        callback with the code, as Google would.",
    params(AuthorizeParams),
    responses(
        (status = 303, description = "To the OAuth callback"),
        (status = 400, response = BadRequest),
    )
)]
async fn authorize(
    State(state): State<AppState>,
    Query(params): Query<AuthorizeParams>,
) -> Result<Response, ApiError> {
    let Some(calendar) = &state.simulated_calendar else {
        return Err(ApiError::NotFound("the simulated calendar".into()));
    };
    let oauth_state = params
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::BadRequest("state: missing".into()))?;
    let location = if params.decision.as_deref() == Some("deny") {
        calendar.deny(oauth_state)
    } else {
        calendar.approve(oauth_state).map(|a| a.callback_url)
    }
    .map_err(|e| ApiError::BadRequest(format!("state: {e}")))?;
    let location = HeaderValue::from_str(&location)
        .map_err(|_| ApiError::Internal("the callback URL is not a header value".into()))?;
    Ok((StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response())
}
