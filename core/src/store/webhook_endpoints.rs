//! The endpoints our customers register to receive our events. Each has a random signing
//! secret, shown once when it is created; it is kept readable because every delivery is signed
//! with it. A deleted endpoint is kept (its deliveries stay visible) but receives nothing more.

use chrono::{DateTime, Utc};
use rand::RngExt;
use serde::Serialize;

use super::{Db, StoreError, Tx};
use crate::domain::ids::new_id;
use zencall_queue::{on_pool, on_tx};

/// A registered endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebhookEndpoint {
    /// `whep_...`
    pub id: String,
    /// Owning organisation.
    pub org_id: String,
    /// Where events are POSTed.
    pub url: String,
    /// The event types it receives; `["*"]` for all.
    pub event_types: Vec<String>,
    /// A note for people.
    pub description: Option<String>,
    /// Signing secret (`whsec_...`).
    #[serde(skip)]
    pub secret: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Set once deleted.
    pub deleted_at: Option<DateTime<Utc>>,
}

impl WebhookEndpoint {
    /// Whether it receives events of `event_type`.
    pub fn wants(&self, event_type: &str) -> bool {
        self.deleted_at.is_none() && self.event_types.iter().any(|t| t == "*" || t == event_type)
    }
}

#[derive(sqlx::FromRow)]
struct EndpointRow {
    id: String,
    org_id: String,
    url: String,
    event_types: String,
    description: Option<String>,
    secret: String,
    created_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
}

impl From<EndpointRow> for WebhookEndpoint {
    fn from(r: EndpointRow) -> Self {
        WebhookEndpoint {
            id: r.id,
            org_id: r.org_id,
            url: r.url,
            event_types: r
                .event_types
                .split(',')
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect(),
            description: r.description,
            secret: r.secret,
            created_at: r.created_at,
            deleted_at: r.deleted_at,
        }
    }
}

const COLUMNS: &str = "id, org_id, url, event_types, description, secret, created_at, deleted_at";

/// A new signing secret: `whsec_` and 256 random bits in hex.
fn new_secret() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    format!("whsec_{}", hex::encode(bytes))
}

/// What a new endpoint is made of (already validated).
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    /// Where events go.
    pub url: String,
    /// Event types, or `["*"]`.
    pub event_types: Vec<String>,
    /// A note for people.
    pub description: Option<String>,
}

/// Registers an endpoint for `org_id` with a new secret, and returns it (secret included).
pub async fn create(
    db: &Db,
    org_id: &str,
    new: &NewEndpoint,
    now: DateTime<Utc>,
) -> Result<WebhookEndpoint, StoreError> {
    let endpoint = WebhookEndpoint {
        id: new_id("whep"),
        org_id: org_id.to_string(),
        url: new.url.clone(),
        event_types: new.event_types.clone(),
        description: new.description.clone(),
        secret: new_secret(),
        created_at: super::now_micros(now),
        deleted_at: None,
    };
    on_pool!(db, |p| {
        sqlx::query(
            "INSERT INTO webhook_endpoints (id, org_id, url, event_types, description, secret, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&endpoint.id)
        .bind(&endpoint.org_id)
        .bind(&endpoint.url)
        .bind(endpoint.event_types.join(","))
        .bind(&endpoint.description)
        .bind(&endpoint.secret)
        .bind(endpoint.created_at)
        .execute(p)
        .await
        .map(|_| ())
    })?;
    Ok(endpoint)
}

/// The live endpoint `id` of `org_id`.
pub async fn find(db: &Db, org_id: &str, id: &str) -> Result<Option<WebhookEndpoint>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM webhook_endpoints WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL"
    );
    let row = on_pool!(db, |p| sqlx::query_as::<_, EndpointRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(org_id)
    .bind(id)
    .fetch_optional(p)
    .await)?;
    Ok(row.map(WebhookEndpoint::from))
}

/// The endpoint `id`, deleted or not (deliveries need it to know where they were going).
pub async fn find_any(db: &Db, id: &str) -> Result<Option<WebhookEndpoint>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM webhook_endpoints WHERE id = $1");
    let row = on_pool!(db, |p| sqlx::query_as::<_, EndpointRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(id)
    .fetch_optional(p)
    .await)?;
    Ok(row.map(WebhookEndpoint::from))
}

/// Live endpoints of `org_id`, newest first, `limit` of them after the cursor `before`.
pub async fn list(
    db: &Db,
    org_id: &str,
    before: Option<&str>,
    limit: u32,
) -> Result<Vec<WebhookEndpoint>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM webhook_endpoints WHERE org_id = $1 AND deleted_at IS NULL \
         AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
    );
    let rows = on_pool!(db, |p| sqlx::query_as::<_, EndpointRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(org_id)
    .bind(before)
    .bind(i64::from(limit))
    .fetch_all(p)
    .await)?;
    Ok(rows.into_iter().map(WebhookEndpoint::from).collect())
}

/// Live endpoints of `org_id` that receive `event_type`, inside `tx`.
pub async fn subscribed(
    tx: &mut Tx,
    org_id: &str,
    event_type: &str,
) -> Result<Vec<WebhookEndpoint>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM webhook_endpoints WHERE org_id = $1 AND deleted_at IS NULL ORDER BY id"
    );
    let rows = on_tx!(tx, |c| sqlx::query_as::<_, EndpointRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(org_id)
    .fetch_all(c)
    .await)?;
    Ok(rows
        .into_iter()
        .map(WebhookEndpoint::from)
        .filter(|e| e.wants(event_type))
        .collect())
}

/// Deletes the endpoint `id` of `org_id` and cancels its pending deliveries; false when there
/// was no such live endpoint.
pub async fn delete(
    db: &Db,
    org_id: &str,
    id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let now = super::now_micros(now);
    let mut tx = db.begin().await?;
    let deleted = on_tx!(tx, |c| {
        sqlx::query(
        "UPDATE webhook_endpoints SET deleted_at = $1 WHERE org_id = $2 AND id = $3 AND deleted_at IS NULL"
    )
    .bind(now)
    .bind(org_id)
    .bind(id)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    if deleted == 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    on_tx!(tx, |c| {
        sqlx::query(
        "UPDATE webhook_deliveries SET status = 'cancelled', next_attempt_at = NULL, updated_at = $1 \
         WHERE endpoint_id = $2 AND status = 'pending'"
    )
    .bind(now)
    .bind(id)
    .execute(c)
    .await
    .map(|_| ())
    })?;
    tx.commit().await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_prefixed() {
        let a = new_secret();
        assert!(a.starts_with("whsec_"));
        assert_eq!(a.len(), 6 + 64);
        assert_ne!(a, new_secret());
    }
}
