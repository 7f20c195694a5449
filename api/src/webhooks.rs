//! Inbound webhooks: `/webhooks/vapi`, `/webhooks/twilio/voice-status`, `/webhooks/stripe`,
//! `/webhooks/google-calendar`. The raw body is verified before anything reads it. A refused
//! delivery answers 401 with no detail and is recorded (provider, reason, source, time). A
//! verified event is stored, deduplicated by the provider's event id (or a stable hash), and
//! its processing job enqueued in the same transaction; only then do we answer 2xx. If the
//! database is down we answer 503, so the provider delivers again: nothing acknowledged is lost.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use zencall_core::jobs::payloads::ProcessInboundEvent;
use zencall_core::jobs::{EnqueueOptions, enqueue_in};
use zencall_core::store::webhook_events;
use zencall_providers::signatures::{self, SignatureError};

use crate::AppState;
use crate::error::ApiError;

/// Webhook routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webhooks/vapi", post(vapi))
        .route("/webhooks/twilio/voice-status", post(twilio_voice_status))
        .route("/webhooks/stripe", post(stripe))
        .route("/webhooks/google-calendar", post(google_calendar))
}

/// What a verified delivery is, before it is stored.
struct Accepted {
    provider: &'static str,
    event_id: String,
    event_type: String,
    payload: String,
    /// Whether a ProcessInboundEvent job follows (Stripe and Google are only stored for now).
    process: bool,
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
            if event.process {
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
            tx.commit().await?;
            tracing::info!(provider = event.provider, event.id = %id, event.kind = %event.event_type, "webhook accepted");
        }
        None => {
            tx.rollback().await?;
            tracing::debug!(provider = event.provider, provider_event_id = %event.event_id, "duplicate webhook acknowledged");
        }
    }
    Ok((
        StatusCode::OK,
        axum::Json(serde_json::json!({"received": true})),
    )
        .into_response())
}

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
    let event_type = value
        .get("message")
        .and_then(|m| m.get("type"))
        .and_then(|t| t.as_str())
        .ok_or_else(|| ApiError::Unprocessable("message.type: missing".into()))?
        .chars()
        .take(64)
        .collect::<String>();
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
        },
    )
    .await
}

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
    let status =
        get("CallStatus").ok_or_else(|| ApiError::Unprocessable("CallStatus: missing".into()))?;
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
        },
    )
    .await
}

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
    let event_type = value
        .get("type")
        .and_then(|v| v.as_str())
        .unwrap_or("unknown")
        .to_string();
    accept(
        &state,
        Accepted {
            provider: "stripe",
            event_id,
            event_type,
            payload,
            process: false,
        },
    )
    .await
}

async fn google_calendar(
    State(state): State<AppState>,
    source: Source,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let w = &state.settings.webhooks;
    let accepted = secrets([&w.google_channel_token, &w.google_previous_channel_token]);
    if let Err(e) = signatures::google::verify(header(&headers, "x-goog-channel-token"), &accepted)
    {
        return Ok(refuse(&state, "google", e, &source.0).await);
    }
    let channel = header(&headers, "x-goog-channel-id")
        .ok_or_else(|| ApiError::BadRequest("X-Goog-Channel-ID: missing".into()))?;
    let number = header(&headers, "x-goog-message-number")
        .ok_or_else(|| ApiError::BadRequest("X-Goog-Message-Number: missing".into()))?;
    let state_name = header(&headers, "x-goog-resource-state")
        .unwrap_or("unknown")
        .to_string();
    let payload = serde_json::json!({
        "channel_id": channel,
        "message_number": number,
        "resource_state": state_name,
        "resource_id": header(&headers, "x-goog-resource-id"),
        "channel_expiration": header(&headers, "x-goog-channel-expiration"),
    })
    .to_string();
    accept(
        &state,
        Accepted {
            provider: "google",
            event_id: format!("{channel}:{number}"),
            event_type: state_name,
            payload,
            process: false,
        },
    )
    .await
}
