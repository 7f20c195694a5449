//! One error type for every provider, sorted by what the caller should do about it.

use std::time::Duration;

/// A provider call that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// Worth retrying later: timeouts, connection failures, 5xx, 429 (with its Retry-After).
    #[error("{provider}: {message}")]
    Transient {
        /// Which provider.
        provider: &'static str,
        /// What happened, for a person to read.
        message: String,
        /// The delay the provider asked for, if any.
        retry_after: Option<Duration>,
    },
    /// Retrying cannot help: refused credentials, invalid request, forbidden.
    #[error("{provider}: {message}")]
    Permanent {
        /// Which provider.
        provider: &'static str,
        /// What happened, for a person to read.
        message: String,
    },
    /// The resource does not exist (any more).
    #[error("{provider}: not found")]
    NotFound {
        /// Which provider.
        provider: &'static str,
    },
    /// The phone number was taken by someone else between search and purchase.
    #[error("{provider}: the number {number} is no longer available")]
    NumberUnavailable {
        /// Which provider.
        provider: &'static str,
        /// The number.
        number: String,
    },
    /// The user's grant is gone (revoked, expired, or the authorization code is spent): the
    /// account must be connected again; retrying cannot help.
    #[error("{provider}: the account must be connected again: {message}")]
    ReconnectNeeded {
        /// Which provider.
        provider: &'static str,
        /// What the provider said, for a person to read.
        message: String,
    },
    /// The access token was refused (expired or revoked): refresh it, then try again.
    #[error("{provider}: the access token was refused")]
    AccessTokenRejected {
        /// Which provider.
        provider: &'static str,
    },
    /// An incremental sync's token is no longer valid: forget what was synced and sync in full.
    #[error("{provider}: the sync token has expired; a full sync is needed")]
    SyncTokenExpired {
        /// Which provider.
        provider: &'static str,
    },
}

impl ProviderError {
    /// True when retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, ProviderError::Transient { .. })
    }
}

impl From<ProviderError> for zencall_queue::JobError {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::Transient { retry_after, .. } => zencall_queue::JobError::Transient {
                message: e.to_string(),
                retry_after,
            },
            other => zencall_queue::JobError::Permanent(other.to_string()),
        }
    }
}
