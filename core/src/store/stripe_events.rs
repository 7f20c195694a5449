//! The Stripe events the billing job has applied, by Stripe's event id: an event is applied
//! once, and what it did is kept for a person to read.

use chrono::{DateTime, Utc};

use super::{Db, StoreError};
use zencall_queue::on_pool;

/// An applied event.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AppliedEvent {
    /// Stripe's id (`evt_...`).
    pub stripe_event_id: String,
    /// Its type (`invoice.paid`).
    pub event_type: String,
    /// The organisation it was about, when it was one of ours.
    pub org_id: Option<String>,
    /// What applying it did.
    pub outcome: String,
    /// When.
    pub applied_at: DateTime<Utc>,
}

/// The applied event `stripe_event_id`, if it was applied.
pub async fn find(db: &Db, stripe_event_id: &str) -> Result<Option<AppliedEvent>, StoreError> {
    Ok(on_pool!(db, |p| {
        sqlx::query_as::<_, AppliedEvent>(
        "SELECT stripe_event_id, event_type, org_id, outcome, applied_at FROM stripe_events_applied \
         WHERE stripe_event_id = $1"
    )
    .bind(stripe_event_id)
    .fetch_optional(p)
    .await
    })?)
}

/// Records that the event was applied; false when it was already recorded (the first record
/// stays).
pub async fn record(
    db: &Db,
    stripe_event_id: &str,
    event_type: &str,
    org_id: Option<&str>,
    outcome: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = on_pool!(db, |p| {
        sqlx::query(
        "INSERT INTO stripe_events_applied (stripe_event_id, event_type, org_id, outcome, applied_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (stripe_event_id) DO NOTHING"
    )
    .bind(stripe_event_id)
    .bind(event_type)
    .bind(org_id)
    .bind(outcome)
    .bind(super::now_micros(now))
    .execute(p)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::store::test_db::TestDb;

    #[tokio::test]
    async fn an_event_is_recorded_once_and_the_first_outcome_stays() {
        for t in TestDb::all().await {
            let db = &t.db;
            assert_eq!(find(db, "evt_1").await.unwrap(), None);
            assert!(
                record(db, "evt_1", "invoice.paid", None, "first", Utc::now())
                    .await
                    .unwrap()
            );
            assert!(
                !record(db, "evt_1", "invoice.paid", None, "second", Utc::now())
                    .await
                    .unwrap()
            );
            let e = find(db, "evt_1").await.unwrap().unwrap();
            assert_eq!(
                (e.event_type.as_str(), e.outcome.as_str()),
                ("invoice.paid", "first")
            );
            t.drop_database().await;
        }
    }
}
