//! `/v1/campaigns`: outbound calling campaigns. A campaign is created as a draft, gets its
//! contacts (see `campaign_contacts`), and is started, paused, resumed or cancelled; its
//! detail shows its progress. Planning and dialing are jobs; a state change queues a planning
//! pass at once, and a pause or cancel cancels the calls not yet placed in the same
//! transaction, so none is placed after it.

use std::collections::BTreeMap;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use zencall_core::domain::assistant::{AssistantStatus, FieldError};
use zencall_core::domain::campaign::{
    CallingRulesSpec, CampaignAction, CampaignState, Outcome, Purpose, RetryPolicy,
};
use zencall_core::domain::phone::{CountryCode, PhoneNumber};
use zencall_core::jobs::payloads::PlanCampaign;
use zencall_core::store::api_keys::Scope;
use zencall_core::store::call_attempts::{self, AttemptStats};
use zencall_core::store::campaign_contacts::{self, ContactState};
use zencall_core::store::campaigns::{self, Campaign, NewCampaign};
use zencall_core::store::{assistants, now_micros};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Json, Path, Query};
use crate::http::pagination::{Page, PageParams, page_limit};
use crate::openapi::{
    BadRequest, Conflict, Forbidden, JsonBodyErrors, NotFound, PaymentRequired, V1Errors,
};

/// Campaign routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show))
        .routes(routes!(start))
        .routes(routes!(pause))
        .routes(routes!(resume))
        .routes(routes!(cancel))
}

/// The path parameter of one campaign's routes.
pub(crate) const CAMPAIGN_ID: &str = "The campaign's id, `cmp_...`";

/// Longest name, in characters.
const MAX_NAME_CHARS: usize = 200;
/// Attempts per contact, at most.
const MAX_ATTEMPTS: u32 = 10;
/// Concurrent calls per campaign, at most.
const MAX_CONCURRENCY: u32 = 100;

fn campaign_object() -> utoipa::openapi::Object {
    zencall_core::schema::constant("campaign")
}

/// The body of `POST /v1/campaigns`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CampaignRequest {
    /// A name for you: 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200, examples("Relance devis novembre"))]
    name: String,
    /// The assistant that speaks (`asst_...`), active.
    assistant_id: String,
    /// The number the calls come from: the number of one of your active assistants.
    #[schema(examples("+33142868000"))]
    caller_number: String,
    /// `prospecting` (under `fr-consumer`, only people with a recorded consent are called) or
    /// `service`.
    purpose: Purpose,
    /// A preset (`{"preset": "fr-consumer"}` or `us-tcpa`), or a custom weekly schedule with a
    /// holiday calendar.
    calling_rules: CallingRulesSpec,
    /// Time zone of contacts that give none (IANA, `Europe/Paris`).
    #[schema(examples("Europe/Paris"))]
    time_zone: String,
    /// Country of national numbers (ISO 3166 alpha-2); `FR` by default.
    #[serde(default)]
    #[schema(examples("FR"))]
    default_country: Option<String>,
    /// No call before; now by default.
    #[serde(default)]
    starts_at: Option<DateTime<Utc>>,
    /// No call at or after; the campaign then completes.
    #[serde(default)]
    ends_at: Option<DateTime<Utc>>,
    /// Attempts per contact: 1 to 10, 3 by default.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 10)]
    max_attempts: Option<u32>,
    /// When to call again after each unanswered outcome; sensible defaults.
    #[serde(default)]
    retry_policy: Option<RetryPolicy>,
    /// Calls in progress at once: 1 to 100, 5 by default.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 100)]
    max_concurrent_calls: Option<u32>,
}

impl CampaignRequest {
    /// Checks every field that needs no storage.
    fn validate(self, now: DateTime<Utc>) -> Result<NewCampaign, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = self.name.trim().to_string();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            errors.push(FieldError::new(
                "name",
                format!("must be 1 to {MAX_NAME_CHARS} characters"),
            ));
        }
        let country = self.default_country.unwrap_or_else(|| "FR".into());
        let parsed_country = CountryCode::parse(&country);
        if let Err(reason) = &parsed_country {
            errors.push(FieldError::new("default_country", reason.clone()));
        }
        let caller_number = match PhoneNumber::parse(&self.caller_number, parsed_country.ok()) {
            Ok(n) => Some(n),
            Err(e) => {
                errors.push(FieldError::new("caller_number", e.to_string()));
                None
            }
        };
        if self.time_zone.parse::<chrono_tz::Tz>().is_err() {
            errors.push(FieldError::new(
                "time_zone",
                format!(
                    "unknown time zone {:?}: use an IANA name such as Europe/Paris",
                    self.time_zone
                ),
            ));
        }
        if let Err((field, reason)) = self.calling_rules.compile() {
            errors.push(FieldError::new(field, reason));
        }
        let retry_policy = self.retry_policy.unwrap_or_default();
        if let Err((field, reason)) = retry_policy.validate() {
            errors.push(FieldError::new(field, reason));
        }
        let max_attempts = self.max_attempts.unwrap_or(3);
        if !(1..=MAX_ATTEMPTS).contains(&max_attempts) {
            errors.push(FieldError::new(
                "max_attempts",
                format!("must be between 1 and {MAX_ATTEMPTS}"),
            ));
        }
        let max_concurrent_calls = self.max_concurrent_calls.unwrap_or(5);
        if !(1..=MAX_CONCURRENCY).contains(&max_concurrent_calls) {
            errors.push(FieldError::new(
                "max_concurrent_calls",
                format!("must be between 1 and {MAX_CONCURRENCY}"),
            ));
        }
        let starts_at = now_micros(self.starts_at.unwrap_or(now));
        let ends_at = self.ends_at.map(now_micros);
        if ends_at.is_some_and(|end| end <= starts_at) {
            errors.push(FieldError::new("ends_at", "must be after starts_at"));
        }
        if ends_at.is_some_and(|end| end <= now) {
            errors.push(FieldError::new("ends_at", "must be in the future"));
        }
        if self.assistant_id.trim().is_empty() {
            errors.push(FieldError::new("assistant_id", "is required"));
        }
        match (errors.is_empty(), caller_number) {
            (true, Some(caller_number)) => Ok(NewCampaign {
                name,
                assistant_id: self.assistant_id.trim().to_string(),
                caller_number: caller_number.as_str().to_string(),
                purpose: self.purpose,
                calling_rules: self.calling_rules,
                time_zone: self.time_zone,
                default_country: country.to_ascii_uppercase(),
                starts_at,
                ends_at,
                max_attempts,
                retry_policy,
                max_concurrent_calls,
            }),
            _ => Err(errors),
        }
    }
}

/// A campaign's progress.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Progress {
    /// Contacts per state (every state listed, zeros included).
    contacts: BTreeMap<String, u64>,
    /// Contacts in all.
    contacts_total: u64,
    /// Attempts planned or made (never-placed ones excluded).
    attempts: u64,
    /// Calls planned or in progress now.
    calls_in_progress: u64,
    /// Ended attempts per outcome (every outcome listed, zeros included).
    outcomes: BTreeMap<String, u64>,
    /// Share of ended attempts in which the person answered (0 to 1); null before any ended.
    #[schema(required = true)]
    answer_rate: Option<f64>,
    /// When the remaining contacts should be done at the pace of the last hour; null when
    /// not running or nothing ended in the last hour.
    #[schema(required = true)]
    estimated_completion_at: Option<DateTime<Utc>>,
    /// The campaign's analysed calls per caller sentiment (every label listed, zeros included).
    sentiment: BTreeMap<String, u64>,
    /// The campaign's analysed calls per intent, most frequent first.
    intents: Vec<crate::assistant_stats::IntentCount>,
}

/// A campaign as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct CampaignView {
    /// Always `campaign`.
    #[schema(schema_with = campaign_object)]
    object: &'static str,
    #[serde(flatten)]
    campaign: CampaignFields,
    /// Progress: in the detail and in the answers to actions; absent from lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    progress: Option<Progress>,
}

/// The stored fields of a campaign.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct CampaignFields {
    /// `cmp_...`
    id: String,
    /// Name.
    name: String,
    /// The assistant.
    assistant_id: String,
    /// The number calls come from.
    caller_number: String,
    /// Why it calls.
    purpose: Purpose,
    /// When it may call.
    calling_rules: CallingRulesSpec,
    /// Default time zone of its contacts.
    time_zone: String,
    /// Country of national numbers.
    default_country: String,
    /// No call before.
    starts_at: DateTime<Utc>,
    /// No call at or after.
    #[schema(required = true)]
    ends_at: Option<DateTime<Utc>>,
    /// Attempts per contact.
    max_attempts: u32,
    /// Retry policy.
    retry_policy: RetryPolicy,
    /// Concurrent calls, at most.
    max_concurrent_calls: u32,
    /// State.
    state: CampaignState,
    /// Creation time.
    created_at: DateTime<Utc>,
    /// Last change.
    updated_at: DateTime<Utc>,
    /// When it completed or was cancelled.
    #[schema(required = true)]
    finished_at: Option<DateTime<Utc>>,
}

impl CampaignView {
    fn of(c: Campaign, progress: Option<Progress>) -> Self {
        CampaignView {
            object: "campaign",
            campaign: CampaignFields {
                id: c.id,
                name: c.name,
                assistant_id: c.assistant_id,
                caller_number: c.caller_number,
                purpose: c.purpose,
                calling_rules: c.calling_rules,
                time_zone: c.time_zone,
                default_country: c.default_country,
                starts_at: c.starts_at,
                ends_at: c.ends_at,
                max_attempts: c.max_attempts,
                retry_policy: c.retry_policy,
                max_concurrent_calls: c.max_concurrent_calls,
                state: c.state,
                created_at: c.created_at,
                updated_at: c.updated_at,
                finished_at: c.finished_at,
            },
            progress,
        }
    }
}

/// Creates a campaign, as a draft.
#[utoipa::path(
    post,
    path = "/v1/campaigns",
    tag = "campaigns",
    operation_id = "create_campaign",
    summary = "Create a campaign",
    description = "Checks every field (the assistant must be active and the caller number one \
        of your assistants' numbers) and stores the campaign as a `draft`: add its contacts, \
        then start it. Needs the `write` scope.",
    request_body = CampaignRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created, as a draft", body = CampaignView, links(
            ("GetCampaign" = (operation_id = "get_campaign", parameters(("id" = "$response.body#/id")))),
        )),
        (status = 403, response = Forbidden),
        JsonBodyErrors,
        V1Errors,
    )
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<CampaignRequest>,
) -> Result<(StatusCode, axum::Json<CampaignView>), ApiError> {
    caller.require(Scope::Write)?;
    let now = now_micros(state.clock.now());
    let new = request.validate(now).map_err(ApiError::Invalid)?;
    let assistant = assistants::find(&state.db, caller.org_id(), &new.assistant_id).await?;
    if !assistant.is_some_and(|a| a.status == AssistantStatus::Active) {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "assistant_id",
            format!(
                "no active assistant {} in your organisation",
                new.assistant_id
            ),
        )]));
    }
    let owner = assistants::find_by_number(&state.db, &new.caller_number).await?;
    if !owner.is_some_and(|a| a.org_id == caller.org_id() && a.status == AssistantStatus::Active) {
        return Err(ApiError::Invalid(vec![FieldError::new(
            "caller_number",
            format!(
                "{} is not the number of one of your active assistants",
                new.caller_number
            ),
        )]));
    }
    let campaign = campaigns::insert(&state.db, caller.org_id(), &new, now).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CampaignView::of(campaign, None)),
    ))
}

/// Lists the organisation's campaigns, newest first.
#[utoipa::path(
    get,
    path = "/v1/campaigns",
    tag = "campaigns",
    operation_id = "list_campaigns",
    summary = "List campaigns",
    params(PageParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of campaigns", body = Page<CampaignView>),
        (status = 400, response = BadRequest),
        V1Errors,
    )
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<PageParams>,
) -> Result<axum::Json<Page<CampaignView>>, ApiError> {
    caller.require(Scope::Read)?;
    let limit = page_limit(params.limit)?;
    let rows = campaigns::list(
        &state.db,
        caller.org_id(),
        params.starting_after.as_deref(),
        limit + 1,
    )
    .await?;
    let views = rows
        .into_iter()
        .map(|c| CampaignView::of(c, None))
        .collect();
    Ok(axum::Json(Page::of(views, limit, |c: &CampaignView| {
        c.campaign.id.clone()
    })))
}

/// The campaign `id` of the caller's organisation, or 404.
pub(crate) async fn find(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Campaign, ApiError> {
    campaigns::find(&state.db, caller.org_id(), id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("campaign {id}")))
}

async fn progress(state: &AppState, campaign: &Campaign) -> Result<Progress, ApiError> {
    let now = state.clock.now();
    let counts = campaign_contacts::counts(&state.db, &campaign.id).await?;
    let mut contacts: BTreeMap<String, u64> = ContactState::ALL
        .iter()
        .map(|s| (s.as_str().to_string(), 0))
        .collect();
    for (s, n) in &counts {
        contacts.insert(s.as_str().to_string(), *n);
    }
    let contacts_total = counts.iter().map(|(_, n)| n).sum();
    let remaining: u64 = counts
        .iter()
        .filter(|(s, _)| !s.is_done())
        .map(|(_, n)| n)
        .sum();
    let AttemptStats {
        attempts,
        in_progress,
        outcomes: counted,
        ended_last_hour,
    } = call_attempts::stats(&state.db, &campaign.id, now).await?;
    let mut outcomes: BTreeMap<String, u64> = Outcome::ALL
        .iter()
        .map(|o| (o.as_str().to_string(), 0))
        .collect();
    outcomes.extend(counted);
    let ended: u64 = outcomes.values().sum();
    let answered: u64 = Outcome::ALL
        .iter()
        .filter(|o| o.is_answered())
        .map(|o| outcomes.get(o.as_str()).copied().unwrap_or(0))
        .sum();
    let answer_rate = (ended > 0).then(|| answered as f64 / ended as f64);
    let estimated_completion_at = (campaign.state == CampaignState::Running && ended_last_hour > 0)
        .then(|| {
            let hours = remaining as f64 / ended_last_hour as f64;
            now + TimeDelta::seconds((hours * 3600.0).min(1e9) as i64)
        });
    let analysed = zencall_core::store::calls::stats(
        &state.db,
        &campaign.org_id,
        &zencall_core::store::calls::StatsScope {
            campaign_id: Some(campaign.id.clone()),
            ..Default::default()
        },
    )
    .await?
    .total;
    let mut sentiment: BTreeMap<String, u64> = zencall_core::domain::analysis::SentimentLabel::ALL
        .iter()
        .map(|l| (l.as_str().to_string(), 0))
        .collect();
    sentiment.extend(analysed.sentiment.clone());
    Ok(Progress {
        sentiment,
        intents: crate::assistant_stats::top_intents(&analysed.intents),
        contacts,
        contacts_total,
        attempts,
        calls_in_progress: in_progress,
        outcomes,
        answer_rate,
        estimated_completion_at,
    })
}

/// One campaign with its progress.
#[utoipa::path(
    get,
    path = "/v1/campaigns/{id}",
    tag = "campaigns",
    operation_id = "get_campaign",
    summary = "Get a campaign and its progress",
    description = "The campaign with `progress`: contacts per state, attempts, calls in \
        progress, outcomes, answer rate and an estimated completion time.",
    params(("id" = String, Path, description = CAMPAIGN_ID)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The campaign", body = CampaignView),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        V1Errors,
    )
)]
async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<CampaignView>, ApiError> {
    caller.require(Scope::Read)?;
    let campaign = find(&state, &caller, &id).await?;
    let progress = progress(&state, &campaign).await?;
    Ok(axum::Json(CampaignView::of(campaign, Some(progress))))
}

async fn act(
    state: AppState,
    caller: Caller,
    id: String,
    action: CampaignAction,
) -> Result<axum::Json<CampaignView>, ApiError> {
    caller.require(Scope::Write)?;
    if matches!(action, CampaignAction::Start | CampaignAction::Resume) {
        crate::billing::require_entitlement(&state, caller.org_id()).await?;
    }
    let now = now_micros(state.clock.now());
    let mut tx = state.db.begin().await?;
    let changed = campaigns::transition(&mut tx, caller.org_id(), &id, action, now).await?;
    let campaign = match changed {
        None => return Err(ApiError::NotFound(format!("campaign {id}"))),
        Some(Err(reason)) => return Err(ApiError::Conflict(reason)),
        Some(Ok(campaign)) => campaign,
    };
    if campaign.state == CampaignState::Running {
        PlanCampaign::enqueue_now(&mut tx, caller.org_id(), &id).await?;
    }
    tx.commit().await?;
    let progress = progress(&state, &campaign).await?;
    Ok(axum::Json(CampaignView::of(campaign, Some(progress))))
}

/// Starts a draft campaign: running now, or scheduled until its start.
#[utoipa::path(
    post,
    path = "/v1/campaigns/{id}/start",
    tag = "campaigns",
    operation_id = "start_campaign",
    summary = "Start a campaign",
    description = "A `draft` becomes `running` (or `scheduled` before its start); calls are \
        planned within seconds. 402 when the organisation has no trialing or active \
        subscription past its grace period. Needs the `write` scope.",
    params(("id" = String, Path, description = CAMPAIGN_ID)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Started", body = CampaignView),
        (status = 400, response = BadRequest),
        (status = 402, response = PaymentRequired),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        V1Errors,
    )
)]
async fn start(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<CampaignView>, ApiError> {
    act(state, caller, id, CampaignAction::Start).await
}

/// Pauses a campaign: calls not yet placed are cancelled at once.
#[utoipa::path(
    post,
    path = "/v1/campaigns/{id}/pause",
    tag = "campaigns",
    operation_id = "pause_campaign",
    summary = "Pause a campaign",
    description = "No call is placed after the answer: planned calls are given back to their \
        contacts; calls already ringing finish. Needs the `write` scope.",
    params(("id" = String, Path, description = CAMPAIGN_ID)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Paused", body = CampaignView),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        V1Errors,
    )
)]
async fn pause(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<CampaignView>, ApiError> {
    act(state, caller, id, CampaignAction::Pause).await
}

/// Resumes a paused campaign.
#[utoipa::path(
    post,
    path = "/v1/campaigns/{id}/resume",
    tag = "campaigns",
    operation_id = "resume_campaign",
    summary = "Resume a campaign",
    description = "A `paused` campaign runs again (or waits for its start). 402 when the \
        organisation has no trialing or active subscription past its grace period. Needs the \
        `write` scope.",
    params(("id" = String, Path, description = CAMPAIGN_ID)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Resumed", body = CampaignView),
        (status = 400, response = BadRequest),
        (status = 402, response = PaymentRequired),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        V1Errors,
    )
)]
async fn resume(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<CampaignView>, ApiError> {
    act(state, caller, id, CampaignAction::Resume).await
}

/// Cancels a campaign for good.
#[utoipa::path(
    post,
    path = "/v1/campaigns/{id}/cancel",
    tag = "campaigns",
    operation_id = "cancel_campaign",
    summary = "Cancel a campaign",
    description = "No call is placed after the answer: planned calls and pending contacts are \
        cancelled; calls already ringing finish. Needs the `write` scope.",
    params(("id" = String, Path, description = CAMPAIGN_ID)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Cancelled", body = CampaignView),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        V1Errors,
    )
)]
async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<CampaignView>, ApiError> {
    act(state, caller, id, CampaignAction::Cancel).await
}
