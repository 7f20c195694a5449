//! The contacts of campaigns: imported in batches (duplicates of a campaign merged), read by
//! the planner only where due (one time zone at a time, through a partial index), and listed
//! with their attempts.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Db, StoreError, Tx, TxInner};
use crate::domain::campaign::{Outcome, SkipReason};
use crate::domain::ids::new_id;
use zencall_queue::{on_pool, on_tx};

/// A contact's state in its campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ContactState {
    /// Waiting for its next attempt.
    Pending,
    /// An attempt is planned or in progress.
    Dialing,
    /// Reached (the call took place, or the person refused).
    Completed,
    /// Every attempt was used without reaching the person.
    Failed,
    /// Never to be called in this campaign (do-not-call, no consent, ...).
    Skipped,
    /// The campaign was cancelled or ended first.
    Cancelled,
}

impl ContactState {
    /// Every state.
    pub const ALL: [ContactState; 6] = [
        ContactState::Pending,
        ContactState::Dialing,
        ContactState::Completed,
        ContactState::Failed,
        ContactState::Skipped,
        ContactState::Cancelled,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ContactState::Pending => "pending",
            ContactState::Dialing => "dialing",
            ContactState::Completed => "completed",
            ContactState::Failed => "failed",
            ContactState::Skipped => "skipped",
            ContactState::Cancelled => "cancelled",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Nothing more will happen to the contact.
    pub fn is_done(self) -> bool {
        !matches!(self, ContactState::Pending | ContactState::Dialing)
    }
}

/// A contact of a campaign.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contact {
    /// `cct_...`
    pub id: String,
    /// Its campaign.
    pub campaign_id: String,
    /// Owning organisation.
    pub org_id: String,
    /// E.164.
    pub number: String,
    /// The person's name.
    pub name: Option<String>,
    /// IANA time zone in which its calling window is evaluated.
    pub time_zone: String,
    /// Passed to the assistant.
    pub variables: Map<String, Value>,
    /// State.
    pub state: ContactState,
    /// Attempts made or planned (cancelled ones do not count).
    pub attempts: u32,
    /// When a pending contact is due.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The outcome of its latest attempt.
    pub last_outcome: Option<Outcome>,
    /// Why it was skipped or cancelled.
    pub skip_reason: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct ContactRow {
    id: String,
    campaign_id: String,
    org_id: String,
    number: String,
    name: Option<String>,
    time_zone: String,
    variables: String,
    state: String,
    attempts: i64,
    next_attempt_at: Option<DateTime<Utc>>,
    last_outcome: Option<String>,
    skip_reason: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, campaign_id, org_id, number, name, time_zone, variables, state, attempts, \
    next_attempt_at, last_outcome, skip_reason, created_at, updated_at";

impl TryFrom<ContactRow> for Contact {
    type Error = StoreError;
    fn try_from(r: ContactRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("contact {}: {what}", r.id));
        Ok(Contact {
            variables: serde_json::from_str(&r.variables).map_err(|_| corrupt("variables"))?,
            state: ContactState::parse(&r.state).ok_or_else(|| corrupt("state"))?,
            attempts: u32::try_from(r.attempts).map_err(|_| corrupt("attempts"))?,
            last_outcome: match r.last_outcome.as_deref() {
                Some(o) => Some(Outcome::parse(o).ok_or_else(|| corrupt("last_outcome"))?),
                None => None,
            },
            id: r.id,
            campaign_id: r.campaign_id,
            org_id: r.org_id,
            number: r.number,
            name: r.name,
            time_zone: r.time_zone,
            next_attempt_at: r.next_attempt_at,
            skip_reason: r.skip_reason,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// A contact to add, already checked: E.164 number, valid time zone.
#[derive(Debug, Clone, PartialEq)]
pub struct NewContact {
    /// E.164.
    pub number: String,
    /// The person's name.
    pub name: Option<String>,
    /// IANA time zone (the campaign's when the row gave none).
    pub time_zone: String,
    /// Variables for the assistant.
    pub variables: Map<String, Value>,
}

/// What adding a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct ImportCounts {
    /// New contacts.
    pub imported: u64,
    /// Rows merged into a contact of the same number (earlier in the upload or already there).
    pub merged: u64,
}

/// Rows per INSERT statement (13 parameters each stays under SQLite's 32,766).
const BATCH: usize = 1000;

/// Adds contacts to a campaign in one transaction. A number already in the campaign (or
/// earlier in `contacts`) is merged: the later name and time zone win when given, variables
/// are merged key by key. New contacts are due at `now`.
pub async fn insert_batch(
    db: &Db,
    org_id: &str,
    campaign_id: &str,
    contacts: &[NewContact],
    now: DateTime<Utc>,
) -> Result<ImportCounts, StoreError> {
    // Merge duplicates inside the batch first: one statement cannot touch a row twice.
    let mut merged_rows: Vec<NewContact> = Vec::with_capacity(contacts.len());
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(contacts.len());
    let mut counts = ImportCounts::default();
    for c in contacts {
        match index.get(c.number.as_str()) {
            Some(&i) => {
                let into = &mut merged_rows[i];
                if c.name.is_some() {
                    into.name.clone_from(&c.name);
                }
                into.time_zone.clone_from(&c.time_zone);
                into.variables
                    .extend(c.variables.iter().map(|(k, v)| (k.clone(), v.clone())));
                counts.merged += 1;
            }
            None => {
                index.insert(c.number.as_str(), merged_rows.len());
                merged_rows.push(c.clone());
            }
        }
    }
    // Two uploads to one campaign at once write in number order, so they take their row locks
    // in the same order and cannot deadlock.
    merged_rows.sort_by(|a, b| a.number.as_str().cmp(b.number.as_str()));
    let mut tx = db.begin().await?;
    for chunk in merged_rows.chunks(BATCH) {
        let numbers: Vec<&str> = chunk.iter().map(|c| c.number.as_str()).collect();
        let existing = existing_numbers(&mut tx, campaign_id, &numbers).await?;
        counts.merged += existing as u64;
        counts.imported += (chunk.len() - existing) as u64;
        insert_chunk(&mut tx, org_id, campaign_id, chunk, now).await?;
    }
    tx.commit().await?;
    Ok(counts)
}

/// `($1, ..., $9, 'pending', 0, $9), (...)`: one row of values per contact, pending, no attempt
/// yet, updated when created.
fn contact_rows(rows: usize) -> String {
    const PER_ROW: usize = 9;
    let mut out = String::with_capacity(rows * 64);
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for c in 1..=PER_ROW {
            out.push_str(&format!("${}, ", r * PER_ROW + c));
        }
        out.push_str(&format!("'pending', 0, ${})", r * PER_ROW + PER_ROW));
    }
    out
}

async fn existing_numbers(
    tx: &mut Tx,
    campaign_id: &str,
    numbers: &[&str],
) -> Result<usize, StoreError> {
    if numbers.is_empty() {
        return Ok(0);
    }
    let count: i64 = match tx.inner_mut() {
        // One array parameter: the unique (campaign_id, number) index is probed once per
        // number. A list of a thousand parameters made PostgreSQL scan the whole campaign for
        // each batch once it was large (a 100,000-row import slowed down quadratically).
        TxInner::Postgres(c) => sqlx::query_scalar(
            "SELECT COUNT(*) FROM campaign_contacts WHERE campaign_id = $1 AND number = ANY($2)",
        )
        .bind(campaign_id)
        .bind(numbers)
        .fetch_one(&mut **c)
        .await?,
        TxInner::Sqlite(c) => {
            let list: Vec<String> = (0..numbers.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT COUNT(*) FROM campaign_contacts WHERE campaign_id = $1 AND number IN ({})",
                list.join(", ")
            );
            let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(campaign_id);
            for n in numbers {
                q = q.bind(*n);
            }
            q.fetch_one(&mut **c).await?
        }
    };
    Ok(usize::try_from(count).unwrap_or(0))
}

async fn insert_chunk(
    tx: &mut Tx,
    org_id: &str,
    campaign_id: &str,
    chunk: &[NewContact],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let merge_variables = match tx.inner_mut() {
        TxInner::Postgres(_) => {
            "(campaign_contacts.variables::jsonb || excluded.variables::jsonb)::text"
        }
        TxInner::Sqlite(_) => "json_patch(campaign_contacts.variables, excluded.variables)",
    };
    let sql = format!(
        "INSERT INTO campaign_contacts (id, campaign_id, org_id, number, name, time_zone, variables, \
         next_attempt_at, created_at, state, attempts, updated_at) VALUES {} \
         ON CONFLICT (campaign_id, number) DO UPDATE SET \
         name = COALESCE(excluded.name, campaign_contacts.name), \
         time_zone = excluded.time_zone, variables = {merge_variables}, updated_at = excluded.updated_at",
        contact_rows(chunk.len())
    );
    let variables: Vec<String> = chunk
        .iter()
        .map(|c| serde_json::to_string(&c.variables))
        .collect::<Result<_, _>>()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    on_tx!(tx, |c| {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()));
        for (contact, vars) in chunk.iter().zip(&variables) {
            q = q
                .bind(new_id("cct"))
                .bind(campaign_id)
                .bind(org_id)
                .bind(&contact.number)
                .bind(&contact.name)
                .bind(&contact.time_zone)
                .bind(vars)
                .bind(now)
                .bind(now);
        }
        q.execute(c).await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Cancels every pending contact of a campaign, with `reason`.
pub async fn cancel_pending(
    tx: &mut Tx,
    campaign_id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let done = on_tx!(tx, |c| {
        sqlx::query(
        "UPDATE campaign_contacts SET state = 'cancelled', skip_reason = $1, next_attempt_at = NULL, \
         updated_at = $2 WHERE campaign_id = $3 AND state = 'pending'"
    )
    .bind(reason)
    .bind(now)
    .bind(campaign_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(done)
}

/// The time zones that have due pending contacts.
pub async fn due_time_zones(
    tx: &mut Tx,
    campaign_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    let zones: Vec<String> = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT DISTINCT time_zone FROM campaign_contacts \
         WHERE campaign_id = $1 AND state = 'pending' AND next_attempt_at <= $2"
    )
    .bind(campaign_id)
    .bind(now)
    .fetch_all(c)
    .await)?;
    Ok(zones)
}

/// Up to `limit` due pending contacts of one time zone, the longest waiting first.
pub async fn due(
    tx: &mut Tx,
    campaign_id: &str,
    time_zone: &str,
    now: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<Contact>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM campaign_contacts WHERE campaign_id = $1 AND state = 'pending' \
         AND time_zone = $2 AND next_attempt_at <= $3 ORDER BY next_attempt_at, id LIMIT $4"
    );
    let rows = on_tx!(tx, |c| sqlx::query_as::<_, ContactRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(campaign_id)
    .bind(time_zone)
    .bind(now)
    .bind(i64::from(limit))
    .fetch_all(c)
    .await)?;
    rows.into_iter().map(Contact::try_from).collect()
}

/// Where a contact goes next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactMove {
    /// Pending, due at this instant.
    Wait(DateTime<Utc>),
    /// Skipped for good.
    Skip(SkipReason),
    /// Every attempt used.
    Exhausted,
}

/// Moves a pending contact (the planner's decisions other than dialing).
pub async fn settle(
    tx: &mut Tx,
    id: &str,
    to: ContactMove,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let (state, next, reason) = match to {
        ContactMove::Wait(at) => (ContactState::Pending, Some(at), None),
        ContactMove::Skip(r) => (ContactState::Skipped, None, Some(r.as_str())),
        ContactMove::Exhausted => (ContactState::Failed, None, None),
    };
    on_tx!(tx, |c| sqlx::query(
        "UPDATE campaign_contacts SET state = $1, next_attempt_at = $2, \
         skip_reason = COALESCE($3, skip_reason), updated_at = $4 WHERE id = $5"
    )
    .bind(state.as_str())
    .bind(next)
    .bind(reason)
    .bind(now)
    .bind(id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The contact `id`, inside `tx`.
pub async fn find_in(tx: &mut Tx, id: &str) -> Result<Option<Contact>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM campaign_contacts WHERE id = $1");
    let row = on_tx!(tx, |c| sqlx::query_as::<_, ContactRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(id)
    .fetch_optional(c)
    .await)?;
    row.map(Contact::try_from).transpose()
}

/// The contact `id`.
pub async fn find(db: &Db, id: &str) -> Result<Option<Contact>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM campaign_contacts WHERE id = $1");
    let row = on_pool!(db, |p| sqlx::query_as::<_, ContactRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(id)
    .fetch_optional(p)
    .await)?;
    row.map(Contact::try_from).transpose()
}

/// A page of a campaign's contacts in import order, after the cursor `after` (an id).
pub async fn list(
    db: &Db,
    campaign_id: &str,
    state: Option<ContactState>,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<Contact>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM campaign_contacts WHERE campaign_id = $1 \
         AND ($2 IS NULL OR state = $2) AND ($3 IS NULL OR id > $3) ORDER BY id LIMIT $4"
    );
    let rows = on_pool!(db, |p| sqlx::query_as::<_, ContactRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(campaign_id)
    .bind(state.map(ContactState::as_str))
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(p)
    .await)?;
    rows.into_iter().map(Contact::try_from).collect()
}

/// How many contacts of the campaign are in each state.
pub async fn counts(db: &Db, campaign_id: &str) -> Result<Vec<(ContactState, u64)>, StoreError> {
    let rows: Vec<(String, i64)> = on_pool!(db, |p| sqlx::query_as(
        "SELECT state, COUNT(*) FROM campaign_contacts WHERE campaign_id = $1 GROUP BY state"
    )
    .bind(campaign_id)
    .fetch_all(p)
    .await)?;
    rows.into_iter()
        .map(|(s, n)| {
            ContactState::parse(&s)
                .map(|s| (s, u64::try_from(n).unwrap_or(0)))
                .ok_or_else(|| StoreError::Corrupt(format!("contact state {s}")))
        })
        .collect()
}

/// Whether some contact of the campaign is pending or dialing.
pub async fn has_unfinished(tx: &mut Tx, campaign_id: &str) -> Result<bool, StoreError> {
    let found: Option<String> = on_tx!(tx, |c| {
        sqlx::query_scalar(
        "SELECT id FROM campaign_contacts WHERE campaign_id = $1 AND state IN ('pending', 'dialing') LIMIT 1"
    )
    .bind(campaign_id)
    .fetch_optional(c)
    .await
    })?;
    Ok(found.is_some())
}
