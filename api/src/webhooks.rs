//! Inbound webhooks: `/webhooks/vapi`, `/webhooks/twilio/voice-status`, `/webhooks/stripe`,
//! `/webhooks/google-calendar`. The raw body is verified before anything reads it. A refused
//! delivery answers 401 with no detail and is recorded (provider, reason, source, time). A
//! verified event is stored, deduplicated by the provider's event id (or a stable hash), and
//! its processing job enqueued in the same transaction; only then do we answer 2xx. If the
//! database is down we answer 503, so the provider delivers again: nothing acknowledged is lost.

use std::net::SocketAddr;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use zencall_core::jobs::payloads::{ApplyStripeEvent, ProcessInboundEvent, SyncCalendar};
use zencall_core::store::calendar_channels::{self, ChannelStatus};
use zencall_core::store::calendar_connections::{self, ConnectionStatus};
use zencall_core::store::webhook_events;
use zencall_providers::signatures::{self, SignatureError};
use zencall_queue::{EnqueueOptions, enqueue_in};

use crate::AppState;
use crate::error::ApiError;
use crate::openapi::{BadRequest, PayloadTooLarge, Unprocessable, WebhookErrors};

/// Webhook routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(vapi))
        .routes(routes!(twilio_voice_status))
        .routes(routes!(stripe))
        .routes(routes!(google_calendar))
}

/// The answer to a delivery that is stored (or was already).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Received {
    /// Always true.
    received: bool,
}

/// What the Vapi webhook answers.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum VapiAnswer {
    /// A server message stored.
    Received(Received),
    /// The results of a `tool-calls` message.
    ToolCalls(crate::tool_calls::ToolCallsAnswer),
}

/// What a verified delivery is, before it is stored.
struct Accepted {
    provider: &'static str,
    event_id: String,
    event_type: String,
    payload: String,
    /// Whether a processing job follows (ApplyStripeEvent for Stripe's events,
    /// ProcessInboundEvent for Vapi's and Twilio's; Google's lead to `calendar_sync` instead).
    process: bool,
    /// The calendar connection (organisation, connection) to sync once stored: a Google
    /// notification of a change on a known channel.
    calendar_sync: Option<(String, String)>,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn secrets(list: [&SecretString; 2]) -> Vec<&[u8]> {
    list.iter()
        .map(|s| s.expose_secret().as_bytes())
        .filter(|s| !s.is_empty())
        .collect()
}

/// A verified JSON body, parsed, and as text to store.
fn json_body(body: &[u8]) -> Result<(serde_json::Value, String), ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::BadRequest("the body is not UTF-8".into()))?;
    let value = serde_json::from_str(text)
        .map_err(|e| ApiError::BadRequest(format!("the body is not JSON: {e}")))?;
    Ok((value, text.to_string()))
}

/// A value of a verified delivery to store as text. PostgreSQL stores no NUL character: one is
/// 422 (a 500 would make the provider deliver the same thing again and again).
fn storable(field: &str, value: String) -> Result<String, ApiError> {
    if value.contains('\0') {
        Err(ApiError::Unprocessable(format!(
            "{field}: must not contain NUL characters"
        )))
    } else {
        Ok(value)
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The address a delivery came from, as the connection shows it (recorded with refusals).
pub struct Source(String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Source {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        let addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        Ok(Source(addr.unwrap_or_else(|| "unknown".into())))
    }
}

/// Records a refusal and answers 401 without saying why.
async fn refuse(state: &AppState, provider: &str, error: SignatureError, source: &str) -> Response {
    tracing::warn!(provider, reason = error.reason(), source, "webhook refused");
    crate::metrics::webhook_refused(provider, error.reason());
    if let Err(e) = webhook_events::record_rejection(
        &state.db,
        provider,
        error.reason(),
        source,
        state.clock.now(),
    )
    .await
    {
        tracing::error!(error = %e, "cannot record a refused webhook");
    }
    StatusCode::UNAUTHORIZED.into_response()
}

/// Stores the event and enqueues its processing in one transaction.
async fn accept(state: &AppState, event: Accepted) -> Result<Response, ApiError> {
    let mut tx = state.db.begin().await?;
    let stored = webhook_events::insert(
        &mut tx,
        event.provider,
        &event.event_id,
        &event.event_type,
        &event.payload,
        state.clock.now(),
    )
    .await?;
    match stored {
        Some(id) => {
            if event.process && event.provider == "stripe" {
                // Stripe's events are billing's: its own job, on the billing queue.
                let job = ApplyStripeEvent {
                    event_id: id.clone(),
                };
                enqueue_in(
                    &mut tx,
                    &job,
                    EnqueueOptions::unique(ApplyStripeEvent::unique_key(&id)),
                    state.settings.queue.max_attempts,
                )
                .await?;
            } else if event.process {
                let job = ProcessInboundEvent {
                    event_id: id.clone(),
                };
                enqueue_in(
                    &mut tx,
                    &job,
                    EnqueueOptions::unique(format!("inbound:{id}")),
                    state.settings.queue.max_attempts,
                )
                .await?;
            }
            if let Some((org_id, connection_id)) = &event.calendar_sync
                && let Some(connection) =
                    calendar_connections::find_in(&mut tx, org_id, connection_id).await?
                && connection.status == ConnectionStatus::Active
            {
                SyncCalendar::enqueue(&mut tx, org_id, connection_id, connection.sync_generation)
                    .await?;
            }
            tx.commit().await?;
            tracing::info!(provider = event.provider, event.id = %id, event.kind = %event.event_type, "webhook accepted");
        }
        None => {
            tx.rollback().await?;
            tracing::debug!(provider = event.provider, provider_event_id = %event.event_id, "duplicate webhook acknowledged");
        }
    }
    Ok((StatusCode::OK, axum::Json(Received { received: true })).into_response())
}

/// Vapi's server messages.
#[utoipa::path(
    post,
    path = "/webhooks/vapi",
    tag = "provider-webhooks",
    operation_id = "vapi_webhook",
    summary = "Vapi server messages",
    description = "Verified by `X-Vapi-Secret` (the shared secret) or by `X-Signature`, \
        HMAC-SHA256 of `{X-Timestamp}.{body}` (300 s tolerance). Stored once, then processed by \
        a job; except `tool-calls` messages (the assistant's booking tools during a call), \
        answered at once with one result per `toolCallId`: `result` when the tool ran, \
        `error` (a sentence naming what to correct) when its arguments are nonsense.",
    params(
        ("x-vapi-secret" = Option<String>, Header, description = "The shared secret"),
        ("x-signature" = Option<String>, Header, description = "Hex HMAC-SHA256 of `{x-timestamp}.{body}`"),
        ("x-timestamp" = Option<String>, Header, description = "Unix seconds of the signature"),
    ),
    request_body(content = Object, content_type = "application/json",
        description = "A Vapi server message: `{\"message\": {\"type\": ...}}`"),
    responses(
        (status = 200, description = "Stored (or already stored); for a `tool-calls` message, \
            the tools' results", body = VapiAnswer),
        (status = 400, response = BadRequest),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
        WebhookErrors,
    )
)]
async fn vapi(
    State(state): State<AppState>,
    source: Source,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let w = &state.settings.webhooks;
    let accepted = secrets([&w.vapi_secret, &w.vapi_previous_secret]);
    let verified = signatures::vapi::verify(
        header(&headers, "x-vapi-secret"),
        header(&headers, "x-signature"),
        header(&headers, "x-timestamp"),
        &body,
        &accepted,
        state.clock.now().timestamp(),
    );
    if let Err(e) = verified {
        return Ok(refuse(&state, "vapi", e, &source.0).await);
    }
    let (value, payload) = json_body(&body)?;
    if crate::tool_calls::is_tool_calls(&value) {
        let answer = crate::tool_calls::answer(&state, &value).await?;
        return Ok((StatusCode::OK, axum::Json(answer)).into_response());
    }
    let event_type = value
        .get("message")
        .and_then(|m| m.get("type"))
        .and_then(|t| t.as_str())
        .ok_or_else(|| ApiError::Unprocessable("message.type: missing".into()))?
        .chars()
        .take(64)
        .collect::<String>();
    let event_type = storable("message.type", event_type)?;
    // Vapi's messages carry no event id: the same delivery always has the same bytes.
    let event_id = sha256_hex(&body);
    accept(
        &state,
        Accepted {
            provider: "vapi",
            event_id,
            event_type,
            payload,
            process: true,
            calendar_sync: None,
        },
    )
    .await
}

/// Twilio's call status callbacks.
#[utoipa::path(
    post,
    path = "/webhooks/twilio/voice-status",
    tag = "provider-webhooks",
    operation_id = "twilio_voice_status_webhook",
    summary = "Twilio call status callbacks",
    description = "Verified by `X-Twilio-Signature`: HMAC-SHA1, keyed with the auth token, of \
        the public URL followed by the sorted form parameters. Stored once per call and status, \
        then processed by a job.",
    params(
        ("x-twilio-signature" = Option<String>, Header, description = "Base64 HMAC-SHA1 of the URL and the parameters"),
    ),
    request_body(content = inline(std::collections::HashMap<String, String>),
        content_type = "application/x-www-form-urlencoded",
        description = "Twilio's status callback parameters; `CallSid` and `CallStatus` are needed"),
    responses(
        (status = 200, description = "Stored (or already stored)", body = Received),
        (status = 400, response = BadRequest),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
        WebhookErrors,
    )
)]
async fn twilio_voice_status(
    State(state): State<AppState>,
    source: Source,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not a form: {e}")))?;
    // Twilio signs the URL it called: ours as the public sees it, not the internal one.
    let mut url = format!(
        "{}{}",
        state.settings.server.public_url.trim_end_matches('/'),
        uri.path()
    );
    if let Some(query) = uri.query() {
        url.push('?');
        url.push_str(query);
    }
    let accepted = secrets([
        &state.settings.providers.twilio.auth_token,
        &state.settings.webhooks.twilio_previous_auth_token,
    ]);
    if let Err(e) = signatures::twilio::verify(
        header(&headers, "x-twilio-signature"),
        &url,
        &params,
        &accepted,
    ) {
        return Ok(refuse(&state, "twilio", e, &source.0).await);
    }
    let get = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let sid = get("CallSid").ok_or_else(|| ApiError::Unprocessable("CallSid: missing".into()))?;
    let sid = storable("CallSid", sid)?;
    let status =
        get("CallStatus").ok_or_else(|| ApiError::Unprocessable("CallStatus: missing".into()))?;
    let status = storable("CallStatus", status)?;
    let payload = serde_json::to_string(&params).map_err(|e| ApiError::Internal(e.to_string()))?;
    // Twilio has no event id and no timestamp: a call's status is reported once.
    let event_id = format!("{sid}:{status}");
    accept(
        &state,
        Accepted {
            provider: "twilio",
            event_id,
            event_type: format!("call.{status}"),
            payload,
            process: true,
            calendar_sync: None,
        },
    )
    .await
}

/// Stripe's events.
#[utoipa::path(
    post,
    path = "/webhooks/stripe",
    tag = "provider-webhooks",
    operation_id = "stripe_webhook",
    summary = "Stripe events",
    description = "Verified by `Stripe-Signature` (`t=...,v1=...`, any matching `v1`, 300 s \
        tolerance). Stored once per event id, then applied to billing by a job.",
    params(
        ("stripe-signature" = Option<String>, Header, description = "`t=<unix seconds>,v1=<hex HMAC-SHA256>`"),
    ),
    request_body(content = Object, content_type = "application/json",
        description = "A Stripe event: `{\"id\": \"evt_...\", \"type\": ...}`"),
    responses(
        (status = 200, description = "Stored (or already stored)", body = Received),
        (status = 400, response = BadRequest),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = Unprocessable),
        WebhookErrors,
    )
)]
async fn stripe(
    State(state): State<AppState>,
    source: Source,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let w = &state.settings.webhooks;
    let accepted = secrets([&w.stripe_secret, &w.stripe_previous_secret]);
    if let Err(e) = signatures::stripe::verify(
        header(&headers, "stripe-signature"),
        &body,
        &accepted,
        state.clock.now().timestamp(),
    ) {
        return Ok(refuse(&state, "stripe", e, &source.0).await);
    }
    let (value, payload) = json_body(&body)?;
    let event_id = value
        .get("id")
        .and_then(|v| v.as_str())
        .ok_or_else(|| ApiError::Unprocessable("id: missing".into()))?
        .to_string();
    let event_id = storable("id", event_id)?;
    let event_type = value
        .get("type")
        .and_then(|v| v.as_str())
        .unwrap_or("unknown")
        .to_string();
    let event_type = storable("type", event_type)?;
    accept(
        &state,
        Accepted {
            provider: "stripe",
            event_id,
            event_type,
            payload,
            process: true,
            calendar_sync: None,
        },
    )
    .await
}

/// Google Calendar's push notifications (headers only, no body).
#[utoipa::path(
    post,
    path = "/webhooks/google-calendar",
    tag = "provider-webhooks",
    operation_id = "google_calendar_webhook",
    summary = "Google Calendar push notifications",
    description = "Verified by `X-Goog-Channel-Token`: the token of the channel named by \
        `X-Goog-Channel-ID` (each channel we open has its own), or for a channel we do not know, \
        the configured `webhooks.google_channel_token`. Stored once per channel and message \
        number; a change on a live channel (`exists`, `not_exists`) queues a sync of its \
        connection, at most one pending per connection (`sync` only confirms a new channel).",
    params(
        ("x-goog-channel-token" = Option<String>, Header, description = "The channel's token"),
        ("x-goog-channel-id" = Option<String>, Header, description = "The channel (needed once verified)"),
        ("x-goog-message-number" = Option<String>, Header, description = "The message's number in the channel (needed once verified)"),
        ("x-goog-resource-state" = Option<String>, Header, description = "`sync`, `exists` or `not_exists`"),
        ("x-goog-resource-id" = Option<String>, Header, description = "The watched resource"),
        ("x-goog-channel-expiration" = Option<String>, Header, description = "When the channel expires"),
    ),
    responses(
        (status = 200, description = "Stored (or already stored)", body = Received),
        (status = 400, response = BadRequest),
        WebhookErrors,
    )
)]
async fn google_calendar(
    State(state): State<AppState>,
    source: Source,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let w = &state.settings.webhooks;
    let token = header(&headers, "x-goog-channel-token");
    // A channel we opened is verified with its own token (its hash is stored); a stopped one
    // is refused; any other falls back to the configured tokens.
    let channel = match header(&headers, "x-goog-channel-id") {
        Some(id) => calendar_channels::find(&state.db, id).await?,
        None => None,
    };
    let verified = match &channel {
        Some(c) if c.status == ChannelStatus::Stopped => Err(signatures::SignatureError::Mismatch),
        Some(c) => signatures::google::verify(
            token.map(calendar_channels::token_hash).as_deref(),
            &[c.token_hash.as_bytes()],
        ),
        None => signatures::google::verify(
            token,
            &secrets([&w.google_channel_token, &w.google_previous_channel_token]),
        ),
    };
    if let Err(e) = verified {
        return Ok(refuse(&state, "google", e, &source.0).await);
    }
    let channel_id = header(&headers, "x-goog-channel-id")
        .ok_or_else(|| ApiError::BadRequest("X-Goog-Channel-ID: missing".into()))?;
    let number = header(&headers, "x-goog-message-number")
        .ok_or_else(|| ApiError::BadRequest("X-Goog-Message-Number: missing".into()))?;
    let state_name = header(&headers, "x-goog-resource-state")
        .unwrap_or("unknown")
        .to_string();
    let payload = serde_json::json!({
        "channel_id": channel_id,
        "message_number": number,
        "resource_state": state_name,
        "resource_id": header(&headers, "x-goog-resource-id"),
        "channel_expiration": header(&headers, "x-goog-channel-expiration"),
    })
    .to_string();
    let calendar_sync = channel
        .filter(|c| state_name != "sync" && c.status != ChannelStatus::Stopped)
        .map(|c| (c.org_id, c.connection_id));
    accept(
        &state,
        Accepted {
            provider: "google",
            event_id: format!("{channel_id}:{number}"),
            event_type: state_name,
            payload,
            process: false,
            calendar_sync,
        },
    )
    .await
}
