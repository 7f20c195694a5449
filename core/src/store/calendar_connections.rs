//! Calendar connections: one Google account of one organisation, its tokens sealed at rest
//! (the store never sees them in clear), the calendar it syncs, and where its sync stands.
//! Connecting the same account again updates its row, so an organisation has one connection
//! per account.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Db, StoreError, Tx};
use crate::domain::ids::new_id;
use zencall_queue::{on_pool, on_tx};

/// Where a connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    /// Synced and usable.
    Active,
    /// The grant is gone (revoked or expired): the owner must connect again.
    NeedsReconnect,
    /// Disconnected by the organisation: tokens revoked and forgotten.
    Disconnected,
}

impl ConnectionStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionStatus::Active => "active",
            ConnectionStatus::NeedsReconnect => "needs_reconnect",
            ConnectionStatus::Disconnected => "disconnected",
        }
    }

    /// Parses a stored name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "active" => Some(ConnectionStatus::Active),
            "needs_reconnect" => Some(ConnectionStatus::NeedsReconnect),
            "disconnected" => Some(ConnectionStatus::Disconnected),
            _ => None,
        }
    }
}

/// One calendar of the account, as last listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarEntry {
    /// The calendar's id at Google (the primary calendar's is the account's address).
    pub id: String,
    /// Its title.
    pub summary: String,
    /// True for the account's primary calendar.
    pub primary: bool,
    /// Its IANA time zone, when known.
    pub time_zone: Option<String>,
    /// The account's role on it (`owner`, `writer`, `reader`, `freeBusyReader`...).
    pub access_role: Option<String>,
    /// True when appointments can be written to it.
    pub writable: bool,
}

/// A connection as stored; tokens only sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// `ccon_...`
    pub id: String,
    /// Owning organisation.
    pub org_id: String,
    /// The Google account (its address).
    pub account: String,
    /// Where it stands.
    pub status: ConnectionStatus,
    /// Why it is not active, for a person to read.
    pub status_reason: Option<String>,
    /// The refresh token, sealed; `None` once disconnected.
    pub sealed_refresh_token: Option<String>,
    /// The access token, sealed; `None` once disconnected.
    pub sealed_access_token: Option<String>,
    /// When the access token expires.
    pub access_expires_at: Option<DateTime<Utc>>,
    /// The granted scopes.
    pub scopes: Vec<String>,
    /// The account's calendars as last listed.
    pub calendars: Vec<CalendarEntry>,
    /// The calendar synced.
    pub calendar_id: String,
    /// The token of the next incremental sync; `None` until a full sync completes.
    pub sync_token: Option<String>,
    /// Bumped when a sync starts.
    pub sync_generation: i64,
    /// When a sync last completed.
    pub last_synced_at: Option<DateTime<Utc>>,
    /// When the account was last connected (or connected again).
    pub connected_at: DateTime<Utc>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Connection {
    /// The calendar `id` among the account's calendars.
    pub fn calendar(&self, id: &str) -> Option<&CalendarEntry> {
        self.calendars.iter().find(|c| c.id == id)
    }
}

#[derive(sqlx::FromRow)]
struct ConnectionRow {
    id: String,
    org_id: String,
    account: String,
    status: String,
    status_reason: Option<String>,
    sealed_refresh_token: Option<String>,
    sealed_access_token: Option<String>,
    access_expires_at: Option<DateTime<Utc>>,
    scopes: String,
    calendars: String,
    calendar_id: String,
    sync_token: Option<String>,
    sync_generation: i64,
    last_synced_at: Option<DateTime<Utc>>,
    connected_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, org_id, account, status, status_reason, sealed_refresh_token, \
    sealed_access_token, access_expires_at, scopes, calendars, calendar_id, sync_token, \
    sync_generation, last_synced_at, connected_at, created_at, updated_at";

impl TryFrom<ConnectionRow> for Connection {
    type Error = StoreError;
    fn try_from(r: ConnectionRow) -> Result<Self, StoreError> {
        let corrupt =
            |what: &str| StoreError::Corrupt(format!("calendar connection {}: {what}", r.id));
        Ok(Connection {
            status: ConnectionStatus::parse(&r.status).ok_or_else(|| corrupt("status"))?,
            calendars: serde_json::from_str(&r.calendars).map_err(|_| corrupt("calendars"))?,
            scopes: r.scopes.split_whitespace().map(str::to_string).collect(),
            id: r.id,
            org_id: r.org_id,
            account: r.account,
            status_reason: r.status_reason,
            sealed_refresh_token: r.sealed_refresh_token,
            sealed_access_token: r.sealed_access_token,
            access_expires_at: r.access_expires_at,
            calendar_id: r.calendar_id,
            sync_token: r.sync_token,
            sync_generation: r.sync_generation,
            last_synced_at: r.last_synced_at,
            connected_at: r.connected_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

fn encode_calendars(calendars: &[CalendarEntry]) -> Result<String, StoreError> {
    serde_json::to_string(calendars).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// What a completed OAuth flow gives.
#[derive(Debug, Clone)]
pub struct Connected<'a> {
    /// The organisation the state was bound to.
    pub org_id: &'a str,
    /// The Google account.
    pub account: &'a str,
    /// The calendars it has.
    pub calendars: &'a [CalendarEntry],
    /// The calendar to sync when the account is new (an existing connection keeps its own if
    /// the account still has it).
    pub default_calendar_id: &'a str,
    /// The granted scopes.
    pub scopes: &'a [String],
}

/// The id a new connection will get; the caller seals its tokens for this id before
/// [`upsert_connected`] (a reconnection keeps its existing id: see [`find_by_account`]).
pub fn new_connection_id() -> String {
    new_id("ccon")
}

/// Stores a connection made (or made again) with sealed tokens, active, its sync starting
/// over; returns it. `id` is used when the account is new to the organisation.
pub async fn upsert_connected(
    tx: &mut Tx,
    id: &str,
    c: &Connected<'_>,
    sealed_refresh_token: &str,
    sealed_access_token: &str,
    access_expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Connection, StoreError> {
    let now = super::now_micros(now);
    let calendars = encode_calendars(c.calendars)?;
    let scopes = c.scopes.join(" ");
    let sql = format!(
        "INSERT INTO calendar_connections (id, org_id, account, status, status_reason, sealed_refresh_token, \
         sealed_access_token, access_expires_at, scopes, calendars, calendar_id, sync_token, sync_generation, \
         last_synced_at, connected_at, created_at, updated_at) \
         VALUES ($1, $2, $3, 'active', NULL, $4, $5, $6, $7, $8, $9, NULL, 0, NULL, $10, $10, $10) \
         ON CONFLICT (org_id, account) DO UPDATE SET status = 'active', status_reason = NULL, \
         sealed_refresh_token = excluded.sealed_refresh_token, sealed_access_token = excluded.sealed_access_token, \
         access_expires_at = excluded.access_expires_at, scopes = excluded.scopes, calendars = excluded.calendars, \
         sync_token = NULL, connected_at = excluded.connected_at, updated_at = excluded.updated_at \
         RETURNING {COLUMNS}"
    );
    let row = on_tx!(tx, |t| sqlx::query_as::<_, ConnectionRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(id)
    .bind(c.org_id)
    .bind(c.account)
    .bind(sealed_refresh_token)
    .bind(sealed_access_token)
    .bind(super::now_micros(access_expires_at))
    .bind(&scopes)
    .bind(&calendars)
    .bind(c.default_calendar_id)
    .bind(now)
    .fetch_one(t)
    .await)?;
    let connection = Connection::try_from(row)?;
    // A reconnected account that lost its synced calendar falls back to the default one.
    if connection.calendar(&connection.calendar_id).is_none() {
        select_calendar(tx, c.org_id, &connection.id, c.default_calendar_id, now).await?;
        return find_in(tx, c.org_id, &connection.id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("a stored connection vanished".into()));
    }
    Ok(connection)
}

/// The connection of `org_id` to `account`, if any.
pub async fn find_by_account(
    db: &Db,
    org_id: &str,
    account: &str,
) -> Result<Option<Connection>, StoreError> {
    let sql =
        format!("SELECT {COLUMNS} FROM calendar_connections WHERE org_id = $1 AND account = $2");
    let row = on_pool!(db, |p| sqlx::query_as::<_, ConnectionRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(org_id)
    .bind(account)
    .fetch_optional(p)
    .await)?;
    row.map(Connection::try_from).transpose()
}

/// The connection `id` of `org_id`.
pub async fn find(db: &Db, org_id: &str, id: &str) -> Result<Option<Connection>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM calendar_connections WHERE org_id = $1 AND id = $2");
    let row = on_pool!(db, |p| sqlx::query_as::<_, ConnectionRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(org_id)
    .bind(id)
    .fetch_optional(p)
    .await)?;
    row.map(Connection::try_from).transpose()
}

/// The connection `id` of `org_id`, inside `tx`.
pub async fn find_in(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
) -> Result<Option<Connection>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM calendar_connections WHERE org_id = $1 AND id = $2");
    let row = on_tx!(tx, |t| sqlx::query_as::<_, ConnectionRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(org_id)
    .bind(id)
    .fetch_optional(t)
    .await)?;
    row.map(Connection::try_from).transpose()
}

/// The connections of `org_id`, newest first.
pub async fn list(db: &Db, org_id: &str) -> Result<Vec<Connection>, StoreError> {
    let sql =
        format!("SELECT {COLUMNS} FROM calendar_connections WHERE org_id = $1 ORDER BY id DESC");
    let rows = on_pool!(db, |p| sqlx::query_as::<_, ConnectionRow>(
        sqlx::AssertSqlSafe(sql.clone())
    )
    .bind(org_id)
    .fetch_all(p)
    .await)?;
    rows.into_iter().map(Connection::try_from).collect()
}

/// Stores a refreshed access token (and a new refresh token when one was given) of an active
/// connection; false when it is no longer active.
pub async fn store_tokens(
    db: &Db,
    org_id: &str,
    id: &str,
    sealed_access_token: &str,
    access_expires_at: DateTime<Utc>,
    sealed_refresh_token: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = on_pool!(db, |p| sqlx::query(
        "UPDATE calendar_connections SET sealed_access_token = $1, access_expires_at = $2, \
         sealed_refresh_token = COALESCE($3, sealed_refresh_token), updated_at = $4 \
         WHERE org_id = $5 AND id = $6 AND status = 'active'"
    )
    .bind(sealed_access_token)
    .bind(super::now_micros(access_expires_at))
    .bind(sealed_refresh_token)
    .bind(super::now_micros(now))
    .bind(org_id)
    .bind(id)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Moves an active connection to `needs_reconnect` with `reason`; false when it was not
/// active (so the caller announces the change once).
pub async fn mark_needs_reconnect(
    db: &Db,
    org_id: &str,
    id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = on_pool!(db, |p| sqlx::query(
        "UPDATE calendar_connections SET status = 'needs_reconnect', status_reason = $1, \
         sealed_access_token = NULL, access_expires_at = NULL, updated_at = $2 \
         WHERE org_id = $3 AND id = $4 AND status = 'active'"
    )
    .bind(reason)
    .bind(super::now_micros(now))
    .bind(org_id)
    .bind(id)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Marks a connection disconnected, forgetting its tokens and sync token, inside `tx`; false
/// when it was already disconnected or does not exist.
pub async fn mark_disconnected(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = on_tx!(tx, |t| {
        sqlx::query(
        "UPDATE calendar_connections SET status = 'disconnected', status_reason = 'disconnected by the organisation', \
         sealed_refresh_token = NULL, sealed_access_token = NULL, access_expires_at = NULL, sync_token = NULL, \
         updated_at = $1 WHERE org_id = $2 AND id = $3 AND status <> 'disconnected'"
    )
    .bind(super::now_micros(now))
    .bind(org_id)
    .bind(id)
    .execute(t)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

/// Replaces the list of the account's calendars.
pub async fn store_calendars(
    db: &Db,
    org_id: &str,
    id: &str,
    calendars: &[CalendarEntry],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let calendars = encode_calendars(calendars)?;
    on_pool!(db, |p| {
        sqlx::query(
        "UPDATE calendar_connections SET calendars = $1, updated_at = $2 WHERE org_id = $3 AND id = $4"
    )
    .bind(&calendars)
    .bind(super::now_micros(now))
    .bind(org_id)
    .bind(id)
    .execute(p)
    .await
    .map(|_| ())
    })?;
    Ok(())
}

/// Makes `calendar_id` the connection's synced calendar inside `tx`. When it changes, the
/// sync starts over: the sync token and the synced events are dropped. Returns whether it
/// changed.
pub async fn select_calendar(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    calendar_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = on_tx!(tx, |t| sqlx::query(
        "UPDATE calendar_connections SET calendar_id = $1, sync_token = NULL, updated_at = $2 \
         WHERE org_id = $3 AND id = $4 AND calendar_id <> $1"
    )
    .bind(calendar_id)
    .bind(super::now_micros(now))
    .bind(org_id)
    .bind(id)
    .execute(t)
    .await
    .map(|r| r.rows_affected()))?;
    if n == 1 {
        super::calendar_events::delete_all(tx, org_id, id).await?;
    }
    Ok(n == 1)
}

/// Starts a sync: bumps the generation, so a sync asked for from now on is a new job; returns
/// the new generation.
pub async fn begin_sync(db: &Db, org_id: &str, id: &str) -> Result<Option<i64>, StoreError> {
    let generation = on_pool!(db, |p| sqlx::query_scalar::<_, i64>(
        "UPDATE calendar_connections SET sync_generation = sync_generation + 1 \
         WHERE org_id = $1 AND id = $2 RETURNING sync_generation"
    )
    .bind(org_id)
    .bind(id)
    .fetch_optional(p)
    .await)?;
    Ok(generation)
}

/// Records the end of a sync inside `tx` (with the events it wrote): the next incremental
/// sync starts from `sync_token`. Only if the connection still syncs `calendar_id` and its
/// sync token is still `expected` (another run did not move it meanwhile); returns whether
/// it was recorded.
pub async fn finish_sync(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    calendar_id: &str,
    expected: Option<&str>,
    sync_token: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = on_tx!(tx, |t| sqlx::query(
        "UPDATE calendar_connections SET sync_token = $1, last_synced_at = $2, updated_at = $2 \
         WHERE org_id = $3 AND id = $4 AND calendar_id = $5 AND status = 'active' \
         AND (sync_token = $6 OR (sync_token IS NULL AND $6 IS NULL))"
    )
    .bind(sync_token)
    .bind(super::now_micros(now))
    .bind(org_id)
    .bind(id)
    .bind(calendar_id)
    .bind(expected)
    .execute(t)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Forgets the sync token (Google said it expired) and the synced events inside `tx`.
pub async fn restart_sync(tx: &mut Tx, org_id: &str, id: &str) -> Result<(), StoreError> {
    on_tx!(tx, |t| sqlx::query(
        "UPDATE calendar_connections SET sync_token = NULL WHERE org_id = $1 AND id = $2"
    )
    .bind(org_id)
    .bind(id)
    .execute(t)
    .await
    .map(|_| ()))?;
    super::calendar_events::delete_all(tx, org_id, id).await
}
