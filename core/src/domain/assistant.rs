//! Assistants: their life cycle and the validation of what a customer asks for.

use serde::{Deserialize, Serialize};

use super::business_hours::{BusinessHours, HoursSpec};
use super::phone::{CountryCode, PhoneNumber};
use super::sector::{BusinessDetails, Language, Sector};

/// Where an assistant is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
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
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneNumberRequest {
    /// ISO 3166-1 alpha-2 country code (`FR`, the default).
    #[schema(examples("FR"))]
    pub country: Option<String>,
    /// Preferred area code or prefix, if any (`1` for Paris, `415`): 1 to 6 digits.
    #[schema(examples("1"))]
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
                .map_err(|m| errors.push(FieldError::new(field("country"), m)))
                .ok(),
        };
        let area_code = match self.area_code.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(a) if a.len() <= 6 && a.bytes().all(|b| b.is_ascii_digit()) => Some(a.to_string()),
            Some(_) => {
                errors.push(FieldError::new(field("area_code"), "must be 1 to 6 digits"));
                None
            }
        };
        (country, area_code)
    }
}

/// Business details as received, before validation.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BusinessRequest {
    /// Trading name: 1 to 120 characters, not blank, no control characters.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 120)]
    pub name: Option<String>,
    /// Postal address: up to 500 characters.
    #[schema(max_length = 500)]
    pub address: Option<String>,
    /// Opening hours, as the business writes them: up to 500 characters.
    #[schema(max_length = 500)]
    pub opening_hours: Option<String>,
    /// Services offered: at most 50, each 1 to 120 characters.
    #[serde(default)]
    #[schema(max_items = 50)]
    pub services: Vec<String>,
    /// Where to transfer a caller who asks for a person: a phone number, national (read in the
    /// number's country) or international.
    #[schema(examples("+33142868000"))]
    pub transfer_number: Option<String>,
    /// Structured opening hours, from which availability is computed (`opening_hours` stays
    /// the text the assistant reads).
    pub hours: Option<HoursSpec>,
}

/// `POST /v1/assistants` as received, before validation.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssistantRequest {
    /// Display name: 1 to 120 characters, not blank, no control characters.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 120)]
    pub name: Option<String>,
    /// Sector.
    #[schema(value_type = Sector, required = true)]
    pub sector: Option<String>,
    /// Language; `fr` when not given.
    #[schema(value_type = Option<Language>)]
    pub language: Option<String>,
    /// The business.
    #[schema(value_type = BusinessRequest, required = true)]
    pub business: Option<BusinessRequest>,
    /// The number wanted; in France, any area, when not given.
    pub phone_number: Option<PhoneNumberRequest>,
    /// Voice id at the voice platform (up to 120 characters); a default per language otherwise.
    #[schema(max_length = 120)]
    pub voice: Option<String>,
    /// First sentence (up to 500 characters); a default per language otherwise.
    #[schema(max_length = 500)]
    pub greeting: Option<String>,
    /// A system prompt replacing the sector's template (up to 20,000 characters).
    #[schema(max_length = 20000)]
    pub system_prompt: Option<String>,
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
}

/// `PATCH /v1/assistants/{id}` as received: at least one field must be given.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssistantPatch {
    /// New system prompt: 1 to 20,000 characters, not blank.
    #[schema(min_length = 1, max_length = 20000)]
    pub system_prompt: Option<String>,
    /// New voice id: 1 to 120 characters, not blank.
    #[schema(min_length = 1, max_length = 120)]
    pub voice: Option<String>,
    /// New first sentence: 1 to 500 characters, not blank.
    #[schema(min_length = 1, max_length = 500)]
    pub greeting: Option<String>,
    /// The calendar the assistant books into: a writable calendar of one of the
    /// organisation's active calendar connections; `null` detaches it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<CalendarChoice>, required = false)]
    pub calendar: Option<Option<CalendarChoice>>,
    /// Changes to the business: only its structured `hours` can change here.
    pub business: Option<BusinessPatch>,
}

/// The part of the business `PATCH /v1/assistants/{id}` can change.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BusinessPatch {
    /// New structured opening hours, replacing the old ones whole; `null` removes them.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<HoursSpec>, required = false)]
    pub hours: Option<Option<HoursSpec>>,
}

/// The calendar an assistant books into, as `PATCH /v1/assistants/{id}` names it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
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

impl AssistantRequest {
    /// Validates every field, returning all the errors at once.
    pub fn validate(&self) -> Result<NewAssistant, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = required_text(&mut errors, "name", self.name.as_ref(), MAX_NAME);
        let sector = match self.sector.as_deref() {
            None => {
                errors.push(FieldError::new("sector", "is required"));
                None
            }
            Some(s) => Sector::parse(s).or_else(|| {
                let names: Vec<_> = Sector::ALL.iter().map(|s| s.as_str()).collect();
                errors.push(FieldError::new(
                    "sector",
                    format!("must be one of {}", names.join(", ")),
                ));
                None
            }),
        };
        let language = match self.language.as_deref() {
            None => Some(Language::Fr),
            Some("fr") => Some(Language::Fr),
            Some("en") => Some(Language::En),
            Some(_) => {
                errors.push(FieldError::new("language", "must be fr or en"));
                None
            }
        };
        let phone = self.phone_number.clone().unwrap_or_default();
        let (phone_country, area_code) = phone.check("phone_number", &mut errors);
        let business = match &self.business {
            None => {
                errors.push(FieldError::new("business", "is required"));
                None
            }
            Some(b) => {
                let bname = required_text(&mut errors, "business.name", b.name.as_ref(), MAX_NAME);
                let address = optional_text(
                    &mut errors,
                    "business.address",
                    b.address.as_ref(),
                    MAX_TEXT,
                );
                let hours = optional_text(
                    &mut errors,
                    "business.opening_hours",
                    b.opening_hours.as_ref(),
                    MAX_TEXT,
                );
                if b.services.len() > 50 {
                    errors.push(FieldError::new(
                        "business.services",
                        "must list at most 50 services",
                    ));
                }
                let mut services = Vec::new();
                for (i, s) in b.services.iter().enumerate() {
                    if let Some(s) = required_text(
                        &mut errors,
                        &format!("business.services[{i}]"),
                        Some(s),
                        MAX_NAME,
                    ) {
                        services.push(s);
                    }
                }
                let transfer = match b.transfer_number.as_deref().map(str::trim) {
                    None | Some("") => None,
                    Some(t) => match PhoneNumber::parse(t, phone_country.clone()) {
                        Ok(n) => Some(n.to_string()),
                        Err(e) => {
                            errors.push(FieldError::new("business.transfer_number", e.to_string()));
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
        let voice = optional_text(&mut errors, "voice", self.voice.as_ref(), MAX_NAME);
        let greeting = optional_text(&mut errors, "greeting", self.greeting.as_ref(), MAX_TEXT);
        let prompt = optional_text(
            &mut errors,
            "system_prompt",
            self.system_prompt.as_ref(),
            MAX_PROMPT,
        );
        match (name, sector, language, business, phone_country) {
            (Some(name), Some(sector), Some(language), Some(business), Some(phone_country))
                if errors.is_empty() =>
            {
                let system_prompt = prompt
                    .unwrap_or_else(|| super::sector::system_prompt(sector, language, &business));
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
}

impl AssistantPatch {
    /// Validates the change; at least one field must be given.
    pub fn validate(&self) -> Result<AssistantChange, Vec<FieldError>> {
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
        if errors.is_empty()
            && system_prompt.is_none()
            && voice.is_none()
            && greeting.is_none()
            && self.calendar.is_none()
            && hours.is_none()
        {
            errors.push(FieldError::new(
                "body",
                "give at least one of system_prompt, voice, greeting, calendar, business.hours",
            ));
        }
        if errors.is_empty() {
            Ok(AssistantChange {
                system_prompt,
                voice,
                greeting,
                hours,
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
        let change = patch.validate().expect("valid");
        assert!(matches!(change.hours, Some(Some(_))));
        let removal: AssistantPatch =
            serde_json::from_value(serde_json::json!({"business": {"hours": null}})).expect("json");
        assert_eq!(removal.validate().expect("valid").hours, Some(None));
        let empty: AssistantPatch =
            serde_json::from_value(serde_json::json!({"business": {}})).expect("json");
        assert_eq!(empty.validate().expect_err("invalid")[0].field, "business");
    }

    #[test]
    fn an_empty_patch_is_refused() {
        assert!(AssistantPatch::default().validate().is_err());
        let p = AssistantPatch {
            greeting: Some("Bonjour".into()),
            ..Default::default()
        };
        assert_eq!(
            p.validate().expect("valid").greeting.as_deref(),
            Some("Bonjour")
        );
    }
}
