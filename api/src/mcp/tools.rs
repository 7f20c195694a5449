//! The tools: each reads its arguments into a type whose JSON schema the client sees, calls the
//! operation REST calls, and answers its result as structured content. Every refusal (bad
//! argument, scope, unknown assistant, state) is a tool error (`isError: true`) whose text an
//! agent can act on: it names the field or the scope. Only a broken request envelope is a
//! protocol error.

use std::sync::Arc;

use axum::http::request::Parts;
use rmcp::handler::server::common::schema_for_input;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::Json;
use rmcp::model::{
    CallToolResult, ContentBlock, Implementation, IntoContents, JsonObject, ServerCapabilities,
    ServerConfig,
};
use rmcp::schemars::JsonSchema;
use rmcp::{ServerHandler, tool, tool_handler, tool_router};
use serde::de::DeserializeOwned;
use zencall_core::domain::assistant::{AssistantRequest, PhoneNumberRequest};

use super::types::{
    AssistantDetails, AssistantDraft, AssistantSummary, FieldProblem, GetAssistantArgs,
    ListAssistantsArgs, NoArguments, ProvisionNumberArgs, SectorTemplateArgs, UpdateAssistantArgs,
    Validation,
};
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::http::pagination::Page;
use crate::operations;
use crate::operations::sectors::SectorTemplate;

/// What a tool answers when it refuses: a text for the agent, sent with `isError: true`.
#[derive(Debug)]
pub struct ToolError(String);

impl IntoContents for ToolError {
    fn into_contents(self) -> Vec<ContentBlock> {
        vec![ContentBlock::text(self.0)]
    }
}

impl From<ApiError> for ToolError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Invalid(errors) => ToolError(
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "MCP tool failed");
                ToolError(ApiError::Internal(String::new()).to_string())
            }
            other => ToolError(other.to_string()),
        }
    }
}

/// The input schema of a tool taking `T`.
fn input_schema<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    schema_for_input::<T>().unwrap_or_else(|e| {
        // Our argument types are all structs, which always give an object schema.
        tracing::error!(error = %e, "tool input schema is not an object");
        Arc::new(JsonObject::new())
    })
}

/// The output schema of `get_assistant_config_schema`: a JSON Schema, itself an object.
fn config_schema_output() -> Arc<JsonObject> {
    let mut schema = JsonObject::new();
    schema.insert("type".into(), "object".into());
    schema.insert(
        "description".into(),
        "The JSON Schema (draft 2020-12) of AssistantConfig".into(),
    );
    Arc::new(schema)
}

/// Arguments that cannot be read: the field (a path such as `business.services[2]`) and what
/// is wrong with it.
#[derive(Debug)]
struct ArgumentError {
    field: String,
    message: String,
}

impl From<ArgumentError> for ToolError {
    fn from(e: ArgumentError) -> Self {
        ToolError(format!("{}: {}", e.field, e.message))
    }
}

/// `arguments` read as `T`, or the field at fault.
fn parse<T: DeserializeOwned>(arguments: JsonObject) -> Result<T, ArgumentError> {
    serde_path_to_error::deserialize(serde_json::Value::Object(arguments)).map_err(|e| {
        let message = e.inner().to_string();
        let path = e.path().to_string();
        // At the top, serde names the unknown or missing field only in its message.
        let field = if path == "." {
            message.split('`').nth(1).unwrap_or("arguments").to_string()
        } else {
            path
        };
        ArgumentError { field, message }
    })
}

/// The caller the authentication layer found.
fn caller(parts: &Parts) -> Result<Caller, ToolError> {
    parts
        .extensions
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| ToolError::from(ApiError::Unauthorized))
}

/// The MCP server's tools, over the API's state.
#[derive(Clone)]
pub struct ZencallTools {
    state: AppState,
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl ZencallTools {
    /// The tools over `state`.
    pub fn new(state: AppState) -> Self {
        Self {
            state,
            tool_router: Self::tool_router(),
        }
    }

    /// Creates an assistant and starts buying its phone number.
    #[tool(
        description = "Create a phone assistant for a business and provision its phone number. \
            Validates every field (a refusal lists each invalid one, e.g. \
            `business.transfer_number: ...`), stores it as `provisioning` and returns at once \
            with its id and status; provisioning continues in the background: poll \
            `get_assistant` until `status` is `active` (with `phone_number`) or `failed` (with \
            `failure_reason`). Needs the `write` scope.",
        input_schema = input_schema::<AssistantDraft>(),
        annotations(read_only_hint = false, destructive_hint = false, open_world_hint = true)
    )]
    async fn create_assistant_and_provision_number(
        &self,
        Extension(parts): Extension<Parts>,
        arguments: JsonObject,
    ) -> Result<Json<AssistantSummary>, ToolError> {
        let caller = caller(&parts)?;
        let draft: AssistantDraft = parse(arguments)?;
        let assistant =
            operations::assistants::create(&self.state, &caller, AssistantRequest::from(draft))
                .await?;
        Ok(Json(assistant.into()))
    }

    /// Looks for a phone number again for an assistant whose provisioning failed.
    #[tool(
        description = "Search and buy a phone number for an existing assistant that has none \
            (its provisioning failed, e.g. no number in the area asked), by country and area \
            code. Returns at once with the assistant back in `provisioning`; poll \
            `get_assistant` until `active` or `failed`. An assistant that already has a number \
            keeps it. Needs the `write` scope.",
        input_schema = input_schema::<ProvisionNumberArgs>(),
        annotations(read_only_hint = false, destructive_hint = false, open_world_hint = true)
    )]
    async fn provision_phone_number(
        &self,
        Extension(parts): Extension<Parts>,
        arguments: JsonObject,
    ) -> Result<Json<AssistantSummary>, ToolError> {
        let caller = caller(&parts)?;
        let args: ProvisionNumberArgs = parse(arguments)?;
        let request = PhoneNumberRequest {
            country: args.country,
            area_code: args.area_code,
        };
        let assistant = operations::assistants::provision_number(
            &self.state,
            &caller,
            &args.assistant_id,
            &request,
        )
        .await?;
        Ok(Json(assistant.into()))
    }

    /// Lists the organisation's assistants.
    #[tool(
        description = "List the organisation's assistants, newest first, a page at a time \
            (`limit` 1 to 100, 20 by default; pass `next_cursor` as `starting_after` for the \
            next page), optionally only those in one `status`. Needs the `read` scope.",
        input_schema = input_schema::<ListAssistantsArgs>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_assistants(
        &self,
        Extension(parts): Extension<Parts>,
        arguments: JsonObject,
    ) -> Result<Json<Page<AssistantSummary>>, ToolError> {
        let caller = caller(&parts)?;
        let args: ListAssistantsArgs = parse(arguments)?;
        let (rows, limit) = operations::assistants::list(
            &self.state,
            &caller,
            args.status.as_deref(),
            args.limit,
            args.starting_after.as_deref(),
        )
        .await?;
        let summaries: Vec<AssistantSummary> = rows.into_iter().map(Into::into).collect();
        Ok(Json(Page::of(summaries, limit, |a| a.id.clone())))
    }

    /// One assistant, with its number, status and call statistics.
    #[tool(
        description = "Get one assistant: its configuration, `status` (`provisioning`, \
            `active`, `failed`, ...), `phone_number` once bought, and its call statistics \
            (calls, answered, talk time, sentiment, intents) over a period, the last 30 days \
            by default. Needs the `read` scope.",
        input_schema = input_schema::<GetAssistantArgs>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_assistant(
        &self,
        Extension(parts): Extension<Parts>,
        arguments: JsonObject,
    ) -> Result<Json<AssistantDetails>, ToolError> {
        let caller = caller(&parts)?;
        let args: GetAssistantArgs = parse(arguments)?;
        let assistant =
            operations::assistants::get(&self.state, &caller, &args.assistant_id).await?;
        let stats = operations::assistants::stats(
            &self.state,
            &caller,
            &args.assistant_id,
            args.from,
            args.to,
        )
        .await?;
        Ok(Json(AssistantDetails {
            assistant: assistant.into(),
            stats,
        }))
    }

    /// Changes an assistant.
    #[tool(
        description = "Change an assistant's `system_prompt`, `voice`, `greeting`, `calendar`, \
            `business.hours` or `sector_details` (at least one); the change is pushed to the \
            voice platform in the background. New `sector_details` (tagged with the assistant's \
            sector) rewrite a prompt that is still the sector's template. A refusal names each invalid field. An assistant being deleted, \
            deleted or failed cannot be changed. Needs the `write` scope.",
        input_schema = input_schema::<UpdateAssistantArgs>(),
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true)
    )]
    async fn update_assistant(
        &self,
        Extension(parts): Extension<Parts>,
        arguments: JsonObject,
    ) -> Result<Json<AssistantSummary>, ToolError> {
        let caller = caller(&parts)?;
        let args: UpdateAssistantArgs = parse(arguments)?;
        let (id, patch) = args.into_patch();
        let assistant = operations::assistants::update(&self.state, &caller, &id, patch).await?;
        Ok(Json(assistant.into()))
    }

    /// A sector's prompt template.
    #[tool(
        description = "Get a sector's template: what its assistant does on the phone, the \
            system prompt and greeting it gets when none is given (with `{business.name}` and \
            the other business fields where they go), its default voice, and the questions to \
            ask the owner, each with the configuration field it fills (the sector's own \
            details under `sector_details.`). Sectors: \
            `restaurant`, `hair_beauty_salon`, `craftsman`, `liberal_profession`, `shop`, \
            `sme_customer_service`. Needs the `read` scope.",
        input_schema = input_schema::<SectorTemplateArgs>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn get_sector_template(
        &self,
        Extension(parts): Extension<Parts>,
        arguments: JsonObject,
    ) -> Result<Json<SectorTemplate>, ToolError> {
        let caller = caller(&parts)?;
        caller.require(zencall_core::store::api_keys::Scope::Read)?;
        let args: SectorTemplateArgs = parse(arguments)?;
        Ok(Json(operations::sectors::template(
            &args.sector,
            args.language.as_deref(),
        )?))
    }

    /// The JSON Schema of AssistantConfig.
    #[tool(
        description = "Get the JSON Schema of AssistantConfig: every field a configurator \
            collects for an assistant (sector, language, the business's identity, structured \
            opening hours, services, transfer number, greeting, voice) with its bounds, and \
            `sector_details`, whose shape depends on the sector (a restaurant's covers, a \
            salon's services and durations, a craftsman's emergency policy, ...). It is the \
            input of `create_assistant_and_provision_number` and `validate_assistant_config`. \
            Takes no arguments. Needs the `read` scope.",
        input_schema = input_schema::<NoArguments>(),
        output_schema = config_schema_output(),
        annotations(read_only_hint = true, open_world_hint = false, idempotent_hint = true)
    )]
    async fn get_assistant_config_schema(
        &self,
        Extension(parts): Extension<Parts>,
        arguments: JsonObject,
    ) -> Result<CallToolResult, ToolError> {
        let caller = caller(&parts)?;
        caller.require(zencall_core::store::api_keys::Scope::Read)?;
        let NoArguments {} = parse(arguments)?;
        Ok(CallToolResult::structured(
            crate::assistant_config::schema().clone(),
        ))
    }

    /// Checks a draft configuration without creating anything.
    #[tool(
        description = "Check an assistant configuration (the arguments of \
            `create_assistant_and_provision_number`) without creating anything: answers \
            `valid: true`, or `valid: false` with each invalid field and what is wrong with \
            it, to fix before creating. Needs the `read` scope.",
        input_schema = input_schema::<AssistantDraft>(),
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn validate_assistant_config(
        &self,
        Extension(parts): Extension<Parts>,
        arguments: JsonObject,
    ) -> Result<Json<Validation>, ToolError> {
        let caller = caller(&parts)?;
        let draft: AssistantDraft = match parse(arguments) {
            Ok(draft) => draft,
            Err(ArgumentError { field, message }) => {
                return Ok(Json(Validation {
                    valid: false,
                    errors: vec![FieldProblem { field, message }],
                }));
            }
        };
        let request = AssistantRequest::from(draft);
        match operations::assistants::validate(&caller, &request) {
            Ok(_) => Ok(Json(Validation {
                valid: true,
                errors: Vec::new(),
            })),
            Err(ApiError::Invalid(errors)) => Ok(Json(Validation {
                valid: false,
                errors: errors
                    .into_iter()
                    .map(|e| FieldProblem {
                        field: e.field,
                        message: e.message,
                    })
                    .collect(),
            })),
            Err(other) => Err(other.into()),
        }
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for ZencallTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("zencall", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Zencall phone assistants for small businesses. get_assistant_config_schema \
                 gives the JSON Schema of a configuration (with each sector's details). Check a \
                 configuration with validate_assistant_config (get_sector_template shows what each sector's \
                 assistant does), create it with create_assistant_and_provision_number, then \
                 poll get_assistant until it is active with its phone number.",
            )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use zencall_core::domain::assistant::FieldError;

    use super::*;

    fn args(value: serde_json::Value) -> JsonObject {
        match value {
            serde_json::Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    fn field_of<T: DeserializeOwned + std::fmt::Debug>(value: serde_json::Value) -> String {
        parse::<T>(args(value)).expect_err("must be refused").field
    }

    #[test]
    fn a_bad_nested_argument_is_named_by_its_path() {
        let field = field_of::<AssistantDraft>(json!({
            "name": "x", "business": {"name": "y", "services": ["a", 3]}
        }));
        assert_eq!(field, "business.services[1]");
        let field = field_of::<AssistantDraft>(
            json!({"business": {"hours": {"weekly": {"monday": "9-12"}}}}),
        );
        assert_eq!(field, "business.hours.weekly.monday");
    }

    #[test]
    fn an_unknown_or_missing_top_level_argument_is_named_too() {
        assert_eq!(field_of::<AssistantDraft>(json!({"nmae": "x"})), "nmae");
        assert_eq!(field_of::<GetAssistantArgs>(json!({})), "assistant_id");
    }

    #[test]
    fn field_errors_become_one_line_per_field_and_internal_causes_stay_hidden() {
        let invalid = ToolError::from(ApiError::Invalid(vec![
            FieldError::new("name", "is required"),
            FieldError::new("business.transfer_number", "is not a phone number"),
        ]));
        assert_eq!(
            invalid.0,
            "name: is required; business.transfer_number: is not a phone number"
        );
        let internal = ToolError::from(ApiError::Internal("connection refused at 10.0.0.3".into()));
        assert!(!internal.0.contains("10.0.0.3"), "{}", internal.0);
    }
}
