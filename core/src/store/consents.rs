//! Each organisation's consent registry: who agreed to be called, when, how, and what proves
//! it. French prospecting calls need the person's prior, provable consent, so the dialer asks
//! [`valid_at`] before every such call. One record per number: recording again replaces the
//! proof and lifts a withdrawal; a withdrawal keeps the record, proof included, as evidence.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Db, StoreError};
use crate::domain::ids::new_id;
use crate::domain::phone::PhoneNumber;
use zencall_queue::{on_pool, on_tx};

/// How a person gave their consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConsentMethod {
    /// A form on a web site.
    WebForm,
    /// A signed paper form.
    PaperForm,
    /// During a phone call.
    PhoneCall,
    /// By email.
    Email,
    /// By text message.
    Sms,
    /// Face to face.
    InPerson,
    /// Any other way (the proof says which).
    Other,
}

impl ConsentMethod {
    /// Every method.
    pub const ALL: [ConsentMethod; 7] = [
        ConsentMethod::WebForm,
        ConsentMethod::PaperForm,
        ConsentMethod::PhoneCall,
        ConsentMethod::Email,
        ConsentMethod::Sms,
        ConsentMethod::InPerson,
        ConsentMethod::Other,
    ];

    /// The stored and shown name (`web_form`).
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentMethod::WebForm => "web_form",
            ConsentMethod::PaperForm => "paper_form",
            ConsentMethod::PhoneCall => "phone_call",
            ConsentMethod::Email => "email",
            ConsentMethod::Sms => "sms",
            ConsentMethod::InPerson => "in_person",
            ConsentMethod::Other => "other",
        }
    }

    /// The method named `text`.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == text)
    }
}

/// A person's consent to be called by an organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Consent {
    /// `cons_...`
    pub id: String,
    /// The person's number, E.164.
    pub number: String,
    /// When the person consented.
    pub given_at: DateTime<Utc>,
    /// How they consented.
    pub method: ConsentMethod,
    /// What proves it: a form id, a document reference, a recording, ...
    pub proof: String,
    /// When the consent lapses, if it does.
    pub expires_at: Option<DateTime<Utc>>,
    /// When the person withdrew it; the record and its proof are kept.
    pub withdrawn_at: Option<DateTime<Utc>>,
    /// First recorded.
    pub created_at: DateTime<Utc>,
    /// Last recorded again or withdrawn.
    pub updated_at: DateTime<Utc>,
}

impl Consent {
    /// Whether the consent covers a call at `at`: already given, not yet expired, not withdrawn
    /// by then.
    pub fn is_valid_at(&self, at: DateTime<Utc>) -> bool {
        self.given_at <= at
            && self.expires_at.is_none_or(|e| at < e)
            && self.withdrawn_at.is_none_or(|w| at < w)
    }
}

/// A consent to record (already validated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentInput {
    /// The person's number.
    pub number: PhoneNumber,
    /// When they consented.
    pub given_at: DateTime<Utc>,
    /// How.
    pub method: ConsentMethod,
    /// What proves it.
    pub proof: String,
    /// When it lapses, if it does.
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct ConsentRow {
    id: String,
    number: String,
    given_at: DateTime<Utc>,
    method: String,
    proof: String,
    expires_at: Option<DateTime<Utc>>,
    withdrawn_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<ConsentRow> for Consent {
    type Error = StoreError;
    fn try_from(r: ConsentRow) -> Result<Self, StoreError> {
        let method = ConsentMethod::parse(&r.method).ok_or_else(|| {
            StoreError::Corrupt(format!("consent {} has method {:?}", r.id, r.method))
        })?;
        Ok(Consent {
            id: r.id,
            number: r.number,
            given_at: r.given_at,
            method,
            proof: r.proof,
            expires_at: r.expires_at,
            withdrawn_at: r.withdrawn_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const COLUMNS: &str =
    "id, number, given_at, method, proof, expires_at, withdrawn_at, created_at, updated_at";

/// What recording again changes: everything the person gave, and the withdrawal is lifted.
/// The id and `created_at` of the first recording stay.
const ON_CONFLICT: &str = "ON CONFLICT (org_id, number) DO UPDATE SET given_at = excluded.given_at, \
     method = excluded.method, proof = excluded.proof, expires_at = excluded.expires_at, \
     withdrawn_at = NULL, updated_at = excluded.updated_at";

/// Rows per multi-row upsert: 6 parameters each plus 2 shared keeps a statement far below
/// SQLite's 32,766 bound parameters (and PostgreSQL's 65,535).
const CHUNK_ROWS: usize = 1000;

/// Records the consent of `input.number` for `org_id`: a new record, or the existing one with
/// the new proof, dates and method and without its withdrawal.
pub async fn record(
    db: &Db,
    org_id: &str,
    input: &ConsentInput,
    now: DateTime<Utc>,
) -> Result<Consent, StoreError> {
    let now = super::now_micros(now);
    let sql = format!(
        "INSERT INTO consents (id, org_id, number, given_at, method, proof, expires_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) {ON_CONFLICT} RETURNING {COLUMNS}"
    );
    let row = on_pool!(db, |p| sqlx::query_as::<_, ConsentRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(new_id("cons"))
    .bind(org_id)
    .bind(input.number.as_str())
    .bind(super::now_micros(input.given_at))
    .bind(input.method.as_str())
    .bind(&input.proof)
    .bind(input.expires_at.map(super::now_micros))
    .bind(now)
    .fetch_one(p)
    .await)?;
    row.try_into()
}

/// Records every consent of `inputs` for `org_id` in one transaction, in multi-row upserts (the
/// last of two for one number wins). Returns how many records were created or replaced.
pub async fn record_many(
    db: &Db,
    org_id: &str,
    inputs: &[ConsentInput],
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let now = super::now_micros(now);
    // One statement cannot upsert a row twice (PostgreSQL refuses): keep the last per number,
    // as recording them one after the other would.
    let mut last: HashMap<&str, usize> = HashMap::with_capacity(inputs.len());
    for (i, input) in inputs.iter().enumerate() {
        last.insert(input.number.as_str(), i);
    }
    let mut unique: Vec<&ConsentInput> = inputs
        .iter()
        .enumerate()
        .filter(|(i, input)| last.get(input.number.as_str()) == Some(i))
        .map(|(_, input)| input)
        .collect();
    // Every import writes in number order, so two overlapping imports take their row locks in
    // the same order and cannot deadlock.
    unique.sort_by(|a, b| a.number.as_str().cmp(b.number.as_str()));
    let mut tx = db.begin().await?;
    let mut recorded = 0;
    for chunk in unique.chunks(CHUNK_ROWS) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let p = 3 + 6 * i;
                format!(
                    "(${}, $1, ${}, ${}, ${}, ${}, ${}, $2, $2)",
                    p,
                    p + 1,
                    p + 2,
                    p + 3,
                    p + 4,
                    p + 5
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO consents (id, org_id, number, given_at, method, proof, expires_at, created_at, updated_at) \
             VALUES {} {ON_CONFLICT}",
            values.join(", ")
        );
        recorded += on_tx!(tx, |c| {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(org_id)
                .bind(now);
            for input in chunk {
                query = query
                    .bind(new_id("cons"))
                    .bind(input.number.as_str())
                    .bind(super::now_micros(input.given_at))
                    .bind(input.method.as_str())
                    .bind(&input.proof)
                    .bind(input.expires_at.map(super::now_micros));
            }
            query.execute(c).await.map(|r| r.rows_affected())
        })?;
    }
    tx.commit().await?;
    Ok(recorded)
}

/// Marks the consent of `number` withdrawn at `now` (a second withdrawal keeps the first date)
/// and returns it, proof included; `None` when there is no record.
pub async fn withdraw(
    db: &Db,
    org_id: &str,
    number: &PhoneNumber,
    now: DateTime<Utc>,
) -> Result<Option<Consent>, StoreError> {
    let now = super::now_micros(now);
    let sql = format!(
        "UPDATE consents SET updated_at = CASE WHEN withdrawn_at IS NULL THEN $1 ELSE updated_at END, \
         withdrawn_at = COALESCE(withdrawn_at, $1) WHERE org_id = $2 AND number = $3 RETURNING {COLUMNS}"
    );
    let row = on_pool!(db, |p| sqlx::query_as::<_, ConsentRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(now)
    .bind(org_id)
    .bind(number.as_str())
    .fetch_optional(p)
    .await)?;
    row.map(Consent::try_from).transpose()
}

/// The consent record of `number`, withdrawn or not.
pub async fn find(
    db: &Db,
    org_id: &str,
    number: &PhoneNumber,
) -> Result<Option<Consent>, StoreError> {
    find_text(db, org_id, number.as_str()).await
}

async fn find_text(db: &Db, org_id: &str, number: &str) -> Result<Option<Consent>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM consents WHERE org_id = $1 AND number = $2");
    let row = on_pool!(db, |p| sqlx::query_as::<_, ConsentRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(org_id)
    .bind(number)
    .fetch_optional(p)
    .await)?;
    row.map(Consent::try_from).transpose()
}

/// Whether `org_id` holds a consent of `number` valid at `at` (see [`Consent::is_valid_at`]).
/// Asked before every call that needs consent; a number in another format than E.164 is
/// normalised first when it can be.
pub async fn valid_at(
    db: &Db,
    org_id: &str,
    number: &str,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let normalised = PhoneNumber::parse(number, None);
    let number = normalised.as_ref().map_or(number, PhoneNumber::as_str);
    Ok(find_text(db, org_id, number)
        .await?
        .is_some_and(|c| c.is_valid_at(at)))
}

/// Up to `limit` consent records of `org_id`, newest first, after the record `after` (an id:
/// the last of the previous page).
pub async fn list(
    db: &Db,
    org_id: &str,
    after: Option<&str>,
    limit: u32,
) -> Result<Vec<Consent>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM consents WHERE org_id = $1 AND ($2 IS NULL OR id < $2) \
         ORDER BY id DESC LIMIT $3"
    );
    let rows = on_pool!(db, |p| sqlx::query_as::<_, ConsentRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(org_id)
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(p)
    .await)?;
    rows.into_iter().map(Consent::try_from).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Instant;

    use chrono::{Duration, TimeZone, Utc};

    use super::*;
    use crate::store::organisations;
    use crate::store::test_db::TestDb;

    async fn org(db: &Db) -> String {
        let mut tx = db.begin().await.unwrap();
        let o = organisations::create(&mut tx, "Cabinet Lefèvre", Utc::now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        o.id
    }

    fn input(number: &str, proof: &str, given_at: DateTime<Utc>) -> ConsentInput {
        ConsentInput {
            number: PhoneNumber::parse(number, None).unwrap(),
            given_at,
            method: ConsentMethod::WebForm,
            proof: proof.into(),
            expires_at: None,
        }
    }

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 9, day, 10, 0, 0).unwrap()
    }

    fn consent(given: u32, expires: Option<u32>, withdrawn: Option<u32>) -> Consent {
        Consent {
            id: "cons_1".into(),
            number: "+33612345678".into(),
            given_at: at(given),
            method: ConsentMethod::Email,
            proof: "email of 2026-09-01".into(),
            expires_at: expires.map(at),
            withdrawn_at: withdrawn.map(at),
            created_at: at(given),
            updated_at: at(given),
        }
    }

    #[test]
    fn a_consent_is_valid_from_when_it_was_given_until_it_expires_or_is_withdrawn() {
        let c = consent(5, Some(20), None);
        assert!(!c.is_valid_at(at(4)));
        assert!(c.is_valid_at(at(5)));
        assert!(c.is_valid_at(at(19)));
        assert!(!c.is_valid_at(at(20)));
        let w = consent(5, None, Some(10));
        assert!(w.is_valid_at(at(9)));
        assert!(!w.is_valid_at(at(10)));
        assert!(!w.is_valid_at(at(25)));
        assert!(consent(5, None, None).is_valid_at(at(30)));
    }

    #[test]
    fn methods_are_named_in_snake_case_everywhere() {
        for m in ConsentMethod::ALL {
            assert_eq!(ConsentMethod::parse(m.as_str()), Some(m));
            assert_eq!(
                serde_json::to_value(m).unwrap(),
                serde_json::Value::String(m.as_str().into())
            );
        }
        assert_eq!(ConsentMethod::parse("fax"), None);
    }

    #[tokio::test]
    async fn recording_again_replaces_the_proof_and_lifts_a_withdrawal() {
        for t in TestDb::all().await {
            let db = &t.db;
            let org_id = org(db).await;
            let now = Utc::now();
            let first = record(db, &org_id, &input("+33612345678", "form #1", at(1)), now)
                .await
                .unwrap();
            assert!(first.id.starts_with("cons_"));
            assert_eq!(first.withdrawn_at, None);
            let n = PhoneNumber::parse("+33612345678", None).unwrap();
            let withdrawn = withdraw(db, &org_id, &n, now + Duration::seconds(1))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(withdrawn.proof, "form #1", "{:?}", t.backend());
            assert!(withdrawn.withdrawn_at.is_some());
            let again = withdraw(db, &org_id, &n, now + Duration::seconds(5))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(again.withdrawn_at, withdrawn.withdrawn_at);
            let mut newer = input("+33612345678", "form #2", at(2));
            newer.method = ConsentMethod::PaperForm;
            newer.expires_at = Some(at(30));
            let renewed = record(db, &org_id, &newer, now + Duration::seconds(9))
                .await
                .unwrap();
            assert_eq!(renewed.id, first.id);
            assert_eq!(renewed.created_at, first.created_at);
            assert_eq!(renewed.proof, "form #2");
            assert_eq!(renewed.method, ConsentMethod::PaperForm);
            assert_eq!(
                (renewed.given_at, renewed.expires_at),
                (at(2), Some(at(30)))
            );
            assert_eq!(renewed.withdrawn_at, None);
            assert_eq!(find(db, &org_id, &n).await.unwrap(), Some(renewed));
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn the_dialer_sees_a_consent_only_while_it_is_valid_and_only_in_its_organisation() {
        for t in TestDb::all().await {
            let db = &t.db;
            let ours = org(db).await;
            let theirs = org(db).await;
            let mut i = input("+33612345678", "recorded call", at(2));
            i.expires_at = Some(at(20));
            record(db, &ours, &i, Utc::now()).await.unwrap();
            assert!(valid_at(db, &ours, "+33612345678", at(10)).await.unwrap());
            assert!(
                valid_at(db, &ours, "+33 6 12 34 56 78", at(10))
                    .await
                    .unwrap()
            );
            assert!(!valid_at(db, &ours, "+33612345678", at(1)).await.unwrap());
            assert!(!valid_at(db, &ours, "+33612345678", at(21)).await.unwrap());
            assert!(!valid_at(db, &theirs, "+33612345678", at(10)).await.unwrap());
            assert!(!valid_at(db, &ours, "+33612345679", at(10)).await.unwrap());
            let n = PhoneNumber::parse("+33612345678", None).unwrap();
            assert_eq!(withdraw(db, &theirs, &n, at(3)).await.unwrap(), None);
            withdraw(db, &ours, &n, at(5)).await.unwrap().unwrap();
            assert!(valid_at(db, &ours, "+33612345678", at(4)).await.unwrap());
            assert!(!valid_at(db, &ours, "+33612345678", at(10)).await.unwrap());
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn consents_are_recorded_in_bulk_the_last_of_a_number_winning() {
        for t in TestDb::all().await {
            let db = &t.db;
            let org_id = org(db).await;
            let existing = record(
                db,
                &org_id,
                &input("+33612345678", "old", at(1)),
                Utc::now(),
            )
            .await
            .unwrap();
            let n = PhoneNumber::parse("+33612345678", None).unwrap();
            withdraw(db, &org_id, &n, Utc::now()).await.unwrap();
            let inputs = vec![
                input("+33612345678", "renewed", at(3)),
                input("+33698765432", "first", at(3)),
                input("+33698765432", "second", at(4)),
                input("+14155552671", "us", at(3)),
            ];
            let recorded = record_many(db, &org_id, &inputs, Utc::now()).await.unwrap();
            assert_eq!(recorded, 3, "{:?}", t.backend());
            let renewed = find(db, &org_id, &n).await.unwrap().unwrap();
            assert_eq!(renewed.id, existing.id);
            assert_eq!(
                (renewed.proof.as_str(), renewed.withdrawn_at),
                ("renewed", None)
            );
            let twice = PhoneNumber::parse("+33698765432", None).unwrap();
            assert_eq!(
                find(db, &org_id, &twice).await.unwrap().unwrap().proof,
                "second"
            );
            assert_eq!(list(db, &org_id, None, 100).await.unwrap().len(), 3);
            assert_eq!(record_many(db, &org_id, &[], Utc::now()).await.unwrap(), 0);
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn ten_thousand_consents_are_recorded_in_one_call() {
        for t in TestDb::all().await {
            let db = &t.db;
            let org_id = org(db).await;
            let inputs: Vec<ConsentInput> = (0..10_000)
                .map(|i| input(&format!("+336{:08}", 10_000_000 + i), "web form", at(1)))
                .collect();
            let started = Instant::now();
            let recorded = record_many(db, &org_id, &inputs, Utc::now()).await.unwrap();
            let took = started.elapsed();
            assert_eq!(recorded, 10_000);
            // Reported, not asserted: timings vary with the machine.
            eprintln!("{:?}: 10,000 consents recorded in {took:?}", t.backend());
            assert!(valid_at(db, &org_id, "+33610009999", at(2)).await.unwrap());
            t.drop_database().await;
        }
    }

    #[tokio::test]
    async fn the_list_pages_through_records_newest_first() {
        for t in TestDb::all().await {
            let db = &t.db;
            let org_id = org(db).await;
            let mut ids = Vec::new();
            for i in 0..5 {
                let n = format!("+3361234567{i}");
                ids.push(
                    record(db, &org_id, &input(&n, "form", at(1)), Utc::now())
                        .await
                        .unwrap()
                        .id,
                );
            }
            ids.reverse();
            let first = list(db, &org_id, None, 2).await.unwrap();
            let next = list(db, &org_id, Some(&first[1].id), 2).await.unwrap();
            let last = list(db, &org_id, Some(&next[1].id), 2).await.unwrap();
            let seen: Vec<String> = first
                .into_iter()
                .chain(next)
                .chain(last)
                .map(|c| c.id)
                .collect();
            assert_eq!(seen, ids, "{:?}", t.backend());
            t.drop_database().await;
        }
    }
}
