//! Each organisation's do-not-call list: numbers (E.164) its campaigns must never dial. The
//! dialer asks [`is_listed`] before every call; people are listed through the API, by bulk
//! import, or when they refuse during a call. Listing a number twice keeps the first entry, so
//! the original reason and date are never lost.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Db, StoreError};
use crate::domain::phone::PhoneNumber;
use zencall_queue::{on_pool, on_tx};

/// Listed through the API, one number at a time.
pub const SOURCE_API: &str = "api";
/// Listed by a bulk import.
pub const SOURCE_IMPORT: &str = "import";
/// Listed because the person refused during a call.
pub const SOURCE_CALL: &str = "call";
/// Every source an entry can have.
pub const SOURCES: [&str; 3] = [SOURCE_API, SOURCE_IMPORT, SOURCE_CALL];

/// A number on an organisation's do-not-call list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct DncEntry {
    /// The number, E.164.
    pub number: String,
    /// Why it is listed, as given when it was listed.
    pub reason: Option<String>,
    /// How it was listed: `api`, `import`, or `call` (the person refused during a call).
    pub source: String,
    /// When it was listed.
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "number, reason, source, created_at";

/// Rows per multi-row insert: 2 parameters each plus 3 shared keeps a statement far below
/// SQLite's 32,766 bound parameters (and PostgreSQL's 65,535).
const CHUNK_ROWS: usize = 1000;

/// Lists `number` for `org_id` unless it already is; returns the entry, the first one when the
/// number was already listed.
pub async fn add(
    db: &Db,
    org_id: &str,
    number: &PhoneNumber,
    reason: Option<&str>,
    source: &str,
    now: DateTime<Utc>,
) -> Result<DncEntry, StoreError> {
    add_reporting(db, org_id, number, reason, source, now)
        .await
        .map(|(entry, _)| entry)
}

/// Like [`add`], also saying whether this call listed the number (false: it already was).
pub async fn add_reporting(
    db: &Db,
    org_id: &str,
    number: &PhoneNumber,
    reason: Option<&str>,
    source: &str,
    now: DateTime<Utc>,
) -> Result<(DncEntry, bool), StoreError> {
    let now = super::now_micros(now);
    let insert = format!(
        "INSERT INTO dnc_entries (org_id, number, reason, source, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (org_id, number) DO NOTHING RETURNING {COLUMNS}"
    );
    // A removal between our conflicting insert and the read makes the read miss; trying again
    // then inserts. Twice more is plenty: each round needs a concurrent add and remove.
    for _ in 0..3 {
        let inserted = on_pool!(db, |p| sqlx::query_as::<_, DncEntry>(sqlx::AssertSqlSafe(
            insert.clone()
        ))
        .bind(org_id)
        .bind(number.as_str())
        .bind(reason)
        .bind(source)
        .bind(now)
        .fetch_optional(p)
        .await)?;
        if let Some(entry) = inserted {
            return Ok((entry, true));
        }
        if let Some(entry) = find(db, org_id, number).await? {
            return Ok((entry, false));
        }
    }
    Err(StoreError::Corrupt(format!(
        "do-not-call entry {number} kept appearing and disappearing"
    )))
}

/// Lists every number of `entries` (with its reason) for `org_id` in one transaction, in
/// multi-row inserts; numbers already listed keep their entry. Returns how many were newly listed.
pub async fn add_many(
    db: &Db,
    org_id: &str,
    entries: &[(PhoneNumber, Option<String>)],
    source: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let now = super::now_micros(now);
    // One row per number: the first one given wins, as it would against an existing entry.
    let mut seen = HashSet::with_capacity(entries.len());
    let mut unique: Vec<&(PhoneNumber, Option<String>)> = entries
        .iter()
        .filter(|(number, _)| seen.insert(number.as_str()))
        .collect();
    // Every import inserts in number order, so two overlapping imports take their row locks in
    // the same order and cannot deadlock.
    unique.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    let mut tx = db.begin().await?;
    let mut added = 0;
    for chunk in unique.chunks(CHUNK_ROWS) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| format!("($1, ${}, ${}, $2, $3)", 4 + 2 * i, 5 + 2 * i))
            .collect();
        let sql = format!(
            "INSERT INTO dnc_entries (org_id, number, reason, source, created_at) VALUES {} \
             ON CONFLICT (org_id, number) DO NOTHING",
            values.join(", ")
        );
        added += on_tx!(tx, |c| {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(org_id)
                .bind(source)
                .bind(now);
            for (number, reason) in chunk {
                query = query.bind(number.as_str()).bind(reason.as_deref());
            }
            query.execute(c).await.map(|r| r.rows_affected())
        })?;
    }
    tx.commit().await?;
    Ok(added)
}

/// Takes `number` off `org_id`'s list; false when it was not listed.
pub async fn remove(db: &Db, org_id: &str, number: &PhoneNumber) -> Result<bool, StoreError> {
    let removed = on_pool!(db, |p| sqlx::query(
        "DELETE FROM dnc_entries WHERE org_id = $1 AND number = $2"
    )
    .bind(org_id)
    .bind(number.as_str())
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(removed > 0)
}

/// The entry of `number` on `org_id`'s list.
pub async fn find(
    db: &Db,
    org_id: &str,
    number: &PhoneNumber,
) -> Result<Option<DncEntry>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM dnc_entries WHERE org_id = $1 AND number = $2");
    Ok(on_pool!(db, |p| sqlx::query_as::<_, DncEntry>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(org_id)
    .bind(number.as_str())
    .fetch_optional(p)
    .await)?)
}

/// Whether `number` is on `org_id`'s list. Asked before every call; a number in another
/// format than E.164 is normalised first when it can be.
pub async fn is_listed(db: &Db, org_id: &str, number: &str) -> Result<bool, StoreError> {
    let normalised = PhoneNumber::parse(number, None);
    let number = normalised.as_ref().map_or(number, PhoneNumber::as_str);
    let listed = on_pool!(db, |p| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM dnc_entries WHERE org_id = $1 AND number = $2"
    )
    .bind(org_id)
    .bind(number)
    .fetch_one(p)
    .await)?;
    Ok(listed > 0)
}

/// Up to `limit` entries of `org_id`'s list in number order, after the number `after`.
pub async fn list(
    db: &Db,
    org_id: &str,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<DncEntry>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM dnc_entries WHERE org_id = $1 AND ($2 IS NULL OR number > $2) \
         ORDER BY number LIMIT $3"
    );
    Ok(on_pool!(db, |p| sqlx::query_as::<_, DncEntry>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(org_id)
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(p)
    .await)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Instant;

    use chrono::{Duration, Utc};

    use super::*;
    use crate::domain::phone::CountryCode;
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

    fn number(text: &str) -> PhoneNumber {
        PhoneNumber::parse(text, CountryCode::parse("FR").ok()).unwrap()
    }

    /// `n` distinct valid French mobile numbers.
    fn numbers(n: usize) -> Vec<PhoneNumber> {
        (0..n)
            .map(|i| number(&format!("+336{:08}", 10_000_000 + i)))
            .collect()
    }

    #[tokio::test]
    async fn adding_a_number_twice_keeps_the_first_entry() {
        for t in TestDb::all().await {
            let db = &t.db;
            let org_id = org(db).await;
            let n = number("06 12 34 56 78");
            let first_at = Utc::now() - Duration::hours(1);
            let (first, added) = add_reporting(
                db,
                &org_id,
                &n,
                Some("asked on the phone"),
                SOURCE_CALL,
                first_at,
            )
            .await
            .unwrap();
            assert!(added);
            assert_eq!(first.number, "+33612345678");
            assert_eq!(first.source, "call");
            let (again, added) = add_reporting(db, &org_id, &n, None, SOURCE_API, Utc::now())
                .await
                .unwrap();
            assert!(!added, "{:?}", t.backend());
            assert_eq!(again, first);
            assert_eq!(
                add(db, &org_id, &n, None, SOURCE_API, Utc::now())
                    .await
                    .unwrap(),
                first
            );
            assert_eq!(find(db, &org_id, &n).await.unwrap(), Some(first));
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn a_listed_number_is_found_only_in_its_organisation_until_removed() {
        for t in TestDb::all().await {
            let db = &t.db;
            let ours = org(db).await;
            let theirs = org(db).await;
            let n = number("+33612345678");
            add(db, &ours, &n, None, SOURCE_API, Utc::now())
                .await
                .unwrap();
            assert!(is_listed(db, &ours, "+33612345678").await.unwrap());
            assert!(is_listed(db, &ours, "+33 6 12 34 56 78").await.unwrap());
            assert!(!is_listed(db, &theirs, "+33612345678").await.unwrap());
            assert!(!is_listed(db, &ours, "+33612345679").await.unwrap());
            assert!(!is_listed(db, &ours, "not a number").await.unwrap());
            assert_eq!(find(db, &theirs, &n).await.unwrap(), None);
            assert!(!remove(db, &theirs, &n).await.unwrap());
            assert!(remove(db, &ours, &n).await.unwrap());
            assert!(!remove(db, &ours, &n).await.unwrap());
            assert!(!is_listed(db, &ours, "+33612345678").await.unwrap());
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn a_bulk_add_counts_only_the_numbers_it_newly_listed() {
        for t in TestDb::all().await {
            let db = &t.db;
            let org_id = org(db).await;
            let all = numbers(5);
            let first = add(db, &org_id, &all[0], Some("first"), SOURCE_API, Utc::now())
                .await
                .unwrap();
            let entries: Vec<(PhoneNumber, Option<String>)> = all
                .iter()
                .chain([&all[1]])
                .map(|n| (n.clone(), Some("imported".to_string())))
                .collect();
            let added = add_many(db, &org_id, &entries, SOURCE_IMPORT, Utc::now())
                .await
                .unwrap();
            assert_eq!(added, 4, "{:?}", t.backend());
            assert_eq!(find(db, &org_id, &all[0]).await.unwrap(), Some(first));
            let listed = list(db, &org_id, None, 100).await.unwrap();
            assert_eq!(listed.len(), 5);
            assert!(listed[1..].iter().all(|e| e.source == "import"));
            assert_eq!(
                add_many(db, &org_id, &[], SOURCE_IMPORT, Utc::now())
                    .await
                    .unwrap(),
                0
            );
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn ten_thousand_numbers_are_listed_in_one_call_well_under_a_second() {
        for t in TestDb::all().await {
            let db = &t.db;
            let org_id = org(db).await;
            let entries: Vec<(PhoneNumber, Option<String>)> =
                numbers(10_000).into_iter().map(|n| (n, None)).collect();
            let started = Instant::now();
            let added = add_many(db, &org_id, &entries, SOURCE_IMPORT, Utc::now())
                .await
                .unwrap();
            let took = started.elapsed();
            assert_eq!(added, 10_000);
            assert!(
                is_listed(db, &org_id, entries[9_999].0.as_str())
                    .await
                    .unwrap()
            );
            // Reported, not asserted: timings vary with the machine.
            eprintln!("{:?}: 10,000 numbers listed in {took:?}", t.backend());
            assert_eq!(
                add_many(db, &org_id, &entries, SOURCE_IMPORT, Utc::now())
                    .await
                    .unwrap(),
                0
            );
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn the_list_pages_through_numbers_in_order() {
        for t in TestDb::all().await {
            let db = &t.db;
            let org_id = org(db).await;
            let all = numbers(5);
            for n in all.iter().rev() {
                add(db, &org_id, n, None, SOURCE_API, Utc::now())
                    .await
                    .unwrap();
            }
            let first = list(db, &org_id, None, 2).await.unwrap();
            let next = list(db, &org_id, Some(&first[1].number), 2).await.unwrap();
            let last = list(db, &org_id, Some(&next[1].number), 2).await.unwrap();
            let seen: Vec<&str> = first
                .iter()
                .chain(&next)
                .chain(&last)
                .map(|e| e.number.as_str())
                .collect();
            let expected: Vec<&str> = all.iter().map(PhoneNumber::as_str).collect();
            assert_eq!(seen, expected, "{:?}", t.backend());
            t.drop_database().await;
        }
    }
}
