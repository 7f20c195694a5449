//! `/v1/calls`: the calls of the caller's organisation, newest first, with filters.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use zencall_core::store::api_keys::Scope;
use zencall_core::store::calls::{self, Call, CallFilter};

use crate::AppState;
use crate::assistants::Page;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Query;

/// Call routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/calls", get(list))
        .route("/v1/calls/{id}", get(show))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    assistant_id: Option<String>,
    campaign_id: Option<String>,
    status: Option<String>,
    /// RFC 3339; calls created at or after.
    from: Option<DateTime<Utc>>,
    /// RFC 3339; calls created before.
    to: Option<DateTime<Utc>>,
    limit: Option<u32>,
    starting_after: Option<String>,
}

const STATUSES: [&str; 5] = ["queued", "ringing", "in_progress", "forwarding", "ended"];

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<ListParams>,
) -> Result<axum::Json<Page<Call>>, ApiError> {
    caller.require(Scope::Read)?;
    if let Some(status) = &params.status
        && !STATUSES.contains(&status.as_str())
    {
        return Err(ApiError::BadRequest(format!(
            "status: must be one of {}",
            STATUSES.join(", ")
        )));
    }
    if let (Some(from), Some(to)) = (params.from, params.to)
        && from >= to
    {
        return Err(ApiError::BadRequest("from: must be before to".into()));
    }
    let limit = crate::assistants::page_limit(params.limit)?;
    let filter = CallFilter {
        assistant_id: params.assistant_id,
        campaign_id: params.campaign_id,
        status: params.status,
        from: params.from,
        to: params.to,
    };
    let rows = calls::list(
        &state.db,
        caller.org_id(),
        &filter,
        params.starting_after.as_deref(),
        limit + 1,
    )
    .await?;
    Ok(axum::Json(Page::of(rows, limit, |c| c.id.clone())))
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<Call>, ApiError> {
    caller.require(Scope::Read)?;
    let call = calls::find(&state.db, caller.org_id(), &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("call {id}")))?;
    Ok(axum::Json(call))
}
