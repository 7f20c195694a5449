//! The latest reconciliation of each metered subscription's usage: the minutes our ledger
//! reported against the meter's totals at Stripe, over the current period so far. `/metrics`
//! reads the differences from here.

use chrono::{DateTime, Utc};

use super::{Db, StoreError};
use zencall_queue::on_pool;

/// One subscription's reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Reconciliation {
    /// The subscription (`sub_...`).
    pub stripe_subscription_id: String,
    /// The organisation.
    pub org_id: String,
    /// Start of the span compared.
    pub period_start: DateTime<Utc>,
    /// End of the span compared (exclusive).
    pub period_end: DateTime<Utc>,
    /// Minutes our ledger reported for calls that ended in the span.
    pub ledger_minutes: i64,
    /// The meter's total at Stripe for the span.
    pub stripe_minutes: i64,
    /// Billable calls of the span not reported yet.
    pub unreported_calls: i64,
    /// When it was compared.
    pub checked_at: DateTime<Utc>,
}

impl Reconciliation {
    /// Stripe's total minus ours: positive when Stripe counts more.
    pub fn difference(&self) -> i64 {
        self.stripe_minutes - self.ledger_minutes
    }
}

/// Stores `r` as its subscription's latest.
pub async fn record(db: &Db, r: &Reconciliation) -> Result<(), StoreError> {
    on_pool!(db, |p| {
        sqlx::query(
        "INSERT INTO usage_reconciliations (stripe_subscription_id, org_id, period_start, period_end, \
         ledger_minutes, stripe_minutes, unreported_calls, checked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (stripe_subscription_id) DO UPDATE SET org_id = excluded.org_id, \
         period_start = excluded.period_start, period_end = excluded.period_end, \
         ledger_minutes = excluded.ledger_minutes, stripe_minutes = excluded.stripe_minutes, \
         unreported_calls = excluded.unreported_calls, checked_at = excluded.checked_at"
    )
    .bind(&r.stripe_subscription_id)
    .bind(&r.org_id)
    .bind(super::now_micros(r.period_start))
    .bind(super::now_micros(r.period_end))
    .bind(r.ledger_minutes)
    .bind(r.stripe_minutes)
    .bind(r.unreported_calls)
    .bind(super::now_micros(r.checked_at))
    .execute(p)
    .await
    .map(|_| ())
    })?;
    Ok(())
}

/// Every latest reconciliation, by subscription.
pub async fn all(db: &Db) -> Result<Vec<Reconciliation>, StoreError> {
    Ok(on_pool!(db, |p| {
        sqlx::query_as::<_, Reconciliation>(
        "SELECT stripe_subscription_id, org_id, period_start, period_end, ledger_minutes, stripe_minutes, \
         unreported_calls, checked_at FROM usage_reconciliations ORDER BY stripe_subscription_id"
    )
    .fetch_all(p)
    .await
    })?)
}
