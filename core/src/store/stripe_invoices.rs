//! The state of each Stripe invoice of an organisation (finalized, paid, payment failed,
//! void), as last observed; the same version rule as subscriptions keeps a late event from
//! taking an invoice back. Our own invoice documents come later and start from these rows.

use chrono::{DateTime, Utc};

use super::{Db, StoreError, Tx};
use zencall_queue::{on_pool, on_tx};

/// An invoice as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredInvoice {
    /// Stripe's id (`in_...`).
    pub stripe_invoice_id: String,
    /// The organisation billed.
    pub org_id: String,
    /// The Stripe customer.
    pub stripe_customer_id: String,
    /// The subscription billed, if any.
    pub stripe_subscription_id: Option<String>,
    /// Stripe's number, once finalized.
    pub number: Option<String>,
    /// `draft`, `open`, `paid`, `uncollectible` or `void`.
    pub status: String,
    /// ISO 4217, lower case.
    pub currency: String,
    /// Before tax, in minor units.
    pub subtotal: i64,
    /// Tax, in minor units.
    pub tax: i64,
    /// With tax, in minor units.
    pub total: i64,
    /// When it was finalized.
    pub finalized_at: Option<DateTime<Utc>>,
    /// When it was paid.
    pub paid_at: Option<DateTime<Utc>>,
    /// The latest failed payment attempt reported.
    pub payment_failed_at: Option<DateTime<Utc>>,
    /// Stripe's page for it.
    pub hosted_url: Option<String>,
    /// The version of the state stored.
    pub state_version: i64,
    /// When the stored state last changed.
    pub updated_at: DateTime<Utc>,
}

/// An invoice's state to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceState {
    /// Stripe's id (`in_...`).
    pub stripe_invoice_id: String,
    /// The Stripe customer.
    pub stripe_customer_id: String,
    /// The subscription billed.
    pub stripe_subscription_id: Option<String>,
    /// Stripe's number.
    pub number: Option<String>,
    /// Stripe's status.
    pub status: String,
    /// ISO 4217, lower case.
    pub currency: String,
    /// Before tax, in minor units.
    pub subtotal: i64,
    /// Tax, in minor units.
    pub tax: i64,
    /// With tax, in minor units.
    pub total: i64,
    /// When it was finalized.
    pub finalized_at: Option<DateTime<Utc>>,
    /// When it was paid.
    pub paid_at: Option<DateTime<Utc>>,
    /// Stripe's page for it.
    pub hosted_url: Option<String>,
}

const COLUMNS: &str = "stripe_invoice_id, org_id, stripe_customer_id, stripe_subscription_id, number, status, currency, \
    subtotal, tax, total, finalized_at, paid_at, payment_failed_at, hosted_url, state_version, updated_at";

/// Stores `state` of one of `org_id`'s invoices, observed at `version`, unless the same or a
/// later version is stored. True when written.
pub async fn apply(
    db: &Db,
    org_id: &str,
    state: &InvoiceState,
    version: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = on_pool!(db, |p| {
        sqlx::query(
        "INSERT INTO stripe_invoices (stripe_invoice_id, org_id, stripe_customer_id, stripe_subscription_id, number, \
         status, currency, subtotal, tax, total, finalized_at, paid_at, hosted_url, state_version, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
         ON CONFLICT (stripe_invoice_id) DO UPDATE SET \
         stripe_subscription_id = excluded.stripe_subscription_id, number = excluded.number, \
         status = excluded.status, currency = excluded.currency, subtotal = excluded.subtotal, \
         tax = excluded.tax, total = excluded.total, finalized_at = excluded.finalized_at, \
         paid_at = excluded.paid_at, hosted_url = excluded.hosted_url, \
         state_version = excluded.state_version, updated_at = excluded.updated_at \
         WHERE stripe_invoices.state_version < excluded.state_version \
         AND stripe_invoices.org_id = excluded.org_id"
    )
    .bind(&state.stripe_invoice_id)
    .bind(org_id)
    .bind(&state.stripe_customer_id)
    .bind(&state.stripe_subscription_id)
    .bind(&state.number)
    .bind(&state.status)
    .bind(&state.currency)
    .bind(state.subtotal)
    .bind(state.tax)
    .bind(state.total)
    .bind(state.finalized_at.map(super::now_micros))
    .bind(state.paid_at.map(super::now_micros))
    .bind(&state.hosted_url)
    .bind(version)
    .bind(super::now_micros(now))
    .execute(p)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

/// Notes a failed payment attempt at `at`; keeps the latest of those noted. False when the
/// invoice is not stored or a later attempt is noted already.
pub async fn note_payment_failed(
    db: &Db,
    org_id: &str,
    stripe_invoice_id: &str,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let at = super::now_micros(at);
    let n = on_pool!(db, |p| {
        sqlx::query(
        "UPDATE stripe_invoices SET payment_failed_at = $1 \
         WHERE org_id = $2 AND stripe_invoice_id = $3 AND (payment_failed_at IS NULL OR payment_failed_at < $1)"
    )
    .bind(at)
    .bind(org_id)
    .bind(stripe_invoice_id)
    .execute(p)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

/// The invoice `id` of `org_id`.
pub async fn find(db: &Db, org_id: &str, id: &str) -> Result<Option<StoredInvoice>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM stripe_invoices WHERE org_id = $1 AND stripe_invoice_id = $2"
    );
    Ok(on_pool!(db, |p| sqlx::query_as::<_, StoredInvoice>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(org_id)
    .bind(id)
    .fetch_optional(p)
    .await)?)
}

/// Whether Stripe invoice `stripe_invoice_id` is stored as voided, read in `tx`.
pub async fn is_void_in(tx: &mut Tx, stripe_invoice_id: &str) -> Result<bool, StoreError> {
    let status = on_tx!(tx, |c| sqlx::query_scalar::<_, String>(
        "SELECT status FROM stripe_invoices WHERE stripe_invoice_id = $1"
    )
    .bind(stripe_invoice_id)
    .fetch_optional(c)
    .await)?;
    Ok(status.as_deref() == Some("void"))
}

/// The organisation's invoices, by Stripe id.
pub async fn list(db: &Db, org_id: &str) -> Result<Vec<StoredInvoice>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM stripe_invoices WHERE org_id = $1 ORDER BY stripe_invoice_id"
    );
    Ok(on_pool!(db, |p| sqlx::query_as::<_, StoredInvoice>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(org_id)
    .fetch_all(p)
    .await)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeDelta;

    use super::*;
    use crate::store::organisations;
    use crate::store::test_db::TestDb;

    async fn org(db: &Db) -> String {
        let mut tx = db.begin().await.unwrap();
        let o = organisations::create(&mut tx, "Boulangerie Petit", Utc::now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        o.id
    }

    fn invoice(status: &str, paid: bool) -> InvoiceState {
        let now = super::super::now_micros(Utc::now());
        InvoiceState {
            stripe_invoice_id: "in_1".into(),
            stripe_customer_id: "cus_1".into(),
            stripe_subscription_id: Some("sub_1".into()),
            number: Some("ABC-0001".into()),
            status: status.into(),
            currency: "eur".into(),
            subtotal: 2900,
            tax: 580,
            total: 3480,
            finalized_at: Some(now),
            paid_at: paid.then_some(now),
            hosted_url: None,
        }
    }

    #[tokio::test]
    async fn a_paid_invoice_stays_paid_when_the_finalized_event_comes_late() {
        for t in TestDb::all().await {
            let db = &t.db;
            let o = org(db).await;
            assert!(
                apply(db, &o, &invoice("paid", true), 20, Utc::now())
                    .await
                    .unwrap()
            );
            assert!(
                !apply(db, &o, &invoice("open", false), 10, Utc::now())
                    .await
                    .unwrap()
            );
            let i = find(db, &o, "in_1").await.unwrap().unwrap();
            assert_eq!(i.status, "paid");
            assert!(i.paid_at.is_some());
            assert_eq!(list(db, &o).await.unwrap().len(), 1);
            let other = org(db).await;
            assert!(list(db, &other).await.unwrap().is_empty());
            assert!(
                !apply(db, &other, &invoice("void", false), 99, Utc::now())
                    .await
                    .unwrap()
            );
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn the_latest_failed_payment_is_kept() {
        for t in TestDb::all().await {
            let db = &t.db;
            let o = org(db).await;
            let t0 = Utc::now();
            assert!(!note_payment_failed(db, &o, "in_1", t0).await.unwrap());
            apply(db, &o, &invoice("open", false), 1, t0).await.unwrap();
            assert!(
                note_payment_failed(db, &o, "in_1", t0 + TimeDelta::days(3))
                    .await
                    .unwrap()
            );
            assert!(!note_payment_failed(db, &o, "in_1", t0).await.unwrap());
            // A newer state of the invoice keeps the failure noted.
            apply(db, &o, &invoice("open", false), 2, t0).await.unwrap();
            let i = find(db, &o, "in_1").await.unwrap().unwrap();
            assert_eq!(
                i.payment_failed_at,
                Some(super::super::now_micros(t0 + TimeDelta::days(3)))
            );
            t.drop_database().await;
        }
    }
}
