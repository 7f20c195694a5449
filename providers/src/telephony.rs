//! Telephony (Twilio): searching, buying and releasing phone numbers, and sending text
//! messages (appointment reminders).

use async_trait::async_trait;

use crate::ProviderError;

/// A number offered for purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvailableNumber {
    /// E.164.
    pub number: String,
    /// Town or region, when the provider says.
    pub locality: Option<String>,
}

/// A number this account owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedNumber {
    /// The provider's id (`PN...`).
    pub sid: String,
    /// E.164.
    pub number: String,
}

/// Where to look for numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberSearch {
    /// ISO country code (`FR`).
    pub country: String,
    /// Area code or national prefix wanted, if any.
    pub area_code: Option<String>,
}

/// A text message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sms {
    /// The sender: one of our numbers, E.164.
    pub from: String,
    /// The recipient, E.164.
    pub to: String,
    /// The text (a segment is 160 GSM characters or 70 others; longer texts are split by the
    /// provider).
    pub body: String,
}

/// Why a text message was not confirmed sent.
#[derive(Debug)]
pub struct SmsFailure {
    /// What happened.
    pub error: ProviderError,
    /// True when no answer came back (timeout, connection lost): the provider may have
    /// accepted the message, so sending it again could send it twice. False when the provider
    /// answered with a refusal: no message was created.
    pub maybe_sent: bool,
}

/// The telephony provider's capabilities used by Zencall.
#[async_trait]
pub trait Telephony: Send + Sync {
    /// Local numbers available in the country (and area), best first; empty when none.
    async fn search_numbers(
        &self,
        search: &NumberSearch,
    ) -> Result<Vec<AvailableNumber>, ProviderError>;
    /// Buys `number`, labelled `label` (our idempotency key, so a lost reply can be recovered).
    async fn buy_number(&self, number: &str, label: &str) -> Result<OwnedNumber, ProviderError>;
    /// Finds an owned number by the label given when it was bought.
    async fn find_owned_number(&self, label: &str) -> Result<Option<OwnedNumber>, ProviderError>;
    /// Releases an owned number; [`ProviderError::NotFound`] if it is already released.
    async fn release_number(&self, sid: &str) -> Result<(), ProviderError>;
    /// Sends a text message; returns the provider's id of the message (`SM...`). The provider
    /// has no idempotency key for messages: a caller that must not send twice records the send
    /// first and does not retry a failure that may have been sent.
    async fn send_sms(&self, sms: &Sms) -> Result<String, SmsFailure>;
}
