//! Push-notification channels on the calendars of connections. A channel is recorded
//! `pending` before Google is asked to open it (so its first notification can be verified),
//! `active` once open; a renewal marks the previous one `replaced` until it is stopped. Only
//! the SHA-256 of each channel's token is kept.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::{Db, StoreError};
use zencall_queue::on_pool;

/// The SHA-256 of a channel's token, hex: what is stored, and what a notification's token is
/// compared with.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

/// Where a channel stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelStatus {
    /// Recorded; Google is being asked to open it.
    Pending,
    /// Open: its notifications trigger syncs.
    Active,
    /// A newer channel took over; to be stopped.
    Replaced,
    /// Stopped (or known gone).
    Stopped,
}

impl ChannelStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelStatus::Pending => "pending",
            ChannelStatus::Active => "active",
            ChannelStatus::Replaced => "replaced",
            ChannelStatus::Stopped => "stopped",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        [
            ChannelStatus::Pending,
            ChannelStatus::Active,
            ChannelStatus::Replaced,
            ChannelStatus::Stopped,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    /// Our id for it, given to Google.
    pub id: String,
    /// Owning organisation.
    pub org_id: String,
    /// The connection whose calendar it watches.
    pub connection_id: String,
    /// The calendar watched.
    pub calendar_id: String,
    /// SHA-256 of its token, hex.
    pub token_hash: String,
    /// Google's id of the watched resource, once open.
    pub resource_id: Option<String>,
    /// Where it stands.
    pub status: ChannelStatus,
    /// When Google stops it by itself.
    pub expires_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct ChannelRow {
    id: String,
    org_id: String,
    connection_id: String,
    calendar_id: String,
    token_hash: String,
    resource_id: Option<String>,
    status: String,
    expires_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, org_id, connection_id, calendar_id, token_hash, resource_id, status, expires_at, created_at";

impl TryFrom<ChannelRow> for Channel {
    type Error = StoreError;
    fn try_from(r: ChannelRow) -> Result<Self, StoreError> {
        Ok(Channel {
            status: ChannelStatus::parse(&r.status)
                .ok_or_else(|| StoreError::Corrupt(format!("calendar channel {}: status", r.id)))?,
            id: r.id,
            org_id: r.org_id,
            connection_id: r.connection_id,
            calendar_id: r.calendar_id,
            token_hash: r.token_hash,
            resource_id: r.resource_id,
            expires_at: r.expires_at,
            created_at: r.created_at,
        })
    }
}

/// Records a channel about to be opened, `pending`.
pub async fn insert_pending(
    db: &Db,
    id: &str,
    org_id: &str,
    connection_id: &str,
    calendar_id: &str,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_pool!(db, |p| {
        sqlx::query(
        "INSERT INTO calendar_channels (id, org_id, connection_id, calendar_id, token_hash, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6)"
    )
    .bind(id)
    .bind(org_id)
    .bind(connection_id)
    .bind(calendar_id)
    .bind(token_hash)
    .bind(super::now_micros(now))
    .execute(p)
    .await
    .map(|_| ())
    })?;
    Ok(())
}

/// Marks a channel open with Google's resource id and expiry, and every other live channel of
/// its connection `replaced`, in one transaction.
pub async fn activate(
    db: &Db,
    org_id: &str,
    id: &str,
    resource_id: &str,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let now = super::now_micros(now);
    let mut tx = db.begin().await?;
    zencall_queue::on_tx!(&mut tx, |t| {
        let activated = sqlx::query(
            "UPDATE calendar_channels SET status = 'active', resource_id = $1, expires_at = $2, updated_at = $3 \
             WHERE org_id = $4 AND id = $5 AND status = 'pending'",
        )
        .bind(resource_id)
        .bind(expires_at.map(super::now_micros))
        .bind(now)
        .bind(org_id)
        .bind(id)
        .execute(&mut *t)
        .await?;
        if activated.rows_affected() == 1 {
            sqlx::query(
                "UPDATE calendar_channels SET status = 'replaced', updated_at = $1 \
                 WHERE org_id = $2 AND status = 'active' AND id <> $3 AND connection_id = \
                 (SELECT connection_id FROM calendar_channels WHERE id = $3)",
            )
            .bind(now)
            .bind(org_id)
            .bind(id)
            .execute(&mut *t)
            .await?;
        }
        Ok::<(), sqlx::Error>(())
    })?;
    tx.commit().await?;
    Ok(())
}

/// Marks a channel `stopped`.
pub async fn mark_stopped(
    db: &Db,
    org_id: &str,
    id: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_pool!(db, |p| {
        sqlx::query(
        "UPDATE calendar_channels SET status = 'stopped', updated_at = $1 WHERE org_id = $2 AND id = $3"
    )
    .bind(super::now_micros(now))
    .bind(org_id)
    .bind(id)
    .execute(p)
    .await
    .map(|_| ())
    })?;
    Ok(())
}

/// The channel `id`, whatever its organisation (a notification names only the channel).
pub async fn find(db: &Db, id: &str) -> Result<Option<Channel>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM calendar_channels WHERE id = $1");
    let row = on_pool!(db, |p| sqlx::query_as::<_, ChannelRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(id)
    .fetch_optional(p)
    .await)?;
    row.map(Channel::try_from).transpose()
}

/// The channels of a connection not yet stopped, oldest first.
pub async fn live_for_connection(
    db: &Db,
    org_id: &str,
    connection_id: &str,
) -> Result<Vec<Channel>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM calendar_channels WHERE org_id = $1 AND connection_id = $2 \
         AND status <> 'stopped' ORDER BY created_at, id"
    );
    let rows = on_pool!(db, |p| sqlx::query_as::<_, ChannelRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(org_id)
    .bind(connection_id)
    .fetch_all(p)
    .await)?;
    rows.into_iter().map(Channel::try_from).collect()
}

/// Active channels expiring before `before`, of every organisation, at most `limit`.
pub async fn expiring(
    db: &Db,
    before: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<Channel>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM calendar_channels WHERE status = 'active' AND expires_at < $1 \
         ORDER BY expires_at LIMIT $2"
    );
    let rows = on_pool!(db, |p| sqlx::query_as::<_, ChannelRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(super::now_micros(before))
    .bind(i64::from(limit))
    .fetch_all(p)
    .await)?;
    rows.into_iter().map(Channel::try_from).collect()
}

/// Replaced channels still to stop, and pending ones older than `stale_before` (their opening
/// failed), of every organisation, at most `limit`.
pub async fn to_stop(
    db: &Db,
    stale_before: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<Channel>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM calendar_channels WHERE status = 'replaced' \
         OR (status = 'pending' AND created_at < $1) ORDER BY created_at LIMIT $2"
    );
    let rows = on_pool!(db, |p| sqlx::query_as::<_, ChannelRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(super::now_micros(stale_before))
    .bind(i64::from(limit))
    .fetch_all(p)
    .await)?;
    rows.into_iter().map(Channel::try_from).collect()
}
