//! API-key authentication: `Authorization: Bearer zc_...`, looked up by hash. A missing or
//! unknown key is 401; a key whose scope is too narrow is 403.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use zencall_core::store::api_keys::{self, ApiKey, Scope};

use crate::AppState;
use crate::error::ApiError;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The key used.
    pub key: ApiKey,
}

impl Caller {
    /// The caller's organisation.
    pub fn org_id(&self) -> &str {
        &self.key.org_id
    }

    /// Fails with 403 unless the key's scope allows `needed`.
    pub fn require(&self, needed: Scope) -> Result<(), ApiError> {
        if self.key.scope.allows(needed) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(needed.as_str()))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let secret = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or(ApiError::Unauthorized)?;
        let key = api_keys::authenticate(&state.db, secret)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        match state.limits.check(&key).await {
            Ok(Ok(())) => {}
            Ok(Err(wait)) => {
                // Rounded up, so a client that waits as told is let in.
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                return Err(ApiError::TooManyRequests(secs.max(1)));
            }
            // Counting is not worth an outage: the request goes through, loudly.
            Err(e) => tracing::warn!(error = %e, "rate limits not enforced for this request"),
        }
        Ok(Caller { key })
    }
}
