//! Telephony (Twilio): searching, buying and releasing phone numbers.

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
}
