//! What every job handler may use: storage, the outside services, the clock, settings.

use std::sync::Arc;

use serde::Serialize;
use zencall_core::clock::Clock;
use zencall_core::config::Settings;
use zencall_core::domain::sealed::Sealer;
use zencall_core::events::{self, EventType};
use zencall_core::rate_limiter::KeyedRateLimiter;
use zencall_core::store::{Db, StoreError};
use zencall_providers::calendar_session::CalendarSession;
use zencall_providers::webhook_sender::WebhookSender;
use zencall_providers::{
    CalendarProvider, Mailer, Payments, Telephony, TranscriptAnalyzer, VoicePlatform,
};

/// Shared by all handlers of a worker process; cheap to clone.
#[derive(Clone)]
pub struct JobContext {
    /// Storage.
    pub db: Db,
    /// The voice platform (Vapi or the simulator).
    pub voice: Arc<dyn VoicePlatform>,
    /// The telephony provider (Twilio or the simulator).
    pub telephony: Arc<dyn Telephony>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Configuration.
    pub settings: Arc<Settings>,
    /// Delivers our events to customers' endpoints.
    pub webhooks: Arc<WebhookSender>,
    /// Paces calls per caller number (shared through Redis when configured).
    pub pacer: Arc<KeyedRateLimiter>,
    /// Reads call transcripts (the offline analyzer, or a language model).
    pub analyzer: Arc<dyn TranscriptAnalyzer>,
    /// The calendar provider (Google Calendar or the simulator).
    pub calendar: Arc<dyn CalendarProvider>,
    /// Seals and opens the calendar tokens stored.
    pub sealer: Arc<Sealer>,
    /// Stripe Billing (or the simulated payments provider).
    pub payments: Arc<dyn Payments>,
    /// Sends emails (an SMTP server, or `.eml` files without one).
    pub mailer: Arc<dyn Mailer>,
}

impl JobContext {
    /// Access to Google for calendar connections, with the configured refresh margin.
    pub fn calendar_session(&self) -> CalendarSession<'_> {
        CalendarSession {
            db: &self.db,
            provider: self.calendar.as_ref(),
            sealer: self.sealer.as_ref(),
            clock: self.clock.as_ref(),
            refresh_before: std::time::Duration::from_secs(
                self.settings.calendar.refresh_before_secs,
            ),
            event_max_attempts: self.settings.webhooks.outbound.max_attempts,
        }
    }

    /// Emits one of our events about `subject` (once per type and subject, however often this
    /// is called) to every endpoint of `org_id` that wants it.
    pub async fn emit<T: Serialize>(
        &self,
        org_id: &str,
        event_type: EventType,
        subject: &str,
        data: &T,
    ) -> Result<(), StoreError> {
        let max_attempts = self.settings.webhooks.outbound.max_attempts;
        events::emit(
            &self.db,
            org_id,
            event_type,
            subject,
            data,
            self.clock.now(),
            max_attempts,
        )
        .await
        .map(|_| ())
    }
}
