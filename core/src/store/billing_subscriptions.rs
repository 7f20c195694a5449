//! Each organisation's Stripe subscriptions, as last observed. Stripe's events arrive late,
//! twice and out of order, so a state is written with a version (when it was observed, in
//! microseconds since the epoch) and an older version never overwrites a newer one.

use chrono::{DateTime, Utc};

use super::{Db, StoreError};
use crate::domain::billing::{Entitlement, SubscriptionStanding, entitlement, is_live_status};
use zencall_queue::on_pool;

/// A subscription as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredSubscription {
    /// Stripe's id (`sub_...`).
    pub stripe_subscription_id: String,
    /// The organisation paying.
    pub org_id: String,
    /// The Stripe customer (`cus_...`).
    pub stripe_customer_id: String,
    /// Our plan's name, when a configured plan has its prices.
    pub plan: Option<String>,
    /// Stripe's status (`trialing`, `active`, `past_due`, `canceled`, `unpaid`, ...).
    pub status: String,
    /// Start of the current period.
    pub current_period_start: DateTime<Utc>,
    /// End of the current period.
    pub current_period_end: DateTime<Utc>,
    /// End of the trial, if there is or was one.
    pub trial_end: Option<DateTime<Utc>>,
    /// Whether it ends at the end of the current period.
    pub cancel_at_period_end: bool,
    /// When it was first observed not trialing or active (cleared when it is again).
    pub ended_at: Option<DateTime<Utc>>,
    /// The version of the state stored.
    pub state_version: i64,
    /// When we first stored it.
    pub first_seen_at: DateTime<Utc>,
    /// When the stored state last changed.
    pub updated_at: DateTime<Utc>,
}

impl StoredSubscription {
    /// What entitlements need to know of it.
    pub fn standing(&self) -> SubscriptionStanding {
        SubscriptionStanding {
            status: self.status.clone(),
            lapsed_at: self.ended_at,
        }
    }
}

/// A subscription's state to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionState {
    /// Stripe's id (`sub_...`).
    pub stripe_subscription_id: String,
    /// The Stripe customer (`cus_...`).
    pub stripe_customer_id: String,
    /// Our plan's name, if known.
    pub plan: Option<String>,
    /// Stripe's status.
    pub status: String,
    /// Start of the current period.
    pub current_period_start: DateTime<Utc>,
    /// End of the current period.
    pub current_period_end: DateTime<Utc>,
    /// End of the trial.
    pub trial_end: Option<DateTime<Utc>>,
    /// Whether it ends at the end of the current period.
    pub cancel_at_period_end: bool,
}

const COLUMNS: &str = "stripe_subscription_id, org_id, stripe_customer_id, plan, status, current_period_start, \
    current_period_end, trial_end, cancel_at_period_end, ended_at, state_version, first_seen_at, updated_at";

/// Stores `state` of one of `org_id`'s subscriptions, observed at `version`, unless a state of
/// the same or a later version is stored already. True when it was written. A subscription
/// never moves to another organisation.
pub async fn apply(
    db: &Db,
    org_id: &str,
    state: &SubscriptionState,
    version: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let now = super::now_micros(now);
    let ended_at = if is_live_status(&state.status) {
        None
    } else {
        Some(now)
    };
    let written = on_pool!(db, |p| {
        sqlx::query(
        "INSERT INTO billing_subscriptions (stripe_subscription_id, org_id, stripe_customer_id, plan, status, \
         current_period_start, current_period_end, trial_end, cancel_at_period_end, ended_at, state_version, \
         first_seen_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) \
         ON CONFLICT (stripe_subscription_id) DO UPDATE SET \
         plan = excluded.plan, status = excluded.status, \
         current_period_start = excluded.current_period_start, current_period_end = excluded.current_period_end, \
         trial_end = excluded.trial_end, cancel_at_period_end = excluded.cancel_at_period_end, \
         ended_at = CASE WHEN excluded.ended_at IS NULL THEN NULL \
                         ELSE COALESCE(billing_subscriptions.ended_at, excluded.ended_at) END, \
         state_version = excluded.state_version, updated_at = excluded.updated_at \
         WHERE billing_subscriptions.state_version < excluded.state_version \
         AND billing_subscriptions.org_id = excluded.org_id"
    )
    .bind(&state.stripe_subscription_id)
    .bind(org_id)
    .bind(&state.stripe_customer_id)
    .bind(&state.plan)
    .bind(&state.status)
    .bind(super::now_micros(state.current_period_start))
    .bind(super::now_micros(state.current_period_end))
    .bind(state.trial_end.map(super::now_micros))
    .bind(state.cancel_at_period_end)
    .bind(ended_at)
    .bind(version)
    .bind(now)
    .execute(p)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(written == 1)
}

/// The subscription `id` of `org_id`.
pub async fn find(
    db: &Db,
    org_id: &str,
    id: &str,
) -> Result<Option<StoredSubscription>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM billing_subscriptions WHERE org_id = $1 AND stripe_subscription_id = $2"
    );
    Ok(on_pool!(db, |p| sqlx::query_as::<_, StoredSubscription>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(org_id)
    .bind(id)
    .fetch_optional(p)
    .await)?)
}

/// The organisation's current subscription: a trialing or active one if any, else the one
/// seen last.
pub async fn current(db: &Db, org_id: &str) -> Result<Option<StoredSubscription>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM billing_subscriptions WHERE org_id = $1 \
         ORDER BY CASE WHEN status IN ('trialing', 'active') THEN 0 ELSE 1 END, \
         first_seen_at DESC, stripe_subscription_id DESC LIMIT 1"
    );
    Ok(on_pool!(db, |p| sqlx::query_as::<_, StoredSubscription>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(org_id)
    .fetch_optional(p)
    .await)?)
}

/// Every subscription that is trialing, active or past due (still metered), of every
/// organisation, by id.
pub async fn metered(db: &Db) -> Result<Vec<StoredSubscription>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM billing_subscriptions WHERE status IN ('trialing', 'active', 'past_due') \
         ORDER BY stripe_subscription_id"
    );
    Ok(on_pool!(db, |p| sqlx::query_as::<_, StoredSubscription>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .fetch_all(p)
    .await)?)
}

/// What organisation `org_id` may do at `now` (its latest subscription and the grace period of
/// `grace_days`); `None` when there is no such organisation.
pub async fn entitlement_of(
    db: &Db,
    org_id: &str,
    grace_days: u32,
    now: DateTime<Utc>,
) -> Result<Option<Entitlement>, StoreError> {
    let Some(org) = super::organisations::find(db, org_id).await? else {
        return Ok(None);
    };
    let subscription = current(db, org_id).await?;
    Ok(Some(entitlement(
        org.created_at,
        subscription
            .as_ref()
            .map(StoredSubscription::standing)
            .as_ref(),
        grace_days,
        now,
    )))
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
        let o = organisations::create(&mut tx, "Plomberie Martin", Utc::now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        o.id
    }

    fn state(id: &str, status: &str) -> SubscriptionState {
        let start = super::super::now_micros(Utc::now());
        SubscriptionState {
            stripe_subscription_id: id.into(),
            stripe_customer_id: "cus_1".into(),
            plan: Some("starter".into()),
            status: status.into(),
            current_period_start: start,
            current_period_end: start + TimeDelta::days(14),
            trial_end: Some(start + TimeDelta::days(14)),
            cancel_at_period_end: false,
        }
    }

    #[tokio::test]
    async fn an_older_state_never_overwrites_a_newer_one() {
        for t in TestDb::all().await {
            let db = &t.db;
            let o = org(db).await;
            let now = Utc::now();
            assert!(
                apply(db, &o, &state("sub_1", "trialing"), 10, now)
                    .await
                    .unwrap()
            );
            assert!(
                apply(db, &o, &state("sub_1", "active"), 30, now)
                    .await
                    .unwrap()
            );
            // A late event observed before the active state: nothing changes.
            assert!(
                !apply(db, &o, &state("sub_1", "past_due"), 20, now)
                    .await
                    .unwrap()
            );
            // The same version again (a duplicate): nothing changes.
            assert!(
                !apply(db, &o, &state("sub_1", "canceled"), 30, now)
                    .await
                    .unwrap()
            );
            let s = find(db, &o, "sub_1").await.unwrap().unwrap();
            assert_eq!((s.status.as_str(), s.state_version), ("active", 30));
            assert_eq!(s.ended_at, None);
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn the_end_of_a_live_subscription_is_kept_from_its_first_observation() {
        for t in TestDb::all().await {
            let db = &t.db;
            let o = org(db).await;
            let t0 = Utc::now();
            apply(db, &o, &state("sub_1", "active"), 1, t0)
                .await
                .unwrap();
            let t1 = t0 + TimeDelta::days(1);
            apply(db, &o, &state("sub_1", "past_due"), 2, t1)
                .await
                .unwrap();
            apply(
                db,
                &o,
                &state("sub_1", "unpaid"),
                3,
                t1 + TimeDelta::days(5),
            )
            .await
            .unwrap();
            let s = find(db, &o, "sub_1").await.unwrap().unwrap();
            assert_eq!(s.status, "unpaid");
            assert_eq!(s.ended_at, Some(super::super::now_micros(t1)));
            assert_eq!(s.standing().lapsed_at, s.ended_at);
            // Paying again makes it live: no end.
            apply(
                db,
                &o,
                &state("sub_1", "active"),
                4,
                t1 + TimeDelta::days(6),
            )
            .await
            .unwrap();
            assert_eq!(find(db, &o, "sub_1").await.unwrap().unwrap().ended_at, None);
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn the_current_subscription_is_a_live_one_before_a_newer_ended_one() {
        for t in TestDb::all().await {
            let db = &t.db;
            let o = org(db).await;
            let other = org(db).await;
            assert_eq!(current(db, &o).await.unwrap(), None);
            let now = Utc::now();
            apply(db, &o, &state("sub_old", "canceled"), 1, now)
                .await
                .unwrap();
            assert_eq!(
                current(db, &o)
                    .await
                    .unwrap()
                    .unwrap()
                    .stripe_subscription_id,
                "sub_old"
            );
            apply(
                db,
                &o,
                &state("sub_live", "active"),
                1,
                now + TimeDelta::seconds(1),
            )
            .await
            .unwrap();
            apply(
                db,
                &o,
                &state("sub_newer", "incomplete_expired"),
                1,
                now + TimeDelta::seconds(2),
            )
            .await
            .unwrap();
            assert_eq!(
                current(db, &o)
                    .await
                    .unwrap()
                    .unwrap()
                    .stripe_subscription_id,
                "sub_live"
            );
            // Another organisation sees none of them, and cannot take one over.
            assert_eq!(current(db, &other).await.unwrap(), None);
            assert!(
                !apply(db, &other, &state("sub_live", "canceled"), 99, now)
                    .await
                    .unwrap()
            );
            assert_eq!(find(db, &other, "sub_live").await.unwrap(), None);
            assert_eq!(
                find(db, &o, "sub_live").await.unwrap().unwrap().status,
                "active"
            );
            t.drop_database().await;
        }
    }
}
