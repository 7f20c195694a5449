//! The inbox of verified provider events: stored once per provider event id, with the job
//! that processes them enqueued in the same transaction; and the record of refused ones.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Db, StoreError, Tx};
use crate::domain::ids::new_id;
use zencall_queue::{on_pool, on_tx};

/// A stored provider event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct InboundEvent {
    /// `evt_...`
    pub id: String,
    /// `vapi`, `twilio`, `stripe` or `google`.
    pub provider: String,
    /// The provider's event id, or a stable hash of the event where it has none.
    pub provider_event_id: String,
    /// The event's type as the provider names it.
    pub event_type: String,
    /// The event as received (a JSON body, or the form or headers as JSON).
    pub payload: String,
    /// When we accepted it.
    pub received_at: DateTime<Utc>,
    /// When its processing finished.
    pub processed_at: Option<DateTime<Utc>>,
    /// What processing did, for a person to read.
    pub outcome: Option<String>,
}

/// Stores an event inside `tx`; `None` when the provider already sent it.
pub async fn insert(
    tx: &mut Tx,
    provider: &str,
    provider_event_id: &str,
    event_type: &str,
    payload: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>, StoreError> {
    let id = new_id("evt");
    let inserted = on_tx!(tx, |c| {
        sqlx::query_scalar::<_, String>(
        "INSERT INTO webhook_events (id, provider, provider_event_id, event_type, payload, received_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (provider, provider_event_id) DO NOTHING RETURNING id"
    )
    .bind(&id)
    .bind(provider)
    .bind(provider_event_id)
    .bind(event_type)
    .bind(payload)
    .bind(super::now_micros(now))
    .fetch_optional(c)
    .await
    })?;
    Ok(inserted)
}

/// The event `id`.
pub async fn find(db: &Db, id: &str) -> Result<Option<InboundEvent>, StoreError> {
    Ok(on_pool!(db, |p| {
        sqlx::query_as::<_, InboundEvent>(
        "SELECT id, provider, provider_event_id, event_type, payload, received_at, processed_at, outcome \
         FROM webhook_events WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(p)
    .await
    })?)
}

/// Events of `provider`, oldest first (tests and investigation).
pub async fn list(db: &Db, provider: &str, limit: u32) -> Result<Vec<InboundEvent>, StoreError> {
    Ok(on_pool!(db, |p| {
        sqlx::query_as::<_, InboundEvent>(
        "SELECT id, provider, provider_event_id, event_type, payload, received_at, processed_at, outcome \
         FROM webhook_events WHERE provider = $1 ORDER BY id LIMIT $2"
    )
    .bind(provider)
    .bind(i64::from(limit))
    .fetch_all(p)
    .await
    })?)
}

/// Records that processing of event `id` finished with `outcome`.
pub async fn mark_processed(
    db: &Db,
    id: &str,
    outcome: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_pool!(db, |p| sqlx::query(
        "UPDATE webhook_events SET processed_at = $1, outcome = $2 WHERE id = $3"
    )
    .bind(super::now_micros(now))
    .bind(outcome)
    .bind(id)
    .execute(p)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// Records a refused delivery: which provider it claimed to be, why, and from where.
pub async fn record_rejection(
    db: &Db,
    provider: &str,
    reason: &str,
    source: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_pool!(db, |p| {
        sqlx::query(
        "INSERT INTO webhook_rejections (id, provider, reason, source, received_at) VALUES ($1, $2, $3, $4, $5)"
    )
    .bind(new_id("rej"))
    .bind(provider)
    .bind(reason)
    .bind(source)
    .bind(super::now_micros(now))
    .execute(p)
    .await
    .map(|_| ())
    })?;
    Ok(())
}

/// Refused deliveries per (provider, reason).
pub async fn rejection_counts(db: &Db) -> Result<Vec<(String, String, i64)>, StoreError> {
    Ok(on_pool!(db, |p| {
        sqlx::query_as::<_, (String, String, i64)>(
        "SELECT provider, reason, COUNT(*) FROM webhook_rejections GROUP BY provider, reason ORDER BY provider, reason"
    )
    .fetch_all(p)
    .await
    })?)
}
