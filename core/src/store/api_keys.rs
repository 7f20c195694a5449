//! API keys: random 256-bit secrets shown once, stored only as a SHA-256 hash.
//!
//! SHA-256 is the right hash here: the secret is random and long, so there is nothing to
//! brute-force, and a slow hash (bcrypt) would cost ~100 ms on every request. The lookup is by
//! hash, and the stored hash is compared again in constant time.

use chrono::{DateTime, Utc};
use rand::RngExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{Db, StoreError, Tx};
use crate::domain::ids::new_id;
use zencall_queue::{on_pool, on_tx};

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Read resources.
    Read,
    /// Read, create, change and delete resources.
    Write,
    /// Everything, including the queue board and key management.
    Admin,
}

impl Scope {
    /// Parses `admin`, `write` or `read`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "admin" => Some(Scope::Admin),
            "write" => Some(Scope::Write),
            "read" => Some(Scope::Read),
            _ => None,
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::Write => "write",
            Scope::Read => "read",
        }
    }

    /// True when a key of this scope may act where `needed` is required.
    pub fn allows(self, needed: Scope) -> bool {
        self >= needed
    }
}

/// A key as stored (never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    /// `key_...`
    pub id: String,
    /// Owning organisation.
    pub org_id: String,
    /// A label.
    pub name: String,
    /// The first characters of the secret, to recognise it.
    pub prefix: String,
    /// What it may do.
    pub scope: Scope,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// A freshly created key with its secret, to show once.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    /// The stored part.
    pub key: ApiKey,
    /// The secret (`zc_...`); not stored anywhere.
    pub secret: String,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: String,
    org_id: String,
    name: String,
    prefix: String,
    key_hash: String,
    scope: String,
    created_at: DateTime<Utc>,
}

impl KeyRow {
    fn into_key(self) -> Result<ApiKey, StoreError> {
        let scope = Scope::parse(&self.scope)
            .ok_or_else(|| StoreError::Corrupt(format!("api key scope {}", self.scope)))?;
        Ok(ApiKey {
            id: self.id,
            org_id: self.org_id,
            name: self.name,
            prefix: self.prefix,
            scope,
            created_at: self.created_at,
        })
    }
}

/// The hex SHA-256 of a secret.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn new_secret() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    format!("zc_{}", hex::encode(bytes))
}

/// Creates a key for `org_id` inside `tx`, returning its secret once.
pub async fn create(
    tx: &mut Tx,
    org_id: &str,
    name: &str,
    scope: Scope,
    now: DateTime<Utc>,
) -> Result<CreatedKey, StoreError> {
    let secret = new_secret();
    let key = ApiKey {
        id: new_id("key"),
        org_id: org_id.to_string(),
        name: name.to_string(),
        prefix: secret.chars().take(10).collect(),
        scope,
        created_at: super::now_micros(now),
    };
    let hash = hash_secret(&secret);
    on_tx!(tx, |c| {
        sqlx::query(
        "INSERT INTO api_keys (id, org_id, name, prefix, key_hash, scope, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )
    .bind(&key.id)
    .bind(&key.org_id)
    .bind(&key.name)
    .bind(&key.prefix)
    .bind(&hash)
    .bind(scope.as_str())
    .bind(key.created_at)
    .execute(c)
    .await
    .map(|_| ())
    })?;
    Ok(CreatedKey { key, secret })
}

/// Finds the live key whose secret is `secret`.
pub async fn authenticate(db: &Db, secret: &str) -> Result<Option<ApiKey>, StoreError> {
    if !secret.starts_with("zc_") || secret.len() > 200 {
        return Ok(None);
    }
    let hash = hash_secret(secret);
    let row = on_pool!(db, |p| {
        sqlx::query_as::<_, KeyRow>(
        "SELECT id, org_id, name, prefix, key_hash, scope, created_at FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL"
    )
    .bind(&hash)
    .fetch_optional(p)
    .await
    })?;
    match row {
        Some(row) if bool::from(row.key_hash.as_bytes().ct_eq(hash.as_bytes())) => {
            Ok(Some(row.into_key()?))
        }
        _ => Ok(None),
    }
}

/// Revokes a key of `org_id`; false if there is no such live key.
pub async fn revoke(
    db: &Db,
    org_id: &str,
    id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let mut tx = db.begin().await?;
    let revoked = revoke_in(&mut tx, org_id, id, now).await?;
    tx.commit().await?;
    Ok(revoked)
}

/// [`revoke`] inside `tx`.
pub async fn revoke_in(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = on_tx!(tx, |c| {
        sqlx::query(
        "UPDATE api_keys SET revoked_at = $1 WHERE org_id = $2 AND id = $3 AND revoked_at IS NULL"
    )
    .bind(now)
    .bind(org_id)
    .bind(id)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_ordered_admin_above_write_above_read() {
        assert!(Scope::Admin.allows(Scope::Write));
        assert!(Scope::Write.allows(Scope::Read));
        assert!(!Scope::Read.allows(Scope::Write));
        assert!(!Scope::Write.allows(Scope::Admin));
    }

    #[test]
    fn secrets_are_long_random_and_prefixed() {
        let a = new_secret();
        let b = new_secret();
        assert!(a.starts_with("zc_"));
        assert_eq!(a.len(), 3 + 64);
        assert_ne!(a, b);
        assert_ne!(hash_secret(&a), hash_secret(&b));
    }
}
