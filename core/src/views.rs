//! The public shape of resources, as the API returns them and as our events carry them, so a
//! customer reads the same object from `GET` and from a webhook.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::assistant::AssistantStatus;
use crate::domain::sector::{BusinessDetails, Language, Sector};
use crate::domain::sector_details::SectorDetails;
use crate::store::assistants::Assistant;

/// An assistant as the API shows it and its events carry it.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AssistantView {
    /// `asst_...`
    pub id: String,
    /// Always `assistant`.
    #[cfg_attr(feature = "openapi", schema(schema_with = assistant_object))]
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
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub failure_reason: Option<String>,
    /// Its number, E.164, once bought.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub phone_number: Option<String>,
    /// Country of its number.
    pub phone_country: String,
    /// Preferred area code.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub area_code: Option<String>,
    /// The business it answers for.
    pub business: BusinessDetails,
    /// Voice id.
    pub voice: String,
    /// First sentence.
    pub greeting: String,
    /// System prompt.
    pub system_prompt: String,
    /// The sector's specific details; null when not given.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub sector_details: Option<SectorDetails>,
    /// Bumped by every change.
    pub config_version: i64,
    /// Latest version live at the voice platform.
    pub synced_version: i64,
    /// The calendar it books into; null when none is attached.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub calendar: Option<crate::store::assistants::AssistantCalendar>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

#[cfg(feature = "openapi")]
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
            sector_details: a.sector_details,
            config_version: a.config_version,
            synced_version: a.synced_version,
            calendar: a.calendar,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

/// A call's transcript analysis as the API shows it and `call.analyzed` carries it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnalysisView {
    /// `can_...`
    pub id: String,
    /// Always `call_analysis`.
    #[cfg_attr(feature = "openapi", schema(schema_with = analysis_object))]
    pub object: &'static str,
    /// The call.
    pub call_id: String,
    /// Whether it is the call's current analysis (a re-analysis replaces it; the old one stays
    /// in the history).
    pub current: bool,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// What the analyzer said.
    #[serde(flatten)]
    pub result: crate::domain::analysis::TranscriptAnalysis,
    /// The voice platform's own analysis of the call (Vapi's `summary`, `successEvaluation`,
    /// `structuredData`), when its report carried one.
    #[cfg_attr(feature = "openapi", schema(required = true, value_type = Option<Object>))]
    pub provider_analysis: Option<serde_json::Value>,
}

#[cfg(feature = "openapi")]
fn analysis_object() -> utoipa::openapi::Object {
    crate::schema::constant("call_analysis")
}

impl AnalysisView {
    /// The view of a stored analysis, with the provider's analysis as stored on the call.
    pub fn of(
        stored: crate::store::call_analyses::StoredAnalysis,
        provider_analysis: Option<&str>,
    ) -> Self {
        Self {
            id: stored.id,
            object: "call_analysis",
            call_id: stored.call_id,
            current: stored.is_current,
            created_at: stored.created_at,
            result: stored.analysis,
            provider_analysis: provider_analysis.and_then(|text| serde_json::from_str(text).ok()),
        }
    }
}
