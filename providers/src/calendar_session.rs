//! A calendar connection in use: its sealed tokens opened, the access token refreshed before it
//! expires (and stored sealed again), a refused access token refreshed once and the call made
//! again, and a lost grant turned into `needs_reconnect` with a `calendar.disconnected` event.
//! Every job and route that calls Google for a connection goes through [`CalendarSession`].

use std::future::Future;
use std::time::Duration;

use chrono::SubsecRound;
use secrecy::SecretString;
use serde::Serialize;
use zencall_core::clock::Clock;
use zencall_core::domain::sealed::{SealError, Sealer};
use zencall_core::events::{self, EventType};
use zencall_core::store::calendar_connections::{self, Connection, ConnectionStatus};
use zencall_core::store::{Db, StoreError};

use crate::{CalendarProvider, ProviderError};

/// The associated data of a connection's sealed refresh token.
pub fn refresh_token_context(connection_id: &str) -> String {
    format!("calendar_connection:{connection_id}:refresh_token")
}

/// The associated data of a connection's sealed access token.
pub fn access_token_context(connection_id: &str) -> String {
    format!("calendar_connection:{connection_id}:access_token")
}

/// Why a connection cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The connection is not active (the owner must connect again, or it was disconnected).
    #[error("the calendar connection is {}", .0.as_str())]
    Inactive(ConnectionStatus),
    /// The grant is gone: the connection was just marked `needs_reconnect`.
    #[error("the calendar connection needs to be connected again: {0}")]
    GrantLost(String),
    /// Google refused or failed the call.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A sealed token cannot be opened (a missing key, or an altered value).
    #[error("a calendar token cannot be unsealed: {0}")]
    Sealed(#[from] SealError),
}

impl From<SessionError> for zencall_queue::JobError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Provider(p) => p.into(),
            SessionError::Store(s) => s.into(),
            // Retrying cannot bring back a grant, a disconnected account or a key.
            other => zencall_queue::JobError::Permanent(other.to_string()),
        }
    }
}

/// What `calendar.disconnected` carries.
#[derive(Debug, Serialize)]
struct DisconnectedEvent<'a> {
    connection_id: &'a str,
    account: &'a str,
    status: &'static str,
    reason: &'a str,
}

/// One connection's access to Google.
pub struct CalendarSession<'a> {
    /// Storage.
    pub db: &'a Db,
    /// Google (or the simulator).
    pub provider: &'a dyn CalendarProvider,
    /// Opens and seals the tokens.
    pub sealer: &'a Sealer,
    /// Time.
    pub clock: &'a dyn Clock,
    /// Refresh an access token expiring within this delay.
    pub refresh_before: Duration,
    /// Attempts of each delivery of `calendar.disconnected`.
    pub event_max_attempts: u32,
}

impl CalendarSession<'_> {
    /// An access token for `connection`: the stored one while it is fresh enough, otherwise a
    /// refreshed one (stored sealed). `force` refreshes whatever the expiry says.
    pub async fn access_token(
        &self,
        connection: &Connection,
        force: bool,
    ) -> Result<SecretString, SessionError> {
        if connection.status != ConnectionStatus::Active {
            return Err(SessionError::Inactive(connection.status));
        }
        let now = self.clock.now();
        let margin = chrono::Duration::from_std(self.refresh_before)
            .unwrap_or_else(|_| chrono::Duration::minutes(5));
        if !force
            && let (Some(sealed), Some(expires)) = (
                connection.sealed_access_token.as_deref(),
                connection.access_expires_at,
            )
            && expires > now + margin
        {
            return Ok(self
                .sealer
                .open(sealed, &access_token_context(&connection.id))?);
        }
        let sealed_refresh = connection
            .sealed_refresh_token
            .as_deref()
            .ok_or(SessionError::Inactive(ConnectionStatus::Disconnected))?;
        let refresh = self
            .sealer
            .open(sealed_refresh, &refresh_token_context(&connection.id))?;
        let grant = match self.provider.refresh_access_token(&refresh).await {
            Ok(grant) => grant,
            Err(ProviderError::ReconnectNeeded { message, .. }) => {
                return Err(self.grant_lost(connection, &message).await);
            }
            Err(e) => return Err(e.into()),
        };
        let sealed_access = self
            .sealer
            .seal(&grant.access_token, &access_token_context(&connection.id))?;
        let sealed_new_refresh = grant
            .refresh_token
            .as_ref()
            .map(|r| self.sealer.seal(r, &refresh_token_context(&connection.id)))
            .transpose()?;
        let stored = calendar_connections::store_tokens(
            self.db,
            &connection.org_id,
            &connection.id,
            &sealed_access,
            grant.expires_at,
            sealed_new_refresh.as_deref(),
            now,
        )
        .await?;
        if !stored {
            // Disconnected meanwhile: the new token must not be used.
            return Err(SessionError::Inactive(ConnectionStatus::Disconnected));
        }
        tracing::debug!(connection.id = %connection.id, "calendar access token refreshed");
        Ok(grant.access_token)
    }

    /// Runs `call` with a usable access token; an access token refused by Google is refreshed
    /// once and the call made again; a lost grant marks the connection `needs_reconnect`.
    pub async fn call<T, F, Fut>(&self, connection: &Connection, call: F) -> Result<T, SessionError>
    where
        F: Fn(SecretString) -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let token = self.access_token(connection, false).await?;
        let outcome = match call(token).await {
            Err(ProviderError::AccessTokenRejected { .. }) => {
                let token = self.access_token(connection, true).await?;
                call(token).await
            }
            other => other,
        };
        match outcome {
            Ok(value) => Ok(value),
            Err(ProviderError::ReconnectNeeded { message, .. }) => {
                Err(self.grant_lost(connection, &message).await)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Marks the connection `needs_reconnect` and, the first time, emits
    /// `calendar.disconnected`; returns the error to give the caller.
    pub async fn grant_lost(&self, connection: &Connection, reason: &str) -> SessionError {
        let now = self.clock.now();
        match calendar_connections::mark_needs_reconnect(
            self.db,
            &connection.org_id,
            &connection.id,
            reason,
            now,
        )
        .await
        {
            Ok(true) => {
                tracing::warn!(connection.id = %connection.id, org_id = %connection.org_id, reason, "calendar grant lost; the account must be connected again");
                // Once per connection and connection time: a reconnected account that loses
                // its grant again is announced again.
                let subject = format!(
                    "{}@{}",
                    connection.id,
                    connection.connected_at.trunc_subsecs(6).timestamp_micros()
                );
                let data = DisconnectedEvent {
                    connection_id: &connection.id,
                    account: &connection.account,
                    status: ConnectionStatus::NeedsReconnect.as_str(),
                    reason,
                };
                if let Err(e) = events::emit(
                    self.db,
                    &connection.org_id,
                    EventType::CalendarDisconnected,
                    &subject,
                    &data,
                    now,
                    self.event_max_attempts,
                )
                .await
                {
                    return SessionError::Store(e);
                }
                SessionError::GrantLost(reason.to_string())
            }
            Ok(false) => SessionError::GrantLost(reason.to_string()),
            Err(e) => SessionError::Store(e),
        }
    }
}
