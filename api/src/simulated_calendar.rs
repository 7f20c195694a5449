//! `GET /simulator/google/authorize`: with the simulated calendar (`zencall up` without a
//! Google OAuth client), the consent page the authorization URL points at. It plays the owner
//! approving and redirects the browser to our callback with the code, as Google does. Mounted
//! only while the calendar is simulated.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::Query;
use crate::openapi::BadRequest;

/// The simulated consent page, when the calendar is simulated.
pub fn router(simulating: bool) -> Router<AppState> {
    if simulating {
        Router::new().route("/simulator/google/authorize", get(authorize))
    } else {
        Router::new()
    }
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
