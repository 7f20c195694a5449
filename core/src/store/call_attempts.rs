//! Call attempts of campaign contacts: planned by the planner, placed by the dialer, ended by
//! the voice platform's end-of-call report (or closed as failed when it never comes). A
//! unique partial index keeps at most one open attempt per person of an organisation, so two
//! calls to one person at once cannot happen, whatever the number of planners and dialers.

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use super::campaign_contacts::ContactState;
use super::campaigns::Campaign;
use super::{Db, StoreError, Tx};
use crate::domain::campaign::{CAP_WINDOW_DAYS, Outcome, PersonFacts};
use crate::domain::ids::new_id;
use zencall_queue::{on_pool, on_tx};

/// An attempt's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AttemptState {
    /// A dialing job is queued.
    Planned,
    /// The call is being handed to the voice platform.
    Placing,
    /// The voice platform took the call.
    Placed,
    /// Its outcome is known.
    Ended,
    /// Never placed (paused, cancelled, or a rule said no just before dialing).
    Cancelled,
}

impl AttemptState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptState::Planned => "planned",
            AttemptState::Placing => "placing",
            AttemptState::Placed => "placed",
            AttemptState::Ended => "ended",
            AttemptState::Cancelled => "cancelled",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [
            AttemptState::Planned,
            AttemptState::Placing,
            AttemptState::Placed,
            AttemptState::Ended,
            AttemptState::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// One attempt to call a contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// `att_...`, also the idempotency key of the call at the voice platform.
    pub id: String,
    /// Owning organisation.
    pub org_id: String,
    /// Its campaign.
    pub campaign_id: String,
    /// Its contact.
    pub contact_id: String,
    /// The number called, E.164.
    pub number: String,
    /// 1 for the first attempt of the contact (cancelled ones included).
    pub attempt_no: u32,
    /// State.
    pub state: AttemptState,
    /// When it was planned.
    pub planned_at: DateTime<Utc>,
    /// When the call was handed to the voice platform.
    pub placed_at: Option<DateTime<Utc>>,
    /// When its outcome became known.
    pub ended_at: Option<DateTime<Utc>>,
    /// The call's id at the voice platform.
    pub vapi_call_id: Option<String>,
    /// Our call record (`call_...`).
    pub call_id: Option<String>,
    /// How it ended.
    pub outcome: Option<Outcome>,
    /// Why it failed or was cancelled, for a person to read.
    pub detail: Option<String>,
}

#[derive(sqlx::FromRow)]
struct AttemptRow {
    id: String,
    org_id: String,
    campaign_id: String,
    contact_id: String,
    number: String,
    attempt_no: i64,
    state: String,
    planned_at: DateTime<Utc>,
    placed_at: Option<DateTime<Utc>>,
    ended_at: Option<DateTime<Utc>>,
    vapi_call_id: Option<String>,
    call_id: Option<String>,
    outcome: Option<String>,
    detail: Option<String>,
}

const COLUMNS: &str = "id, org_id, campaign_id, contact_id, number, attempt_no, state, planned_at, \
    placed_at, ended_at, vapi_call_id, call_id, outcome, detail";

impl TryFrom<AttemptRow> for Attempt {
    type Error = StoreError;
    fn try_from(r: AttemptRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("attempt {}: {what}", r.id));
        Ok(Attempt {
            state: AttemptState::parse(&r.state).ok_or_else(|| corrupt("state"))?,
            outcome: match r.outcome.as_deref() {
                Some(o) => Some(Outcome::parse(o).ok_or_else(|| corrupt("outcome"))?),
                None => None,
            },
            attempt_no: u32::try_from(r.attempt_no).map_err(|_| corrupt("attempt_no"))?,
            id: r.id,
            org_id: r.org_id,
            campaign_id: r.campaign_id,
            contact_id: r.contact_id,
            number: r.number,
            planned_at: r.planned_at,
            placed_at: r.placed_at,
            ended_at: r.ended_at,
            vapi_call_id: r.vapi_call_id,
            call_id: r.call_id,
            detail: r.detail,
        })
    }
}

/// `(id, state, planned_at, ended_at, outcome)` of one attempt to a person.
type AttemptFactRow = (
    String,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<String>,
);

/// What storage knows about calling `number` of `org_id` at `now`: do-not-call, consent,
/// recent attempts, last refusal, and whether another attempt is open, not counting the
/// attempt `exclude` (the one about to be placed).
pub async fn person_facts(
    tx: &mut Tx,
    org_id: &str,
    number: &str,
    now: DateTime<Utc>,
    exclude: Option<&str>,
) -> Result<PersonFacts, StoreError> {
    let (do_not_call, consented): (bool, bool) = on_tx!(tx, |c| sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM dnc_entries WHERE org_id = $1 AND number = $2), \
         EXISTS (SELECT 1 FROM consents WHERE org_id = $1 AND number = $2 AND withdrawn_at IS NULL \
                 AND given_at <= $3 AND (expires_at IS NULL OR expires_at > $3))"
    )
    .bind(org_id)
    .bind(number)
    .bind(now)
    .fetch_one(c)
    .await)?;
    let window_start = now - TimeDelta::days(CAP_WINDOW_DAYS);
    let rows: Vec<AttemptFactRow> = on_tx!(tx, |c| {
        sqlx::query_as(
            "SELECT id, state, planned_at, ended_at, outcome FROM call_attempts \
             WHERE org_id = $1 AND number = $2 \
             AND (planned_at > $3 OR outcome = 'refused' OR state IN ('planned', 'placing', 'placed'))"
        )
        .bind(org_id)
        .bind(number)
        .bind(window_start)
        .fetch_all(c)
        .await
    })?;
    let mut facts = PersonFacts {
        do_not_call,
        consented,
        ..PersonFacts::default()
    };
    for (id, state, planned_at, ended_at, outcome) in rows {
        if Some(id.as_str()) == exclude {
            continue;
        }
        let open = matches!(state.as_str(), "planned" | "placing" | "placed");
        if open {
            facts.busy_elsewhere = true;
        }
        if state != "cancelled" && planned_at > window_start {
            facts.recent_attempts.push(planned_at);
        }
        if outcome.as_deref() == Some("refused") {
            let at = ended_at.unwrap_or(planned_at);
            facts.last_refusal = Some(facts.last_refusal.map_or(at, |t| t.max(at)));
        }
    }
    facts.recent_attempts.sort();
    Ok(facts)
}

/// Attempts of the campaign that are planned, being placed or in progress.
pub async fn open_count(tx: &mut Tx, campaign_id: &str) -> Result<u32, StoreError> {
    let n: i64 = on_tx!(tx, |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM call_attempts WHERE campaign_id = $1 \
         AND state IN ('planned', 'placing', 'placed')"
    )
    .bind(campaign_id)
    .fetch_one(c)
    .await)?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// Plans the next attempt of a pending contact: the attempt row, and the contact moved to
/// `dialing`. `None` when the person already has an open attempt (in any campaign).
pub async fn plan(
    tx: &mut Tx,
    org_id: &str,
    campaign_id: &str,
    contact_id: &str,
    number: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>, StoreError> {
    let id = new_id("att");
    let inserted: Option<String> = on_tx!(tx, |c| {
        sqlx::query_scalar(
        "INSERT INTO call_attempts (id, org_id, campaign_id, contact_id, number, attempt_no, state, planned_at) \
         VALUES ($1, $2, $3, $4, $5, \
                 (SELECT COALESCE(MAX(attempt_no), 0) + 1 FROM call_attempts WHERE contact_id = $4), \
                 'planned', $6) \
         ON CONFLICT DO NOTHING RETURNING id"
    )
    .bind(&id)
    .bind(org_id)
    .bind(campaign_id)
    .bind(contact_id)
    .bind(number)
    .bind(now)
    .fetch_optional(c)
    .await
    })?;
    if inserted.is_none() {
        return Ok(None);
    }
    on_tx!(tx, |c| sqlx::query(
        "UPDATE campaign_contacts SET state = 'dialing', attempts = attempts + 1, \
         next_attempt_at = NULL, updated_at = $1 WHERE id = $2"
    )
    .bind(now)
    .bind(contact_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(Some(id))
}

/// Cancels the attempts of a campaign that were not handed to the voice platform yet; their
/// contacts go back to pending (due now), or are cancelled when `cancel_contacts`.
pub async fn cancel_unplaced(
    tx: &mut Tx,
    campaign_id: &str,
    cancel_contacts: bool,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let contact_ids: Vec<String> = on_tx!(tx, |c| sqlx::query_scalar(
        "UPDATE call_attempts SET state = 'cancelled', ended_at = $1, detail = $2 \
         WHERE campaign_id = $3 AND state = 'planned' RETURNING contact_id"
    )
    .bind(now)
    .bind(if cancel_contacts {
        "the campaign was cancelled"
    } else {
        "the campaign was paused"
    })
    .bind(campaign_id)
    .fetch_all(c)
    .await)?;
    for contact_id in &contact_ids {
        release_contact(tx, contact_id, cancel_contacts, now).await?;
    }
    Ok(contact_ids.len() as u64)
}

/// Gives a contact back the attempt that was never placed: pending and due now, or cancelled.
async fn release_contact(
    tx: &mut Tx,
    contact_id: &str,
    cancel: bool,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let (state, next, reason) = if cancel {
        (ContactState::Cancelled, None, Some("campaign_cancelled"))
    } else {
        (ContactState::Pending, Some(now), None)
    };
    on_tx!(tx, |c| sqlx::query(
        "UPDATE campaign_contacts SET state = $1, attempts = attempts - 1, next_attempt_at = $2, \
         skip_reason = COALESCE($3, skip_reason), updated_at = $4 \
         WHERE id = $5 AND state = 'dialing'"
    )
    .bind(state.as_str())
    .bind(next)
    .bind(reason)
    .bind(now)
    .bind(contact_id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Cancels one attempt that was not placed (a rule said no just before dialing), giving its
/// contact the attempt back. False when it was no longer planned or being placed.
pub async fn cancel(
    tx: &mut Tx,
    attempt: &Attempt,
    detail: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = on_tx!(tx, |c| sqlx::query(
        "UPDATE call_attempts SET state = 'cancelled', ended_at = $1, detail = $2 \
         WHERE id = $3 AND state IN ('planned', 'placing')"
    )
    .bind(now)
    .bind(detail)
    .bind(&attempt.id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    if done == 0 {
        return Ok(false);
    }
    release_contact(tx, &attempt.contact_id, false, now).await?;
    Ok(true)
}

/// The attempt `id`.
pub async fn find(db: &Db, id: &str) -> Result<Option<Attempt>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM call_attempts WHERE id = $1");
    let row = on_pool!(db, |p| sqlx::query_as::<_, AttemptRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(id)
    .fetch_optional(p)
    .await)?;
    row.map(Attempt::try_from).transpose()
}

/// The attempt whose call the voice platform knows as `vapi_call_id`.
pub async fn find_by_vapi_call(db: &Db, vapi_call_id: &str) -> Result<Option<Attempt>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM call_attempts WHERE vapi_call_id = $1");
    let row = on_pool!(db, |p| sqlx::query_as::<_, AttemptRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(vapi_call_id)
    .fetch_optional(p)
    .await)?;
    row.map(Attempt::try_from).transpose()
}

/// Moves a planned attempt to `placing`, only while its campaign is running: false when the
/// attempt was cancelled or the campaign paused meanwhile, so no call is placed after a pause.
pub async fn start_placing(db: &Db, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let done = on_pool!(db, |p| {
        sqlx::query(
        "UPDATE call_attempts SET state = 'placing', placed_at = $1 WHERE id = $2 AND state = 'planned' \
         AND EXISTS (SELECT 1 FROM campaigns WHERE campaigns.id = call_attempts.campaign_id \
                     AND campaigns.state = 'running')"
    )
    .bind(now)
    .bind(id)
    .execute(p)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

/// Records the voice platform's id of the call placed for the attempt.
pub async fn mark_placed(db: &Db, id: &str, vapi_call_id: &str) -> Result<(), StoreError> {
    on_pool!(db, |p| sqlx::query(
        "UPDATE call_attempts SET vapi_call_id = COALESCE(vapi_call_id, $1), \
         state = CASE WHEN state = 'placing' THEN 'placed' ELSE state END WHERE id = $2"
    )
    .bind(vapi_call_id)
    .bind(id)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Records how an attempt ended, and moves its contact on: reached contacts complete; the
/// others get their next attempt after the retry policy's delay, or fail once the campaign's
/// attempts are used up. A refusal under a rule set that says so lists the number as
/// do-not-call. Returns false, changing nothing, when the outcome was already recorded.
pub async fn record_outcome(
    tx: &mut Tx,
    campaign: &Campaign,
    attempt: &Attempt,
    outcome: Outcome,
    detail: Option<&str>,
    call_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done = on_tx!(tx, |c| {
        sqlx::query(
        "UPDATE call_attempts SET state = 'ended', outcome = $1, detail = COALESCE($2, detail), \
         call_id = COALESCE($3, call_id), ended_at = $4 WHERE id = $5 AND outcome IS NULL"
    )
    .bind(outcome.as_str())
    .bind(detail)
    .bind(call_id)
    .bind(now)
    .bind(&attempt.id)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    if done == 0 {
        return Ok(false);
    }
    let Some(contact) = super::campaign_contacts::find_in(tx, &attempt.contact_id).await? else {
        return Ok(true);
    };
    let retry_at = campaign
        .retry_policy
        .rule(outcome)
        .and_then(|rule| rule.delay(contact.attempts.max(1)))
        .filter(|_| contact.attempts < campaign.max_attempts)
        .and_then(|delay| TimeDelta::from_std(delay).ok())
        .map(|delay| now + delay);
    let (state, next) = match (outcome.is_answered(), retry_at) {
        (true, _) => (ContactState::Completed, None),
        (false, Some(at)) => (ContactState::Pending, Some(at)),
        (false, None) => (ContactState::Failed, None),
    };
    // A contact the campaign already cancelled stays cancelled.
    on_tx!(tx, |c| {
        sqlx::query(
        "UPDATE campaign_contacts SET state = CASE WHEN state = 'cancelled' THEN state ELSE $1 END, \
         next_attempt_at = CASE WHEN state = 'cancelled' THEN NULL ELSE $2 END, \
         last_outcome = $3, updated_at = $4 WHERE id = $5"
    )
    .bind(state.as_str())
    .bind(next)
    .bind(outcome.as_str())
    .bind(now)
    .bind(&contact.id)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    if outcome == Outcome::Refused && campaign.rules()?.caps.refusal_is_do_not_call {
        on_tx!(tx, |c| sqlx::query(
            "INSERT INTO dnc_entries (org_id, number, reason, source, created_at) \
             VALUES ($1, $2, 'asked not to be called again during a call', 'call', $3) \
             ON CONFLICT DO NOTHING"
        )
        .bind(&attempt.org_id)
        .bind(&attempt.number)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    }
    if let Some(call_id) = call_id {
        on_tx!(tx, |c| sqlx::query(
            "UPDATE calls SET campaign_id = $1 WHERE id = $2 AND campaign_id IS NULL"
        )
        .bind(&campaign.id)
        .bind(call_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    }
    Ok(true)
}

/// Open attempts of the campaign whose end never came: planned or being placed before
/// `unplaced_before`, or placed before `placed_before`.
pub async fn overdue(
    tx: &mut Tx,
    campaign_id: &str,
    unplaced_before: DateTime<Utc>,
    placed_before: DateTime<Utc>,
) -> Result<Vec<Attempt>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM call_attempts WHERE campaign_id = $1 \
         AND ((state IN ('planned', 'placing') AND planned_at < $2) \
              OR (state = 'placed' AND placed_at < $3)) LIMIT 1000"
    );
    let rows = on_tx!(tx, |c| sqlx::query_as::<_, AttemptRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(campaign_id)
    .bind(unplaced_before)
    .bind(placed_before)
    .fetch_all(c)
    .await)?;
    rows.into_iter().map(Attempt::try_from).collect()
}

/// Every attempt of the given contacts, by contact then attempt number.
pub async fn for_contacts(db: &Db, contact_ids: &[String]) -> Result<Vec<Attempt>, StoreError> {
    if contact_ids.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<String> = (1..=contact_ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT {COLUMNS} FROM call_attempts WHERE contact_id IN ({}) ORDER BY contact_id, attempt_no",
        list.join(", ")
    );
    let rows = on_pool!(db, |p| {
        let mut q = sqlx::query_as::<_, AttemptRow>(sqlx::AssertSqlSafe(sql.clone()));
        for id in contact_ids {
            q = q.bind(id);
        }
        q.fetch_all(p).await
    })?;
    rows.into_iter().map(Attempt::try_from).collect()
}

/// A campaign's attempt figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AttemptStats {
    /// Attempts planned or made (cancelled ones excluded).
    pub attempts: u64,
    /// Attempts in progress.
    pub in_progress: u64,
    /// Ended attempts per outcome.
    pub outcomes: std::collections::BTreeMap<String, u64>,
    /// Attempts that ended in the last hour.
    pub ended_last_hour: u64,
}

/// Counts a campaign's attempts.
pub async fn stats(
    db: &Db,
    campaign_id: &str,
    now: DateTime<Utc>,
) -> Result<AttemptStats, StoreError> {
    let rows: Vec<(String, Option<String>, i64)> = on_pool!(db, |p| {
        sqlx::query_as(
        "SELECT state, outcome, COUNT(*) FROM call_attempts WHERE campaign_id = $1 GROUP BY state, outcome"
    )
    .bind(campaign_id)
    .fetch_all(p)
    .await
    })?;
    let mut stats = AttemptStats::default();
    for (state, outcome, n) in rows {
        let n = u64::try_from(n).unwrap_or(0);
        if state == "cancelled" {
            continue;
        }
        stats.attempts += n;
        if matches!(state.as_str(), "planned" | "placing" | "placed") {
            stats.in_progress += n;
        }
        if let Some(o) = outcome {
            *stats.outcomes.entry(o).or_default() += n;
        }
    }
    let recent: i64 = on_pool!(db, |p| {
        sqlx::query_scalar(
        "SELECT COUNT(*) FROM call_attempts WHERE campaign_id = $1 AND ended_at > $2 AND state = 'ended'"
    )
    .bind(campaign_id)
    .bind(now - TimeDelta::hours(1))
    .fetch_one(p)
    .await
    })?;
    stats.ended_last_hour = u64::try_from(recent).unwrap_or(0);
    Ok(stats)
}
