//! Our outbound events and their deliveries: an event is stored once per deduplication key,
//! with one delivery per endpoint that wants it, and every attempt of a delivery is kept with
//! what the receiving server answered.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Db, StoreError, Tx};
use crate::domain::ids::new_id;
use zencall_queue::{on_pool, on_tx};

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Not delivered yet; another attempt is coming.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Every attempt failed; no more will be made.
    Failed,
    /// The endpoint was deleted before the delivery succeeded.
    Cancelled,
}

impl DeliveryStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Delivered,
            Self::Failed,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// One delivery of one event to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// `whdl_...`
    pub id: String,
    /// Owning organisation.
    pub org_id: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// The event (`wevt_...`).
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: i64,
    /// The HTTP status of the last answer, if there was one.
    pub last_status_code: Option<i64>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    /// When the next attempt is due, while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When the endpoint accepted it.
    pub delivered_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: String,
    org_id: String,
    endpoint_id: String,
    event_id: String,
    event_type: String,
    status: String,
    attempts: i64,
    last_status_code: Option<i64>,
    last_error: Option<String>,
    next_attempt_at: Option<DateTime<Utc>>,
    delivered_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<DeliveryRow> for Delivery {
    type Error = StoreError;

    fn try_from(r: DeliveryRow) -> Result<Self, StoreError> {
        Ok(Delivery {
            status: DeliveryStatus::parse(&r.status).ok_or_else(|| {
                StoreError::Corrupt(format!("delivery {}: status {:?}", r.id, r.status))
            })?,
            id: r.id,
            org_id: r.org_id,
            endpoint_id: r.endpoint_id,
            event_id: r.event_id,
            event_type: r.event_type,
            attempts: r.attempts,
            last_status_code: r.last_status_code,
            last_error: r.last_error,
            next_attempt_at: r.next_attempt_at,
            delivered_at: r.delivered_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const COLUMNS: &str = "id, org_id, endpoint_id, event_id, event_type, status, attempts, last_status_code, \
    last_error, next_attempt_at, delivered_at, created_at, updated_at";

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Attempt {
    /// The delivery.
    #[serde(skip)]
    pub delivery_id: String,
    /// 1 for the first attempt.
    pub attempt: i64,
    /// When it was made.
    pub attempted_at: DateTime<Utc>,
    /// The HTTP status answered, if any.
    pub status_code: Option<i64>,
    /// The start of the answer's body.
    pub response_body: Option<String>,
    /// Why no acceptable answer came, if none did.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: i64,
}

/// Stores the event `id` inside `tx`; false when an event with `dedup_key` already exists
/// for `org_id`, in which case nothing is written.
pub async fn insert_event(
    tx: &mut Tx,
    id: &str,
    org_id: &str,
    event_type: &str,
    dedup_key: &str,
    payload: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let inserted = on_tx!(tx, |c| sqlx::query_scalar::<_, String>(
        "INSERT INTO outbound_events (id, org_id, event_type, dedup_key, payload, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (org_id, dedup_key) DO NOTHING RETURNING id"
    )
    .bind(id)
    .bind(org_id)
    .bind(event_type)
    .bind(dedup_key)
    .bind(payload)
    .bind(super::now_micros(now))
    .fetch_optional(c)
    .await)?;
    Ok(inserted.is_some())
}

/// The stored body of event `id`.
pub async fn event_payload(db: &Db, id: &str) -> Result<Option<String>, StoreError> {
    Ok(on_pool!(db, |p| sqlx::query_scalar::<_, String>(
        "SELECT payload FROM outbound_events WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(p)
    .await)?)
}

/// Creates the pending delivery of event `event_id` to `endpoint_id` inside `tx`.
pub async fn insert_delivery(
    tx: &mut Tx,
    org_id: &str,
    endpoint_id: &str,
    event_id: &str,
    event_type: &str,
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    let id = new_id("whdl");
    let now = super::now_micros(now);
    on_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO webhook_deliveries (id, org_id, endpoint_id, event_id, event_type, status, next_attempt_at, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6, $6)"
    )
    .bind(&id)
    .bind(org_id)
    .bind(endpoint_id)
    .bind(event_id)
    .bind(event_type)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ())
    })?;
    Ok(id)
}

/// The delivery `id`.
pub async fn find(db: &Db, id: &str) -> Result<Option<Delivery>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM webhook_deliveries WHERE id = $1");
    let row = on_pool!(db, |p| sqlx::query_as::<_, DeliveryRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(id)
    .fetch_optional(p)
    .await)?;
    row.map(Delivery::try_from).transpose()
}

/// Deliveries to `endpoint_id` of `org_id`, newest first, `limit` after the cursor `before`.
pub async fn list_for_endpoint(
    db: &Db,
    org_id: &str,
    endpoint_id: &str,
    before: Option<&str>,
    limit: u32,
) -> Result<Vec<Delivery>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM webhook_deliveries WHERE org_id = $1 AND endpoint_id = $2 \
         AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
    );
    let rows = on_pool!(db, |p| sqlx::query_as::<_, DeliveryRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(org_id)
    .bind(endpoint_id)
    .bind(before)
    .bind(i64::from(limit))
    .fetch_all(p)
    .await)?;
    rows.into_iter().map(Delivery::try_from).collect()
}

/// Every attempt of the deliveries `ids`, in order of delivery then attempt.
pub async fn attempts(db: &Db, ids: &[String]) -> Result<Vec<Attempt>, StoreError> {
    let mut all = Vec::new();
    // One query per delivery: a page holds at most 100, and each is an index lookup.
    for id in ids {
        let rows = on_pool!(db, |p| {
            sqlx::query_as::<_, Attempt>(
            "SELECT delivery_id, attempt, attempted_at, status_code, response_body, error, duration_ms \
             FROM webhook_delivery_attempts WHERE delivery_id = $1 ORDER BY id"
        )
        .bind(id)
        .fetch_all(p)
        .await
        })?;
        all.extend(rows);
    }
    Ok(all)
}

/// What became of one attempt, and so of the delivery.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    /// The attempt as made.
    pub attempt: Attempt,
    /// The delivery's status afterwards.
    pub status: DeliveryStatus,
    /// When the next attempt is due, if one is coming.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// Records an attempt and its consequence on the delivery, in one transaction. A delivery
/// that is no longer pending (cancelled meanwhile) keeps its status.
pub async fn record_attempt(db: &Db, outcome: &AttemptOutcome) -> Result<(), StoreError> {
    let a = &outcome.attempt;
    let at = super::now_micros(a.attempted_at);
    let mut tx = db.begin().await?;
    on_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO webhook_delivery_attempts (id, delivery_id, attempt, attempted_at, status_code, response_body, \
         error, duration_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    )
    .bind(new_id("what"))
    .bind(&a.delivery_id)
    .bind(a.attempt)
    .bind(at)
    .bind(a.status_code)
    .bind(&a.response_body)
    .bind(&a.error)
    .bind(a.duration_ms)
    .execute(c)
    .await
    .map(|_| ())
    })?;
    let delivered_at = (outcome.status == DeliveryStatus::Delivered).then_some(at);
    on_tx!(tx, |c| sqlx::query(
        "UPDATE webhook_deliveries SET attempts = $1, last_status_code = $2, last_error = $3, \
         status = CASE WHEN status = 'pending' THEN $4 ELSE status END, \
         next_attempt_at = CASE WHEN status = 'pending' THEN $5 ELSE NULL END, \
         delivered_at = COALESCE(delivered_at, $6), updated_at = $7 WHERE id = $8"
    )
    .bind(a.attempt)
    .bind(a.status_code)
    .bind(&a.error)
    .bind(outcome.status.as_str())
    .bind(outcome.next_attempt_at.map(super::now_micros))
    .bind(delivered_at)
    .bind(at)
    .bind(&a.delivery_id)
    .execute(c)
    .await
    .map(|_| ()))?;
    tx.commit().await
}

/// Marks the delivery `id` cancelled, if it is still pending.
pub async fn cancel(db: &Db, id: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
    on_pool!(db, |p| {
        sqlx::query(
        "UPDATE webhook_deliveries SET status = 'cancelled', next_attempt_at = NULL, updated_at = $1 \
         WHERE id = $2 AND status = 'pending'"
    )
    .bind(super::now_micros(now))
    .bind(id)
    .execute(p)
    .await
    .map(|_| ())
    })?;
    Ok(())
}
