//! The Stripe customer of each organisation: created once at Stripe (under an idempotency key
//! derived from the organisation), then its id is kept here and reused for every checkout,
//! portal session and meter event.

use chrono::{DateTime, Utc};

use super::{Db, StoreError};
use zencall_queue::on_pool;

/// An organisation's customer at Stripe.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BillingCustomer {
    /// The organisation.
    pub org_id: String,
    /// Stripe's id (`cus_...`).
    pub stripe_customer_id: String,
    /// When we recorded it.
    pub created_at: DateTime<Utc>,
}

/// The organisation's customer, if it has one.
pub async fn find(db: &Db, org_id: &str) -> Result<Option<BillingCustomer>, StoreError> {
    Ok(on_pool!(db, |p| sqlx::query_as::<_, BillingCustomer>(
        "SELECT org_id, stripe_customer_id, created_at FROM billing_customers WHERE org_id = $1"
    )
    .bind(org_id)
    .fetch_optional(p)
    .await)?)
}

/// The organisation that Stripe customer `stripe_customer_id` is, if it is one of ours.
pub async fn org_of(db: &Db, stripe_customer_id: &str) -> Result<Option<String>, StoreError> {
    Ok(on_pool!(db, |p| sqlx::query_scalar::<_, String>(
        "SELECT org_id FROM billing_customers WHERE stripe_customer_id = $1"
    )
    .bind(stripe_customer_id)
    .fetch_optional(p)
    .await)?)
}

/// Records the organisation's customer; when it already has one (two checkouts raced), the one
/// recorded first is kept and returned.
pub async fn record(
    db: &Db,
    org_id: &str,
    stripe_customer_id: &str,
    now: DateTime<Utc>,
) -> Result<BillingCustomer, StoreError> {
    on_pool!(db, |p| {
        sqlx::query(
        "INSERT INTO billing_customers (org_id, stripe_customer_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (org_id) DO NOTHING"
    )
    .bind(org_id)
    .bind(stripe_customer_id)
    .bind(super::now_micros(now))
    .execute(p)
    .await
    .map(|_| ())
    })?;
    find(db, org_id).await?.ok_or_else(|| {
        StoreError::Corrupt(format!(
            "the customer of {org_id} is missing right after it was recorded"
        ))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::store::organisations;
    use crate::store::test_db::TestDb;

    async fn org(db: &Db) -> String {
        let mut tx = db.begin().await.unwrap();
        let o = organisations::create(&mut tx, "Salon Dupont", Utc::now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        o.id
    }

    #[tokio::test]
    async fn an_organisation_keeps_the_first_customer_recorded() {
        for t in TestDb::all().await {
            let db = &t.db;
            let a = org(db).await;
            let b = org(db).await;
            assert_eq!(find(db, &a).await.unwrap(), None);
            let first = record(db, &a, "cus_first", Utc::now()).await.unwrap();
            let again = record(db, &a, "cus_second", Utc::now()).await.unwrap();
            assert_eq!(first, again);
            assert_eq!(again.stripe_customer_id, "cus_first");
            assert_eq!(org_of(db, "cus_first").await.unwrap(), Some(a.clone()));
            assert_eq!(org_of(db, "cus_second").await.unwrap(), None);
            assert_eq!(find(db, &b).await.unwrap(), None);
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn a_customer_id_belongs_to_one_organisation_only() {
        for t in TestDb::all().await {
            let db = &t.db;
            let a = org(db).await;
            let b = org(db).await;
            record(db, &a, "cus_shared", Utc::now()).await.unwrap();
            assert!(record(db, &b, "cus_shared", Utc::now()).await.is_err());
            assert_eq!(find(db, &b).await.unwrap(), None);
            t.drop_database().await;
        }
    }
}
