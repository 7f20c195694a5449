//! Queue board sign-ins. A session is opened with an admin key of an organisation that
//! operates the platform; the browser keeps a random token in a cookie, only its SHA-256 is
//! stored. A session dies with its expiry, its sign-out, or its key (revoked, or no longer
//! allowed): every lookup checks the key again.

use chrono::{DateTime, Duration, Utc};
use rand::RngExt;

use super::api_keys::hash_secret;
use super::{Db, StoreError};
use zencall_queue::on_pool;

/// A live board session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardSession {
    /// The key it was opened with.
    pub key_id: String,
    /// That key's label, shown as who acted.
    pub key_name: String,
    /// The key's organisation.
    pub org_id: String,
    /// The token every state-changing form must send back.
    pub csrf_token: String,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
}

/// A session just opened: the cookie's token (never stored) and the session.
#[derive(Debug, Clone)]
pub struct OpenedSession {
    /// Goes in the cookie.
    pub token: String,
    /// The stored part.
    pub session: BoardSession,
}

fn random_hex() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

/// Opens a session for key `key_id` (already checked by the caller) lasting `ttl`, and drops
/// sessions that have expired.
pub async fn open(
    db: &Db,
    key_id: &str,
    key_name: &str,
    org_id: &str,
    ttl: Duration,
    now: DateTime<Utc>,
) -> Result<OpenedSession, StoreError> {
    let now = super::now_micros(now);
    let token = format!("zcb_{}", random_hex());
    let session = BoardSession {
        key_id: key_id.to_string(),
        key_name: key_name.to_string(),
        org_id: org_id.to_string(),
        csrf_token: random_hex(),
        expires_at: now + ttl,
    };
    on_pool!(db, |p| {
        sqlx::query("DELETE FROM board_sessions WHERE expires_at < $1")
            .bind(now)
            .execute(p)
            .await?;
        sqlx::query(
            "INSERT INTO board_sessions (token_hash, key_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(hash_secret(&token))
        .bind(key_id)
        .bind(&session.csrf_token)
        .bind(now)
        .bind(session.expires_at)
        .execute(p)
        .await
        .map(|_| ())
    })?;
    Ok(OpenedSession { token, session })
}

type SessionRow = (String, String, String, String, DateTime<Utc>);

/// The live session of `token`: not expired, its key neither revoked nor narrowed below the
/// admin scope, its organisation still operating the platform.
pub async fn find(
    db: &Db,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<BoardSession>, StoreError> {
    if !token.starts_with("zcb_") || token.len() > 100 {
        return Ok(None);
    }
    let row: Option<SessionRow> = on_pool!(db, |p| {
        sqlx::query_as(
        "SELECT k.id, k.name, k.org_id, s.csrf_token, s.expires_at FROM board_sessions s \
         JOIN api_keys k ON k.id = s.key_id JOIN organisations o ON o.id = k.org_id \
         WHERE s.token_hash = $1 AND k.revoked_at IS NULL AND k.scope = 'admin' AND o.operates_platform"
    )
    .bind(hash_secret(token))
    .fetch_optional(p)
    .await
    })?;
    Ok(row
        .filter(|r| r.4 > now)
        .map(
            |(key_id, key_name, org_id, csrf_token, expires_at)| BoardSession {
                key_id,
                key_name,
                org_id,
                csrf_token,
                expires_at,
            },
        ))
}

/// Ends the session of `token`, if any.
pub async fn close(db: &Db, token: &str) -> Result<(), StoreError> {
    on_pool!(db, |p| sqlx::query(
        "DELETE FROM board_sessions WHERE token_hash = $1"
    )
    .bind(hash_secret(token))
    .execute(p)
    .await
    .map(|_| ()))?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::api_keys::{self, Scope};
    use crate::store::organisations;
    use crate::store::test_db::TestDb;

    async fn operator_key(db: &Db, scope: Scope, operator: bool) -> api_keys::ApiKey {
        let now = Utc::now();
        let mut tx = db.begin().await.unwrap();
        let org = organisations::create(&mut tx, "Ops", now).await.unwrap();
        organisations::set_operates_platform(&mut tx, &org.id, operator)
            .await
            .unwrap();
        let key = api_keys::create(&mut tx, &org.id, "board", scope, now)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        key.key
    }

    async fn sessions_live_and_die_with_their_key(db: &Db) {
        let now = Utc::now();
        let key = operator_key(db, Scope::Admin, true).await;
        let opened = open(db, &key.id, &key.name, &key.org_id, Duration::hours(1), now)
            .await
            .unwrap();
        let found = find(db, &opened.token, now).await.unwrap().unwrap();
        assert_eq!(found.key_id, key.id);
        assert_eq!(found.csrf_token, opened.session.csrf_token);
        assert_eq!(found.csrf_token.len(), 64);
        // Expired.
        assert!(
            find(db, &opened.token, now + Duration::hours(2))
                .await
                .unwrap()
                .is_none()
        );
        // Unknown or malformed tokens.
        assert!(find(db, "zcb_nope", now).await.unwrap().is_none());
        assert!(find(db, "garbage", now).await.unwrap().is_none());
        // Revoking the key ends the session.
        api_keys::revoke(db, &key.org_id, &key.id, now)
            .await
            .unwrap();
        assert!(find(db, &opened.token, now).await.unwrap().is_none());

        // An organisation that no longer operates the platform loses its sessions.
        let key = operator_key(db, Scope::Admin, true).await;
        let opened = open(db, &key.id, &key.name, &key.org_id, Duration::hours(1), now)
            .await
            .unwrap();
        let mut tx = db.begin().await.unwrap();
        organisations::set_operates_platform(&mut tx, &key.org_id, false)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(find(db, &opened.token, now).await.unwrap().is_none());

        // Signing out.
        let key = operator_key(db, Scope::Admin, true).await;
        let opened = open(db, &key.id, &key.name, &key.org_id, Duration::hours(1), now)
            .await
            .unwrap();
        close(db, &opened.token).await.unwrap();
        assert!(find(db, &opened.token, now).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn sessions_on_sqlite() {
        let t = TestDb::sqlite().await;
        sessions_live_and_die_with_their_key(&t.db).await;
    }

    #[tokio::test]
    async fn sessions_on_postgres() {
        let Some(t) = TestDb::postgres().await else {
            return;
        };
        sessions_live_and_die_with_their_key(&t.db).await;
    }
}
