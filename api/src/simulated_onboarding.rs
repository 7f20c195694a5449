//! `POST /v1/simulator/onboardings`: with simulated providers (`zencall up` without
//! credentials), a business owner "calls" the organisation's configurator. The simulated voice
//! platform plays the call as Vapi would: a scripted owner of the sector's business answers the
//! configurator's questions, and the configurator calls the tools of its MCP server (our
//! `/mcp`, with its own key) until the new assistant is active with a number. Without the
//! simulator the route answers 404.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zencall_core::domain::assistant::FieldError;
use zencall_core::domain::sector::{Language, Sector};
use zencall_core::store::api_keys::Scope;
use zencall_core::store::configurators::{self, ConfiguratorStatus};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Json;
use crate::openapi::{Conflict, Forbidden, JsonBodyErrors, NotFound, V1Errors};
use crate::operations::configurators::parse_language;

/// Simulated onboarding routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create))
}

/// The body of `POST /v1/simulator/onboardings`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct OnboardingRequest {
    /// The caller's line of business: its scripted business answers.
    #[schema(value_type = Sector)]
    sector: String,
    /// The configurator called: `fr` (the default) or `en`.
    #[serde(default)]
    #[schema(value_type = Option<Language>)]
    language: Option<String>,
}

/// The onboarding call the simulator plays.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct OnboardingView {
    /// Always `simulated_onboarding`.
    #[schema(schema_with = onboarding_object)]
    object: &'static str,
    /// The configurator called (`cfg_...`).
    configurator_id: String,
    /// The caller's sector.
    sector: Sector,
}

fn onboarding_object() -> utoipa::openapi::Object {
    zencall_core::schema::constant("simulated_onboarding")
}

/// Simulates an onboarding call to the organisation's configurator.
#[utoipa::path(
    post,
    path = "/v1/simulator/onboardings",
    tag = "simulator",
    operation_id = "simulate_onboarding",
    summary = "Simulate an onboarding call",
    description = "With simulated providers only (404 otherwise): a scripted owner of a \
        `sector` business calls the configurator in `language`, which must be active (404 \
        when there is none, 409 while it is not active). The simulated voice platform calls \
        the configurator's MCP tools with its key, as Vapi does: the sector's template, the \
        schema, a first draft refused at one field, the corrected one, the creation; a few \
        moments later the new assistant is active in `GET /v1/assistants`. Needs the `write` \
        scope.",
    request_body = OnboardingRequest,
    security(("bearer" = [])),
    responses(
        (status = 202, description = "The onboarding call being played", body = OnboardingView),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        JsonBodyErrors,
        V1Errors,
    )
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<OnboardingRequest>,
) -> Result<(StatusCode, axum::Json<OnboardingView>), ApiError> {
    caller.require(Scope::Write)?;
    let sim = crate::simulator::simulator(&state)?;
    let mut errors = Vec::new();
    let sector = Sector::parse(&request.sector);
    if sector.is_none() {
        let names: Vec<_> = Sector::ALL.iter().map(|s| s.as_str()).collect();
        errors.push(FieldError::new(
            "sector",
            format!("must be one of {}", names.join(", ")),
        ));
    }
    let language = match parse_language("language", request.language.as_deref().unwrap_or("fr")) {
        Ok(language) => Some(language),
        Err(message) => {
            let message = message.trim_start_matches("language: ").to_string();
            errors.push(FieldError::new("language", message));
            None
        }
    };
    let (Some(sector), Some(language), true) = (sector, language, errors.is_empty()) else {
        return Err(ApiError::Invalid(errors));
    };
    let configurator = configurators::find_by_language(&state.db, caller.org_id(), language)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "configurator {} (PUT /v1/configurators/{} first)",
                request.language.as_deref().unwrap_or("fr"),
                request.language.as_deref().unwrap_or("fr")
            ))
        })?;
    let (ConfiguratorStatus::Active, Some(voice_id)) =
        (configurator.status, &configurator.voice_assistant_id)
    else {
        return Err(ApiError::Conflict(format!(
            "configurator {} is {}: only an active one takes calls",
            configurator.id,
            configurator.status.as_str()
        )));
    };
    sim.simulate_onboarding(voice_id, sector)
        .map_err(|e| ApiError::Conflict(format!("the simulated voice platform refused: {e}")))?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(OnboardingView {
            object: "simulated_onboarding",
            configurator_id: configurator.id,
            sector,
        }),
    ))
}
