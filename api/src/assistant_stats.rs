//! `GET /v1/assistants/{id}/stats`: what an assistant's calls came to over a period: calls,
//! answered, talk time, the callers' sentiment and intents from the calls' analyses, and a
//! series per UTC day.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use zencall_core::domain::analysis::{IntentName, SentimentLabel};
use zencall_core::store::api_keys::Scope;
use zencall_core::store::assistants;
use zencall_core::store::calls::{self, CallCounts, StatsScope};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Path, Query};
use crate::openapi::{BadRequest, NotFound, V1Errors};

/// Statistics routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/v1/assistants/{id}/stats", get(show))
}

/// The longest period one request may cover, in days.
const MAX_DAYS: i64 = 366;

/// The period when none is given, in days up to now.
const DEFAULT_DAYS: i64 = 30;

/// The query of `GET /v1/assistants/{id}/stats`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct StatsParams {
    /// RFC 3339; calls created at or after (30 days before `to` by default).
    from: Option<DateTime<Utc>>,
    /// RFC 3339; calls created before (now by default). At most 366 days after `from`.
    to: Option<DateTime<Utc>>,
}

/// Counts of some calls.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CountsView {
    /// Calls.
    calls: u64,
    /// Calls that were answered.
    answered: u64,
    /// Their talk time, in seconds.
    total_duration_secs: u64,
    /// Mean talk time of an answered call, in seconds; null when none was answered.
    #[schema(required = true)]
    mean_duration_secs: Option<f64>,
    /// Analysed calls per caller sentiment (every label listed, zeros included).
    sentiment: BTreeMap<String, u64>,
}

impl From<&CallCounts> for CountsView {
    fn from(c: &CallCounts) -> Self {
        let mut sentiment: BTreeMap<String, u64> = SentimentLabel::ALL
            .iter()
            .map(|l| (l.as_str().to_string(), 0))
            .collect();
        sentiment.extend(c.sentiment.iter().map(|(k, v)| (k.clone(), *v)));
        Self {
            calls: c.calls,
            answered: c.answered,
            total_duration_secs: c.total_duration_secs,
            mean_duration_secs: (c.answered > 0)
                .then(|| (c.total_duration_secs as f64 / c.answered as f64 * 10.0).round() / 10.0),
            sentiment,
        }
    }
}

/// An intent and how many calls had it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IntentCount {
    /// The intent.
    intent: IntentName,
    /// Calls whose current analysis found it.
    calls: u64,
}

/// One day of the series.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DayView {
    /// The UTC day, `YYYY-MM-DD`.
    date: String,
    /// Its counts.
    #[serde(flatten)]
    counts: CountsView,
}

/// An assistant's statistics over a period.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AssistantStats {
    /// Always `assistant_stats`.
    #[schema(schema_with = stats_object)]
    object: &'static str,
    /// The assistant.
    assistant_id: String,
    /// Start of the period.
    from: DateTime<Utc>,
    /// End of the period (exclusive).
    to: DateTime<Utc>,
    /// The totals.
    #[serde(flatten)]
    totals: CountsView,
    /// Intents, most frequent first (those never found are left out).
    top_intents: Vec<IntentCount>,
    /// One entry per UTC day with calls, in date order.
    days: Vec<DayView>,
}

fn stats_object() -> utoipa::openapi::Object {
    zencall_core::schema::constant("assistant_stats")
}

/// Intents, most frequent first.
pub fn top_intents(counts: &BTreeMap<String, u64>) -> Vec<IntentCount> {
    let mut top: Vec<IntentCount> = counts
        .iter()
        .filter_map(|(name, n)| {
            IntentName::parse(name).map(|intent| IntentCount { intent, calls: *n })
        })
        .filter(|c| c.calls > 0)
        .collect();
    top.sort_by_key(|c| std::cmp::Reverse(c.calls));
    top
}

/// An assistant's call statistics.
#[utoipa::path(
    get,
    path = "/v1/assistants/{id}/stats",
    tag = "assistants",
    operation_id = "get_assistant_stats",
    summary = "Get an assistant's call statistics",
    params(("id" = String, Path, description = "The assistant's id, `asst_...`"), StatsParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Calls, answered, talk time, sentiment, intents and a daily series", body = AssistantStats),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        V1Errors,
    )
)]
async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(params): Query<StatsParams>,
) -> Result<axum::Json<AssistantStats>, ApiError> {
    caller.require(Scope::Read)?;
    let to = params.to.unwrap_or_else(|| state.clock.now());
    let from = params
        .from
        .unwrap_or_else(|| to - TimeDelta::days(DEFAULT_DAYS));
    if from >= to {
        return Err(ApiError::BadRequest("from: must be before to".into()));
    }
    if to - from > TimeDelta::days(MAX_DAYS) {
        return Err(ApiError::BadRequest(format!(
            "to: the period may cover at most {MAX_DAYS} days"
        )));
    }
    assistants::find(&state.db, caller.org_id(), &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("assistant {id}")))?;
    let scope = StatsScope {
        assistant_id: Some(id.clone()),
        from: Some(from),
        to: Some(to),
        ..StatsScope::default()
    };
    let stats = calls::stats(&state.db, caller.org_id(), &scope).await?;
    Ok(axum::Json(AssistantStats {
        object: "assistant_stats",
        assistant_id: id,
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
    }))
}
