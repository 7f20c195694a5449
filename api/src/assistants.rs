//! `/v1/assistants`: create (202, provisioned by a job), list, get, change (pushed by a job),
//! delete (removed from the providers by a job).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use zencall_core::domain::assistant::{AssistantPatch, AssistantRequest, AssistantStatus};
use zencall_core::jobs::payloads::{DeleteAssistant, ProvisionAssistant, SyncAssistant};
use zencall_core::jobs::{EnqueueOptions, enqueue_in};
use zencall_core::store::api_keys::Scope;
use zencall_core::store::assistants;
use zencall_core::views::AssistantView;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Json, Query};

/// Assistant routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/assistants", get(list).post(create))
        .route(
            "/v1/assistants/{id}",
            get(show).patch(change).delete(remove),
        )
}

/// A page of a list.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    object: &'static str,
    data: Vec<T>,
    has_more: bool,
    /// Pass as `starting_after` to get the next page.
    next_cursor: Option<String>,
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    status: Option<String>,
    limit: Option<u32>,
    starting_after: Option<String>,
}

const DEFAULT_LIMIT: u32 = 20;
const MAX_LIMIT: u32 = 100;

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<AssistantRequest>,
) -> Result<(StatusCode, axum::Json<AssistantView>), ApiError> {
    caller.require(Scope::Write)?;
    let new = request.validate().map_err(ApiError::Invalid)?;
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

async fn change(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(patch): Json<AssistantPatch>,
) -> Result<(StatusCode, axum::Json<AssistantView>), ApiError> {
    caller.require(Scope::Write)?;
    let change = patch.validate().map_err(ApiError::Invalid)?;
    let mut tx = state.db.begin().await?;
    let Some(version) =
        assistants::apply_change(&mut tx, caller.org_id(), &id, &change, state.clock.now()).await?
    else {
        tx.rollback().await?;
        return Err(
            match assistants::find(&state.db, caller.org_id(), &id).await? {
                None => ApiError::NotFound(format!("assistant {id}")),
                Some(a) => ApiError::Conflict(format!(
                    "an assistant in status {} cannot be changed",
                    a.status.as_str()
                )),
            },
        );
    };
    let job = SyncAssistant {
        org_id: caller.org_id().to_string(),
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
    tx.commit().await?;
    let a = assistants::find(&state.db, caller.org_id(), &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("assistant {id}")))?;
    Ok((StatusCode::ACCEPTED, axum::Json(a.into())))
}

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
