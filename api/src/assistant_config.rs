//! `GET /v1/assistant-config/schema`: the JSON Schema of AssistantConfig, what the
//! configurator collects for an assistant (sector, language, the business's identity, opening
//! hours, services, transfer number, greeting, voice and the sector's specific details). It is
//! generated from the types the MCP tools read, so the schema an agent reads here is the one
//! `create_assistant_and_provision_number` and `POST /v1/assistants` check against.

use std::sync::LazyLock;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use rmcp::schemars;
use zencall_core::store::api_keys::Scope;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::mcp::types::AssistantDraft;
use crate::openapi::V1Errors;

/// The schema's route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show))
}

/// The JSON Schema (draft 2020-12) of AssistantConfig, made once.
pub fn schema() -> &'static serde_json::Value {
    static SCHEMA: LazyLock<serde_json::Value> = LazyLock::new(|| {
        // Pinned to draft 2020-12, which the route documents, whatever schemars' default.
        let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
        let mut schema =
            serde_json::Value::from(generator.into_root_schema_for::<AssistantDraft>());
        if let Some(object) = schema.as_object_mut() {
            object.insert("title".into(), "AssistantConfig".into());
        }
        schema
    });
    &SCHEMA
}

/// Serves the JSON Schema of AssistantConfig.
#[utoipa::path(
    get,
    path = "/v1/assistant-config/schema",
    tag = "assistants",
    operation_id = "get_assistant_config_schema",
    summary = "The JSON Schema of an assistant's configuration",
    description = "The JSON Schema (draft 2020-12) of AssistantConfig, the body \
        `POST /v1/assistants` takes and what a configurator collects: sector, language, the \
        business's identity, structured opening hours, services, transfer number, greeting, \
        voice and `sector_details`, whose shape depends on the sector (tagged by its own \
        `sector`). Each field says its bounds. The MCP tool `get_assistant_config_schema` \
        answers the same. Needs the `read` scope.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The JSON Schema of AssistantConfig",
         content_type = "application/json", body = serde_json::Value),
        V1Errors,
    )
)]
async fn show(caller: Caller) -> Result<Response, ApiError> {
    caller.require(Scope::Read)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        schema().to_string(),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_names_every_field_the_configurator_collects_and_each_sector() {
        let schema = schema();
        assert_eq!(schema["title"], "AssistantConfig");
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        let properties = schema["properties"].as_object().expect("properties");
        for field in [
            "name",
            "sector",
            "language",
            "business",
            "voice",
            "greeting",
            "sector_details",
        ] {
            assert!(properties.contains_key(field), "{field} missing");
        }
        let text = schema.to_string();
        for name in [
            "hair_beauty_salon",
            "duration_minutes",
            "covers",
            "emergencies",
            "transfer_number",
            "opening_hours",
            "escalation_contact",
        ] {
            assert!(text.contains(name), "{name} missing");
        }
        let service = &schema["$defs"]["TimedService"]["properties"]["duration_minutes"];
        assert_eq!(
            (&service["minimum"], &service["maximum"]),
            (&5.into(), &480.into()),
            "{service}"
        );
        for sector in zencall_core::domain::sector::Sector::ALL {
            assert!(
                text.contains(&format!("\"{}\"", sector.as_str())),
                "{} missing",
                sector.as_str()
            );
        }
    }
}
