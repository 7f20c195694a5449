//! `/v1/assistants`: create (202, provisioned by a job), list, get, change (pushed by a job),
//! delete (removed from the providers by a job).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use zencall_core::domain::assistant::{AssistantPatch, AssistantRequest, AssistantStatus};
use zencall_core::jobs::payloads::{DeleteAssistant, ProvisionAssistant, SyncAssistant};
use zencall_core::store::api_keys::Scope;
use zencall_core::store::assistants;
use zencall_core::views::AssistantView;
use zencall_queue::{EnqueueOptions, enqueue_in};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Json, Path, Query};
use crate::openapi::{
    BadRequest, Conflict, Forbidden, JsonBodyErrors, NotFound, PaymentRequired, V1Errors,
};

/// Assistant routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/assistants", get(list).post(create))
        .route(
            "/v1/assistants/{id}",
            get(show).patch(change).delete(remove),
        )
}

/// A page of a list, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// Always `list`.
    #[schema(schema_with = list_object)]
    object: &'static str,
    /// The items of this page.
    data: Vec<T>,
    /// Whether there are more items after this page.
    has_more: bool,
    /// Pass as `starting_after` to get the next page; null on the last page.
    #[schema(required = true)]
    next_cursor: Option<String>,
}

fn list_object() -> utoipa::openapi::Object {
    zencall_core::schema::constant("list")
}

impl<T> Page<T> {
    /// A page from up to `limit + 1` rows: the extra row only says there is more.
    pub fn of(mut rows: Vec<T>, limit: u32, id: impl Fn(&T) -> String) -> Self {
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = if has_more { rows.last().map(id) } else { None };
        Page {
            object: "list",
            data: rows,
            has_more,
            next_cursor,
        }
    }
}

/// The page size asked for, checked.
pub fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::BadRequest(format!(
            "limit: must be between 1 and {MAX_LIMIT}"
        )));
    }
    Ok(limit)
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

const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 100;

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
    caller.require(Scope::Write)?;
    let new = request.validate().map_err(ApiError::Invalid)?;
    crate::billing::require_entitlement(&state, caller.org_id()).await?;
    let mut tx = state.db.begin().await?;
    let assistant = assistants::insert(&mut tx, caller.org_id(), &new, state.clock.now()).await?;
    let job = ProvisionAssistant {
        org_id: assistant.org_id.clone(),
        assistant_id: assistant.id.clone(),
    };
    enqueue_in(
        &mut tx,
        &job,
        EnqueueOptions::unique(format!("provision:{}", assistant.id)),
        state.settings.queue.max_attempts,
    )
    .await?;
    tx.commit().await?;
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
    caller.require(Scope::Read)?;
    let status = match params.status.as_deref() {
        None => None,
        Some(s) => Some(AssistantStatus::parse(s).ok_or_else(|| {
            let names: Vec<_> = AssistantStatus::ALL.iter().map(|s| s.as_str()).collect();
            ApiError::BadRequest(format!("status: must be one of {}", names.join(", ")))
        })?),
    };
    let limit = page_limit(params.limit)?;
    let rows = assistants::list(
        &state.db,
        caller.org_id(),
        status,
        params.starting_after.as_deref(),
        limit + 1,
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
    caller.require(Scope::Read)?;
    let a = assistants::find(&state.db, caller.org_id(), &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("assistant {id}")))?;
    Ok(axum::Json(a.into()))
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
        given its booking tools at the voice platform only while it has structured hours. An assistant being deleted, \
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
    caller.require(Scope::Write)?;
    let change = patch.validate().map_err(ApiError::Invalid)?;
    let org_id = caller.org_id();
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    if let Some(choice) = &patch.calendar {
        let calendar = match choice {
            None => None,
            Some(choice) => Some(crate::assistant_calendar::check(&mut tx, org_id, choice).await?),
        };
        if !assistants::set_calendar(&mut tx, org_id, &id, calendar.as_ref(), now).await? {
            tx.rollback().await?;
            return Err(not_changeable(&state, org_id, &id).await);
        }
        if let Some(calendar) = &calendar {
            crate::assistant_calendar::sync_chosen(&mut tx, org_id, calendar, now).await?;
        }
    }
    if let Some(hours) = &change.hours
        && !assistants::set_hours(&mut tx, org_id, &id, hours.as_ref(), now).await?
    {
        tx.rollback().await?;
        return Err(not_changeable(&state, org_id, &id).await);
    }
    // Hours decide whether the voice platform gives the assistant its booking tools.
    let has_config = change.system_prompt.is_some()
        || change.voice.is_some()
        || change.greeting.is_some()
        || change.hours.is_some();
    if has_config {
        let Some(version) = assistants::apply_change(&mut tx, org_id, &id, &change, now).await?
        else {
            tx.rollback().await?;
            return Err(not_changeable(&state, org_id, &id).await);
        };
        let job = SyncAssistant {
            org_id: org_id.to_string(),
            assistant_id: id.clone(),
            version,
        };
        enqueue_in(
            &mut tx,
            &job,
            EnqueueOptions::unique(format!("sync:{id}:{version}")),
            state.settings.queue.max_attempts,
        )
        .await?;
    }
    tx.commit().await?;
    let a = assistants::find(&state.db, org_id, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("assistant {id}")))?;
    Ok((StatusCode::ACCEPTED, axum::Json(a.into())))
}

/// Why assistant `id` could not be changed: it does not exist, or its status forbids it.
async fn not_changeable(state: &AppState, org_id: &str, id: &str) -> ApiError {
    match assistants::find(&state.db, org_id, id).await {
        Ok(None) => ApiError::NotFound(format!("assistant {id}")),
        Ok(Some(a)) => ApiError::Conflict(format!(
            "an assistant in status {} cannot be changed",
            a.status.as_str()
        )),
        Err(e) => e.into(),
    }
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
    caller.require(Scope::Write)?;
    let mut tx = state.db.begin().await?;
    if assistants::mark_deleting(&mut tx, caller.org_id(), &id, state.clock.now()).await? {
        let job = DeleteAssistant {
            org_id: caller.org_id().to_string(),
            assistant_id: id.clone(),
        };
        enqueue_in(
            &mut tx,
            &job,
            EnqueueOptions::unique(format!("delete:{id}")),
            state.settings.queue.max_attempts,
        )
        .await?;
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    // Deleting twice is not an error: the answer shows where the deletion stands.
    let a = assistants::find(&state.db, caller.org_id(), &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("assistant {id}")))?;
    Ok((StatusCode::ACCEPTED, axum::Json(a.into())))
}
