//! `/v1/configurators`: the organisation's onboarding voice assistants, one per language. A
//! configurator talks with a business owner for a few minutes, asks the questions of their
//! sector and creates their assistant through the MCP server (`/mcp`), with a key of its own.
//! `PUT` makes it (or updates it) at the voice platform through a job, `DELETE` removes it
//! (and revokes its key) through another; `GET` shows where it stands.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zencall_core::domain::configurator;
use zencall_core::domain::sector::{Language, Sector};
use zencall_core::store::api_keys::Scope;
use zencall_core::store::configurators::{self, Configurator};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::openapi::{BadRequest, Conflict, Forbidden, NotFound, V1Errors};
use crate::operations::configurators::{delete, parse_language, provision};

/// Configurator routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show, replace, remove))
}

/// An organisation's configurator in one language.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ConfiguratorView {
    /// Always `configurator`.
    #[schema(schema_with = configurator_object)]
    object: &'static str,
    /// `cfg_...`
    id: String,
    /// The language it speaks: `fr` or `en`.
    language: Language,
    /// `provisioning`, `active`, `failed` or `deleting`.
    #[schema(schema_with = status_schema)]
    status: &'static str,
    /// Its id at the voice platform, to call it (a web call or a number attached there).
    voice_assistant_id: Option<String>,
    /// The API key (`key_...`) its tools are called with: a `write` key of this organisation,
    /// replaced (and the previous one revoked) each time it is provisioned.
    api_key_id: Option<String>,
    /// Where its tools are served: this API's `/mcp`.
    mcp_url: String,
    /// Why its last provisioning failed.
    failure_reason: Option<String>,
    /// The questions it asks, per sector: each with the AssistantConfig field it fills.
    questions: Vec<SectorQuestions>,
    /// Creation time.
    created_at: DateTime<Utc>,
    /// Last change.
    updated_at: DateTime<Utc>,
}

/// The questions a configurator asks a business of one sector.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct SectorQuestions {
    /// The sector.
    sector: Sector,
    /// In the order asked.
    questions: Vec<QuestionView>,
}

/// One question and the field its answer fills.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct QuestionView {
    /// The AssistantConfig field (`business.transfer_number`, `sector_details.covers`).
    field: &'static str,
    /// The question as the configurator asks it.
    ask: &'static str,
}

/// The organisation's configurators.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ConfiguratorList {
    /// One per language asked for.
    data: Vec<ConfiguratorView>,
}

fn configurator_object() -> utoipa::openapi::Object {
    zencall_core::schema::constant("configurator")
}

fn status_schema() -> utoipa::openapi::Object {
    zencall_core::schema::one_of(["provisioning", "active", "failed", "deleting"])
}

impl From<Configurator> for ConfiguratorView {
    fn from(c: Configurator) -> Self {
        let questions = Sector::ALL
            .into_iter()
            .map(|sector| SectorQuestions {
                sector,
                questions: configurator::questions(sector, c.language)
                    .into_iter()
                    .map(|q| QuestionView {
                        field: q.field,
                        ask: q.ask,
                    })
                    .collect(),
            })
            .collect();
        ConfiguratorView {
            object: "configurator",
            id: c.id,
            language: c.language,
            status: c.status.as_str(),
            voice_assistant_id: c.voice_assistant_id,
            api_key_id: c.api_key_id,
            mcp_url: c.mcp_url,
            failure_reason: c.failure_reason,
            questions,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

fn language(text: &str) -> Result<Language, ApiError> {
    parse_language("language", text).map_err(ApiError::BadRequest)
}

/// Lists the organisation's configurators.
#[utoipa::path(
    get,
    path = "/v1/configurators",
    tag = "configurators",
    operation_id = "list_configurators",
    summary = "List the configurators",
    description = "The organisation's onboarding voice assistants, one per language asked for. \
        Needs the `read` scope.",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The configurators", body = ConfiguratorList),
        V1Errors,
    )
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<ConfiguratorList>, ApiError> {
    caller.require(Scope::Read)?;
    let data = configurators::list(&state.db, caller.org_id())
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(axum::Json(ConfiguratorList { data }))
}

/// Reads the configurator in one language.
#[utoipa::path(
    get,
    path = "/v1/configurators/{language}",
    tag = "configurators",
    operation_id = "get_configurator",
    summary = "Read a configurator",
    description = "Where the configurator in `language` stands (`active` once it is at the \
        voice platform, with its id there) and the questions it asks per sector. Needs the \
        `read` scope.",
    params(("language" = String, Path, description = "`fr` or `en`")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The configurator", body = ConfiguratorView),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        V1Errors,
    )
)]
async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
) -> Result<axum::Json<ConfiguratorView>, ApiError> {
    caller.require(Scope::Read)?;
    let language = language(&code)?;
    configurators::find_by_language(&state.db, caller.org_id(), language)
        .await?
        .map(|c| axum::Json(c.into()))
        .ok_or_else(|| ApiError::NotFound(format!("configurator {code} (PUT it first)")))
}

/// Makes or updates the configurator in one language.
#[utoipa::path(
    put,
    path = "/v1/configurators/{language}",
    tag = "configurators",
    operation_id = "provision_configurator",
    summary = "Provision a configurator",
    description = "Makes the organisation's configurator in `language` at the voice platform, \
        or updates it: its system prompt (the six sectors' questions), its greeting and voice, \
        and this API's `/mcp` as its tool server, called with a new `write` key of this \
        organisation (the previous configurator key is revoked). Answers at once with \
        `status: provisioning`; a job does the rest, and `GET` shows `active` or `failed`. \
        Asking again while it is provisioning changes nothing; one being deleted is a 409. \
        Needs the `admin` scope.",
    params(("language" = String, Path, description = "`fr` or `en`")),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Provisioning", body = ConfiguratorView),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        V1Errors,
    )
)]
async fn replace(
    State(state): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
) -> Result<(StatusCode, axum::Json<ConfiguratorView>), ApiError> {
    caller.require(Scope::Admin)?;
    let language = language(&code)?;
    let configurator = provision(
        &state.db,
        &state.settings,
        caller.org_id(),
        language,
        state.clock.now(),
    )
    .await?;
    Ok((StatusCode::ACCEPTED, axum::Json(configurator.into())))
}

/// Deletes the configurator in one language.
#[utoipa::path(
    delete,
    path = "/v1/configurators/{language}",
    tag = "configurators",
    operation_id = "delete_configurator",
    summary = "Delete a configurator",
    description = "Removes the configurator in `language` from the voice platform and revokes \
        its key, through a job: answers at once with `status: deleting`, and `GET` answers 404 \
        once it is gone. Asking again while it is deleted changes nothing. Needs the `admin` \
        scope.",
    params(("language" = String, Path, description = "`fr` or `en`")),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Deleting", body = ConfiguratorView),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        V1Errors,
    )
)]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(code): Path<String>,
) -> Result<(StatusCode, axum::Json<ConfiguratorView>), ApiError> {
    caller.require(Scope::Admin)?;
    let language = language(&code)?;
    let configurator = delete(
        &state.db,
        &state.settings,
        caller.org_id(),
        language,
        state.clock.now(),
    )
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("configurator {code}")))?;
    Ok((StatusCode::ACCEPTED, axum::Json(configurator.into())))
}
