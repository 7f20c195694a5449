//! Each organisation's configurators, one per language: the onboarding voice assistant, where
//! it stands at the voice platform, and the API key its MCP tool server is called with.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Db, StoreError, Tx};
use crate::domain::ids::new_id;
use crate::domain::sector::Language;
use zencall_queue::{on_pool, on_tx};

/// Where a configurator stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfiguratorStatus {
    /// Being created or changed at the voice platform.
    Provisioning,
    /// Ready to take calls.
    Active,
    /// Its last provisioning failed; `failure_reason` says why.
    Failed,
    /// Being removed from the voice platform, its key revoked; gone afterwards.
    Deleting,
}

impl ConfiguratorStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ConfiguratorStatus::Provisioning => "provisioning",
            ConfiguratorStatus::Active => "active",
            ConfiguratorStatus::Failed => "failed",
            ConfiguratorStatus::Deleting => "deleting",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "provisioning" => Ok(ConfiguratorStatus::Provisioning),
            "active" => Ok(ConfiguratorStatus::Active),
            "failed" => Ok(ConfiguratorStatus::Failed),
            "deleting" => Ok(ConfiguratorStatus::Deleting),
            other => Err(StoreError::Corrupt(format!("configurator status {other}"))),
        }
    }
}

/// A stored configurator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Configurator {
    /// `cfg_...`
    pub id: String,
    /// Owning organisation.
    pub org_id: String,
    /// The language it speaks.
    pub language: Language,
    /// Where it stands.
    pub status: ConfiguratorStatus,
    /// The voice platform's id, once created.
    pub voice_assistant_id: Option<String>,
    /// The API key its tool server is called with (`key_...`), once made.
    pub api_key_id: Option<String>,
    /// Where its tools are served.
    pub mcp_url: String,
    /// Why the last provisioning failed.
    pub failure_reason: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    org_id: String,
    language: String,
    status: String,
    voice_assistant_id: Option<String>,
    api_key_id: Option<String>,
    mcp_url: String,
    failure_reason: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<Row> for Configurator {
    type Error = StoreError;

    fn try_from(r: Row) -> Result<Self, StoreError> {
        let language = Language::parse_code(&r.language)
            .ok_or_else(|| StoreError::Corrupt(format!("configurator language {}", r.language)))?;
        Ok(Configurator {
            id: r.id,
            org_id: r.org_id,
            language,
            status: ConfiguratorStatus::parse(&r.status)?,
            voice_assistant_id: r.voice_assistant_id,
            api_key_id: r.api_key_id,
            mcp_url: r.mcp_url,
            failure_reason: r.failure_reason,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const COLUMNS: &str = "id, org_id, language, status, voice_assistant_id, api_key_id, mcp_url, \
                       failure_reason, created_at, updated_at";

/// Marks the organisation's configurator in `language` as `provisioning` with tools at
/// `mcp_url`, creating it when there is none; inside `tx`, where the caller queues the job that
/// provisions it. The flag says whether it changed: false when it was already provisioning
/// (its job is queued already) or is being deleted (nothing is queued then).
pub async fn request(
    tx: &mut Tx,
    org_id: &str,
    language: Language,
    mcp_url: &str,
    now: DateTime<Utc>,
) -> Result<(Configurator, bool), StoreError> {
    let now = super::now_micros(now);
    let code = language.code();
    // The row lock taken here makes a concurrent request wait, then find it provisioning.
    let update = format!(
        "UPDATE configurators SET status = 'provisioning', mcp_url = $1, failure_reason = NULL, \
         updated_at = $2 WHERE org_id = $3 AND language = $4 \
         AND status NOT IN ('provisioning', 'deleting') RETURNING {COLUMNS}"
    );
    let insert = format!(
        "INSERT INTO configurators (id, org_id, language, status, mcp_url, created_at, updated_at) \
         VALUES ($1, $2, $3, 'provisioning', $4, $5, $5) \
         ON CONFLICT (org_id, language) DO NOTHING RETURNING {COLUMNS}"
    );
    let select = format!("SELECT {COLUMNS} FROM configurators WHERE org_id = $1 AND language = $2");
    let id = new_id("cfg");
    let row = on_tx!(tx, |c| {
        let updated = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(update.clone()))
            .bind(mcp_url)
            .bind(now)
            .bind(org_id)
            .bind(code)
            .fetch_optional(&mut *c)
            .await?;
        if let Some(row) = updated {
            Ok((row, true))
        } else if let Some(row) = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(insert.clone()))
            .bind(&id)
            .bind(org_id)
            .bind(code)
            .bind(mcp_url)
            .bind(now)
            .fetch_optional(&mut *c)
            .await?
        {
            Ok((row, true))
        } else {
            sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(select.clone()))
                .bind(org_id)
                .bind(code)
                .fetch_one(&mut *c)
                .await
                .map(|row| (row, false))
        }
    })?;
    Ok((row.0.try_into()?, row.1))
}

/// The configurator `id`, whichever organisation owns it.
pub async fn find(db: &Db, id: &str) -> Result<Option<Configurator>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM configurators WHERE id = $1");
    let row = on_pool!(db, |p| {
        sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.clone()))
            .bind(id)
            .fetch_optional(p)
            .await
    })?;
    row.map(Configurator::try_from).transpose()
}

/// The organisation's configurator in `language`, if it has one.
pub async fn find_by_language(
    db: &Db,
    org_id: &str,
    language: Language,
) -> Result<Option<Configurator>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM configurators WHERE org_id = $1 AND language = $2");
    let row = on_pool!(db, |p| {
        sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.clone()))
            .bind(org_id)
            .bind(language.code())
            .fetch_optional(p)
            .await
    })?;
    row.map(Configurator::try_from).transpose()
}

/// The organisation's configurators, by language.
pub async fn list(db: &Db, org_id: &str) -> Result<Vec<Configurator>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM configurators WHERE org_id = $1 ORDER BY language");
    let rows = on_pool!(db, |p| {
        sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.clone()))
            .bind(org_id)
            .fetch_all(p)
            .await
    })?;
    rows.into_iter().map(Configurator::try_from).collect()
}

/// Records the key a provisioning made for the configurator's tool server, inside `tx` (where
/// the key is created and the previous one revoked). False, and nothing changed, when the
/// configurator is no longer provisioning (it is being deleted).
pub async fn set_key(
    tx: &mut Tx,
    id: &str,
    api_key_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = on_tx!(tx, |c| {
        sqlx::query(
            "UPDATE configurators SET api_key_id = $1, updated_at = $2 \
             WHERE id = $3 AND status = 'provisioning'",
        )
        .bind(api_key_id)
        .bind(super::now_micros(now))
        .bind(id)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

/// Records that the configurator is `active` at the voice platform as `voice_assistant_id`.
/// False, and nothing changed, when it is no longer provisioning (it is being deleted).
pub async fn activate(
    db: &Db,
    id: &str,
    voice_assistant_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = on_pool!(db, |p| {
        sqlx::query(
            "UPDATE configurators SET status = 'active', voice_assistant_id = $1, \
             failure_reason = NULL, updated_at = $2 WHERE id = $3 AND status = 'provisioning'",
        )
        .bind(voice_assistant_id)
        .bind(super::now_micros(now))
        .bind(id)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

/// Records that the configurator's provisioning failed, and why (unless it is being deleted).
pub async fn fail(db: &Db, id: &str, reason: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
    on_pool!(db, |p| {
        sqlx::query(
            "UPDATE configurators SET status = 'failed', failure_reason = $1, updated_at = $2 \
             WHERE id = $3 AND status = 'provisioning'",
        )
        .bind(reason)
        .bind(super::now_micros(now))
        .bind(id)
        .execute(p)
        .await
        .map(|_| ())
    })?;
    Ok(())
}

/// Marks the organisation's configurator in `language` as `deleting`, inside `tx` (with the job
/// that removes it). The configurator, or none when there is none; the flag says whether it
/// changed (false when it was being deleted already).
pub async fn mark_deleting(
    tx: &mut Tx,
    org_id: &str,
    language: Language,
    now: DateTime<Utc>,
) -> Result<Option<(Configurator, bool)>, StoreError> {
    let code = language.code();
    let update = format!(
        "UPDATE configurators SET status = 'deleting', updated_at = $1 \
         WHERE org_id = $2 AND language = $3 AND status <> 'deleting' RETURNING {COLUMNS}"
    );
    let select = format!("SELECT {COLUMNS} FROM configurators WHERE org_id = $1 AND language = $2");
    let now = super::now_micros(now);
    let row = on_tx!(tx, |c| {
        let updated = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(update.clone()))
            .bind(now)
            .bind(org_id)
            .bind(code)
            .fetch_optional(&mut *c)
            .await?;
        match updated {
            Some(row) => Ok(Some((row, true))),
            None => sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(select.clone()))
                .bind(org_id)
                .bind(code)
                .fetch_optional(&mut *c)
                .await
                .map(|row| row.map(|r| (r, false))),
        }
    })?;
    row.map(|(r, changed)| Ok((Configurator::try_from(r)?, changed)))
        .transpose()
}

/// Removes a configurator that was being deleted; false if there was none.
pub async fn remove(db: &Db, id: &str) -> Result<bool, StoreError> {
    let n = on_pool!(db, |p| {
        sqlx::query("DELETE FROM configurators WHERE id = $1 AND status = 'deleting'")
            .bind(id)
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
    use crate::store::organisations;
    use crate::store::test_db::TestDb;

    #[tokio::test]
    async fn one_configurator_per_language_requested_again_goes_back_to_provisioning() {
        for t in TestDb::all().await {
            let db = &t.db;
            let now = Utc::now();
            let mut tx = db.begin().await.unwrap();
            let org = organisations::create(&mut tx, "Petit", now).await.unwrap();
            let (fr, queued) = request(&mut tx, &org.id, Language::Fr, "https://a/mcp", now)
                .await
                .unwrap();
            assert!(queued, "a new configurator is provisioned");
            let (again, queued) = request(&mut tx, &org.id, Language::Fr, "https://a/mcp", now)
                .await
                .unwrap();
            assert!(!queued, "one already provisioning is not queued twice");
            assert_eq!(again.id, fr.id);
            let (en, _) = request(&mut tx, &org.id, Language::En, "https://a/mcp", now)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            assert_ne!(fr.id, en.id);
            assert_eq!(fr.status, ConfiguratorStatus::Provisioning);

            fail(db, &fr.id, "Vapi refused: bad voice", now)
                .await
                .unwrap();
            let failed = find(db, &fr.id).await.unwrap().unwrap();
            assert_eq!(failed.status, ConfiguratorStatus::Failed);
            assert_eq!(
                failed.failure_reason.as_deref(),
                Some("Vapi refused: bad voice")
            );

            let mut tx = db.begin().await.unwrap();
            let (again, queued) = request(&mut tx, &org.id, Language::Fr, "https://b/mcp", now)
                .await
                .unwrap();
            assert!(queued, "a failed configurator is provisioned again");
            assert!(set_key(&mut tx, &again.id, "key_1", now).await.unwrap());
            tx.commit().await.unwrap();
            assert_eq!(again.id, fr.id, "the same configurator, provisioned again");
            assert_eq!(again.status, ConfiguratorStatus::Provisioning);
            assert_eq!(again.failure_reason, None);
            assert_eq!(again.mcp_url, "https://b/mcp");

            assert!(activate(db, &fr.id, "vapi-1", now).await.unwrap());
            let active = find_by_language(db, &org.id, Language::Fr)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(active.status, ConfiguratorStatus::Active);
            assert_eq!(active.voice_assistant_id.as_deref(), Some("vapi-1"));
            assert_eq!(active.api_key_id.as_deref(), Some("key_1"));
            let mut tx = db.begin().await.unwrap();
            let (deleting, changed) = mark_deleting(&mut tx, &org.id, Language::En, now)
                .await
                .unwrap()
                .unwrap();
            assert!(changed);
            assert_eq!(deleting.status, ConfiguratorStatus::Deleting);
            let (_, changed) = mark_deleting(&mut tx, &org.id, Language::En, now)
                .await
                .unwrap()
                .unwrap();
            assert!(!changed, "deleting twice changes nothing");
            let (_, queued) = request(&mut tx, &org.id, Language::En, "https://a/mcp", now)
                .await
                .unwrap();
            assert!(!queued, "one being deleted is not provisioned");
            assert!(!set_key(&mut tx, &en.id, "key_2", now).await.unwrap());
            tx.commit().await.unwrap();
            assert!(!activate(db, &en.id, "vapi-2", now).await.unwrap());
            assert!(remove(db, &en.id).await.unwrap());
            assert!(find(db, &en.id).await.unwrap().is_none());
            let listed: Vec<_> = list(db, &org.id)
                .await
                .unwrap()
                .into_iter()
                .map(|c| c.language)
                .collect();
            assert_eq!(listed, [Language::Fr]);
        }
    }
}
