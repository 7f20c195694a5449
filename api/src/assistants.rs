//! `/v1/assistants`: create (202, provisioned by a job), list, get, change (pushed by a job),
//! delete (removed from the providers by a job).

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zencall_core::domain::assistant::{AssistantPatch, AssistantRequest, AssistantStatus};
use zencall_core::views::AssistantView;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Json, Path, Query};
use crate::http::pagination::Page;
use crate::openapi::{
    BadRequest, Conflict, Forbidden, JsonBodyErrors, NotFound, PaymentRequired, V1Errors,
};
use crate::operations;

/// Assistant routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, change, remove))
}

/// The query of `GET /v1/assistants`; any other parameter is refused (400).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// Only assistants in this status.
    #[param(value_type = Option<AssistantStatus>)]
    status: Option<String>,
    /// Page size: 1 to 100, 20 by default.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    starting_after: Option<String>,
}

/// The path parameter of one assistant's routes.
const ASSISTANT_ID: &str = "The assistant's id, `asst_...`";

/// Creates an assistant; a job provisions it (voice platform, phone number).
#[utoipa::path(
    post,
    path = "/v1/assistants",
    tag = "assistants",
    operation_id = "create_assistant",
    summary = "Create an assistant",
    description = "Validates every field (422 lists each invalid one), stores the assistant as \
        `provisioning` and enqueues its provisioning; it becomes `active`, with a phone number, \
        or `failed`, with `failure_reason`. 402 when the organisation has no trialing or active \
        subscription past its grace period. Needs the `write` scope.",
    request_body = AssistantRequest,
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Stored; being provisioned", body = AssistantView, links(
            ("GetAssistant" = (operation_id = "get_assistant", parameters(("id" = "$response.body#/id")))),
            ("UpdateAssistant" = (operation_id = "update_assistant", parameters(("id" = "$response.body#/id")))),
            ("DeleteAssistant" = (operation_id = "delete_assistant", parameters(("id" = "$response.body#/id")))),
        )),
        (status = 402, response = PaymentRequired),
        (status = 403, response = Forbidden),
        JsonBodyErrors,
        V1Errors,
    )
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<AssistantRequest>,
) -> Result<(StatusCode, axum::Json<AssistantView>), ApiError> {
    let assistant = operations::assistants::create(&state, &caller, request).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(assistant.into())))
}

/// Lists the organisation's assistants, newest first.
#[utoipa::path(
    get,
    path = "/v1/assistants",
    tag = "assistants",
    operation_id = "list_assistants",
    summary = "List assistants",
    params(ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of assistants", body = Page<AssistantView>),
        (status = 400, response = BadRequest),
        V1Errors,
    )
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<ListParams>,
) -> Result<axum::Json<Page<AssistantView>>, ApiError> {
    let (rows, limit) = operations::assistants::list(
        &state,
        &caller,
        params.status.as_deref(),
        params.limit,
        params.starting_after.as_deref(),
    )
    .await?;
    let views: Vec<AssistantView> = rows.into_iter().map(Into::into).collect();
    Ok(axum::Json(Page::of(views, limit, |a| a.id.clone())))
}

/// One assistant.
#[utoipa::path(
    get,
    path = "/v1/assistants/{id}",
    tag = "assistants",
    operation_id = "get_assistant",
    summary = "Get an assistant",
    params(("id" = String, Path, description = ASSISTANT_ID)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The assistant", body = AssistantView),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        V1Errors,
    )
)]
async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<AssistantView>, ApiError> {
    let assistant = operations::assistants::get(&state, &caller, &id).await?;
    Ok(axum::Json(assistant.into()))
}

/// Changes an assistant; a job pushes the change to the voice platform.
#[utoipa::path(
    patch,
    path = "/v1/assistants/{id}",
    tag = "assistants",
    operation_id = "update_assistant",
    summary = "Change an assistant",
    description = "Changes `system_prompt`, `voice`, `greeting`, `calendar` or \
        `business.hours` (at least one). A change of prompt, voice or greeting bumps \
        `config_version` at once and `synced_version` catches up when the voice platform has \
        it. `calendar` must name a writable calendar of an active connection of the \
        organisation (422 naming the field otherwise); choosing another calendar of the \
        connection makes it the one synced (a full sync and a watch are queued); `null` \
        detaches it. `business.hours` replaces the structured opening hours whole (422 naming \
        each bad field, e.g. `business.hours.weekly.monday[1]`), `null` removes them; \
        availability reads them live, and they bump `config_version` too: an assistant is \
        given its booking tools at the voice platform only while it has structured hours. \
        `sector_details` replaces the sector's details whole and must be tagged with the \
        assistant's sector (422 naming `sector_details` otherwise, or the bad field such as \
        `sector_details.services[2].duration_minutes`); `null` removes them; a prompt still \
        the sector's template is rewritten with them. An assistant being deleted, \
        deleted or failed cannot be changed (409). Needs the `write` scope.",
    params(("id" = String, Path, description = ASSISTANT_ID)),
    request_body = AssistantPatch,
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Stored; being pushed to the voice platform", body = AssistantView),
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
    Json(patch): Json<AssistantPatch>,
) -> Result<(StatusCode, axum::Json<AssistantView>), ApiError> {
    let assistant = operations::assistants::update(&state, &caller, &id, patch).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(assistant.into())))
}

/// Deletes an assistant; a job removes it from the providers and releases its number.
#[utoipa::path(
    delete,
    path = "/v1/assistants/{id}",
    tag = "assistants",
    operation_id = "delete_assistant",
    summary = "Delete an assistant",
    description = "Marks the assistant `deleting`; a job removes it from the voice platform and \
        releases its number, then it is `deleted`. Deleting again is not an error: the answer \
        shows where the deletion stands. Needs the `write` scope.",
    params(("id" = String, Path, description = ASSISTANT_ID)),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Being deleted (or already deleted)", body = AssistantView),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        V1Errors,
    )
)]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, axum::Json<AssistantView>), ApiError> {
    let assistant = operations::assistants::delete(&state, &caller, &id).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(assistant.into())))
}
