//! Organisations: the tenants. Every tenant-owned row carries an `org_id`.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Db, StoreError, Tx};
use crate::domain::ids::new_id;
use zencall_queue::{on_pool, on_tx};

/// An organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Organisation {
    /// `org_...`
    pub id: String,
    /// Display name.
    pub name: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// Creates an organisation inside `tx`.
pub async fn create(
    tx: &mut Tx,
    name: &str,
    now: DateTime<Utc>,
) -> Result<Organisation, StoreError> {
    let org = Organisation {
        id: new_id("org"),
        name: name.to_string(),
        created_at: super::now_micros(now),
    };
    on_tx!(tx, |c| sqlx::query(
        "INSERT INTO organisations (id, name, created_at) VALUES ($1, $2, $3)"
    )
    .bind(&org.id)
    .bind(&org.name)
    .bind(org.created_at)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(org)
}

/// Marks whether organisation `id` operates the platform: the admin keys of such an
/// organisation, and only those, may sign in to the queue board.
pub async fn set_operates_platform(
    tx: &mut Tx,
    id: &str,
    operates: bool,
) -> Result<bool, StoreError> {
    let n = on_tx!(tx, |c| sqlx::query(
        "UPDATE organisations SET operates_platform = $1 WHERE id = $2"
    )
    .bind(operates)
    .bind(id)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// True when organisation `id` exists and operates the platform.
pub async fn operates_platform(db: &Db, id: &str) -> Result<bool, StoreError> {
    let found: Option<bool> = on_pool!(db, |p| sqlx::query_scalar(
        "SELECT operates_platform FROM organisations WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(p)
    .await)?;
    Ok(found.unwrap_or(false))
}

/// Finds an organisation by id.
pub async fn find(db: &Db, id: &str) -> Result<Option<Organisation>, StoreError> {
    Ok(on_pool!(db, |p| sqlx::query_as::<_, Organisation>(
        "SELECT id, name, created_at FROM organisations WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(p)
    .await)?)
}

/// Counts organisations (zero on a new database).
pub async fn count(db: &Db) -> Result<i64, StoreError> {
    Ok(on_pool!(db, |p| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM organisations"
    )
    .fetch_one(p)
    .await)?)
}
