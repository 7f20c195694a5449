//! `/v1/calls`: the calls of the caller's organisation, newest first, with filters.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use zencall_core::store::api_keys::Scope;
use zencall_core::store::calls::{self, Call, CallFilter, STATUSES};

use crate::AppState;
use crate::assistants::Page;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Path, Query};
use crate::openapi::{BadRequest, NotFound, V1Errors};

/// Call routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/calls", get(list))
        .route("/v1/calls/{id}", get(show))
}

/// The query of `GET /v1/calls`; any other parameter is refused (400).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// Only the calls of this assistant (`asst_...`).
    assistant_id: Option<String>,
    /// Only the calls of this campaign.
    campaign_id: Option<String>,
    /// Only calls in this status.
    #[param(schema_with = status_param)]
    status: Option<String>,
    /// RFC 3339; calls created at or after.
    from: Option<DateTime<Utc>>,
    /// RFC 3339; calls created before (must be after `from`).
    to: Option<DateTime<Utc>>,
    /// Page size: 1 to 100, 20 by default.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    starting_after: Option<String>,
}

fn status_param() -> utoipa::openapi::Object {
    zencall_core::schema::one_of(STATUSES)
}

/// Lists the organisation's calls, newest first.
#[utoipa::path(
    get,
    path = "/v1/calls",
    tag = "calls",
    operation_id = "list_calls",
    summary = "List calls",
    params(ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of calls", body = Page<Call>),
        (status = 400, response = BadRequest),
        V1Errors,
    )
)]
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

/// One call.
#[utoipa::path(
    get,
    path = "/v1/calls/{id}",
    tag = "calls",
    operation_id = "get_call",
    summary = "Get a call",
    params(("id" = String, Path, description = "The call's id, `call_...`")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The call, with its transcript once it ended", body = Call),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        V1Errors,
    )
)]
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
