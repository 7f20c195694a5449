//! Assistants: their life cycle and the validation of what a customer asks for.

use serde::{Deserialize, Serialize};

use super::business_hours::{BusinessHours, HoursSpec};
use super::phone::{CountryCode, PhoneNumber};
use super::sector::{BusinessDetails, Language, Sector};
use super::sector_details::SectorDetails;

/// Where an assistant is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AssistantStatus {
    /// Being created at the voice platform and given a number.
    Provisioning,
    /// Answering calls on its number.
    Active,
    /// Provisioning failed for good; `failure_reason` says why.
    Failed,
    /// Being removed from the providers.
    Deleting,
    /// Removed; its number was released.
    Deleted,
}

impl AssistantStatus {
    /// Every status.
    pub const ALL: [AssistantStatus; 5] = [
        AssistantStatus::Provisioning,
        AssistantStatus::Active,
        AssistantStatus::Failed,
        AssistantStatus::Deleting,
        AssistantStatus::Deleted,
    ];

    /// The stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            AssistantStatus::Provisioning => "provisioning",
            AssistantStatus::Active => "active",
            AssistantStatus::Failed => "failed",
            AssistantStatus::Deleting => "deleting",
            AssistantStatus::Deleted => "deleted",
        }
    }

    /// Parses a stored or API name.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// One invalid field of a request: its JSON path and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// Dotted path of the field (`business.transfer_number`).
    pub field: String,
    /// What is wrong, for a person to read.
    pub message: String,
}

impl FieldError {
    /// A new field error.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The number a customer asks for.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PhoneNumberRequest {
    /// ISO 3166-1 alpha-2 country code (`FR`, the default).
    #[cfg_attr(feature = "openapi", schema(examples("FR")))]
    pub country: Option<String>,
    /// Preferred area code or prefix, if any (`1` for Paris, `415`): 1 to 6 digits.
    #[cfg_attr(feature = "openapi", schema(examples("1")))]
    pub area_code: Option<String>,
}

impl PhoneNumberRequest {
    /// Validates the country (`FR` when not given) and the area code, returning the errors
    /// under `prefix` (`phone_number.country`, ...).
    pub fn validate(&self, prefix: &str) -> Result<(CountryCode, Option<String>), Vec<FieldError>> {
        let mut errors = Vec::new();
        match self.check(prefix, &mut errors) {
            (Some(country), area_code) if errors.is_empty() => Ok((country, area_code)),
            _ => Err(errors),
        }
    }

    fn check(
        &self,
        prefix: &str,
        errors: &mut Vec<FieldError>,
    ) -> (Option<CountryCode>, Option<String>) {
        let field = |name: &str| {
            if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}.{name}")
            }
        };
        let country = match self.country.as_deref() {
            None => CountryCode::parse("FR").ok(),
            Some(c) => CountryCode::parse(c)
                .map_err(|_| {
                    errors.push(FieldError::new(
                        field("country"),
                        "the country must be a two-letter country code, such as FR or US",
                    ))
                })
                .ok(),
        };
        let area_code = match self.area_code.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(a) if a.len() <= 6 && a.bytes().all(|b| b.is_ascii_digit()) => Some(a.to_string()),
            Some(_) => {
                errors.push(FieldError::new(
                    field("area_code"),
                    "the area code must be 1 to 6 digits",
                ));
                None
            }
        };
        (country, area_code)
    }
}

/// Business details as received, before validation.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BusinessRequest {
    /// Trading name: 1 to 120 characters, not blank, no control characters.
    #[cfg_attr(feature = "openapi", schema(value_type = String, required = true, min_length = 1, max_length = 120))]
    pub name: Option<String>,
    /// Postal address: up to 500 characters.
    #[cfg_attr(feature = "openapi", schema(max_length = 500))]
    pub address: Option<String>,
    /// Opening hours, as the business writes them: up to 500 characters.
    #[cfg_attr(feature = "openapi", schema(max_length = 500))]
    pub opening_hours: Option<String>,
    /// Services offered: at most 50, each 1 to 120 characters.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 50))]
    pub services: Vec<String>,
    /// Where to transfer a caller who asks for a person: a phone number, national (read in the
    /// number's country) or international.
    #[cfg_attr(feature = "openapi", schema(examples("+33142868000")))]
    pub transfer_number: Option<String>,
    /// Structured opening hours, from which availability is computed (`opening_hours` stays
    /// the text the assistant reads).
    pub hours: Option<HoursSpec>,
}

/// `POST /v1/assistants` as received, before validation.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AssistantRequest {
    /// Display name: 1 to 120 characters, not blank, no control characters.
    #[cfg_attr(feature = "openapi", schema(value_type = String, required = true, min_length = 1, max_length = 120))]
    pub name: Option<String>,
    /// Sector.
    #[cfg_attr(feature = "openapi", schema(value_type = Sector, required = true))]
    pub sector: Option<String>,
    /// Language; `fr` when not given.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Language>))]
    pub language: Option<String>,
    /// The business.
    #[cfg_attr(feature = "openapi", schema(value_type = BusinessRequest, required = true))]
    pub business: Option<BusinessRequest>,
    /// The number wanted; in France, any area, when not given.
    pub phone_number: Option<PhoneNumberRequest>,
    /// Voice id at the voice platform (up to 120 characters); a default per language otherwise.
    #[cfg_attr(feature = "openapi", schema(max_length = 120))]
    pub voice: Option<String>,
    /// First sentence (up to 500 characters); a default per language otherwise.
    #[cfg_attr(feature = "openapi", schema(max_length = 500))]
    pub greeting: Option<String>,
    /// A system prompt replacing the sector's template (up to 20,000 characters).
    #[cfg_attr(feature = "openapi", schema(max_length = 20000))]
    pub system_prompt: Option<String>,
    /// What the sector needs to know (covers, services and durations, emergency policy...),
    /// tagged with the assistant's sector; the sector's prompt says them to callers.
    pub sector_details: Option<SectorDetails>,
}

/// A validated new assistant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAssistant {
    /// Display name.
    pub name: String,
    /// Sector.
    pub sector: Sector,
    /// Language.
    pub language: Language,
    /// The business.
    pub business: BusinessDetails,
    /// Country of the number to buy.
    pub phone_country: CountryCode,
    /// Preferred area code.
    pub area_code: Option<String>,
    /// Voice id.
    pub voice: String,
    /// First sentence.
    pub greeting: String,
    /// System prompt.
    pub system_prompt: String,
    /// The sector's specific details, when given.
    pub sector_details: Option<SectorDetails>,
}

/// `PATCH /v1/assistants/{id}` as received: at least one field must be given.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AssistantPatch {
    /// New system prompt: 1 to 20,000 characters, not blank.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 20000))]
    pub system_prompt: Option<String>,
    /// New voice id: 1 to 120 characters, not blank.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 120))]
    pub voice: Option<String>,
    /// New first sentence: 1 to 500 characters, not blank.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 500))]
    pub greeting: Option<String>,
    /// The calendar the assistant books into: a writable calendar of one of the
    /// organisation's active calendar connections; `null` detaches it.
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<CalendarChoice>, required = false))]
    pub calendar: Option<Option<CalendarChoice>>,
    /// Changes to the business: only its structured `hours` can change here.
    pub business: Option<BusinessPatch>,
    /// New sector details, replacing the old ones whole (tagged with the assistant's sector);
    /// `null` removes them. When the prompt is the sector's template, it is rewritten with them.
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<SectorDetails>, required = false))]
    pub sector_details: Option<Option<SectorDetails>>,
}

/// The part of the business `PATCH /v1/assistants/{id}` can change.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BusinessPatch {
    /// New structured opening hours, replacing the old ones whole; `null` removes them.
    #[serde(default, deserialize_with = "present")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<HoursSpec>, required = false))]
    pub hours: Option<Option<HoursSpec>>,
}

/// The calendar an assistant books into, as `PATCH /v1/assistants/{id}` names it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CalendarChoice {
    /// The connection, `ccon_...`.
    pub connection_id: String,
    /// The calendar's id at Google (see `GET /v1/calendar/connections/{id}/calendars`).
    pub calendar_id: String,
}

/// A field given, even as `null`, is `Some`; a missing one stays `None` (`#[serde(default)]`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

const MAX_NAME: usize = 120;
const MAX_TEXT: usize = 500;
const MAX_PROMPT: usize = 20_000;

/// The voice used when the customer names none.
pub fn default_voice(language: Language) -> &'static str {
    match language {
        Language::Fr => "azure:fr-FR-DeniseNeural",
        Language::En => "azure:en-US-JennyNeural",
    }
}

pub(crate) fn required_text(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: Option<&String>,
    max: usize,
) -> Option<String> {
    match value.map(|s| s.trim()) {
        None | Some("") => {
            errors.push(FieldError::new(field, "is required"));
            None
        }
        Some(s) if s.chars().count() > max => {
            errors.push(FieldError::new(
                field,
                format!("must be at most {max} characters"),
            ));
            None
        }
        Some(s) if s.chars().any(|c| c.is_control() && c != '\n') => {
            errors.push(FieldError::new(
                field,
                "must not contain control characters",
            ));
            None
        }
        Some(s) => Some(s.to_string()),
    }
}

pub(crate) fn optional_text(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: Option<&String>,
    max: usize,
) -> Option<String> {
    match value.map(|s| s.trim()) {
        None | Some("") => None,
        Some(s) => required_text(errors, field, Some(&s.to_string()), max),
    }
}

/// Like [`required_text`], with messages that name what the field holds (`the business's
/// name is required`), for an agent to repeat to a person.
fn described_text(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: Option<&String>,
    max: usize,
    what: &str,
) -> Option<String> {
    match value.map(|s| s.trim()) {
        None | Some("") => {
            errors.push(FieldError::new(field, format!("{what} is required")));
            None
        }
        Some(s) if s.chars().count() > max => {
            errors.push(FieldError::new(
                field,
                format!("{what} must be at most {max} characters"),
            ));
            None
        }
        Some(s) if s.chars().any(|c| c.is_control() && c != '\n') => {
            errors.push(FieldError::new(
                field,
                format!("{what} must not contain control characters"),
            ));
            None
        }
        Some(s) => Some(s.to_string()),
    }
}

/// Like [`described_text`] for a field that may be left out or blank.
fn described_optional(
    errors: &mut Vec<FieldError>,
    field: &str,
    value: Option<&String>,
    max: usize,
    what: &str,
) -> Option<String> {
    match value.map(|s| s.trim()) {
        None | Some("") => None,
        Some(s) => described_text(errors, field, Some(&s.to_string()), max, what),
    }
}

/// What a phone number must be, in the words of the country its national numbers are read in.
pub(crate) fn phone_rule(country: Option<&CountryCode>) -> String {
    match country.map(CountryCode::as_str) {
        None | Some("FR") => "a French or international phone number".to_string(),
        Some(c) => format!("a national ({c}) or international phone number"),
    }
}

impl AssistantRequest {
    /// Validates every field, returning all the errors at once.
    pub fn validate(&self) -> Result<NewAssistant, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = described_text(
            &mut errors,
            "name",
            self.name.as_ref(),
            MAX_NAME,
            "the assistant's name",
        );
        let sector_names = || {
            Sector::ALL
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let sector = match self.sector.as_deref() {
            None => {
                errors.push(FieldError::new(
                    "sector",
                    format!("the sector is required: one of {}", sector_names()),
                ));
                None
            }
            Some(s) => Sector::parse(s).or_else(|| {
                errors.push(FieldError::new(
                    "sector",
                    format!("the sector must be one of {}", sector_names()),
                ));
                None
            }),
        };
        let language = match self.language.as_deref().map(Language::parse_code) {
            None => Some(Language::Fr),
            Some(Some(language)) => Some(language),
            Some(None) => {
                errors.push(FieldError::new(
                    "language",
                    "the language must be fr (French) or en (English)",
                ));
                None
            }
        };
        let phone = self.phone_number.clone().unwrap_or_default();
        let (phone_country, area_code) = phone.check("phone_number", &mut errors);
        let business = match &self.business {
            None => {
                errors.push(FieldError::new(
                    "business",
                    "the business is required, with at least its name",
                ));
                None
            }
            Some(b) => {
                let bname = described_text(
                    &mut errors,
                    "business.name",
                    b.name.as_ref(),
                    MAX_NAME,
                    "the business's name",
                );
                let address = described_optional(
                    &mut errors,
                    "business.address",
                    b.address.as_ref(),
                    MAX_TEXT,
                    "the address",
                );
                let hours = described_optional(
                    &mut errors,
                    "business.opening_hours",
                    b.opening_hours.as_ref(),
                    MAX_TEXT,
                    "the opening hours",
                );
                if b.services.len() > 50 {
                    errors.push(FieldError::new(
                        "business.services",
                        "list at most 50 services",
                    ));
                }
                let mut services = Vec::new();
                for (i, s) in b.services.iter().enumerate() {
                    if let Some(s) = described_text(
                        &mut errors,
                        &format!("business.services[{i}]"),
                        Some(s),
                        MAX_NAME,
                        "the service's name",
                    ) {
                        services.push(s);
                    }
                }
                let transfer = match b.transfer_number.as_deref().map(str::trim) {
                    None | Some("") => None,
                    Some(t) => match PhoneNumber::parse(t, phone_country.clone()) {
                        Ok(n) => Some(n.to_string()),
                        Err(_) => {
                            errors.push(FieldError::new(
                                "business.transfer_number",
                                format!(
                                    "the transfer number must be {}",
                                    phone_rule(phone_country.as_ref())
                                ),
                            ));
                            None
                        }
                    },
                };
                let structured = b.hours.as_ref().and_then(|h| {
                    h.validate("business.hours")
                        .map_err(|e| errors.extend(e))
                        .ok()
                });
                bname.map(|name| BusinessDetails {
                    name,
                    address,
                    opening_hours: hours,
                    services,
                    transfer_number: transfer,
                    hours: structured,
                })
            }
        };
        let voice = described_optional(
            &mut errors,
            "voice",
            self.voice.as_ref(),
            MAX_NAME,
            "the voice id",
        );
        let greeting = described_optional(
            &mut errors,
            "greeting",
            self.greeting.as_ref(),
            MAX_TEXT,
            "the greeting",
        );
        let prompt = described_optional(
            &mut errors,
            "system_prompt",
            self.system_prompt.as_ref(),
            MAX_PROMPT,
            "the system prompt",
        );
        let sector_details = match (&self.sector_details, sector) {
            (Some(d), Some(sector)) => d
                .validate(sector, phone_country.clone())
                .map_err(|e| errors.extend(e))
                .ok(),
            _ => None,
        };
        match (name, sector, language, business, phone_country) {
            (Some(name), Some(sector), Some(language), Some(business), Some(phone_country))
                if errors.is_empty() =>
            {
                let system_prompt = prompt.unwrap_or_else(|| {
                    super::sector::system_prompt(
                        sector,
                        language,
                        &business,
                        sector_details.as_ref(),
                    )
                });
                let greeting = greeting
                    .unwrap_or_else(|| super::sector::default_greeting(language, &business.name));
                let voice = voice.unwrap_or_else(|| default_voice(language).to_string());
                Ok(NewAssistant {
                    name,
                    sector,
                    language,
                    business,
                    phone_country,
                    area_code,
                    voice,
                    greeting,
                    system_prompt,
                    sector_details,
                })
            }
            _ => Err(errors),
        }
    }
}

/// A validated change to an assistant.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AssistantChange {
    /// New system prompt.
    pub system_prompt: Option<String>,
    /// New voice.
    pub voice: Option<String>,
    /// New greeting.
    pub greeting: Option<String>,
    /// New structured hours: `Some(None)` removes them, `None` leaves them.
    pub hours: Option<Option<BusinessHours>>,
    /// New sector details: `Some(None)` removes them, `None` leaves them.
    pub sector_details: Option<Option<SectorDetails>>,
}

impl AssistantPatch {
    /// Validates the change; at least one field must be given. `assistant` is the sector of
    /// the assistant changed and the country its national numbers are read in, against which
    /// new sector details are checked (without it, against the sector they name).
    pub fn validate(
        &self,
        assistant: Option<(Sector, Option<CountryCode>)>,
    ) -> Result<AssistantChange, Vec<FieldError>> {
        let mut errors = Vec::new();
        let system_prompt = self
            .system_prompt
            .as_ref()
            .and_then(|p| required_text(&mut errors, "system_prompt", Some(p), MAX_PROMPT));
        let voice = self
            .voice
            .as_ref()
            .and_then(|v| required_text(&mut errors, "voice", Some(v), MAX_NAME));
        let greeting = self
            .greeting
            .as_ref()
            .and_then(|g| required_text(&mut errors, "greeting", Some(g), MAX_TEXT));
        if let Some(Some(choice)) = &self.calendar {
            for (field, value) in [
                ("calendar.connection_id", &choice.connection_id),
                ("calendar.calendar_id", &choice.calendar_id),
            ] {
                if value.trim().is_empty() {
                    errors.push(FieldError::new(field, "is required"));
                } else if value.len() > 1024 {
                    errors.push(FieldError::new(field, "must be at most 1024 characters"));
                }
            }
        }
        let hours = match self.business.as_ref().map(|b| &b.hours) {
            None => None,
            Some(None) => {
                errors.push(FieldError::new(
                    "business",
                    "give hours (or null to remove them)",
                ));
                None
            }
            Some(Some(None)) => Some(None),
            Some(Some(Some(spec))) => match spec.validate("business.hours") {
                Ok(h) => Some(Some(h)),
                Err(e) => {
                    errors.extend(e);
                    None
                }
            },
        };
        let sector_details = match &self.sector_details {
            None => None,
            Some(None) => Some(None),
            Some(Some(d)) => match assistant
                .clone()
                .map_or_else(|| d.validate(d.sector(), None), |(s, c)| d.validate(s, c))
            {
                Ok(d) => Some(Some(d)),
                Err(e) => {
                    errors.extend(e);
                    None
                }
            },
        };
        if errors.is_empty()
            && system_prompt.is_none()
            && voice.is_none()
            && greeting.is_none()
            && self.calendar.is_none()
            && hours.is_none()
            && sector_details.is_none()
        {
            errors.push(FieldError::new(
                "body",
                "give at least one of system_prompt, voice, greeting, calendar, business.hours, sector_details",
            ));
        }
        if errors.is_empty() {
            Ok(AssistantChange {
                system_prompt,
                voice,
                greeting,
                hours,
                sector_details,
            })
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> AssistantRequest {
        serde_json::from_value(serde_json::json!({
            "name": "Chez Marcel", "sector": "restaurant", "language": "fr",
            "business": {"name": "Chez Marcel", "address": "12 rue des Lilas", "opening_hours": "12h-23h",
                         "services": ["dîner"], "transfer_number": "01 42 86 80 00"},
            "phone_number": {"country": "FR", "area_code": null}
        })).expect("json")
    }

    #[test]
    fn a_complete_request_is_accepted_with_a_filled_prompt() {
        let a = valid().validate().expect("valid");
        assert_eq!(a.sector, Sector::Restaurant);
        assert_eq!(a.business.transfer_number.as_deref(), Some("+33142868000"));
        assert!(a.system_prompt.contains("Chez Marcel"));
        assert_eq!(a.phone_country.as_str(), "FR");
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let mut r = valid();
        r.name = Some("  ".into());
        r.sector = Some("bakery".into());
        r.phone_number = Some(PhoneNumberRequest {
            country: Some("ZZ".into()),
            area_code: Some("abc".into()),
        });
        r.business.as_mut().expect("business").transfer_number = Some("not a number".into());
        let errors = r.validate().expect_err("invalid");
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        for f in [
            "name",
            "sector",
            "phone_number.country",
            "phone_number.area_code",
            "business.transfer_number",
        ] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
    }

    #[test]
    fn structured_hours_are_validated_with_field_named_errors() {
        let mut r = valid();
        r.business.as_mut().expect("business").hours = Some(
            serde_json::from_value(serde_json::json!({
                "time_zone": "Europe/Paris",
                "weekly": {"monday": [["09:00", "12:00"], ["14:00", "12:00"]]}
            }))
            .expect("json"),
        );
        let errors = r.validate().expect_err("invalid");
        assert_eq!(errors[0].field, "business.hours.weekly.monday[1]");
        assert_eq!(
            errors[0].message,
            "the range 14:00-12:00 ends before it starts"
        );

        let patch: AssistantPatch = serde_json::from_value(serde_json::json!({
            "business": {"hours": {"time_zone": "Europe/Paris", "weekly": {"friday": [["09:00", "17:00"]]}}}
        }))
        .expect("json");
        let change = patch.validate(None).expect("valid");
        assert!(matches!(change.hours, Some(Some(_))));
        let removal: AssistantPatch =
            serde_json::from_value(serde_json::json!({"business": {"hours": null}})).expect("json");
        assert_eq!(removal.validate(None).expect("valid").hours, Some(None));
        let empty: AssistantPatch =
            serde_json::from_value(serde_json::json!({"business": {}})).expect("json");
        assert_eq!(
            empty.validate(None).expect_err("invalid")[0].field,
            "business"
        );
    }

    #[test]
    fn an_empty_patch_is_refused() {
        assert!(AssistantPatch::default().validate(None).is_err());
        let p = AssistantPatch {
            greeting: Some("Bonjour".into()),
            ..Default::default()
        };
        assert_eq!(
            p.validate(None).expect("valid").greeting.as_deref(),
            Some("Bonjour")
        );
    }
}
