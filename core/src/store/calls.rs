//! Calls, inbound and outbound, as the voice platform and the telephony provider report them.
//! Reports arrive in any order and more than once: a merge never moves a call's status
//! backwards and never erases a known value.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Db, StoreError, Tx};
use crate::domain::ids::new_id;
use zencall_queue::{on_pool, on_tx};

/// The intents of a call's current analysis, stored as `,booking,complaint,` so a list can be
/// filtered on one with `LIKE`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct IntentList(pub Vec<String>);

impl IntentList {
    /// The stored form.
    pub fn encode(names: impl IntoIterator<Item = impl AsRef<str>>) -> String {
        let mut out = String::from(",");
        for name in names {
            out.push_str(name.as_ref());
            out.push(',');
        }
        out
    }
}

impl From<Option<String>> for IntentList {
    fn from(stored: Option<String>) -> Self {
        Self(
            stored
                .unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        )
    }
}

/// A call.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Call {
    /// `call_...`
    pub id: String,
    /// Owning organisation.
    pub org_id: String,
    /// The assistant that took or placed it.
    pub assistant_id: Option<String>,
    /// The campaign it belongs to, if any.
    pub campaign_id: Option<String>,
    /// Id at the voice platform.
    pub vapi_call_id: Option<String>,
    /// Id at the telephony provider.
    pub twilio_call_sid: Option<String>,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// `queued`, `ringing`, `in_progress`, `forwarding` or `ended`.
    pub status: String,
    /// Caller, E.164.
    pub from_number: Option<String>,
    /// Callee, E.164.
    pub to_number: Option<String>,
    /// Answered at.
    pub started_at: Option<DateTime<Utc>>,
    /// Ended at.
    pub ended_at: Option<DateTime<Utc>>,
    /// From `started_at` to `ended_at`, in whole seconds.
    pub duration_secs: Option<i64>,
    /// Why it ended (`customer-ended-call`, `busy`, `no-answer`, ...).
    pub ended_reason: Option<String>,
    /// Its cost at the voice platform, in US dollars, as a decimal string.
    pub cost_usd: Option<String>,
    /// The transcript.
    pub transcript: Option<String>,
    /// Where the recording is.
    pub recording_url: Option<String>,
    /// The platform's summary.
    pub summary: Option<String>,
    /// The caller's sentiment in the current analysis: `positive`, `neutral` or `negative`;
    /// null until the call is analysed (or when its analysis was skipped).
    pub sentiment: Option<String>,
    /// Its score, from -1 to 1.
    pub sentiment_score: Option<f64>,
    /// The intents of the current analysis, most confident first.
    #[sqlx(try_from = "Option<String>")]
    pub intents: IntentList,
    /// First report.
    pub created_at: DateTime<Utc>,
    /// Last report.
    pub updated_at: DateTime<Utc>,
}

/// The statuses a call can be in, from first to last.
pub const STATUSES: [&str; 5] = ["queued", "ringing", "in_progress", "forwarding", "ended"];

/// What one report says about a call; `None` fields say nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallReport {
    /// Status, in our vocabulary.
    pub status: Option<String>,
    /// Caller.
    pub from_number: Option<String>,
    /// Callee.
    pub to_number: Option<String>,
    /// Answered at.
    pub started_at: Option<DateTime<Utc>>,
    /// Ended at.
    pub ended_at: Option<DateTime<Utc>>,
    /// Why it ended.
    pub ended_reason: Option<String>,
    /// Cost in US dollars.
    pub cost_usd: Option<String>,
    /// Transcript.
    pub transcript: Option<String>,
    /// Recording URL.
    pub recording_url: Option<String>,
    /// Summary.
    pub summary: Option<String>,
    /// Telephony id.
    pub twilio_call_sid: Option<String>,
    /// The voice platform's own analysis (JSON), kept beside ours.
    pub provider_analysis: Option<String>,
}

/// The order of statuses: a report never moves a call back to an earlier one.
const RANK: &str = "CASE {} WHEN 'queued' THEN 1 WHEN 'ringing' THEN 2 WHEN 'in_progress' THEN 3 WHEN 'forwarding' THEN 4 WHEN 'ended' THEN 9 ELSE 0 END";

fn rank(expr: &str) -> String {
    RANK.replace("{}", expr)
}

const COLUMNS: &str = "id, org_id, assistant_id, campaign_id, vapi_call_id, twilio_call_sid, direction, status, from_number, \
    to_number, started_at, ended_at, duration_secs, ended_reason, cost_usd, transcript, recording_url, summary, sentiment, sentiment_score, intents, created_at, updated_at";

fn duration(report: &CallReport) -> Option<i64> {
    match (report.started_at, report.ended_at) {
        (Some(s), Some(e)) if e >= s => Some((e - s).num_seconds()),
        _ => None,
    }
}

/// Merges a report into the call the voice platform knows as `vapi_call_id`, creating it if
/// needed (and adopting a call first reported by the telephony provider with the same SID),
/// inside `tx` so that what follows from the report (its analysis) is queued with it.
pub async fn merge_vapi_report(
    tx: &mut Tx,
    org_id: &str,
    assistant_id: Option<&str>,
    vapi_call_id: &str,
    direction: &str,
    report: &CallReport,
    now: DateTime<Utc>,
) -> Result<Call, StoreError> {
    let now = super::now_micros(now);
    if let Some(sid) = &report.twilio_call_sid {
        on_tx!(tx, |p| {
            sqlx::query(
            "UPDATE calls SET vapi_call_id = $1 WHERE org_id = $2 AND twilio_call_sid = $3 AND vapi_call_id IS NULL \
             AND NOT EXISTS (SELECT 1 FROM calls c WHERE c.vapi_call_id = $1)"
        )
        .bind(vapi_call_id)
        .bind(org_id)
        .bind(sid)
        .execute(p)
        .await
        .map(|_| ())
        })?;
    }
    let sql = format!(
        "INSERT INTO calls (id, org_id, assistant_id, vapi_call_id, twilio_call_sid, direction, status, from_number, to_number, \
         started_at, ended_at, duration_secs, ended_reason, cost_usd, transcript, recording_url, summary, provider_analysis, \
         created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7, 'queued'), $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $19, $18, $18) \
         ON CONFLICT (vapi_call_id) DO UPDATE SET \
         status = CASE WHEN {new} >= {old} THEN excluded.status ELSE calls.status END, \
         assistant_id = COALESCE(calls.assistant_id, excluded.assistant_id), \
         twilio_call_sid = COALESCE(calls.twilio_call_sid, excluded.twilio_call_sid), \
         from_number = COALESCE(excluded.from_number, calls.from_number), \
         to_number = COALESCE(excluded.to_number, calls.to_number), \
         started_at = COALESCE(excluded.started_at, calls.started_at), \
         ended_at = COALESCE(excluded.ended_at, calls.ended_at), \
         duration_secs = COALESCE(excluded.duration_secs, calls.duration_secs), \
         ended_reason = COALESCE(excluded.ended_reason, calls.ended_reason), \
         cost_usd = COALESCE(excluded.cost_usd, calls.cost_usd), \
         transcript = COALESCE(excluded.transcript, calls.transcript), \
         recording_url = COALESCE(excluded.recording_url, calls.recording_url), \
         summary = COALESCE(excluded.summary, calls.summary), \
         provider_analysis = COALESCE(excluded.provider_analysis, calls.provider_analysis), \
         updated_at = excluded.updated_at \
         WHERE calls.org_id = excluded.org_id \
         RETURNING {COLUMNS}",
        new = rank("excluded.status"),
        old = rank("calls.status"),
    );
    let call = on_tx!(tx, |p| sqlx::query_as::<_, Call>(sqlx::AssertSqlSafe(
        sql.clone()
    ))
    .bind(new_id("call"))
    .bind(org_id)
    .bind(assistant_id)
    .bind(vapi_call_id)
    .bind(&report.twilio_call_sid)
    .bind(direction)
    .bind(&report.status)
    .bind(&report.from_number)
    .bind(&report.to_number)
    .bind(report.started_at)
    .bind(report.ended_at)
    .bind(duration(report))
    .bind(&report.ended_reason)
    .bind(&report.cost_usd)
    .bind(&report.transcript)
    .bind(&report.recording_url)
    .bind(&report.summary)
    .bind(now)
    .bind(&report.provider_analysis)
    .fetch_optional(p)
    .await)?;
    call.ok_or_else(|| {
        StoreError::Corrupt(format!(
            "voice platform call {vapi_call_id} belongs to another organisation"
        ))
    })
}

/// Merges a telephony status report into the call with this SID, creating it when the
/// telephony provider reports first. Returns the call.
pub async fn merge_twilio_report(
    db: &Db,
    org_id: &str,
    assistant_id: Option<&str>,
    sid: &str,
    direction: &str,
    report: &CallReport,
    now: DateTime<Utc>,
) -> Result<Call, StoreError> {
    let sql = format!(
        "INSERT INTO calls (id, org_id, assistant_id, twilio_call_sid, direction, status, from_number, to_number, \
         started_at, ended_at, duration_secs, ended_reason, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, COALESCE($6, 'queued'), $7, $8, $9, $10, $11, $12, $13, $13) \
         ON CONFLICT (twilio_call_sid) DO UPDATE SET \
         status = CASE WHEN {new} >= {old} THEN excluded.status ELSE calls.status END, \
         from_number = COALESCE(calls.from_number, excluded.from_number), \
         to_number = COALESCE(calls.to_number, excluded.to_number), \
         started_at = COALESCE(calls.started_at, excluded.started_at), \
         ended_at = COALESCE(calls.ended_at, excluded.ended_at), \
         duration_secs = COALESCE(calls.duration_secs, excluded.duration_secs), \
         ended_reason = COALESCE(calls.ended_reason, excluded.ended_reason), \
         updated_at = excluded.updated_at \
         WHERE calls.org_id = excluded.org_id \
         RETURNING {COLUMNS}",
        new = rank("excluded.status"),
        old = rank("calls.status"),
    );
    let call = on_pool!(db, |p| sqlx::query_as::<_, Call>(sqlx::AssertSqlSafe(
        sql.clone()
    ))
    .bind(new_id("call"))
    .bind(org_id)
    .bind(assistant_id)
    .bind(sid)
    .bind(direction)
    .bind(&report.status)
    .bind(&report.from_number)
    .bind(&report.to_number)
    .bind(report.started_at)
    .bind(report.ended_at)
    .bind(duration(report))
    .bind(&report.ended_reason)
    .bind(super::now_micros(now))
    .fetch_optional(p)
    .await)?;
    call.ok_or_else(|| {
        StoreError::Corrupt(format!(
            "telephony call {sid} belongs to another organisation"
        ))
    })
}

/// Filters of a call list.
#[derive(Debug, Clone, Default)]
pub struct CallFilter {
    /// Only this assistant's calls.
    pub assistant_id: Option<String>,
    /// Only this campaign's calls.
    pub campaign_id: Option<String>,
    /// Only calls in this status.
    pub status: Option<String>,
    /// Created at or after.
    pub from: Option<DateTime<Utc>>,
    /// Created before.
    pub to: Option<DateTime<Utc>>,
    /// Only calls whose current analysis reads this sentiment.
    pub sentiment: Option<String>,
    /// Only calls whose current analysis found this intent.
    pub intent: Option<String>,
}

/// A page of `org_id`'s calls, newest first, after the cursor `before` (an id).
pub async fn list(
    db: &Db,
    org_id: &str,
    filter: &CallFilter,
    before: Option<&str>,
    limit: u32,
) -> Result<Vec<Call>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM calls WHERE org_id = $1 AND ($2 IS NULL OR assistant_id = $2) AND ($3 IS NULL OR campaign_id = $3) \
         AND ($4 IS NULL OR status = $4) AND ($5 IS NULL OR created_at >= $5) AND ($6 IS NULL OR created_at < $6) \
         AND ($7 IS NULL OR id < $7) AND ($9 IS NULL OR sentiment = $9) AND ($10 IS NULL OR intents LIKE $10) \
         ORDER BY id DESC LIMIT $8"
    );
    Ok(on_pool!(db, |p| sqlx::query_as::<_, Call>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(org_id)
    .bind(&filter.assistant_id)
    .bind(&filter.campaign_id)
    .bind(&filter.status)
    .bind(filter.from)
    .bind(filter.to)
    .bind(before)
    .bind(i64::from(limit))
    .bind(&filter.sentiment)
    .bind(filter.intent.as_ref().map(|i| format!("%,{i},%")))
    .fetch_all(p)
    .await)?)
}

/// The call `id` of `org_id`.
pub async fn find(db: &Db, org_id: &str, id: &str) -> Result<Option<Call>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM calls WHERE org_id = $1 AND id = $2");
    Ok(on_pool!(db, |p| sqlx::query_as::<_, Call>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(org_id)
    .bind(id)
    .fetch_optional(p)
    .await)?)
}

/// Which calls a statistic covers.
#[derive(Debug, Clone, Default)]
pub struct StatsScope {
    /// Only this assistant's calls.
    pub assistant_id: Option<String>,
    /// Only this campaign's calls.
    pub campaign_id: Option<String>,
    /// Created at or after.
    pub from: Option<DateTime<Utc>>,
    /// Created before.
    pub to: Option<DateTime<Utc>>,
}

/// Calls counted over a period, in all and per UTC day.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallStats {
    /// The totals.
    pub total: CallCounts,
    /// Per UTC day (`2026-12-04`), in date order; days without calls are left out.
    pub days: Vec<(String, CallCounts)>,
}

/// What was counted of some calls.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallCounts {
    /// Calls.
    pub calls: u64,
    /// Calls that were answered.
    pub answered: u64,
    /// Their talk time, in seconds.
    pub total_duration_secs: u64,
    /// Analysed calls per sentiment label.
    pub sentiment: std::collections::BTreeMap<String, u64>,
    /// Analysed calls per intent (a call with two intents counts for both).
    pub intents: std::collections::BTreeMap<String, u64>,
}

impl CallCounts {
    fn add(&mut self, row: &StatsRow) {
        let calls = u64::try_from(row.calls).unwrap_or(0);
        self.calls += calls;
        self.answered += u64::try_from(row.answered).unwrap_or(0);
        self.total_duration_secs += u64::try_from(row.total_secs).unwrap_or(0);
        if let Some(label) = &row.sentiment {
            *self.sentiment.entry(label.clone()).or_default() += calls;
        }
        for intent in IntentList::from(row.intents.clone()).0 {
            *self.intents.entry(intent).or_default() += calls;
        }
    }
}

#[derive(sqlx::FromRow)]
struct StatsRow {
    day: String,
    calls: i64,
    answered: i64,
    total_secs: i64,
    sentiment: Option<String>,
    intents: Option<String>,
}

/// Counts `org_id`'s calls in `scope`: calls, answered, talk time, sentiments and intents of
/// their current analyses, in all and per UTC day. One grouped query: the database returns one
/// row per day, sentiment and set of intents, however many calls there are.
pub async fn stats(db: &Db, org_id: &str, scope: &StatsScope) -> Result<CallStats, StoreError> {
    let day = match db.backend() {
        super::Backend::Postgres => "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
        super::Backend::Sqlite => "substr(created_at, 1, 10)",
    };
    let sql = format!(
        "SELECT {day} AS day, COUNT(*) AS calls, COUNT(started_at) AS answered, \
         CAST(COALESCE(SUM(duration_secs), 0) AS BIGINT) AS total_secs, sentiment, intents \
         FROM calls WHERE org_id = $1 AND ($2 IS NULL OR assistant_id = $2) AND ($3 IS NULL OR campaign_id = $3) \
         AND ($4 IS NULL OR created_at >= $4) AND ($5 IS NULL OR created_at < $5) \
         GROUP BY 1, sentiment, intents ORDER BY 1"
    );
    let rows: Vec<StatsRow> = on_pool!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
        .bind(org_id)
        .bind(&scope.assistant_id)
        .bind(&scope.campaign_id)
        .bind(scope.from)
        .bind(scope.to)
        .fetch_all(p)
        .await)?;
    let mut stats = CallStats::default();
    for row in &rows {
        stats.total.add(row);
        match stats.days.last_mut() {
            Some((day, counts)) if *day == row.day => counts.add(row),
            _ => {
                let mut counts = CallCounts::default();
                counts.add(row);
                stats.days.push((row.day.clone(), counts));
            }
        }
    }
    Ok(stats)
}
