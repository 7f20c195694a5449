//! Delivers the simulated calendar's push notifications to our own
//! `/webhooks/google-calendar` endpoint, with the headers Google sends, the way the voice
//! simulator reports its calls: so offline, a change "in Google" reaches the platform through
//! the same verified path as a real one.

use std::time::Duration;

use secrecy::ExposeSecret;

use crate::ProviderError;
use crate::simulated_calendar::ChannelNotification;

/// Posts channel notifications to one API.
#[derive(Debug, Clone)]
pub struct CalendarNotifier {
    http: reqwest::Client,
    url: String,
}

impl CalendarNotifier {
    /// A notifier posting to `{api_base}/webhooks/google-calendar` (the address the API
    /// listens on, not the public URL the channels name).
    pub fn new(api_base: &str) -> Result<Self, ProviderError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ProviderError::Permanent {
                provider: "google-calendar-simulator",
                message: format!("cannot build an HTTP client: {e}"),
            })?;
        Ok(Self {
            http,
            url: format!(
                "{}/webhooks/google-calendar",
                api_base.trim_end_matches('/')
            ),
        })
    }

    /// Posts one notification; the API's status comes back (200 when accepted).
    pub async fn deliver(&self, n: &ChannelNotification) -> Result<u16, ProviderError> {
        let response = self
            .http
            .post(&self.url)
            .header("x-goog-channel-id", &n.channel_id)
            .header("x-goog-channel-token", n.token.expose_secret())
            .header("x-goog-resource-id", &n.resource_id)
            .header("x-goog-resource-state", n.resource_state)
            .header("x-goog-message-number", n.message_number.to_string())
            .send()
            .await
            .map_err(|e| ProviderError::Transient {
                provider: "google-calendar-simulator",
                message: format!("cannot deliver a notification: {e}"),
                retry_after: None,
            })?;
        Ok(response.status().as_u16())
    }

    /// Posts each notification in turn, logging any that is not accepted.
    pub async fn deliver_all(&self, notifications: &[ChannelNotification]) {
        for n in notifications {
            match self.deliver(n).await {
                Ok(200) => {}
                Ok(status) => {
                    tracing::warn!(channel.id = %n.channel_id, status, "simulated calendar notification refused")
                }
                Err(e) => {
                    tracing::warn!(channel.id = %n.channel_id, error = %e, "simulated calendar notification not delivered")
                }
            }
        }
    }
}
