//! Assistants as stored, with the provisioning steps recorded one column at a time so a
//! re-run of the job resumes where the last one stopped.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Db, StoreError, Tx};
use crate::domain::assistant::{AssistantChange, AssistantStatus, NewAssistant};
use crate::domain::business_hours::BusinessHours;
use crate::domain::ids::new_id;
use crate::domain::sector::{BusinessDetails, Language, Sector};
use crate::domain::sector_details::SectorDetails;
use zencall_queue::{on_pool, on_tx};

/// An assistant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assistant {
    /// `asst_...`
    pub id: String,
    /// Owning organisation.
    pub org_id: String,
    /// Display name.
    pub name: String,
    /// Sector.
    pub sector: Sector,
    /// Language.
    pub language: Language,
    /// The business.
    pub business: BusinessDetails,
    /// Country of its number.
    pub phone_country: String,
    /// Preferred area code.
    pub area_code: Option<String>,
    /// Voice id.
    pub voice: String,
    /// First sentence.
    pub greeting: String,
    /// System prompt.
    pub system_prompt: String,
    /// The sector's specific details, when given.
    pub sector_details: Option<SectorDetails>,
    /// Bumped by every change of prompt, voice or greeting.
    pub config_version: i64,
    /// The latest version pushed to the voice platform.
    pub synced_version: i64,
    /// Life-cycle state.
    pub status: AssistantStatus,
    /// Why provisioning failed, for a person to read.
    pub failure_reason: Option<String>,
    /// Its number, E.164, once bought.
    pub phone_number: Option<String>,
    /// Id at the voice platform.
    pub vapi_assistant_id: Option<String>,
    /// Id of the number at the telephony provider.
    pub twilio_number_sid: Option<String>,
    /// Id of the number at the voice platform.
    pub vapi_phone_number_id: Option<String>,
    /// The calendar it books into, when one is attached.
    pub calendar: Option<AssistantCalendar>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// The calendar an assistant books into: a calendar of one of its organisation's connections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AssistantCalendar {
    /// The connection (`ccon_...`).
    pub connection_id: String,
    /// The calendar's id at Google.
    pub calendar_id: String,
}

#[derive(sqlx::FromRow)]
struct AssistantRow {
    id: String,
    org_id: String,
    name: String,
    sector: String,
    language: String,
    business: String,
    phone_country: String,
    area_code: Option<String>,
    voice: String,
    greeting: String,
    system_prompt: String,
    sector_details: Option<String>,
    config_version: i64,
    synced_version: i64,
    status: String,
    failure_reason: Option<String>,
    phone_number: Option<String>,
    vapi_assistant_id: Option<String>,
    twilio_number_sid: Option<String>,
    vapi_phone_number_id: Option<String>,
    calendar_connection_id: Option<String>,
    calendar_id: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, org_id, name, sector, language, business, phone_country, area_code, voice, greeting, \
    system_prompt, sector_details, config_version, synced_version, status, failure_reason, phone_number, vapi_assistant_id, \
    twilio_number_sid, vapi_phone_number_id, calendar_connection_id, calendar_id, created_at, updated_at";

impl TryFrom<AssistantRow> for Assistant {
    type Error = StoreError;
    fn try_from(r: AssistantRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("assistant {}: {what}", r.id));
        Ok(Assistant {
            sector: Sector::parse(&r.sector).ok_or_else(|| corrupt("sector"))?,
            language: Language::parse_code(&r.language).ok_or_else(|| corrupt("language"))?,
            business: serde_json::from_str(&r.business).map_err(|_| corrupt("business"))?,
            sector_details: r
                .sector_details
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|_| corrupt("sector_details"))?,
            status: AssistantStatus::parse(&r.status).ok_or_else(|| corrupt("status"))?,
            id: r.id,
            org_id: r.org_id,
            name: r.name,
            phone_country: r.phone_country,
            area_code: r.area_code,
            voice: r.voice,
            greeting: r.greeting,
            system_prompt: r.system_prompt,
            config_version: r.config_version,
            synced_version: r.synced_version,
            failure_reason: r.failure_reason,
            phone_number: r.phone_number,
            vapi_assistant_id: r.vapi_assistant_id,
            twilio_number_sid: r.twilio_number_sid,
            vapi_phone_number_id: r.vapi_phone_number_id,
            calendar: match (r.calendar_connection_id, r.calendar_id) {
                (Some(connection_id), Some(calendar_id)) => Some(AssistantCalendar {
                    connection_id,
                    calendar_id,
                }),
                _ => None,
            },
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// Sector details as stored: JSON text, or null.
fn details_json(details: Option<&SectorDetails>) -> Result<Option<String>, StoreError> {
    details
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Replaces the sector details of a live assistant (or removes them with `None`) inside `tx`;
/// false when no live assistant matched.
pub async fn set_sector_details(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    details: Option<&SectorDetails>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let json = details_json(details)?;
    let n = on_tx!(tx, |c| {
        sqlx::query(
            "UPDATE assistants SET sector_details = $1, updated_at = $2 \
             WHERE org_id = $3 AND id = $4 AND status IN ('provisioning', 'active')",
        )
        .bind(&json)
        .bind(super::now_micros(now))
        .bind(org_id)
        .bind(id)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(n > 0)
}

/// Stores a new assistant in status `provisioning`, inside `tx`.
pub async fn insert(
    tx: &mut Tx,
    org_id: &str,
    new: &NewAssistant,
    now: DateTime<Utc>,
) -> Result<Assistant, StoreError> {
    let now = super::now_micros(now);
    let a = Assistant {
        id: new_id("asst"),
        org_id: org_id.to_string(),
        name: new.name.clone(),
        sector: new.sector,
        language: new.language,
        business: new.business.clone(),
        phone_country: new.phone_country.as_str().to_string(),
        area_code: new.area_code.clone(),
        voice: new.voice.clone(),
        greeting: new.greeting.clone(),
        system_prompt: new.system_prompt.clone(),
        sector_details: new.sector_details.clone(),
        config_version: 1,
        synced_version: 0,
        status: AssistantStatus::Provisioning,
        failure_reason: None,
        phone_number: None,
        vapi_assistant_id: None,
        twilio_number_sid: None,
        vapi_phone_number_id: None,
        calendar: None,
        created_at: now,
        updated_at: now,
    };
    let business =
        serde_json::to_string(&a.business).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let sector_details = details_json(a.sector_details.as_ref())?;
    on_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO assistants (id, org_id, name, sector, language, business, phone_country, area_code, voice, \
         greeting, system_prompt, config_version, synced_version, status, created_at, updated_at, sector_details) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 1, 0, $12, $13, $13, $14)"
    )
    .bind(&a.id)
    .bind(&a.org_id)
    .bind(&a.name)
    .bind(a.sector.as_str())
    .bind(a.language.code())
    .bind(&business)
    .bind(&a.phone_country)
    .bind(&a.area_code)
    .bind(&a.voice)
    .bind(&a.greeting)
    .bind(&a.system_prompt)
    .bind(a.status.as_str())
    .bind(now)
    .bind(&sector_details)
    .execute(c)
    .await
    .map(|_| ())
    })?;
    Ok(a)
}

/// The assistant `id` of `org_id`.
pub async fn find(db: &Db, org_id: &str, id: &str) -> Result<Option<Assistant>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM assistants WHERE org_id = $1 AND id = $2");
    let row = on_pool!(db, |p| sqlx::query_as::<_, AssistantRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(org_id)
    .bind(id)
    .fetch_optional(p)
    .await)?;
    row.map(Assistant::try_from).transpose()
}

/// The assistant the voice platform knows as `vapi_assistant_id`, whatever its organisation
/// (inbound webhooks name only the provider's ids).
pub async fn find_by_vapi_id(
    db: &Db,
    vapi_assistant_id: &str,
) -> Result<Option<Assistant>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM assistants WHERE vapi_assistant_id = $1");
    let row = on_pool!(db, |p| sqlx::query_as::<_, AssistantRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(vapi_assistant_id)
    .fetch_optional(p)
    .await)?;
    row.map(Assistant::try_from).transpose()
}

/// The live assistant answering on `number` (E.164), whatever its organisation.
pub async fn find_by_number(db: &Db, number: &str) -> Result<Option<Assistant>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM assistants WHERE phone_number = $1 AND status IN ('provisioning', 'active', 'deleting') ORDER BY id DESC LIMIT 1"
    );
    let row = on_pool!(db, |p| sqlx::query_as::<_, AssistantRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(number)
    .fetch_optional(p)
    .await)?;
    row.map(Assistant::try_from).transpose()
}

/// A page of assistants of `org_id`, newest first, after the cursor `before` (an id).
pub async fn list(
    db: &Db,
    org_id: &str,
    status: Option<AssistantStatus>,
    before: Option<&str>,
    limit: u32,
) -> Result<Vec<Assistant>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM assistants WHERE org_id = $1 AND ($2 IS NULL OR status = $2) \
         AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4"
    );
    let rows = on_pool!(db, |p| sqlx::query_as::<_, AssistantRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(org_id)
    .bind(status.map(|s| s.as_str()))
    .bind(before)
    .bind(i64::from(limit))
    .fetch_all(p)
    .await)?;
    rows.into_iter().map(Assistant::try_from).collect()
}

/// Applies a change of prompt, voice or greeting inside `tx`, bumping the config version.
/// Returns the new version, or `None` when no live assistant matched.
pub async fn apply_change(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    change: &AssistantChange,
    now: DateTime<Utc>,
) -> Result<Option<i64>, StoreError> {
    let version = on_tx!(tx, |c| {
        sqlx::query_scalar::<_, i64>(
        "UPDATE assistants SET system_prompt = COALESCE($1, system_prompt), voice = COALESCE($2, voice), \
         greeting = COALESCE($3, greeting), config_version = config_version + 1, updated_at = $4 \
         WHERE org_id = $5 AND id = $6 AND status IN ('provisioning', 'active') RETURNING config_version"
    )
    .bind(&change.system_prompt)
    .bind(&change.voice)
    .bind(&change.greeting)
    .bind(super::now_micros(now))
    .bind(org_id)
    .bind(id)
    .fetch_optional(c)
    .await
    })?;
    Ok(version)
}

/// Attaches a calendar to a live assistant (or detaches it with `None`) inside `tx`; false
/// when no live assistant matched. The caller has checked the calendar against its connection.
pub async fn set_calendar(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    calendar: Option<&AssistantCalendar>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = on_tx!(tx, |c| {
        sqlx::query(
            "UPDATE assistants SET calendar_connection_id = $1, calendar_id = $2, updated_at = $3 \
             WHERE org_id = $4 AND id = $5 AND status IN ('provisioning', 'active')",
        )
        .bind(calendar.map(|c| c.connection_id.as_str()))
        .bind(calendar.map(|c| c.calendar_id.as_str()))
        .bind(super::now_micros(now))
        .bind(org_id)
        .bind(id)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

/// Sets (or removes, with `None`) the structured opening hours of a live assistant inside
/// `tx`, keeping the rest of its business details; false when no live assistant matched.
pub async fn set_hours(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    hours: Option<&BusinessHours>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    // The row is locked while its business JSON is rewritten (SQLite: by BEGIN IMMEDIATE).
    let lock = match tx.db().backend() {
        super::Backend::Postgres => " FOR UPDATE",
        super::Backend::Sqlite => "",
    };
    let sql = format!(
        "SELECT business FROM assistants WHERE org_id = $1 AND id = $2 \
         AND status IN ('provisioning', 'active'){lock}"
    );
    let business = on_tx!(tx, |c| sqlx::query_scalar::<_, String>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(org_id)
    .bind(id)
    .fetch_optional(c)
    .await)?;
    let Some(business) = business else {
        return Ok(false);
    };
    let mut details: BusinessDetails = serde_json::from_str(&business)
        .map_err(|_| StoreError::Corrupt(format!("assistant {id}: business")))?;
    details.hours = hours.cloned();
    let business =
        serde_json::to_string(&details).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    on_tx!(tx, |c| sqlx::query(
        "UPDATE assistants SET business = $1, updated_at = $2 WHERE org_id = $3 AND id = $4"
    )
    .bind(&business)
    .bind(super::now_micros(now))
    .bind(org_id)
    .bind(id)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(true)
}

/// Detaches a connection's calendars from every assistant of `org_id`, inside `tx` (the
/// connection was disconnected); returns how many lost their calendar.
pub async fn detach_calendar_connection(
    tx: &mut Tx,
    org_id: &str,
    connection_id: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let n = on_tx!(tx, |c| {
        sqlx::query(
            "UPDATE assistants SET calendar_connection_id = NULL, calendar_id = NULL, updated_at = $1 \
             WHERE org_id = $2 AND calendar_connection_id = $3",
        )
        .bind(super::now_micros(now))
        .bind(org_id)
        .bind(connection_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(n)
}

/// Sends a failed assistant that has no number back to `provisioning` inside `tx`, to look
/// for a number in `country` (and `area_code`) this time; false when none matched (no such
/// assistant, another status, or a number already bought). What the saga already did (the
/// assistant at the voice platform) stays recorded, so its next run only buys and attaches.
pub async fn retry_number(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    country: &str,
    area_code: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = on_tx!(tx, |c| {
        sqlx::query(
            "UPDATE assistants SET status = 'provisioning', failure_reason = NULL, phone_country = $1, \
             area_code = $2, updated_at = $3 WHERE org_id = $4 AND id = $5 AND status = 'failed' \
             AND phone_number IS NULL AND twilio_number_sid IS NULL",
        )
        .bind(country)
        .bind(area_code)
        .bind(super::now_micros(now))
        .bind(org_id)
        .bind(id)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

/// Moves a live assistant to `deleting` inside `tx`; false when none matched.
pub async fn mark_deleting(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = on_tx!(tx, |c| {
        sqlx::query(
        "UPDATE assistants SET status = 'deleting', updated_at = $1 WHERE org_id = $2 AND id = $3 \
         AND status IN ('provisioning', 'active', 'failed')"
    )
    .bind(super::now_micros(now))
    .bind(org_id)
    .bind(id)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

/// One recorded fact of the provisioning saga.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<'a> {
    /// The assistant exists at the voice platform.
    VapiAssistantCreated(&'a str),
    /// The number was bought: its SID and E.164 form.
    NumberBought { sid: &'a str, number: &'a str },
    /// The number was imported into the voice platform.
    NumberImported(&'a str),
    /// The voice platform has this config version.
    Synced(i64),
    /// Everything is in place.
    Activated,
    /// Provisioning failed for good.
    Failed(&'a str),
    /// Removed from the providers.
    Deleted,
    /// The number was released at the telephony provider.
    NumberReleased,
    /// The assistant was removed from the voice platform.
    VapiAssistantDeleted,
}

/// Records one step for assistant `id` of `org_id`.
pub async fn record(
    db: &Db,
    org_id: &str,
    id: &str,
    step: Step<'_>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    // Each statement takes its own values first, then `updated_at`, `org_id` and `id`.
    let (sql, values): (&'static str, Vec<String>) = match step {
        Step::VapiAssistantCreated(v) => (
            "UPDATE assistants SET vapi_assistant_id = $1, updated_at = $2 WHERE org_id = $3 AND id = $4",
            vec![v.into()],
        ),
        Step::NumberBought { sid, number } => (
            "UPDATE assistants SET twilio_number_sid = $1, phone_number = $2, updated_at = $3 WHERE org_id = $4 AND id = $5",
            vec![sid.into(), number.into()],
        ),
        Step::NumberImported(v) => (
            "UPDATE assistants SET vapi_phone_number_id = $1, updated_at = $2 WHERE org_id = $3 AND id = $4",
            vec![v.into()],
        ),
        Step::Synced(version) => return record_synced(db, org_id, id, version, now).await,
        Step::Activated => (
            "UPDATE assistants SET status = 'active', failure_reason = NULL, updated_at = $1 WHERE org_id = $2 AND id = $3 AND status = 'provisioning'",
            vec![],
        ),
        Step::Failed(reason) => (
            "UPDATE assistants SET status = 'failed', failure_reason = $1, updated_at = $2 WHERE org_id = $3 AND id = $4 AND status = 'provisioning'",
            vec![reason.into()],
        ),
        Step::Deleted => (
            "UPDATE assistants SET status = 'deleted', updated_at = $1 WHERE org_id = $2 AND id = $3",
            vec![],
        ),
        Step::NumberReleased => (
            "UPDATE assistants SET twilio_number_sid = NULL, vapi_phone_number_id = NULL, updated_at = $1 WHERE org_id = $2 AND id = $3",
            vec![],
        ),
        Step::VapiAssistantDeleted => (
            "UPDATE assistants SET vapi_assistant_id = NULL, updated_at = $1 WHERE org_id = $2 AND id = $3",
            vec![],
        ),
    };
    let now = super::now_micros(now);
    on_pool!(db, |p| {
        let mut q = sqlx::query(sql);
        for v in &values {
            q = q.bind(v);
        }
        q.bind(now)
            .bind(org_id)
            .bind(id)
            .execute(p)
            .await
            .map(|_| ())
    })?;
    Ok(())
}

async fn record_synced(
    db: &Db,
    org_id: &str,
    id: &str,
    version: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_pool!(db, |p| {
        sqlx::query(
        "UPDATE assistants SET synced_version = $1, updated_at = $2 WHERE org_id = $3 AND id = $4 AND synced_version < $1"
    )
    .bind(version)
    .bind(super::now_micros(now))
    .bind(org_id)
    .bind(id)
    .execute(p)
    .await
    .map(|_| ())
    })?;
    Ok(())
}
