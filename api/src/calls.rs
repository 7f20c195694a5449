//! `/v1/calls`: the calls of the caller's organisation, newest first, with filters; each
//! call's transcript analysis, its history, and re-analysis on request.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zencall_core::domain::analysis::{IntentName, SentimentLabel};
use zencall_core::domain::ids::new_id;
use zencall_core::jobs::payloads::AnalyzeTranscript;
use zencall_core::store::api_keys::Scope;
use zencall_core::store::call_analyses;
use zencall_core::store::calls::{self, CallFilter, IntentList, STATUSES};
use zencall_core::views::AnalysisView;
use zencall_queue::{EnqueueOptions, enqueue_in};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Path, Query};
use crate::http::pagination::Page;
use crate::openapi::{BadRequest, Conflict, Forbidden, NotFound, V1Errors};

/// Call routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show))
        .routes(routes!(reanalyse))
        .routes(routes!(history))
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
    /// Only calls whose current analysis reads this caller sentiment.
    #[param(schema_with = sentiment_param)]
    sentiment: Option<String>,
    /// Only calls whose current analysis found this intent.
    #[param(schema_with = intent_param)]
    intent: Option<String>,
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

fn sentiment_param() -> utoipa::openapi::Object {
    zencall_core::schema::one_of(SentimentLabel::ALL.map(SentimentLabel::as_str))
}

fn intent_param() -> utoipa::openapi::Object {
    zencall_core::schema::one_of(IntentName::ALL.map(IntentName::as_str))
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
    if let Some(sentiment) = &params.sentiment
        && SentimentLabel::parse(sentiment).is_none()
    {
        return Err(ApiError::BadRequest(
            "sentiment: must be one of positive, neutral, negative".into(),
        ));
    }
    if let Some(intent) = &params.intent
        && IntentName::parse(intent).is_none()
    {
        let names: Vec<&str> = IntentName::ALL.iter().map(|i| i.as_str()).collect();
        return Err(ApiError::BadRequest(format!(
            "intent: must be one of {}",
            names.join(", ")
        )));
    }
    if let (Some(from), Some(to)) = (params.from, params.to)
        && from >= to
    {
        return Err(ApiError::BadRequest("from: must be before to".into()));
    }
    let limit = crate::http::pagination::page_limit(params.limit)?;
    let filter = CallFilter {
        assistant_id: params.assistant_id,
        campaign_id: params.campaign_id,
        status: params.status,
        from: params.from,
        to: params.to,
        sentiment: params.sentiment,
        intent: params.intent,
    };
    let rows = calls::list(
        &state.db,
        caller.org_id(),
        &filter,
        params.starting_after.as_deref(),
        limit + 1,
    )
    .await?;
    Ok(axum::Json(Page::of(
        rows.iter().map(Call::from).collect(),
        limit,
        |c| c.id.clone(),
    )))
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
        (status = 200, description = "The call, with its transcript once it ended and its current analysis", body = CallDetail),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        V1Errors,
    )
)]
async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<CallDetail>, ApiError> {
    caller.require(Scope::Read)?;
    // The analysis is read before the call: an analysis and its copy onto the call (sentiment,
    // intents) commit together, so the call read after it carries that copy or a newer one.
    // Read the other way round, an analysis finishing in between showed as completed beside
    // a call with no sentiment yet.
    let analysis = match call_analyses::current(&state.db, caller.org_id(), &id).await? {
        Some(stored) => {
            let provider =
                call_analyses::provider_analysis(&state.db, caller.org_id(), &id).await?;
            Some(AnalysisView::of(stored, provider.as_deref()))
        }
        None => None,
    };
    let call = find_call(&state, &caller, &id).await?;
    Ok(axum::Json(CallDetail {
        call: Call::from(&call),
        analysis,
    }))
}

async fn find_call(state: &AppState, caller: &Caller, id: &str) -> Result<calls::Call, ApiError> {
    calls::find(&state.db, caller.org_id(), id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("call {id}")))
}

/// A call with its current transcript analysis.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CallDetail {
    /// The call.
    #[serde(flatten)]
    call: Call,
    /// Its current analysis; null until it has been analysed (a few seconds after it ends).
    #[schema(required = true)]
    analysis: Option<AnalysisView>,
}

/// A queued re-analysis.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AnalysisRequest {
    /// `anr_...`: the request, found again as the new analysis's origin.
    id: String,
    /// Always `analysis_request`.
    #[schema(schema_with = analysis_request_object)]
    object: &'static str,
    /// The call.
    call_id: String,
    /// Always `queued`: the new analysis shows in `GET /v1/calls/{id}` once made.
    #[schema(schema_with = queued_status)]
    status: &'static str,
}

fn analysis_request_object() -> utoipa::openapi::Object {
    zencall_core::schema::constant("analysis_request")
}

fn queued_status() -> utoipa::openapi::Object {
    zencall_core::schema::constant("queued")
}

/// Analyses the call's transcript again, with the analyzer configured now; the current
/// analysis stays in the history.
#[utoipa::path(
    post,
    path = "/v1/calls/{id}/analysis",
    tag = "calls",
    operation_id = "reanalyse_call",
    summary = "Analyse a call again",
    description = "Queues a new analysis of the call's transcript (after changing the analyzer,         say). It becomes the call's current analysis and is announced by `call.analyzed`; the         previous ones stay in `GET /v1/calls/{id}/analyses`.",
    params(("id" = String, Path, description = "The call's id, `call_...`")),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "The analysis is queued", body = AnalysisRequest),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        V1Errors,
    )
)]
async fn reanalyse(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, axum::Json<AnalysisRequest>), ApiError> {
    caller.require(Scope::Write)?;
    let call = find_call(&state, &caller, &id).await?;
    if call.status != "ended" {
        return Err(ApiError::Conflict(format!(
            "call {id} is {}: a call is analysed once it has ended",
            call.status
        )));
    }
    let request_id = new_id("anr");
    let job = AnalyzeTranscript {
        org_id: caller.org_id().to_string(),
        call_id: id.clone(),
        request_key: request_id.clone(),
    };
    let mut tx = state.db.begin().await?;
    enqueue_in(
        &mut tx,
        &job,
        EnqueueOptions::unique(format!("analysis:{id}:{request_id}")),
        state.settings.queue.max_attempts,
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(AnalysisRequest {
            id: request_id,
            object: "analysis_request",
            call_id: id,
            status: "queued",
        }),
    ))
}

/// Every analysis of the call, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AnalysisHistory {
    /// Always `list`.
    #[schema(schema_with = list_object)]
    object: &'static str,
    /// The analyses, newest first; the first is current.
    data: Vec<AnalysisView>,
}

fn list_object() -> utoipa::openapi::Object {
    zencall_core::schema::constant("list")
}

/// The history of the call's analyses.
#[utoipa::path(
    get,
    path = "/v1/calls/{id}/analyses",
    tag = "calls",
    operation_id = "list_call_analyses",
    summary = "List a call's analyses",
    params(("id" = String, Path, description = "The call's id, `call_...`")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every analysis of the call, newest first", body = AnalysisHistory),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        V1Errors,
    )
)]
async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<AnalysisHistory>, ApiError> {
    caller.require(Scope::Read)?;
    find_call(&state, &caller, &id).await?;
    let provider = call_analyses::provider_analysis(&state.db, caller.org_id(), &id).await?;
    let data = call_analyses::history(&state.db, caller.org_id(), &id)
        .await?
        .into_iter()
        .map(|stored| AnalysisView::of(stored, provider.as_deref()))
        .collect();
    Ok(axum::Json(AnalysisHistory {
        object: "list",
        data,
    }))
}

/// A call.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Call {
    /// `call_...`
    id: String,
    /// Owning organisation.
    org_id: String,
    /// The assistant that took or placed it.
    #[schema(required = true)]
    assistant_id: Option<String>,
    /// The campaign it belongs to, if any.
    #[schema(required = true)]
    campaign_id: Option<String>,
    /// Id at the voice platform.
    #[schema(required = true)]
    vapi_call_id: Option<String>,
    /// Id at the telephony provider.
    #[schema(required = true)]
    twilio_call_sid: Option<String>,
    /// `inbound` or `outbound`.
    #[schema(schema_with = direction_schema)]
    direction: String,
    /// `queued`, `ringing`, `in_progress`, `forwarding` or `ended`.
    #[schema(schema_with = status_schema)]
    status: String,
    /// Caller, E.164.
    #[schema(required = true)]
    from_number: Option<String>,
    /// Callee, E.164.
    #[schema(required = true)]
    to_number: Option<String>,
    /// Answered at.
    #[schema(required = true)]
    started_at: Option<DateTime<Utc>>,
    /// Ended at.
    #[schema(required = true)]
    ended_at: Option<DateTime<Utc>>,
    /// From `started_at` to `ended_at`, in whole seconds.
    #[schema(required = true)]
    duration_secs: Option<i64>,
    /// Why it ended (`customer-ended-call`, `busy`, `no-answer`, ...).
    #[schema(required = true)]
    ended_reason: Option<String>,
    /// Its cost at the voice platform, in US dollars, as a decimal string.
    #[schema(required = true)]
    cost_usd: Option<String>,
    /// The transcript.
    #[schema(required = true)]
    transcript: Option<String>,
    /// Where the recording is.
    #[schema(required = true)]
    recording_url: Option<String>,
    /// The platform's summary.
    #[schema(required = true)]
    summary: Option<String>,
    /// The caller's sentiment in the current analysis: `positive`, `neutral` or `negative`;
    /// null until the call is analysed (or when its analysis was skipped).
    #[schema(required = true, schema_with = sentiment_schema)]
    sentiment: Option<String>,
    /// Its score, from -1 to 1.
    #[schema(required = true)]
    sentiment_score: Option<f64>,
    /// The intents of the current analysis, most confident first.
    #[schema(value_type = Vec<String>)]
    intents: IntentList,
    /// First report.
    created_at: DateTime<Utc>,
    /// Last report.
    updated_at: DateTime<Utc>,
}

impl From<&calls::Call> for Call {
    fn from(row: &calls::Call) -> Self {
        Call {
            id: row.id.clone(),
            org_id: row.org_id.clone(),
            assistant_id: row.assistant_id.clone(),
            campaign_id: row.campaign_id.clone(),
            vapi_call_id: row.vapi_call_id.clone(),
            twilio_call_sid: row.twilio_call_sid.clone(),
            direction: row.direction.clone(),
            status: row.status.clone(),
            from_number: row.from_number.clone(),
            to_number: row.to_number.clone(),
            started_at: row.started_at,
            ended_at: row.ended_at,
            duration_secs: row.duration_secs,
            ended_reason: row.ended_reason.clone(),
            cost_usd: row.cost_usd.clone(),
            transcript: row.transcript.clone(),
            recording_url: row.recording_url.clone(),
            summary: row.summary.clone(),
            sentiment: row.sentiment.clone(),
            sentiment_score: row.sentiment_score,
            intents: row.intents.clone(),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

fn direction_schema() -> utoipa::openapi::Object {
    zencall_core::schema::one_of(["inbound", "outbound"])
}

fn status_schema() -> utoipa::openapi::Object {
    zencall_core::schema::one_of(STATUSES)
}

fn sentiment_schema() -> utoipa::openapi::Object {
    zencall_core::schema::one_of(["positive", "neutral", "negative"])
}
