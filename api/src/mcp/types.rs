//! The tools' arguments and answers, with the JSON schemas MCP clients read. They mirror the
//! REST bodies field for field and convert to and from the domain's types, so both doors
//! validate the same values with the same code. The sector's details are the domain's own
//! type, whose schema core derives under its `json-schema` feature.

use chrono::{DateTime, Utc};
use rmcp::schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use zencall_core::domain::assistant::{
    AssistantPatch, AssistantRequest, BusinessPatch, BusinessRequest, CalendarChoice,
    PhoneNumberRequest,
};
use zencall_core::domain::business_hours::{HoursSpec, WeeklyHoursSpec};
use zencall_core::domain::sector_details::SectorDetails;
use zencall_core::store::assistants::Assistant;

use crate::assistant_stats::AssistantStats;

/// The number wanted for an assistant.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct PhoneNumberDraft {
    /// ISO 3166-1 alpha-2 country code (`FR`, the default).
    pub country: Option<String>,
    /// Preferred area code or prefix (`1` for Paris, `415`): 1 to 6 digits.
    pub area_code: Option<String>,
}

impl From<PhoneNumberDraft> for PhoneNumberRequest {
    fn from(d: PhoneNumberDraft) -> Self {
        PhoneNumberRequest {
            country: d.country,
            area_code: d.area_code,
        }
    }
}

/// The open ranges of each weekday: each range a pair `["HH:MM", "HH:MM"]`, start included,
/// end excluded. A day left out is closed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct WeeklyHours {
    /// Monday's ranges, e.g. `[["09:00", "12:00"], ["14:00", "18:30"]]`.
    #[serde(default)]
    pub monday: Vec<Vec<String>>,
    /// Tuesday's ranges.
    #[serde(default)]
    pub tuesday: Vec<Vec<String>>,
    /// Wednesday's ranges.
    #[serde(default)]
    pub wednesday: Vec<Vec<String>>,
    /// Thursday's ranges.
    #[serde(default)]
    pub thursday: Vec<Vec<String>>,
    /// Friday's ranges.
    #[serde(default)]
    pub friday: Vec<Vec<String>>,
    /// Saturday's ranges.
    #[serde(default)]
    pub saturday: Vec<Vec<String>>,
    /// Sunday's ranges.
    #[serde(default)]
    pub sunday: Vec<Vec<String>>,
}

/// Structured opening hours, from which availability is computed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct Hours {
    /// The business's IANA time zone (`Europe/Paris`); every range and date is read in it.
    pub time_zone: Option<String>,
    /// The open ranges of each weekday; at least one range in the week.
    pub weekly: Option<WeeklyHours>,
    /// Public holidays on which the business is closed: `fr`, `fr-alsace-moselle`,
    /// `us-federal` or `none` (the default).
    pub holidays: Option<String>,
    /// Other dates it is closed (`YYYY-MM-DD`, local), at most 366.
    #[serde(default)]
    pub closed_dates: Vec<String>,
    /// The grid slot starts fall on, in minutes from local midnight: 5, 10, 15 (the default),
    /// 20, 30 or 60.
    pub slot_step_minutes: Option<u32>,
    /// How long before its start a slot can still be booked, in minutes: 0 to 43,200; 60 by
    /// default.
    pub min_notice_minutes: Option<u32>,
}

impl From<Hours> for HoursSpec {
    fn from(h: Hours) -> Self {
        HoursSpec {
            time_zone: h.time_zone,
            weekly: h.weekly.map(|w| WeeklyHoursSpec {
                monday: w.monday,
                tuesday: w.tuesday,
                wednesday: w.wednesday,
                thursday: w.thursday,
                friday: w.friday,
                saturday: w.saturday,
                sunday: w.sunday,
            }),
            holidays: h.holidays,
            closed_dates: h.closed_dates,
            slot_step_minutes: h.slot_step_minutes,
            min_notice_minutes: h.min_notice_minutes,
        }
    }
}

impl From<HoursSpec> for Hours {
    fn from(h: HoursSpec) -> Self {
        Hours {
            time_zone: h.time_zone,
            weekly: h.weekly.map(|w| WeeklyHours {
                monday: w.monday,
                tuesday: w.tuesday,
                wednesday: w.wednesday,
                thursday: w.thursday,
                friday: w.friday,
                saturday: w.saturday,
                sunday: w.sunday,
            }),
            holidays: h.holidays,
            closed_dates: h.closed_dates,
            slot_step_minutes: h.slot_step_minutes,
            min_notice_minutes: h.min_notice_minutes,
        }
    }
}

/// The business an assistant answers for.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct BusinessDraft {
    /// Trading name: 1 to 120 characters.
    #[schemars(required)]
    pub name: Option<String>,
    /// Postal address: up to 500 characters.
    pub address: Option<String>,
    /// Opening hours as the business writes them (read out by the assistant): up to 500
    /// characters.
    pub opening_hours: Option<String>,
    /// Services offered: at most 50, each 1 to 120 characters.
    #[serde(default)]
    pub services: Vec<String>,
    /// Where to transfer a caller who asks for a person: a phone number, national (read in the
    /// number's country) or international (`+33142868000`).
    pub transfer_number: Option<String>,
    /// Structured opening hours, from which availability is computed.
    pub hours: Option<Hours>,
}

/// AssistantConfig: an assistant's whole configuration, what the configurator collects and
/// `POST /v1/assistants` takes: sector, language, the business's identity, opening hours
/// (text and structured), services, transfer number, greeting, voice and the sector's
/// specific details.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct AssistantDraft {
    /// Display name: 1 to 120 characters.
    #[schemars(required)]
    pub name: Option<String>,
    /// Sector: `restaurant`, `hair_beauty_salon`, `craftsman`, `liberal_profession`, `shop` or
    /// `sme_customer_service`.
    #[schemars(required)]
    pub sector: Option<String>,
    /// Language: `fr` (the default) or `en`.
    pub language: Option<String>,
    /// The business.
    #[schemars(required)]
    pub business: Option<BusinessDraft>,
    /// The number wanted; in France, any area, when not given.
    pub phone_number: Option<PhoneNumberDraft>,
    /// Voice id at the voice platform (up to 120 characters); a default per language otherwise.
    pub voice: Option<String>,
    /// First sentence (up to 500 characters); a default per language otherwise.
    pub greeting: Option<String>,
    /// A system prompt replacing the sector's template (up to 20,000 characters).
    pub system_prompt: Option<String>,
    /// What the sector needs to know (covers, services and durations, emergency policy...),
    /// tagged with the same sector as `sector`.
    pub sector_details: Option<SectorDetails>,
}

impl From<AssistantDraft> for AssistantRequest {
    fn from(d: AssistantDraft) -> Self {
        AssistantRequest {
            name: d.name,
            sector: d.sector,
            language: d.language,
            business: d.business.map(|b| BusinessRequest {
                name: b.name,
                address: b.address,
                opening_hours: b.opening_hours,
                services: b.services,
                transfer_number: b.transfer_number,
                hours: b.hours.map(Into::into),
            }),
            phone_number: d.phone_number.map(Into::into),
            voice: d.voice,
            greeting: d.greeting,
            system_prompt: d.system_prompt,
            sector_details: d.sector_details,
        }
    }
}

/// Arguments of `provision_phone_number`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct ProvisionNumberArgs {
    /// The assistant, `asst_...`.
    pub assistant_id: String,
    /// ISO 3166-1 alpha-2 country code (`FR`, the default).
    pub country: Option<String>,
    /// Preferred area code or prefix (`1` for Paris, `415`): 1 to 6 digits.
    pub area_code: Option<String>,
}

/// Arguments of `list_assistants`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct ListAssistantsArgs {
    /// Only assistants in this status: `provisioning`, `active`, `failed`, `deleting` or
    /// `deleted`.
    pub status: Option<String>,
    /// Page size: 1 to 100, 20 by default.
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub starting_after: Option<String>,
}

/// Arguments of `get_assistant`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct GetAssistantArgs {
    /// The assistant, `asst_...`.
    pub assistant_id: String,
    /// Start of the statistics period (RFC 3339); 30 days before `to` by default.
    pub from: Option<DateTime<Utc>>,
    /// End of the statistics period (RFC 3339, exclusive); now by default. At most 366 days
    /// after `from`.
    pub to: Option<DateTime<Utc>>,
}

/// The calendar an assistant books into.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct CalendarRef {
    /// The calendar connection, `ccon_...`.
    pub connection_id: String,
    /// The calendar's id at the calendar provider.
    pub calendar_id: String,
}

/// The part of the business `update_assistant` can change.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct BusinessChange {
    /// New structured opening hours, replacing the old ones whole; `null` removes them.
    #[serde(default, deserialize_with = "present")]
    pub hours: Option<Option<Hours>>,
}

/// Arguments of `update_assistant`: the assistant and at least one change, as
/// `PATCH /v1/assistants/{id}` takes them.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct UpdateAssistantArgs {
    /// The assistant, `asst_...`.
    pub assistant_id: String,
    /// New system prompt: 1 to 20,000 characters.
    pub system_prompt: Option<String>,
    /// New voice id: 1 to 120 characters.
    pub voice: Option<String>,
    /// New first sentence: 1 to 500 characters.
    pub greeting: Option<String>,
    /// The calendar the assistant books into (a writable calendar of one of the
    /// organisation's active connections); `null` detaches it.
    #[serde(default, deserialize_with = "present")]
    pub calendar: Option<Option<CalendarRef>>,
    /// Changes to the business: only its structured `hours`.
    pub business: Option<BusinessChange>,
    /// New sector details, replacing the old ones whole (tagged with the assistant's sector);
    /// `null` removes them. A prompt still the sector's template is rewritten with them.
    #[serde(default, deserialize_with = "present")]
    pub sector_details: Option<Option<SectorDetails>>,
}

impl UpdateAssistantArgs {
    /// The assistant's id and the REST patch.
    pub fn into_patch(self) -> (String, AssistantPatch) {
        let patch = AssistantPatch {
            system_prompt: self.system_prompt,
            voice: self.voice,
            greeting: self.greeting,
            calendar: self.calendar.map(|c| {
                c.map(|c| CalendarChoice {
                    connection_id: c.connection_id,
                    calendar_id: c.calendar_id,
                })
            }),
            business: self.business.map(|b| BusinessPatch {
                hours: b.hours.map(|h| h.map(Into::into)),
            }),
            sector_details: self.sector_details,
        };
        (self.assistant_id, patch)
    }
}

/// A field given, even as `null`, is `Some`; a missing one stays `None` (`#[serde(default)]`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// The arguments of a tool that takes none: any given is refused by name.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct NoArguments {}

/// Arguments of `get_sector_template`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct SectorTemplateArgs {
    /// Sector: `restaurant`, `hair_beauty_salon`, `craftsman`, `liberal_profession`, `shop` or
    /// `sme_customer_service`.
    pub sector: String,
    /// Language: `fr` (the default) or `en`.
    pub language: Option<String>,
}

/// The business an assistant answers for, as stored.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct BusinessView {
    /// Trading name.
    pub name: String,
    /// Postal address.
    pub address: Option<String>,
    /// Opening hours, as the business writes them.
    pub opening_hours: Option<String>,
    /// Services offered.
    pub services: Vec<String>,
    /// Where a caller who asks for a person is transferred (E.164).
    pub transfer_number: Option<String>,
    /// Structured opening hours, every default filled in; null when not given.
    pub hours: Option<Hours>,
}

/// An assistant, as `GET /v1/assistants/{id}` shows it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct AssistantSummary {
    /// `asst_...`
    pub id: String,
    /// Display name.
    pub name: String,
    /// Sector.
    pub sector: String,
    /// Language it speaks: `fr` or `en`.
    pub language: String,
    /// `provisioning` (being set up), `active` (answering at its number), `failed` (see
    /// `failure_reason`), `deleting` or `deleted`.
    pub status: String,
    /// Why provisioning failed.
    pub failure_reason: Option<String>,
    /// Its number, E.164, once bought.
    pub phone_number: Option<String>,
    /// Country of its number.
    pub phone_country: String,
    /// Preferred area code.
    pub area_code: Option<String>,
    /// The business it answers for.
    pub business: BusinessView,
    /// Voice id.
    pub voice: String,
    /// First sentence.
    pub greeting: String,
    /// System prompt.
    pub system_prompt: String,
    /// The sector's specific details; null when not given.
    pub sector_details: Option<SectorDetails>,
    /// Bumped by every change.
    pub config_version: i64,
    /// Latest version live at the voice platform.
    pub synced_version: i64,
    /// The calendar it books into; null when none is attached.
    pub calendar: Option<CalendarRef>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<Assistant> for AssistantSummary {
    fn from(a: Assistant) -> Self {
        let view = zencall_core::views::AssistantView::from(a);
        AssistantSummary {
            id: view.id,
            name: view.name,
            sector: view.sector.as_str().to_string(),
            language: view.language.code().to_string(),
            status: view.status.as_str().to_string(),
            failure_reason: view.failure_reason,
            phone_number: view.phone_number,
            phone_country: view.phone_country,
            area_code: view.area_code,
            business: BusinessView {
                name: view.business.name,
                address: view.business.address,
                opening_hours: view.business.opening_hours,
                services: view.business.services,
                transfer_number: view.business.transfer_number,
                hours: view.business.hours.map(|h| h.to_spec().into()),
            },
            voice: view.voice,
            greeting: view.greeting,
            system_prompt: view.system_prompt,
            sector_details: view.sector_details,
            config_version: view.config_version,
            synced_version: view.synced_version,
            calendar: view.calendar.map(|c| CalendarRef {
                connection_id: c.connection_id,
                calendar_id: c.calendar_id,
            }),
            created_at: view.created_at,
            updated_at: view.updated_at,
        }
    }
}

/// An assistant with its call statistics.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct AssistantDetails {
    /// The assistant, with its status and number.
    pub assistant: AssistantSummary,
    /// What its calls came to over the period asked (the last 30 days by default).
    pub stats: AssistantStats,
}

/// What `validate_assistant_config` found.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct Validation {
    /// Whether `create_assistant_and_provision_number` would accept the configuration.
    pub valid: bool,
    /// One entry per invalid field; empty when valid.
    pub errors: Vec<FieldProblem>,
}

/// One invalid field.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct FieldProblem {
    /// The field, as a path (`business.transfer_number`, `business.services[2]`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}
