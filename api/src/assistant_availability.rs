//! `GET /v1/assistants/{id}/availability`: the free slots of an assistant over a window, from
//! its structured opening hours minus the busy events of its calendar minus the appointments
//! booked with it.

use axum::extract::State;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zencall_core::domain::availability::{
    MAX_DURATION_MINUTES, MAX_WINDOW_DAYS, MIN_DURATION_MINUTES,
};
use zencall_core::store::api_keys::Scope;
use zencall_core::store::{assistants, availability};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Path, Query};
use crate::openapi::{BadRequest, Conflict, NotFound, V1Errors};

/// Availability routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show))
}

/// The query of `GET /v1/assistants/{id}/availability`; any other parameter is refused (400).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AvailabilityParams {
    /// RFC 3339 instant: the window's start.
    #[param(value_type = DateTime<Utc>, required = true)]
    from: Option<String>,
    /// RFC 3339 instant: the window's end (exclusive), at most 31 days after `from`.
    #[param(value_type = DateTime<Utc>, required = true)]
    to: Option<String>,
    /// The length of a slot, in minutes: 5 to 480.
    #[param(value_type = u32, required = true, minimum = 5, maximum = 480)]
    duration: Option<String>,
}

/// One free slot.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SlotView {
    /// Start.
    start: DateTime<Utc>,
    /// End, exclusive.
    end: DateTime<Utc>,
    /// The start in the business's local time, with its UTC offset
    /// (`2026-03-30T09:00:00+02:00`).
    local_start: String,
    /// The end in the business's local time, with its UTC offset.
    local_end: String,
}

/// An assistant's free slots over a window.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AvailabilityView {
    /// Always `availability`.
    #[schema(schema_with = availability_object)]
    object: &'static str,
    /// The assistant.
    assistant_id: String,
    /// The business's time zone, in which the local times are given.
    time_zone: String,
    /// The window's start.
    from: DateTime<Utc>,
    /// The window's end (exclusive).
    to: DateTime<Utc>,
    /// The length of each slot, in minutes.
    duration_minutes: i64,
    /// The grid slot starts fall on, in minutes from local midnight.
    slot_step_minutes: i64,
    /// Slots start no sooner than this many minutes after now.
    min_notice_minutes: i64,
    /// The free slots, by start; consecutive ones overlap when the duration is longer than
    /// the grid step.
    data: Vec<SlotView>,
}

fn availability_object() -> utoipa::openapi::Object {
    zencall_core::schema::constant("availability")
}

fn instant(name: &str, value: Option<&str>) -> Result<DateTime<Utc>, ApiError> {
    let value = value
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ApiError::BadRequest(format!("{name}: is required (RFC 3339)")))?;
    DateTime::parse_from_rfc3339(value.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::BadRequest(format!(
                "{name}: {value:?} is not an RFC 3339 instant (2026-03-30T07:00:00Z)"
            ))
        })
}

fn local(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// An assistant's free slots.
#[utoipa::path(
    get,
    path = "/v1/assistants/{id}/availability",
    tag = "assistants",
    operation_id = "get_assistant_availability",
    summary = "Get an assistant's free slots",
    description = "The slots of `duration` minutes in `[from, to)` that lie inside the \
        assistant's structured opening hours (`business.hours`: weekly ranges in the business's \
        time zone, minus public holidays and closed dates), overlap no busy event of its \
        calendar (opaque events, tentative ones included; all-day events cover the local day) \
        and no booked appointment, and start on the hours' grid (`slot_step_minutes`) no sooner \
        than `min_notice_minutes` from now. Computed on instants, so correct across \
        daylight-saving changes: a slot is always `duration` of real time. 400 names a bad \
        parameter (the window may cover at most 31 days); 409 when the assistant has no \
        structured opening hours. Needs the `read` scope.",
    params(("id" = String, Path, description = "The assistant's id, `asst_...`"), AvailabilityParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The free slots, by start", body = AvailabilityView),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        V1Errors,
    )
)]
async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(params): Query<AvailabilityParams>,
) -> Result<axum::Json<AvailabilityView>, ApiError> {
    caller.require(Scope::Read)?;
    let from = instant("from", params.from.as_deref())?;
    let to = instant("to", params.to.as_deref())?;
    if from >= to {
        return Err(ApiError::BadRequest("to: must be after from".into()));
    }
    if to - from > TimeDelta::days(MAX_WINDOW_DAYS) {
        return Err(ApiError::BadRequest(format!(
            "to: the window may cover at most {MAX_WINDOW_DAYS} days"
        )));
    }
    let minutes = params
        .duration
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .ok_or_else(|| ApiError::BadRequest("duration: is required (minutes)".into()))?;
    let minutes = minutes
        .parse::<i64>()
        .ok()
        .filter(|m| (MIN_DURATION_MINUTES..=MAX_DURATION_MINUTES).contains(m))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "duration: must be a number of minutes from {MIN_DURATION_MINUTES} to \
                 {MAX_DURATION_MINUTES}, got {minutes:?}"
            ))
        })?;
    let org_id = caller.org_id();
    let assistant = assistants::find(&state.db, org_id, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("assistant {id}")))?;
    let duration = TimeDelta::minutes(minutes);
    let now = state.clock.now();
    let (Some(hours), Some(slots)) = (
        &assistant.business.hours,
        availability::free_slots(&state.db, &assistant, from, to, duration, now).await?,
    ) else {
        return Err(ApiError::Conflict(format!(
            "assistant {id} has no structured opening hours: set business.hours with \
             PATCH /v1/assistants/{id} first"
        )));
    };
    let tz = hours.time_zone();
    Ok(axum::Json(AvailabilityView {
        object: "availability",
        assistant_id: id,
        time_zone: tz.name().to_string(),
        from,
        to,
        duration_minutes: minutes,
        slot_step_minutes: hours.slot_step().num_minutes(),
        min_notice_minutes: hours.min_notice().num_minutes(),
        data: slots
            .into_iter()
            .map(|s| SlotView {
                start: s.start,
                end: s.end,
                local_start: local(s.start, tz),
                local_end: local(s.end, tz),
            })
            .collect(),
    }))
}
