//! The sector templates: the system prompt an assistant of a sector gets when none is given,
//! with the business details it is filled from, so an agent can show a draft before it creates.

use rmcp::schemars::JsonSchema;
use serde::Serialize;
use zencall_core::domain::assistant::default_voice;
use zencall_core::domain::configurator;
use zencall_core::domain::sector::{self, BusinessDetails, Language, Sector};

use crate::error::ApiError;

/// A sector's template in one language.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct SectorTemplate {
    /// The sector.
    pub sector: String,
    /// The language: `fr` or `en`.
    pub language: String,
    /// What an assistant of this sector does on the phone (what it asks callers).
    pub duties: String,
    /// The system prompt, with `{business.name}`, `{business.address}`,
    /// `{business.opening_hours}`, `{business.services}` and `{business.transfer_number}`
    /// where the business's details go.
    pub system_prompt_template: String,
    /// The first sentence, with `{business.name}` where the trading name goes.
    pub greeting_template: String,
    /// The voice used when none is given.
    pub default_voice: String,
    /// The business details the template is filled from, in the order the prompt reads them
    /// (`business.name` is required; the others are read as "not given" when missing).
    pub business_fields: Vec<String>,
    /// What to ask the business's owner, in order, to fill a configuration of this sector:
    /// the business's identity first, then the sector's own details (`sector_details.*`).
    pub questions: Vec<TemplateQuestion>,
}

/// A question for the owner, and the AssistantConfig field its answer fills.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct TemplateQuestion {
    /// The field (`business.transfer_number`, `sector_details.covers`).
    pub field: String,
    /// The question, in the template's language.
    pub ask: String,
}

/// The business fields the prompt reads, in its order.
const FIELDS: [&str; 5] = [
    "name",
    "address",
    "opening_hours",
    "services",
    "transfer_number",
];

/// The template of `sector` in `language` (`fr` when not given); a bad value is a 400 that
/// names the field, as in the assistant's validation.
pub fn template(sector: &str, language: Option<&str>) -> Result<SectorTemplate, ApiError> {
    let sector = Sector::parse(sector).ok_or_else(|| {
        let names: Vec<_> = Sector::ALL.iter().map(|s| s.as_str()).collect();
        ApiError::BadRequest(format!("sector: must be one of {}", names.join(", ")))
    })?;
    let language = match language {
        None => Language::Fr,
        Some(code) => Language::parse_code(code)
            .ok_or_else(|| ApiError::BadRequest("language: must be fr or en".into()))?,
    };
    let slot = |field: &str| format!("{{business.{field}}}");
    let placeholders = BusinessDetails {
        name: slot("name"),
        address: Some(slot("address")),
        opening_hours: Some(slot("opening_hours")),
        services: vec![slot("services")],
        transfer_number: Some(slot("transfer_number")),
        hours: None,
    };
    Ok(SectorTemplate {
        sector: sector.as_str().to_string(),
        language: language.code().to_string(),
        duties: sector.duties(language).to_string(),
        system_prompt_template: sector::system_prompt(sector, language, &placeholders, None),
        greeting_template: sector::default_greeting(language, &slot("name")),
        default_voice: default_voice(language).to_string(),
        business_fields: FIELDS.iter().map(|f| format!("business.{f}")).collect(),
        questions: configurator::questions(sector, language)
            .into_iter()
            .map(|q| TemplateQuestion {
                field: q.field.to_string(),
                ask: q.ask.to_string(),
            })
            .collect(),
    })
}
