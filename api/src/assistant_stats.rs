//! `GET /v1/assistants/{id}/stats`: what an assistant's calls came to over a period: calls,
//! answered, talk time, the callers' sentiment and intents from the calls' analyses, and a
//! series per UTC day.

use std::collections::BTreeMap;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use axum::extract::State;
use chrono::{DateTime, Utc};
use rmcp::schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use zencall_core::domain::analysis::{IntentName, SentimentLabel};
use zencall_core::store::calls::CallCounts;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Path, Query};
use crate::openapi::{BadRequest, NotFound, V1Errors};
use crate::operations;

/// Statistics routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show))
}

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
#[derive(Debug, Serialize, utoipa::ToSchema, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
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
#[derive(Debug, Serialize, utoipa::ToSchema, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct IntentCount {
    /// The intent.
    #[schemars(with = "String")]
    intent: IntentName,
    /// Calls whose current analysis found it.
    calls: u64,
}

/// One day of the series.
#[derive(Debug, Serialize, utoipa::ToSchema, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct DayView {
    /// The UTC day, `YYYY-MM-DD`.
    pub date: String,
    /// Its counts.
    #[serde(flatten)]
    pub counts: CountsView,
}

/// An assistant's statistics over a period.
#[derive(Debug, Serialize, utoipa::ToSchema, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct AssistantStats {
    /// Always `assistant_stats`.
    #[schema(schema_with = stats_object)]
    pub object: &'static str,
    /// The assistant.
    pub assistant_id: String,
    /// Start of the period.
    pub from: DateTime<Utc>,
    /// End of the period (exclusive).
    pub to: DateTime<Utc>,
    /// The totals.
    #[serde(flatten)]
    pub totals: CountsView,
    /// Intents, most frequent first (those never found are left out).
    pub top_intents: Vec<IntentCount>,
    /// One entry per UTC day with calls, in date order.
    pub days: Vec<DayView>,
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
    let stats = operations::assistants::stats(&state, &caller, &id, params.from, params.to).await?;
    Ok(axum::Json(stats))
}
