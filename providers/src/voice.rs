//! The voice platform (Vapi): assistants, imported phone numbers, and the outbound calls our
//! assistants place.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::ProviderError;

/// What an assistant is at the voice platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssistantSpec {
    /// Our assistant id, stored in the platform's metadata so a lost reply can be recovered.
    pub external_id: String,
    /// Display name.
    pub name: String,
    /// `fr` or `en`, for the transcriber.
    pub language: String,
    /// System prompt.
    pub system_prompt: String,
    /// First sentence.
    pub greeting: String,
    /// Voice id, `provider:voiceId` (`azure:fr-FR-DeniseNeural`).
    pub voice: String,
    /// Where the platform posts its server messages (our `/webhooks/vapi`).
    pub server_url: String,
    /// The booking tools it is given, served by `server_url`: only an assistant with
    /// structured opening hours books appointments.
    pub booking: Option<BookingTools>,
    /// An MCP server whose tools it may call during its calls (the configurator's: our own
    /// `/mcp`), if any.
    pub tool_server: Option<McpToolServer>,
}

/// An MCP server an assistant calls tools on, over streamable HTTP, with a bearer key.
#[derive(Clone, PartialEq, Eq)]
pub struct McpToolServer {
    /// The server's URL.
    pub url: String,
    /// The API key sent as `Authorization: Bearer`.
    pub api_key: String,
}

impl std::fmt::Debug for McpToolServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpToolServer")
            .field("url", &self.url)
            .field("api_key", &"[redacted]")
            .finish()
    }
}

/// What the booking tools (`check_availability`, `book_appointment`, `cancel_appointment`)
/// are told of the business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingTools {
    /// The business's IANA time zone, in which the tools read and say dates and times.
    pub time_zone: String,
    /// The services a caller may name, when the business lists some.
    pub services: Vec<String>,
}

/// A phone number to attach to an assistant at the voice platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberImport {
    /// The number, E.164.
    pub number: String,
    /// The platform's assistant id to attach.
    pub assistant_id: String,
    /// A label.
    pub name: String,
}

/// An outbound call for the voice platform to place: one of our assistants calls a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundCall {
    /// Our attempt id (`att_...`): the idempotency key, and stored in the platform's metadata
    /// so a call whose reply was lost can be found again.
    pub attempt_id: String,
    /// The platform's id of the assistant that talks.
    pub assistant_id: String,
    /// The platform's id of the imported phone number the call comes from.
    pub phone_number_id: String,
    /// The number the call comes from, ours, E.164.
    pub caller_number: String,
    /// The number called, E.164.
    pub customer_number: String,
    /// The customer's name, when known.
    pub customer_name: Option<String>,
    /// Values for the variables of the assistant's prompt and greeting.
    pub variables: serde_json::Map<String, serde_json::Value>,
}

/// The voice platform's capabilities used by Zencall.
#[async_trait]
pub trait VoicePlatform: Send + Sync {
    /// Creates an assistant; returns the platform's id.
    async fn create_assistant(&self, spec: &AssistantSpec) -> Result<String, ProviderError>;
    /// Finds an assistant created for `external_id` no earlier than `created_after`.
    async fn find_assistant(
        &self,
        external_id: &str,
        created_after: DateTime<Utc>,
    ) -> Result<Option<String>, ProviderError>;
    /// Replaces an assistant's prompt, greeting and voice.
    async fn update_assistant(&self, id: &str, spec: &AssistantSpec) -> Result<(), ProviderError>;
    /// Deletes an assistant; [`ProviderError::NotFound`] if it is already gone.
    async fn delete_assistant(&self, id: &str) -> Result<(), ProviderError>;
    /// Imports a telephony number and attaches it to an assistant; returns the platform's id.
    async fn import_number(&self, import: &NumberImport) -> Result<String, ProviderError>;
    /// Finds an imported number by its E.164 form.
    async fn find_number(&self, number: &str) -> Result<Option<String>, ProviderError>;
    /// Removes an imported number; [`ProviderError::NotFound`] if it is already gone.
    async fn delete_number(&self, id: &str) -> Result<(), ProviderError>;
    /// Places an outbound call; returns the platform's call id. Placing the same attempt twice
    /// places one call.
    async fn place_call(&self, call: &OutboundCall) -> Result<String, ProviderError>;
    /// Finds the call placed for `attempt_id` with `assistant_id` no earlier than
    /// `created_after`, to recover a call whose reply was lost.
    async fn find_call(
        &self,
        attempt_id: &str,
        assistant_id: &str,
        created_after: DateTime<Utc>,
    ) -> Result<Option<String>, ProviderError>;
}
