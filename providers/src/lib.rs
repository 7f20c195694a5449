//! Zencall providers: each outside service is a trait named for its capability, with an HTTP
//! adapter whose base URL, credentials and timeout come from configuration, and a simulator
//! that `zencall up` uses when no credentials are configured.

pub mod analyzer;
pub mod calendar;
pub mod calendar_notifier;
pub mod calendar_session;
pub mod error;
pub mod file_mailer;
pub mod google_calendar;
mod http;
pub mod llm_analyzer;
pub mod mailer;
pub mod payments;
pub mod signatures;
pub mod simulated_calendar;
pub mod simulated_calls;
pub mod simulated_onboarding;
pub mod simulated_payments;
pub mod simulator;
pub mod smtp_mailer;
#[cfg(any(test, feature = "test-support"))]
pub mod smtp_sink;
pub mod stripe;
pub mod stripe_event_poster;
mod stripe_objects;
pub mod telephony;
pub mod twilio;
pub mod vapi;
pub mod voice;
pub mod webhook_sender;

pub use analyzer::TranscriptAnalyzer;
pub use calendar::CalendarProvider;
pub use error::ProviderError;
pub use file_mailer::FileMailer;
pub use google_calendar::GoogleCalendarClient;
pub use mailer::Mailer;
pub use payments::Payments;
pub use simulated_calendar::SimulatedCalendar;
pub use simulated_payments::SimulatedPayments;
pub use smtp_mailer::SmtpMailer;
pub use stripe::StripePayments;
pub use telephony::Telephony;
pub use voice::VoicePlatform;
