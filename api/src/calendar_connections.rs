//! `/v1/calendar/connections` and the OAuth callback: connect a Google account (authorization
//! code with PKCE; the `state` is random, single use, short-lived and bound to the
//! organisation), list the connections and an account's calendars, disconnect (channels
//! stopped, grant revoked, tokens forgotten). Tokens are stored sealed (see
//! `zencall_core::domain::sealed`); a full sync and a watch are queued with the connection.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use rand::RngExt;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zencall_core::jobs::payloads::{SyncCalendar, WatchCalendar};
use zencall_core::store::api_keys::Scope;
use zencall_core::store::calendar_connections::{self, Connected, Connection, ConnectionStatus};
use zencall_core::store::calendar_oauth_states::{self, NewOAuthState};
use zencall_core::store::{assistants, calendar_channels};
use zencall_providers::ProviderError;
use zencall_providers::calendar::CalendarInfo;
use zencall_providers::calendar_session::{
    CalendarSession, SessionError, access_token_context, refresh_token_context,
};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Path, Query};
use crate::openapi::{BadRequest, Conflict, Forbidden, NotFound, V1Errors};

/// Calendar connection routes, and the OAuth callback at `providers.google_calendar.redirect_path`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, begin))
        .routes(routes!(show, disconnect))
        .routes(routes!(calendars))
        .routes(routes!(callback))
}

/// A connection as the API shows it; tokens never appear.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConnectionView {
    /// `ccon_...`
    id: String,
    /// Always `calendar_connection`.
    #[schema(schema_with = connection_object)]
    object: &'static str,
    /// The Google account.
    account: String,
    /// `active`, `needs_reconnect` (connect the account again) or `disconnected`.
    status: ConnectionStatus,
    /// Why it is not active.
    #[schema(required = true)]
    status_reason: Option<String>,
    /// The calendar synced.
    calendar_id: String,
    /// The account's calendars as last listed.
    calendars: Vec<CalendarEntry>,
    /// The granted scopes.
    scopes: Vec<String>,
    /// When a sync last completed.
    #[schema(required = true)]
    last_synced_at: Option<DateTime<Utc>>,
    /// When the account was last connected.
    connected_at: DateTime<Utc>,
    /// Creation time.
    created_at: DateTime<Utc>,
    /// Last change.
    updated_at: DateTime<Utc>,
}

/// One calendar of the account, as last listed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CalendarEntry {
    /// The calendar's id at Google (the primary calendar's is the account's address).
    id: String,
    /// Its title.
    summary: String,
    /// True for the account's primary calendar.
    primary: bool,
    /// Its IANA time zone, when known.
    time_zone: Option<String>,
    /// The account's role on it (`owner`, `writer`, `reader`, `freeBusyReader`...).
    access_role: Option<String>,
    /// True when appointments can be written to it.
    writable: bool,
}

impl From<calendar_connections::CalendarEntry> for CalendarEntry {
    fn from(c: calendar_connections::CalendarEntry) -> Self {
        Self {
            id: c.id,
            summary: c.summary,
            primary: c.primary,
            time_zone: c.time_zone,
            access_role: c.access_role,
            writable: c.writable,
        }
    }
}

fn connection_object() -> utoipa::openapi::Object {
    zencall_core::schema::constant("calendar_connection")
}

impl From<Connection> for ConnectionView {
    fn from(c: Connection) -> Self {
        Self {
            id: c.id,
            object: "calendar_connection",
            account: c.account,
            status: c.status,
            status_reason: c.status_reason,
            calendar_id: c.calendar_id,
            calendars: c.calendars.into_iter().map(CalendarEntry::from).collect(),
            scopes: c.scopes,
            last_synced_at: c.last_synced_at,
            connected_at: c.connected_at,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// The connections of the organisation.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConnectionList {
    /// Always `list`.
    #[schema(schema_with = list_object)]
    object: &'static str,
    /// Newest first.
    data: Vec<ConnectionView>,
}

fn list_object() -> utoipa::openapi::Object {
    zencall_core::schema::constant("list")
}

/// Where to send the business owner to connect an account.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuthorizationView {
    /// Google's consent page; it sends the owner back to our callback.
    authorization_url: String,
    /// After this the link no longer connects anything.
    expires_at: DateTime<Utc>,
}

/// The calendars of a connection's account.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CalendarList {
    /// Always `list`.
    #[schema(schema_with = list_object)]
    object: &'static str,
    /// The calendars; `writable` ones can be attached to an assistant.
    data: Vec<CalendarEntry>,
}

/// The query Google's redirect carries.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct CallbackParams {
    /// The authorization code.
    code: Option<String>,
    /// The state given with the authorization URL.
    state: Option<String>,
    /// Set instead of `code` when the owner refused (`access_denied`).
    error: Option<String>,
}

/// The path parameter of one connection's routes.
const CONNECTION_ID: &str = "The connection's id, `ccon_...`";

/// The associated data of a state's sealed PKCE verifier.
fn verifier_context(state_hash: &str) -> String {
    format!("calendar_oauth_state:{state_hash}")
}

/// An entry of the calendars list, from Google's.
fn entry(c: &CalendarInfo) -> calendar_connections::CalendarEntry {
    calendar_connections::CalendarEntry {
        id: c.id.clone(),
        summary: c.summary.clone(),
        primary: c.primary,
        time_zone: c.time_zone.clone(),
        access_role: c.access_role.map(|r| r.as_str().to_string()),
        writable: c.access_role.is_some_and(|r| r.can_write()),
    }
}

/// The API error for a failed call to Google.
fn provider_error(e: ProviderError) -> ApiError {
    match e {
        ProviderError::Transient { message, .. } => {
            tracing::warn!(error = %message, "Google Calendar unavailable");
            ApiError::Unavailable
        }
        ProviderError::ReconnectNeeded { message, .. } => ApiError::BadRequest(format!(
            "code: Google refused the authorization code ({message}); start the connection again"
        )),
        other => ApiError::Unprocessable(format!("Google Calendar refused the request: {other}")),
    }
}

fn session_error(e: SessionError) -> ApiError {
    match e {
        SessionError::Inactive(status) => ApiError::Conflict(format!(
            "the connection is {}; connect the account again",
            status.as_str()
        )),
        SessionError::GrantLost(reason) => ApiError::Conflict(format!(
            "the account's grant is gone ({reason}); connect the account again"
        )),
        SessionError::Provider(p) => provider_error(p),
        SessionError::Store(s) => s.into(),
        SessionError::Sealed(s) => ApiError::Internal(s.to_string()),
    }
}

pub(crate) fn session(state: &AppState) -> CalendarSession<'_> {
    CalendarSession {
        db: &state.db,
        provider: state.calendar.as_ref(),
        sealer: state.sealer.as_ref(),
        clock: state.clock.as_ref(),
        refresh_before: std::time::Duration::from_secs(state.settings.calendar.refresh_before_secs),
        event_max_attempts: state.settings.webhooks.outbound.max_attempts,
    }
}

/// Starts connecting a Google account.
#[utoipa::path(
    post,
    path = "/v1/calendar/connections",
    tag = "calendar",
    operation_id = "begin_calendar_connection",
    summary = "Connect a Google calendar",
    description = "Answers Google's consent URL (authorization code with PKCE, offline access). \
        Send the business owner there; Google sends them back to `/oauth/google/callback`, which \
        stores the connection and starts syncing. The link works once, for \
        `calendar.authorization_ttl_secs`. 409 when no key to seal tokens is configured \
        (`calendar.encryption_keys`). Needs the `admin` scope.",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Where to send the owner", body = AuthorizationView),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        V1Errors,
    )
)]
async fn begin(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<(StatusCode, axum::Json<AuthorizationView>), ApiError> {
    caller.require(Scope::Admin)?;
    if !state.sealer.is_enabled() {
        return Err(ApiError::Conflict(
            "calendars cannot be connected: no key to seal their tokens is configured (calendar.encryption_keys and calendar.active_key_id)".into(),
        ));
    }
    let random: [u8; 32] = rand::rng().random();
    let oauth_state = hex::encode(random);
    let state_hash = calendar_channels::token_hash(&oauth_state);
    let start = state
        .calendar
        .begin_authorization(&oauth_state)
        .map_err(provider_error)?;
    let sealed_verifier = state
        .sealer
        .seal(&start.code_verifier, &verifier_context(&state_hash))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let now = state.clock.now();
    let ttl = i64::try_from(state.settings.calendar.authorization_ttl_secs).unwrap_or(600);
    let expires_at = now + chrono::Duration::seconds(ttl);
    calendar_oauth_states::insert(
        &state.db,
        &NewOAuthState {
            state_hash: &state_hash,
            org_id: caller.org_id(),
            sealed_verifier: &sealed_verifier,
            redirect_uri: &start.redirect_uri,
            expires_at,
        },
        now,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(AuthorizationView {
            authorization_url: start.url,
            expires_at,
        }),
    ))
}

/// Google's redirect after the owner's consent.
#[utoipa::path(
    get,
    path = "/oauth/google/callback",
    tag = "calendar",
    operation_id = "google_oauth_callback",
    summary = "Google's OAuth callback",
    description = "Where Google sends the business owner back. The `state` must be one we gave, \
        unused and not expired (400 naming `state` otherwise); the code is exchanged with the \
        PKCE verifier, the account's calendars are listed, the connection is stored (active, \
        syncing its primary calendar) and a full sync and a watch are queued. Connecting an \
        account again updates its connection.",
    params(CallbackParams),
    responses(
        (status = 200, description = "Connected", body = ConnectionView),
        (status = 400, response = BadRequest),
        (status = 422, response = crate::openapi::Unprocessable),
        V1Errors,
    )
)]
async fn callback(
    State(state): State<AppState>,
    Query(params): Query<CallbackParams>,
) -> Result<axum::Json<ConnectionView>, ApiError> {
    let oauth_state = params
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::BadRequest("state: missing".into()))?;
    let state_hash = calendar_channels::token_hash(oauth_state);
    let stored = calendar_oauth_states::consume(&state.db, &state_hash)
        .await?
        .ok_or_else(|| {
            ApiError::BadRequest(
                "state: unknown or already used; start the connection again".into(),
            )
        })?;
    let now = state.clock.now();
    if stored.expires_at <= now {
        return Err(ApiError::BadRequest(
            "state: expired; start the connection again".into(),
        ));
    }
    if let Some(error) = params.error.as_deref() {
        return Err(ApiError::BadRequest(format!(
            "error: Google did not grant access ({error}); start the connection again"
        )));
    }
    let code = params
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::BadRequest("code: missing".into()))?;
    let verifier = state
        .sealer
        .open(&stored.sealed_verifier, &verifier_context(&state_hash))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let grant = state
        .calendar
        .exchange_code(code, &verifier, &stored.redirect_uri)
        .await
        .map_err(provider_error)?;
    let missing = grant.missing_scopes();
    if !missing.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "scope: the owner did not grant {}; connect again and keep every box ticked",
            missing.join(", ")
        )));
    }
    let listed = state
        .calendar
        .list_calendars(&grant.access_token)
        .await
        .map_err(provider_error)?;
    let primary = listed.iter().find(|c| c.primary).ok_or_else(|| {
        ApiError::Unprocessable("the Google account has no primary calendar".into())
    })?;
    let account = primary.id.clone();
    let calendars: Vec<_> = listed.iter().map(entry).collect();
    let existing =
        calendar_connections::find_by_account(&state.db, &stored.org_id, &account).await?;
    let id = existing
        .as_ref()
        .map(|c| c.id.clone())
        .unwrap_or_else(calendar_connections::new_connection_id);
    let seal = |secret: &SecretString, context: String| {
        state
            .sealer
            .seal(secret, &context)
            .map_err(|e| ApiError::Internal(e.to_string()))
    };
    let sealed_refresh = match (&grant.refresh_token, &existing) {
        (Some(refresh), _) => seal(refresh, refresh_token_context(&id))?,
        (None, Some(c)) if c.sealed_refresh_token.is_some() => {
            c.sealed_refresh_token.clone().unwrap_or_default()
        }
        (None, _) => {
            return Err(ApiError::Unprocessable(
                "Google granted no refresh token; remove Zencall's access from the Google account, then connect again".into(),
            ));
        }
    };
    let sealed_access = seal(&grant.access_token, access_token_context(&id))?;
    let scopes = grant.scopes.clone();
    let mut tx = state.db.begin().await?;
    let connection = calendar_connections::upsert_connected(
        &mut tx,
        &id,
        &Connected {
            org_id: &stored.org_id,
            account: &account,
            calendars: &calendars,
            default_calendar_id: &account,
            scopes: &scopes,
        },
        &sealed_refresh,
        &sealed_access,
        grant.expires_at,
        now,
    )
    .await?;
    SyncCalendar::enqueue(
        &mut tx,
        &connection.org_id,
        &connection.id,
        connection.sync_generation,
    )
    .await?;
    WatchCalendar::enqueue(
        &mut tx,
        &connection.org_id,
        &connection.id,
        &format!(
            "connect:{}",
            zencall_core::store::now_micros(connection.connected_at).timestamp_micros()
        ),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(org_id = %connection.org_id, connection.id = %connection.id, "calendar connected");
    Ok(axum::Json(connection.into()))
}

/// Lists the organisation's connections.
#[utoipa::path(
    get,
    path = "/v1/calendar/connections",
    tag = "calendar",
    operation_id = "list_calendar_connections",
    summary = "List calendar connections",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The connections, newest first", body = ConnectionList),
        V1Errors,
    )
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<ConnectionList>, ApiError> {
    caller.require(Scope::Read)?;
    let rows = calendar_connections::list(&state.db, caller.org_id()).await?;
    Ok(axum::Json(ConnectionList {
        object: "list",
        data: rows.into_iter().map(Into::into).collect(),
    }))
}

async fn find(state: &AppState, caller: &Caller, id: &str) -> Result<Connection, ApiError> {
    calendar_connections::find(&state.db, caller.org_id(), id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("calendar connection {id}")))
}

/// One connection.
#[utoipa::path(
    get,
    path = "/v1/calendar/connections/{id}",
    tag = "calendar",
    operation_id = "get_calendar_connection",
    summary = "Get a calendar connection",
    params(("id" = String, Path, description = CONNECTION_ID)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The connection", body = ConnectionView),
        (status = 404, response = NotFound),
        V1Errors,
    )
)]
async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<ConnectionView>, ApiError> {
    caller.require(Scope::Read)?;
    Ok(axum::Json(find(&state, &caller, &id).await?.into()))
}

/// The calendars of the connection's account, listed again from Google.
#[utoipa::path(
    get,
    path = "/v1/calendar/connections/{id}/calendars",
    tag = "calendar",
    operation_id = "list_connection_calendars",
    summary = "List an account's calendars",
    description = "Lists the account's calendars at Google (and keeps the list). A connection \
        that is not active answers 409.",
    params(("id" = String, Path, description = CONNECTION_ID)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The calendars", body = CalendarList),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        V1Errors,
    )
)]
async fn calendars(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<CalendarList>, ApiError> {
    caller.require(Scope::Read)?;
    let connection = find(&state, &caller, &id).await?;
    let provider = state.calendar.as_ref();
    let listed = session(&state)
        .call(&connection, |token| async move {
            provider.list_calendars(&token).await
        })
        .await
        .map_err(session_error)?;
    let entries: Vec<_> = listed.iter().map(entry).collect();
    calendar_connections::store_calendars(
        &state.db,
        caller.org_id(),
        &id,
        &entries,
        state.clock.now(),
    )
    .await?;
    Ok(axum::Json(CalendarList {
        object: "list",
        data: entries.into_iter().map(CalendarEntry::from).collect(),
    }))
}

/// Disconnects an account.
#[utoipa::path(
    delete,
    path = "/v1/calendar/connections/{id}",
    tag = "calendar",
    operation_id = "delete_calendar_connection",
    summary = "Disconnect a calendar",
    description = "Stops the connection's push channels and revokes its grant at Google (as far \
        as Google answers: a failure there is logged, and the connection is disconnected all \
        the same), forgets its tokens, detaches it from its assistants and marks it \
        `disconnected`. Disconnecting again is not an error. Needs the `admin` scope.",
    params(("id" = String, Path, description = CONNECTION_ID)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Disconnected", body = ConnectionView),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        V1Errors,
    )
)]
async fn disconnect(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<ConnectionView>, ApiError> {
    caller.require(Scope::Admin)?;
    let connection = find(&state, &caller, &id).await?;
    let channels = calendar_channels::live_for_connection(&state.db, caller.org_id(), &id).await?;
    if connection.status == ConnectionStatus::Active {
        let provider = state.calendar.as_ref();
        let session = session(&state);
        for channel in &channels {
            let Some(resource_id) = channel.resource_id.as_deref() else {
                continue;
            };
            let channel_id = channel.id.as_str();
            let stopped = session
                .call(&connection, |token| async move {
                    provider.stop_channel(&token, channel_id, resource_id).await
                })
                .await;
            match stopped {
                Ok(()) | Err(SessionError::Provider(ProviderError::NotFound { .. })) => {}
                Err(e) => {
                    tracing::warn!(connection.id = %id, channel.id = %channel.id, error = %e, "cannot stop a calendar channel");
                }
            }
        }
    }
    if let Some(sealed) = connection.sealed_refresh_token.as_deref() {
        match state.sealer.open(sealed, &refresh_token_context(&id)) {
            Ok(refresh) => {
                if let Err(e) = state.calendar.revoke_token(&refresh).await {
                    tracing::warn!(connection.id = %id, error = %e, "cannot revoke a calendar grant");
                }
            }
            Err(e) => {
                tracing::warn!(connection.id = %id, error = %e, "cannot unseal a refresh token to revoke it")
            }
        }
    }
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    calendar_connections::mark_disconnected(&mut tx, caller.org_id(), &id, now).await?;
    assistants::detach_calendar_connection(&mut tx, caller.org_id(), &id, now).await?;
    tx.commit().await?;
    for channel in &channels {
        calendar_channels::mark_stopped(&state.db, caller.org_id(), &channel.id, now).await?;
    }
    Ok(axum::Json(find(&state, &caller, &id).await?.into()))
}
