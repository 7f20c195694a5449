//! Assistants: create (provisioned by a job), list, read, change (pushed by a job), delete
//! (removed from the providers by a job).

use zencall_core::domain::assistant::{AssistantPatch, AssistantRequest, AssistantStatus};
use zencall_core::jobs::payloads::{DeleteAssistant, ProvisionAssistant, SyncAssistant};
use zencall_core::store::api_keys::Scope;
use zencall_core::store::assistants::{self, Assistant};
use zencall_queue::{EnqueueOptions, enqueue_in};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::http::pagination::page_limit;

/// Validates `request`, stores the assistant as `provisioning` and queues its provisioning, in
/// one transaction. Needs `write` and a live subscription (or the grace period).
pub async fn create(
    state: &AppState,
    caller: &Caller,
    request: AssistantRequest,
) -> Result<Assistant, ApiError> {
    caller.require(Scope::Write)?;
    let new = request.validate().map_err(ApiError::Invalid)?;
    crate::billing::require_entitlement(state, caller.org_id()).await?;
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
    Ok(assistant)
}

/// A page of the organisation's assistants, newest first: up to `limit` (checked) after
/// `starting_after`, only those in `status` when given. The page holds one more row than
/// `limit` when there are more. Needs `read`.
pub async fn list(
    state: &AppState,
    caller: &Caller,
    status: Option<&str>,
    limit: Option<u32>,
    starting_after: Option<&str>,
) -> Result<(Vec<Assistant>, u32), ApiError> {
    caller.require(Scope::Read)?;
    let status = match status {
        None => None,
        Some(s) => Some(AssistantStatus::parse(s).ok_or_else(|| {
            let names: Vec<_> = AssistantStatus::ALL.iter().map(|s| s.as_str()).collect();
            ApiError::BadRequest(format!("status: must be one of {}", names.join(", ")))
        })?),
    };
    let limit = page_limit(limit)?;
    let rows = assistants::list(
        &state.db,
        caller.org_id(),
        status,
        starting_after,
        limit + 1,
    )
    .await?;
    Ok((rows, limit))
}

/// The organisation's assistant `id`. Needs `read`.
pub async fn get(state: &AppState, caller: &Caller, id: &str) -> Result<Assistant, ApiError> {
    caller.require(Scope::Read)?;
    assistants::find(&state.db, caller.org_id(), id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("assistant {id}")))
}

/// Applies `patch` to assistant `id`: the calendar, the structured hours, and the prompt,
/// voice or greeting (queued to the voice platform), in one transaction. Needs `write`.
pub async fn update(
    state: &AppState,
    caller: &Caller,
    id: &str,
    patch: AssistantPatch,
) -> Result<Assistant, ApiError> {
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
        if !assistants::set_calendar(&mut tx, org_id, id, calendar.as_ref(), now).await? {
            tx.rollback().await?;
            return Err(not_changeable(state, org_id, id).await);
        }
        if let Some(calendar) = &calendar {
            crate::assistant_calendar::sync_chosen(&mut tx, org_id, calendar, now).await?;
        }
    }
    if let Some(hours) = &change.hours
        && !assistants::set_hours(&mut tx, org_id, id, hours.as_ref(), now).await?
    {
        tx.rollback().await?;
        return Err(not_changeable(state, org_id, id).await);
    }
    // Hours decide whether the voice platform gives the assistant its booking tools.
    let has_config = change.system_prompt.is_some()
        || change.voice.is_some()
        || change.greeting.is_some()
        || change.hours.is_some();
    if has_config {
        let Some(version) = assistants::apply_change(&mut tx, org_id, id, &change, now).await?
        else {
            tx.rollback().await?;
            return Err(not_changeable(state, org_id, id).await);
        };
        let job = SyncAssistant {
            org_id: org_id.to_string(),
            assistant_id: id.to_string(),
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
    assistants::find(&state.db, org_id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("assistant {id}")))
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

/// Marks assistant `id` `deleting` and queues its removal from the providers; deleting again
/// changes nothing and answers where the deletion stands. Needs `write`.
pub async fn delete(state: &AppState, caller: &Caller, id: &str) -> Result<Assistant, ApiError> {
    caller.require(Scope::Write)?;
    let mut tx = state.db.begin().await?;
    if assistants::mark_deleting(&mut tx, caller.org_id(), id, state.clock.now()).await? {
        let job = DeleteAssistant {
            org_id: caller.org_id().to_string(),
            assistant_id: id.to_string(),
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
    assistants::find(&state.db, caller.org_id(), id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("assistant {id}")))
}
