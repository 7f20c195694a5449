//! The public shape of resources, as the API returns them and as our events carry them, so a
//! customer reads the same object from `GET` and from a webhook.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::assistant::AssistantStatus;
use crate::domain::sector::{BusinessDetails, Language, Sector};
use crate::store::assistants::Assistant;

/// An assistant as the API shows it and its events carry it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AssistantView {
    /// `asst_...`
    pub id: String,
    /// Always `assistant`.
    #[schema(schema_with = assistant_object)]
    pub object: &'static str,
    /// Display name.
    pub name: String,
    /// Business sector.
    pub sector: Sector,
    /// Language it speaks.
    pub language: Language,
    /// Life-cycle state.
    pub status: AssistantStatus,
    /// Why provisioning failed.
    #[schema(required = true)]
    pub failure_reason: Option<String>,
    /// Its number, E.164, once bought.
    #[schema(required = true)]
    pub phone_number: Option<String>,
    /// Country of its number.
    pub phone_country: String,
    /// Preferred area code.
    #[schema(required = true)]
    pub area_code: Option<String>,
    /// The business it answers for.
    pub business: BusinessDetails,
    /// Voice id.
    pub voice: String,
    /// First sentence.
    pub greeting: String,
    /// System prompt.
    pub system_prompt: String,
    /// Bumped by every change.
    pub config_version: i64,
    /// Latest version live at the voice platform.
    pub synced_version: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

fn assistant_object() -> utoipa::openapi::Object {
    crate::schema::constant("assistant")
}

impl From<Assistant> for AssistantView {
    fn from(a: Assistant) -> Self {
        Self {
            id: a.id,
            object: "assistant",
            name: a.name,
            sector: a.sector,
            language: a.language,
            status: a.status,
            failure_reason: a.failure_reason,
            phone_number: a.phone_number,
            phone_country: a.phone_country,
            area_code: a.area_code,
            business: a.business,
            voice: a.voice,
            greeting: a.greeting,
            system_prompt: a.system_prompt,
            config_version: a.config_version,
            synced_version: a.synced_version,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}
