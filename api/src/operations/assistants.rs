//! Assistants: create (provisioned by a job), list, read, change (pushed by a job), delete
//! (removed from the providers by a job).

use chrono::{DateTime, TimeDelta, Utc};
use zencall_core::domain::assistant::{
    AssistantPatch, AssistantRequest, AssistantStatus, NewAssistant, PhoneNumberRequest,
};
use zencall_core::domain::phone::CountryCode;
use zencall_core::domain::sector;
use zencall_core::jobs::payloads::{DeleteAssistant, ProvisionAssistant, SyncAssistant};
use zencall_core::store::api_keys::Scope;
use zencall_core::store::assistants::{self, Assistant};
use zencall_core::store::calls::{self, StatsScope};
use zencall_queue::{EnqueueOptions, enqueue_in};

use crate::AppState;
use crate::assistant_stats::{AssistantStats, CountsView, DayView, top_intents};
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
    let new = checked(&request)?;
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

/// Runs the validation of [`create`] on `request` and stores nothing: the validated assistant
/// (with the sector's prompt, greeting and voice filled in), or every invalid field. Needs
/// `read`.
pub fn validate(caller: &Caller, request: &AssistantRequest) -> Result<NewAssistant, ApiError> {
    caller.require(Scope::Read)?;
    checked(request)
}

/// `request` validated, or a 422 listing each invalid field.
fn checked(request: &AssistantRequest) -> Result<NewAssistant, ApiError> {
    request.validate().map_err(ApiError::Invalid)
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
    let org_id = caller.org_id();
    // New sector details are checked against the assistant's sector and country, and rewrite
    // its prompt when that prompt is still the sector's template.
    let current = match &patch.sector_details {
        Some(_) => Some(
            assistants::find(&state.db, org_id, id)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("assistant {id}")))?,
        ),
        None => None,
    };
    let target = current
        .as_ref()
        .map(|a| (a.sector, CountryCode::parse(&a.phone_country).ok()));
    let mut change = patch.validate(target).map_err(ApiError::Invalid)?;
    if let (Some(a), Some(details)) = (&current, &change.sector_details)
        && change.system_prompt.is_none()
        && a.system_prompt
            == sector::system_prompt(a.sector, a.language, &a.business, a.sector_details.as_ref())
    {
        change.system_prompt = Some(sector::system_prompt(
            a.sector,
            a.language,
            &a.business,
            details.as_ref(),
        ));
    }
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    if let Some(details) = &change.sector_details
        && !assistants::set_sector_details(&mut tx, org_id, id, details.as_ref(), now).await?
    {
        tx.rollback().await?;
        return Err(not_changeable(state, org_id, id).await);
    }
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

/// Looks for a number again for assistant `id`, in `request`'s country and area code (the same
/// rules as at creation): an assistant whose provisioning failed, with no number bought, goes
/// back to `provisioning` and its provisioning is queued again; it becomes `active` with a
/// number, or `failed` with the reason. An assistant that has a number keeps it (409). Needs
/// `write`.
pub async fn provision_number(
    state: &AppState,
    caller: &Caller,
    id: &str,
    request: &PhoneNumberRequest,
) -> Result<Assistant, ApiError> {
    caller.require(Scope::Write)?;
    let (country, area_code) = request.validate("").map_err(ApiError::Invalid)?;
    let org_id = caller.org_id();
    let current = assistants::find(&state.db, org_id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("assistant {id}")))?;
    if let Some(number) = &current.phone_number {
        return Err(ApiError::Conflict(format!(
            "assistant {id} already has the number {number}"
        )));
    }
    crate::billing::require_entitlement(state, org_id).await?;
    let mut tx = state.db.begin().await?;
    let now = state.clock.now();
    if !assistants::retry_number(
        &mut tx,
        org_id,
        id,
        country.as_str(),
        area_code.as_deref(),
        now,
    )
    .await?
    {
        tx.rollback().await?;
        let status = assistants::find(&state.db, org_id, id)
            .await?
            .map(|a| a.status.as_str())
            .unwrap_or("deleted");
        return Err(ApiError::Conflict(format!(
            "an assistant in status {status} cannot look for a number; only a failed one \
             without a number can"
        )));
    }
    let job = ProvisionAssistant {
        org_id: org_id.to_string(),
        assistant_id: id.to_string(),
    };
    // A new key per retry: the first provisioning job's key stays taken.
    enqueue_in(
        &mut tx,
        &job,
        EnqueueOptions::unique(format!("provision:{id}:{}", ulid::Ulid::generate())),
        state.settings.queue.max_attempts,
    )
    .await?;
    tx.commit().await?;
    get(state, caller, id).await
}

/// The longest period statistics may cover, in days.
const MAX_STATS_DAYS: i64 = 366;

/// The statistics period when none is given, in days up to now.
const DEFAULT_STATS_DAYS: i64 = 30;

/// What assistant `id`'s calls came to from `from` (30 days before `to` by default) to `to`
/// (now by default): at most 366 days. Needs `read`.
pub async fn stats(
    state: &AppState,
    caller: &Caller,
    id: &str,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<AssistantStats, ApiError> {
    caller.require(Scope::Read)?;
    let to = to.unwrap_or_else(|| state.clock.now());
    let from = from.unwrap_or_else(|| to - TimeDelta::days(DEFAULT_STATS_DAYS));
    if from >= to {
        return Err(ApiError::BadRequest("from: must be before to".into()));
    }
    if to - from > TimeDelta::days(MAX_STATS_DAYS) {
        return Err(ApiError::BadRequest(format!(
            "to: the period may cover at most {MAX_STATS_DAYS} days"
        )));
    }
    assistants::find(&state.db, caller.org_id(), id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("assistant {id}")))?;
    let scope = StatsScope {
        assistant_id: Some(id.to_string()),
        from: Some(from),
        to: Some(to),
        ..StatsScope::default()
    };
    let stats = calls::stats(&state.db, caller.org_id(), &scope).await?;
    Ok(AssistantStats {
        object: "assistant_stats",
        assistant_id: id.to_string(),
        from,
        to,
        totals: CountsView::from(&stats.total),
        top_intents: top_intents(&stats.total.intents),
        days: stats
            .days
            .iter()
            .map(|(date, counts)| DayView {
                date: date.clone(),
                counts: CountsView::from(counts),
            })
            .collect(),
    })
}
