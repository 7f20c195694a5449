//! Calendar connections being made: one row per `state` handed to Google's consent page, kept
//! until the owner comes back to our callback. Only the state's SHA-256 is stored, with the
//! organisation it is bound to and the PKCE verifier (sealed). Consuming a state deletes it,
//! so it serves once, however many times the callback is hit.

use chrono::{DateTime, Utc};

use super::{Db, StoreError};
use zencall_queue::on_pool;

/// A begun connection, as the callback reads it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthState {
    /// The organisation the state is bound to.
    pub org_id: String,
    /// The PKCE verifier, sealed (see [`crate::domain::sealed`]).
    pub sealed_verifier: String,
    /// The redirect URI the code was sent to.
    pub redirect_uri: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// After this the state is refused.
    pub expires_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct StateRow {
    org_id: String,
    sealed_verifier: String,
    redirect_uri: String,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// What a new state row holds.
#[derive(Debug, Clone)]
pub struct NewOAuthState<'a> {
    /// SHA-256 of the state, hex.
    pub state_hash: &'a str,
    /// The organisation connecting.
    pub org_id: &'a str,
    /// The PKCE verifier, sealed.
    pub sealed_verifier: &'a str,
    /// The redirect URI given to Google.
    pub redirect_uri: &'a str,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

/// Stores a begun connection.
pub async fn insert(
    db: &Db,
    new: &NewOAuthState<'_>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_pool!(db, |p| {
        sqlx::query(
        "INSERT INTO calendar_oauth_states (state_hash, org_id, sealed_verifier, redirect_uri, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(new.state_hash)
    .bind(new.org_id)
    .bind(new.sealed_verifier)
    .bind(new.redirect_uri)
    .bind(super::now_micros(now))
    .bind(super::now_micros(new.expires_at))
    .execute(p)
    .await
    .map(|_| ())
    })?;
    Ok(())
}

/// Takes the state whose hash is `state_hash`, deleting it: a second call finds nothing. The
/// caller checks its expiry (an expired state is consumed too, and refused).
pub async fn consume(db: &Db, state_hash: &str) -> Result<Option<OAuthState>, StoreError> {
    let row = on_pool!(db, |p| sqlx::query_as::<_, StateRow>(
        "DELETE FROM calendar_oauth_states WHERE state_hash = $1 \
         RETURNING org_id, sealed_verifier, redirect_uri, created_at, expires_at"
    )
    .bind(state_hash)
    .fetch_optional(p)
    .await)?;
    Ok(row.map(|r| OAuthState {
        org_id: r.org_id,
        sealed_verifier: r.sealed_verifier,
        redirect_uri: r.redirect_uri,
        created_at: r.created_at,
        expires_at: r.expires_at,
    }))
}

/// Deletes the states that expired before `now`; returns how many.
pub async fn prune_expired(db: &Db, now: DateTime<Utc>) -> Result<u64, StoreError> {
    let n = on_pool!(db, |p| sqlx::query(
        "DELETE FROM calendar_oauth_states WHERE expires_at < $1"
    )
    .bind(super::now_micros(now))
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n)
}
