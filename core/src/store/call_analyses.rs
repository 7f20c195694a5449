//! Transcript analyses of calls. Every analysis is kept; the newest is the call's current one,
//! and its sentiment and intents are copied onto the call for list filters and statistics.
//! An analysis is stored once per call and request (`auto` for the end of the call, or a
//! re-analysis request's id), so a job that runs twice stores it once.

use chrono::{DateTime, Utc};

use super::calls::IntentList;
use super::{Db, StoreError, Tx};
use crate::domain::analysis::{AnalysisStatus, TranscriptAnalysis};
use crate::domain::ids::new_id;
use zencall_queue::{on_pool, on_tx};

/// The request key of the analysis made when a call ends.
pub const AUTO_REQUEST: &str = "auto";

/// A stored analysis.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAnalysis {
    /// `can_...`
    pub id: String,
    /// The call.
    pub call_id: String,
    /// `auto`, or the re-analysis request's id.
    pub request_key: String,
    /// Whether it is the call's current analysis.
    pub is_current: bool,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// What the analyzer said.
    pub analysis: TranscriptAnalysis,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    call_id: String,
    request_key: String,
    is_current: bool,
    created_at: DateTime<Utc>,
    result: String,
}

impl TryFrom<Row> for StoredAnalysis {
    type Error = StoreError;

    fn try_from(row: Row) -> Result<Self, StoreError> {
        let analysis = serde_json::from_str(&row.result)
            .map_err(|e| StoreError::Corrupt(format!("analysis {} cannot be read: {e}", row.id)))?;
        Ok(Self {
            id: row.id,
            call_id: row.call_id,
            request_key: row.request_key,
            is_current: row.is_current,
            created_at: row.created_at,
            analysis,
        })
    }
}

const COLUMNS: &str = "id, call_id, request_key, is_current, created_at, result";

/// Stores `analysis` of the call as its current one, in `tx`. `None` when this call and
/// request already have an analysis (a job's second run): nothing is written.
pub async fn store_current(
    tx: &mut Tx,
    org_id: &str,
    call_id: &str,
    request_key: &str,
    analysis: &TranscriptAnalysis,
    now: DateTime<Utc>,
) -> Result<Option<StoredAnalysis>, StoreError> {
    let now = super::now_micros(now);
    let completed = analysis.status == AnalysisStatus::Completed;
    let sentiment = analysis
        .sentiment
        .as_ref()
        .filter(|_| completed)
        .map(|s| (s.label.as_str(), s.score));
    let intents = if completed {
        IntentList::encode(analysis.intents.iter().map(|i| i.name.as_str()))
    } else {
        String::new()
    };
    // Updating the call first locks its row, so two analyses of one call never race for
    // the current slot.
    let updated = on_tx!(tx, |c| {
        sqlx::query(
        "UPDATE calls SET sentiment = $1, sentiment_score = $2, intents = $3 WHERE org_id = $4 AND id = $5"
    )
    .bind(sentiment.map(|s| s.0))
    .bind(sentiment.map(|s| s.1))
    .bind(if completed { Some(intents.as_str()) } else { None })
    .bind(org_id)
    .bind(call_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    if updated == 0 {
        return Err(StoreError::Corrupt(format!(
            "call {call_id} of {org_id} does not exist"
        )));
    }
    let exists: Option<String> = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT id FROM call_analyses WHERE call_id = $1 AND request_key = $2"
    )
    .bind(call_id)
    .bind(request_key)
    .fetch_optional(c)
    .await)?;
    if exists.is_some() {
        return Ok(None);
    }
    on_tx!(tx, |c| sqlx::query(
        "UPDATE call_analyses SET is_current = FALSE WHERE call_id = $1 AND is_current"
    )
    .bind(call_id)
    .execute(c)
    .await
    .map(|_| ()))?;
    let result = serde_json::to_string(analysis)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode an analysis: {e}")))?;
    let id = new_id("can");
    on_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO call_analyses (id, org_id, call_id, request_key, analyzer, analyzer_version, status, language, \
         sentiment, sentiment_score, intents, result, is_current, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, TRUE, $13)"
    )
    .bind(&id)
    .bind(org_id)
    .bind(call_id)
    .bind(request_key)
    .bind(analysis.analyzer.as_str())
    .bind(&analysis.analyzer_version)
    .bind(analysis.status.as_str())
    .bind(analysis.language.as_str())
    .bind(sentiment.map(|s| s.0))
    .bind(sentiment.map(|s| s.1))
    .bind(&intents)
    .bind(&result)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ())
    })?;
    Ok(Some(StoredAnalysis {
        id,
        call_id: call_id.to_string(),
        request_key: request_key.to_string(),
        is_current: true,
        created_at: now,
        analysis: analysis.clone(),
    }))
}

/// The analysis stored for this call and request, if any.
pub async fn find_by_request(
    db: &Db,
    org_id: &str,
    call_id: &str,
    request_key: &str,
) -> Result<Option<StoredAnalysis>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM call_analyses WHERE org_id = $1 AND call_id = $2 AND request_key = $3"
    );
    let row: Option<Row> = on_pool!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
        .bind(org_id)
        .bind(call_id)
        .bind(request_key)
        .fetch_optional(p)
        .await)?;
    row.map(StoredAnalysis::try_from).transpose()
}

/// The call's current analysis.
pub async fn current(
    db: &Db,
    org_id: &str,
    call_id: &str,
) -> Result<Option<StoredAnalysis>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM call_analyses WHERE org_id = $1 AND call_id = $2 AND is_current"
    );
    let row: Option<Row> = on_pool!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
        .bind(org_id)
        .bind(call_id)
        .fetch_optional(p)
        .await)?;
    row.map(StoredAnalysis::try_from).transpose()
}

/// Every analysis of the call, newest first.
pub async fn history(
    db: &Db,
    org_id: &str,
    call_id: &str,
) -> Result<Vec<StoredAnalysis>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM call_analyses WHERE org_id = $1 AND call_id = $2 ORDER BY created_at DESC, id DESC"
    );
    let rows: Vec<Row> = on_pool!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
        .bind(org_id)
        .bind(call_id)
        .fetch_all(p)
        .await)?;
    rows.into_iter().map(StoredAnalysis::try_from).collect()
}

/// The voice platform's own analysis of the call (JSON), when its report carried one.
pub async fn provider_analysis(
    db: &Db,
    org_id: &str,
    call_id: &str,
) -> Result<Option<String>, StoreError> {
    let found: Option<Option<String>> = on_pool!(db, |p| sqlx::query_scalar(
        "SELECT provider_analysis FROM calls WHERE org_id = $1 AND id = $2"
    )
    .bind(org_id)
    .bind(call_id)
    .fetch_optional(p)
    .await)?;
    Ok(found.flatten())
}
