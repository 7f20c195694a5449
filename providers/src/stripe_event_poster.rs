//! Delivers the simulated payments provider's signed events to our own `/webhooks/stripe`,
//! over HTTP as Stripe would, so they are verified, stored and applied by the same code as
//! Stripe's (the voice simulator's [`crate::simulated_calls::CallReporter`] does the same for
//! calls).

use std::time::Duration;

use crate::ProviderError;
use crate::simulated_payments::SignedEvent;

/// The provider name in errors.
const PROVIDER: &str = "stripe-simulator";

/// Deliveries of one event tried before giving up, as Stripe retries.
const TRIES: u32 = 3;

/// Posts signed Stripe events to our API.
#[derive(Debug, Clone)]
pub struct StripeEventPoster {
    client: reqwest::Client,
    /// Where our API listens (`http://127.0.0.1:8080`).
    target: String,
}

impl StripeEventPoster {
    /// A poster to the API at `target`.
    pub fn new(target: &str) -> Result<Self, ProviderError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .no_proxy()
            .build()
            .map_err(|e| ProviderError::Permanent {
                provider: PROVIDER,
                message: format!("cannot build the HTTP client: {}", e.without_url()),
            })?;
        Ok(Self {
            client,
            target: target.trim_end_matches('/').to_string(),
        })
    }

    /// Delivers `event`, trying again a little later when our API does not take it.
    pub async fn post(&self, event: &SignedEvent) -> Result<(), ProviderError> {
        let mut last = String::new();
        for n in 0..TRIES {
            if n > 0 {
                tokio::time::sleep(Duration::from_millis(200 * u64::from(n))).await;
            }
            let sent = self
                .client
                .post(format!("{}/webhooks/stripe", self.target))
                .header("content-type", "application/json")
                .header("stripe-signature", &event.signature)
                .body(event.body.clone())
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => last = format!("our webhook answered {}", r.status()),
                Err(e) => last = format!("cannot reach our webhook: {}", e.without_url()),
            }
        }
        Err(ProviderError::Transient {
            provider: PROVIDER,
            message: format!("event {} ({}): {last}", event.id, event.event_type),
            retry_after: None,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use wiremock::matchers::{body_string, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    fn event() -> SignedEvent {
        SignedEvent {
            id: "evt_1".into(),
            event_type: "invoice.paid".into(),
            body: r#"{"id":"evt_1"}"#.into(),
            signature: "t=1,v1=ab".into(),
        }
    }

    #[tokio::test]
    async fn an_event_is_posted_as_stripe_would_with_its_signature() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/webhooks/stripe"))
            .and(header("content-type", "application/json"))
            .and(body_string(r#"{"id":"evt_1"}"#))
            .respond_with(ResponseTemplate::new(200))
            .expect(1)
            .mount(&server)
            .await;
        StripeEventPoster::new(&format!("{}/", server.uri()))
            .unwrap()
            .post(&event())
            .await
            .unwrap();
        // wiremock's header matcher splits values at commas: the signature is checked whole here.
        let received = server.received_requests().await.unwrap();
        assert_eq!(
            received[0]
                .headers
                .get("stripe-signature")
                .map(|v| v.to_str().unwrap()),
            Some("t=1,v1=ab")
        );
    }

    #[tokio::test]
    async fn a_refusal_is_retried_then_reported_as_transient() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(503))
            .expect(u64::from(TRIES))
            .mount(&server)
            .await;
        let err = StripeEventPoster::new(&server.uri())
            .unwrap()
            .post(&event())
            .await
            .unwrap_err();
        assert!(err.is_transient(), "{err}");
        assert!(err.to_string().contains("503"), "{err}");
    }
}
