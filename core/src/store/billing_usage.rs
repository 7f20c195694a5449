//! The usage ledger: one row per ended call, written in the transaction that records the end
//! of the call, with its billable minutes. A row is reported to Stripe's billing meter once
//! (the meter event's identifier is the call id) and then marked reported.

use chrono::{DateTime, Utc};

use super::{Db, StoreError, Tx};
use zencall_queue::{on_pool, on_tx};

/// One ended call in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UsageRecord {
    /// The call (`call_...`).
    pub call_id: String,
    /// The organisation billed.
    pub org_id: String,
    /// The assistant that took or placed it.
    pub assistant_id: Option<String>,
    /// When it ended.
    pub ended_at: DateTime<Utc>,
    /// How long it talked, in seconds.
    pub duration_secs: i64,
    /// Minutes billed, by the configured rounding.
    pub billable_minutes: i64,
    /// When the row was written.
    pub created_at: DateTime<Utc>,
    /// When the meter event was accepted by Stripe; `None` until then.
    pub reported_at: Option<DateTime<Utc>>,
}

/// The minutes and calls of one assistant over a period.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AssistantUsage {
    /// The assistant (`None` for calls no assistant is known for).
    pub assistant_id: Option<String>,
    /// Ended calls.
    pub calls: i64,
    /// Billable minutes.
    pub billable_minutes: i64,
    /// Seconds talked.
    pub duration_secs: i64,
}

const COLUMNS: &str = "call_id, org_id, assistant_id, ended_at, duration_secs, billable_minutes, created_at, reported_at";

/// Writes the ledger row of an ended call inside `tx`. False when the call has one already (a
/// second end-of-call report): the first stays, so a call is billed once.
#[allow(clippy::too_many_arguments)]
pub async fn record(
    tx: &mut Tx,
    org_id: &str,
    call_id: &str,
    assistant_id: Option<&str>,
    ended_at: DateTime<Utc>,
    duration_secs: u64,
    billable_minutes: u64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let too_large =
        |what: &str| StoreError::Corrupt(format!("call {call_id}: {what} is too large"));
    let duration = i64::try_from(duration_secs).map_err(|_| too_large("its duration"))?;
    let minutes = i64::try_from(billable_minutes).map_err(|_| too_large("its minutes"))?;
    let n = on_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO billing_usage (call_id, org_id, assistant_id, ended_at, duration_secs, billable_minutes, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (call_id) DO NOTHING"
    )
    .bind(call_id)
    .bind(org_id)
    .bind(assistant_id)
    .bind(super::now_micros(ended_at))
    .bind(duration)
    .bind(minutes)
    .bind(super::now_micros(now))
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

/// The ledger row of call `call_id` of `org_id`.
pub async fn find(db: &Db, org_id: &str, call_id: &str) -> Result<Option<UsageRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM billing_usage WHERE org_id = $1 AND call_id = $2");
    Ok(on_pool!(db, |p| sqlx::query_as::<_, UsageRecord>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(org_id)
    .bind(call_id)
    .fetch_optional(p)
    .await)?)
}

/// Marks the row reported, once: false when it was already (or does not exist).
pub async fn mark_reported(
    db: &Db,
    org_id: &str,
    call_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = on_pool!(db, |p| {
        sqlx::query(
        "UPDATE billing_usage SET reported_at = $1 WHERE org_id = $2 AND call_id = $3 AND reported_at IS NULL"
    )
    .bind(super::now_micros(now))
    .bind(org_id)
    .bind(call_id)
    .execute(p)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

/// Calls and minutes per assistant of the calls of `org_id` that ended in `[start, end)`, by
/// assistant id.
pub async fn per_assistant(
    db: &Db,
    org_id: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<Vec<AssistantUsage>, StoreError> {
    Ok(on_pool!(db, |p| {
        sqlx::query_as::<_, AssistantUsage>(
        "SELECT assistant_id, COUNT(*) AS calls, CAST(COALESCE(SUM(billable_minutes), 0) AS BIGINT) AS billable_minutes, \
         CAST(COALESCE(SUM(duration_secs), 0) AS BIGINT) AS duration_secs \
         FROM billing_usage WHERE org_id = $1 AND ended_at >= $2 AND ended_at < $3 \
         GROUP BY assistant_id ORDER BY assistant_id"
    )
    .bind(org_id)
    .bind(super::now_micros(start))
    .bind(super::now_micros(end))
    .fetch_all(p)
    .await
    })?)
}

/// Minutes of `org_id`'s calls reported to the meter at a time in `[start, end)`, and how many
/// rows of that span are still waiting to be reported. A call is metered at its end, or when
/// it was reported if that came first (a clock ahead of ours), as `ReportUsage` sends it.
pub async fn reported_between(
    db: &Db,
    org_id: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<(i64, i64), StoreError> {
    Ok(on_pool!(db, |p| {
        sqlx::query_as::<_, (i64, i64)>(
        "SELECT CAST(COALESCE(SUM(CASE WHEN reported_at IS NOT NULL THEN billable_minutes ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN reported_at IS NULL AND billable_minutes > 0 THEN 1 ELSE 0 END), 0) AS BIGINT) \
         FROM billing_usage WHERE org_id = $1 \
         AND (CASE WHEN reported_at IS NOT NULL AND reported_at < ended_at THEN reported_at ELSE ended_at END) >= $2 \
         AND (CASE WHEN reported_at IS NOT NULL AND reported_at < ended_at THEN reported_at ELSE ended_at END) < $3"
    )
    .bind(org_id)
    .bind(super::now_micros(start))
    .bind(super::now_micros(end))
    .fetch_one(p)
    .await
    })?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::TimeDelta;

    use super::*;
    use crate::store::calls::{self, CallReport};
    use crate::store::organisations;
    use crate::store::test_db::TestDb;

    async fn org(db: &Db) -> String {
        let mut tx = db.begin().await.unwrap();
        let o = organisations::create(&mut tx, "Chez Marcel", Utc::now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        o.id
    }

    async fn call(db: &Db, org_id: &str, vapi_id: &str) -> String {
        let mut tx = db.begin().await.unwrap();
        let c = calls::merge_vapi_report(
            &mut tx,
            org_id,
            None,
            vapi_id,
            "inbound",
            &CallReport::default(),
            Utc::now(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        c.id
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    async fn write(
        db: &Db,
        org_id: &str,
        call_id: &str,
        assistant: Option<&str>,
        ended: DateTime<Utc>,
        secs: u64,
    ) -> bool {
        let mut tx = db.begin().await.unwrap();
        let written = record(
            &mut tx,
            org_id,
            call_id,
            assistant,
            ended,
            secs,
            secs.div_ceil(60),
            Utc::now(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        written
    }

    #[tokio::test]
    async fn a_call_has_one_ledger_row_reported_once() {
        for t in TestDb::all().await {
            let db = &t.db;
            let o = org(db).await;
            let c = call(db, &o, "v1").await;
            let ended = at("2026-11-20T10:00:00Z");
            assert!(write(db, &o, &c, Some("asst_1"), ended, 95).await);
            assert!(!write(db, &o, &c, Some("asst_1"), ended, 500).await);
            let row = find(db, &o, &c).await.unwrap().unwrap();
            assert_eq!((row.duration_secs, row.billable_minutes), (95, 2));
            assert_eq!(row.reported_at, None);
            assert!(mark_reported(db, &o, &c, Utc::now()).await.unwrap());
            assert!(!mark_reported(db, &o, &c, Utc::now()).await.unwrap());
            assert!(
                find(db, &o, &c)
                    .await
                    .unwrap()
                    .unwrap()
                    .reported_at
                    .is_some()
            );
            // Another organisation neither sees nor marks it.
            let other = org(db).await;
            assert_eq!(find(db, &other, &c).await.unwrap(), None);
            assert!(!mark_reported(db, &other, &c, Utc::now()).await.unwrap());
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn usage_is_summed_per_assistant_within_the_period() {
        for t in TestDb::all().await {
            let db = &t.db;
            let o = org(db).await;
            let start = at("2026-11-01T00:00:00Z");
            let end = at("2026-12-01T00:00:00Z");
            let rows = [
                ("v1", Some("asst_a"), start, 61),
                ("v2", Some("asst_a"), end - TimeDelta::microseconds(1), 30),
                ("v3", Some("asst_b"), start + TimeDelta::days(3), 600),
                ("v4", None, start + TimeDelta::days(4), 0),
                // Outside the period on either side.
                ("v5", Some("asst_a"), start - TimeDelta::seconds(1), 60),
                ("v6", Some("asst_a"), end, 60),
            ];
            for (vapi, assistant, ended, secs) in rows {
                let c = call(db, &o, vapi).await;
                write(db, &o, &c, assistant, ended, secs).await;
            }
            let usage = per_assistant(db, &o, start, end).await.unwrap();
            let got: Vec<(Option<&str>, i64, i64, i64)> = usage
                .iter()
                .map(|u| {
                    (
                        u.assistant_id.as_deref(),
                        u.calls,
                        u.billable_minutes,
                        u.duration_secs,
                    )
                })
                .collect();
            let mut want = vec![
                (Some("asst_a"), 2, 3, 91),
                (Some("asst_b"), 1, 10, 600),
                (None, 1, 0, 0),
            ];
            want.sort();
            let mut got_sorted = got.clone();
            got_sorted.sort();
            assert_eq!(got_sorted, want);
            let other = org(db).await;
            assert!(
                per_assistant(db, &other, start, end)
                    .await
                    .unwrap()
                    .is_empty()
            );
            t.drop_database().await;
        }
    }
}
