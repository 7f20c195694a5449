//! Campaigns as stored, and their state changes. A state change that stops calls (pause,
//! cancel) cancels the attempts not yet placed in the same transaction, so no call is placed
//! after it; one that starts calls queues a planning job in the same transaction.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::{Db, StoreError, Tx};
use crate::domain::campaign::{
    CallingRulesSpec, CampaignAction, CampaignRules, CampaignState, Purpose, RetryPolicy,
};
use crate::domain::ids::new_id;
use zencall_queue::{on_pool, on_tx};

/// A campaign.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Campaign {
    /// `cmp_...`
    pub id: String,
    /// Owning organisation.
    pub org_id: String,
    /// Display name.
    pub name: String,
    /// The assistant that speaks.
    pub assistant_id: String,
    /// The number calls come from, E.164: one of the organisation's assistants' numbers.
    pub caller_number: String,
    /// Why it calls.
    pub purpose: Purpose,
    /// When it may call, as given.
    pub calling_rules: CallingRulesSpec,
    /// Contacts without their own time zone are in this one (IANA).
    pub time_zone: String,
    /// National numbers are read as numbers of this country (ISO 3166 alpha-2).
    pub default_country: String,
    /// No call before this instant.
    pub starts_at: DateTime<Utc>,
    /// No call at or after this instant; the campaign completes then.
    pub ends_at: Option<DateTime<Utc>>,
    /// Attempts per contact.
    pub max_attempts: u32,
    /// When to call again after each unanswered outcome.
    pub retry_policy: RetryPolicy,
    /// Calls in progress at once, at most.
    pub max_concurrent_calls: u32,
    /// Life-cycle state.
    pub state: CampaignState,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When it completed or was cancelled.
    pub finished_at: Option<DateTime<Utc>>,
}

impl Campaign {
    /// The compiled calling rules (checked when the campaign was created).
    pub fn rules(&self) -> Result<CampaignRules, StoreError> {
        self.calling_rules
            .compile()
            .map_err(|(f, r)| StoreError::Corrupt(format!("campaign {}: {f}: {r}", self.id)))
    }

    /// The default time zone.
    pub fn tz(&self) -> Result<Tz, StoreError> {
        self.time_zone
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("campaign {}: time zone", self.id)))
    }
}

/// What a new campaign is, checked by the caller.
#[derive(Debug, Clone)]
pub struct NewCampaign {
    /// Display name.
    pub name: String,
    /// The assistant.
    pub assistant_id: String,
    /// The caller number, E.164.
    pub caller_number: String,
    /// Why it calls.
    pub purpose: Purpose,
    /// When it may call (compiles).
    pub calling_rules: CallingRulesSpec,
    /// Default time zone (IANA, valid).
    pub time_zone: String,
    /// Default country (ISO alpha-2, valid).
    pub default_country: String,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End.
    pub ends_at: Option<DateTime<Utc>>,
    /// Attempts per contact.
    pub max_attempts: u32,
    /// Retry policy (valid).
    pub retry_policy: RetryPolicy,
    /// Concurrency.
    pub max_concurrent_calls: u32,
}

#[derive(sqlx::FromRow)]
struct CampaignRow {
    id: String,
    org_id: String,
    name: String,
    assistant_id: String,
    caller_number: String,
    purpose: String,
    calling_rules: String,
    time_zone: String,
    default_country: String,
    starts_at: DateTime<Utc>,
    ends_at: Option<DateTime<Utc>>,
    max_attempts: i64,
    retry_policy: String,
    max_concurrent_calls: i64,
    state: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, org_id, name, assistant_id, caller_number, purpose, calling_rules, time_zone, \
    default_country, starts_at, ends_at, max_attempts, retry_policy, max_concurrent_calls, state, \
    created_at, updated_at, finished_at";

impl TryFrom<CampaignRow> for Campaign {
    type Error = StoreError;
    fn try_from(r: CampaignRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("campaign {}: {what}", r.id));
        Ok(Campaign {
            purpose: Purpose::parse(&r.purpose).ok_or_else(|| corrupt("purpose"))?,
            calling_rules: serde_json::from_str(&r.calling_rules)
                .map_err(|_| corrupt("calling_rules"))?,
            retry_policy: serde_json::from_str(&r.retry_policy)
                .map_err(|_| corrupt("retry_policy"))?,
            state: CampaignState::parse(&r.state).ok_or_else(|| corrupt("state"))?,
            max_attempts: u32::try_from(r.max_attempts).map_err(|_| corrupt("max_attempts"))?,
            max_concurrent_calls: u32::try_from(r.max_concurrent_calls)
                .map_err(|_| corrupt("max_concurrent_calls"))?,
            id: r.id,
            org_id: r.org_id,
            name: r.name,
            assistant_id: r.assistant_id,
            caller_number: r.caller_number,
            time_zone: r.time_zone,
            default_country: r.default_country,
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
            finished_at: r.finished_at,
        })
    }
}

fn json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Stores a new campaign, in state `draft`.
pub async fn insert(
    db: &Db,
    org_id: &str,
    new: &NewCampaign,
    now: DateTime<Utc>,
) -> Result<Campaign, StoreError> {
    let id = new_id("cmp");
    let rules = json(&new.calling_rules)?;
    let retry = json(&new.retry_policy)?;
    on_pool!(db, |p| {
        sqlx::query(
        "INSERT INTO campaigns (id, org_id, name, assistant_id, caller_number, purpose, calling_rules, \
         time_zone, default_country, starts_at, ends_at, max_attempts, retry_policy, max_concurrent_calls, \
         state, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'draft', $15, $15)"
    )
    .bind(&id)
    .bind(org_id)
    .bind(&new.name)
    .bind(&new.assistant_id)
    .bind(&new.caller_number)
    .bind(new.purpose.as_str())
    .bind(&rules)
    .bind(&new.time_zone)
    .bind(&new.default_country)
    .bind(new.starts_at)
    .bind(new.ends_at)
    .bind(i64::from(new.max_attempts))
    .bind(&retry)
    .bind(i64::from(new.max_concurrent_calls))
    .bind(now)
    .execute(p)
    .await
    .map(|r| r.rows_affected())
    })?;
    find(db, org_id, &id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("campaign {id} vanished after insert")))
}

/// The campaign `id` of `org_id`.
pub async fn find(db: &Db, org_id: &str, id: &str) -> Result<Option<Campaign>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM campaigns WHERE org_id = $1 AND id = $2");
    let row = on_pool!(db, |p| sqlx::query_as::<_, CampaignRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(org_id)
    .bind(id)
    .fetch_optional(p)
    .await)?;
    row.map(Campaign::try_from).transpose()
}

/// The campaign `id` inside `tx`, locked until the transaction ends (on PostgreSQL; SQLite's
/// write transactions are exclusive already), so its planning and state changes take turns.
pub async fn lock(tx: &mut Tx, org_id: &str, id: &str) -> Result<Option<Campaign>, StoreError> {
    let row = match tx.inner_mut() {
        super::TxInner::Postgres(t) => {
            let sql =
                format!("SELECT {COLUMNS} FROM campaigns WHERE org_id = $1 AND id = $2 FOR UPDATE");
            sqlx::query_as::<_, CampaignRow>(sqlx::AssertSqlSafe(sql))
                .bind(org_id)
                .bind(id)
                .fetch_optional(&mut **t)
                .await?
        }
        super::TxInner::Sqlite(t) => {
            let sql = format!("SELECT {COLUMNS} FROM campaigns WHERE org_id = $1 AND id = $2");
            sqlx::query_as::<_, CampaignRow>(sqlx::AssertSqlSafe(sql))
                .bind(org_id)
                .bind(id)
                .fetch_optional(&mut **t)
                .await?
        }
    };
    row.map(Campaign::try_from).transpose()
}

/// A page of campaigns of `org_id`, newest first, after the cursor `before` (an id).
pub async fn list(
    db: &Db,
    org_id: &str,
    before: Option<&str>,
    limit: u32,
) -> Result<Vec<Campaign>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM campaigns WHERE org_id = $1 AND ($2 IS NULL OR id < $2) \
         ORDER BY id DESC LIMIT $3"
    );
    let rows = on_pool!(db, |p| sqlx::query_as::<_, CampaignRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(org_id)
    .bind(before)
    .bind(i64::from(limit))
    .fetch_all(p)
    .await)?;
    rows.into_iter().map(Campaign::try_from).collect()
}

/// `(org_id, id)` of every campaign that may have calls to plan: scheduled or running.
pub async fn live(db: &Db) -> Result<Vec<(String, String)>, StoreError> {
    let rows: Vec<(String, String)> = on_pool!(db, |p| sqlx::query_as(
        "SELECT org_id, id FROM campaigns WHERE state IN ('scheduled', 'running') ORDER BY id"
    )
    .fetch_all(p)
    .await)?;
    Ok(rows)
}

/// Sets the state of a campaign inside `tx`; a finished state records when.
pub async fn set_state(
    tx: &mut Tx,
    id: &str,
    state: CampaignState,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let finished = state.is_finished().then_some(now);
    on_tx!(tx, |c| sqlx::query(
        "UPDATE campaigns SET state = $1, updated_at = $2, finished_at = COALESCE($3, finished_at) \
         WHERE id = $4"
    )
    .bind(state.as_str())
    .bind(now)
    .bind(finished)
    .bind(id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Applies `action` to the campaign, inside `tx`. Pausing puts the contacts whose attempt was
/// not placed yet back to pending; cancelling cancels them and every pending contact. A
/// campaign that becomes running needs its planning job, which the caller enqueues in `tx`. Returns
/// the campaign as it is now, or why the action is not allowed (`Ok(Err(..))`), or `None` when
/// no such campaign exists.
pub async fn transition(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    action: CampaignAction,
    now: DateTime<Utc>,
) -> Result<Option<Result<Campaign, String>>, StoreError> {
    let Some(mut campaign) = lock(tx, org_id, id).await? else {
        return Ok(None);
    };
    let next = match campaign.state.apply(action, now, campaign.starts_at) {
        Ok(next) => next,
        Err(reason) => return Ok(Some(Err(reason))),
    };
    set_state(tx, id, next, now).await?;
    match next {
        CampaignState::Paused => {
            super::call_attempts::cancel_unplaced(tx, id, false, now).await?;
        }
        CampaignState::Cancelled => {
            super::call_attempts::cancel_unplaced(tx, id, true, now).await?;
            super::campaign_contacts::cancel_pending(tx, id, "campaign_cancelled", now).await?;
        }
        _ => {}
    }
    campaign.state = next;
    campaign.updated_at = now;
    if next.is_finished() {
        campaign.finished_at = Some(now);
    }
    Ok(Some(Ok(campaign)))
}
