//! `/v1/webhook-endpoints`: customers register where our events go (the secret that signs them
//! is shown once, at creation), list and delete them, and see each delivery with its attempts.
//! Registering and deleting need the admin scope: an endpoint receives call transcripts.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zencall_core::domain::assistant::FieldError;
use zencall_core::events::EventType;
use zencall_core::store::api_keys::Scope;
use zencall_core::store::webhook_deliveries::{self, DeliveryStatus};
use zencall_core::store::webhook_endpoints::{self, NewEndpoint, WebhookEndpoint};
use zencall_providers::webhook_sender::DeliveryFailure;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Json, Path, Query};
use crate::http::pagination::{Page, PageParams, page_limit};
use crate::openapi::{BadRequest, Forbidden, JsonBodyErrors, NotFound, V1Errors};

/// Webhook endpoint routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, remove))
        .routes(routes!(deliveries))
}

/// Longest description, in characters.
const MAX_DESCRIPTION_CHARS: usize = 500;

/// The path parameter of one endpoint's routes.
const ENDPOINT_ID: &str = "The endpoint's id, `whep_...`";

/// The body of `POST /v1/webhook-endpoints`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct EndpointRequest {
    /// Where to send the events: an `https` URL whose host does not resolve to a private,
    /// loopback, link-local or otherwise reserved address (checked now and at every delivery).
    #[schema(min_length = 1, examples("https://crm.example.com/zencall"))]
    url: String,
    /// The event types to send, or `"*"` for all; at least one.
    #[schema(schema_with = event_types_request)]
    event_types: Vec<String>,
    /// A note for you: up to 500 characters.
    #[serde(default)]
    #[schema(max_length = 500)]
    description: Option<String>,
}

/// The event type names, and `*` for all of them.
fn event_type_names() -> utoipa::openapi::Object {
    zencall_core::schema::one_of(EventType::ALL.iter().map(|t| t.as_str()).chain(["*"]))
}

fn event_types_request() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(event_type_names())
        .min_items(Some(1))
        .build()
}

fn event_types_view() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(event_type_names())
        .build()
}

fn endpoint_object() -> utoipa::openapi::Object {
    zencall_core::schema::constant("webhook_endpoint")
}

fn delivery_object() -> utoipa::openapi::Object {
    zencall_core::schema::constant("webhook_delivery")
}

impl EndpointRequest {
    /// Checks every field but the URL's address (which needs a DNS lookup).
    fn validate(self) -> Result<NewEndpoint, Vec<FieldError>> {
        let mut errors = Vec::new();
        let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
        let mut types: Vec<String> = Vec::new();
        if self.event_types.is_empty() {
            errors.push(FieldError::new(
                "event_types",
                format!(
                    "must name at least one event type: {} or \"*\" for all",
                    known.join(", ")
                ),
            ));
        }
        for (i, t) in self.event_types.iter().enumerate() {
            if t != "*" && EventType::parse(t).is_none() {
                errors.push(FieldError::new(
                    format!("event_types[{i}]"),
                    format!(
                        "unknown event type {t:?}; known: {}, or \"*\" for all",
                        known.join(", ")
                    ),
                ));
            } else if !types.contains(t) {
                types.push(t.clone());
            }
        }
        if types.iter().any(|t| t == "*") {
            types = vec!["*".into()];
        }
        let description = self
            .description
            .map(|d| d.trim().to_string())
            .filter(|d| !d.is_empty());
        if description
            .as_ref()
            .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS)
        {
            errors.push(FieldError::new(
                "description",
                format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
            ));
        }
        if self.url.trim().is_empty() {
            errors.push(FieldError::new("url", "is required"));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(NewEndpoint {
            url: self.url.trim().to_string(),
            event_types: types,
            description,
        })
    }
}

/// An endpoint as the API shows it; `secret` only in the answer to its creation.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct EndpointView {
    /// `whep_...`
    id: String,
    /// Always `webhook_endpoint`.
    #[schema(schema_with = endpoint_object)]
    object: &'static str,
    /// Where the events go.
    url: String,
    /// The event types sent (`*`: all).
    #[schema(schema_with = event_types_view)]
    event_types: Vec<String>,
    /// Your note.
    #[schema(required = true)]
    description: Option<String>,
    /// The key that signs the deliveries (`whsec_...`): only in the answer to the creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String)]
    secret: Option<String>,
    /// Creation time.
    created_at: DateTime<Utc>,
}

impl EndpointView {
    fn of(e: WebhookEndpoint, with_secret: bool) -> Self {
        Self {
            id: e.id,
            object: "webhook_endpoint",
            url: e.url,
            event_types: e.event_types,
            description: e.description,
            secret: with_secret.then_some(e.secret),
            created_at: e.created_at,
        }
    }
}

/// Registers an endpoint; its signing secret is shown only in this answer.
#[utoipa::path(
    post,
    path = "/v1/webhook-endpoints",
    tag = "webhook-endpoints",
    operation_id = "create_webhook_endpoint",
    summary = "Register a webhook endpoint",
    description = "Checks the event types and the URL (resolving its host), stores the endpoint \
        and answers with its signing `secret`, shown only here. Needs the `admin` scope.",
    request_body = EndpointRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Registered; `secret` is shown only here", body = EndpointView, links(
            ("GetWebhookEndpoint" = (operation_id = "get_webhook_endpoint", parameters(("id" = "$response.body#/id")))),
            ("DeleteWebhookEndpoint" = (operation_id = "delete_webhook_endpoint", parameters(("id" = "$response.body#/id")))),
            ("ListWebhookDeliveries" = (operation_id = "list_webhook_deliveries", parameters(("id" = "$response.body#/id")))),
        )),
        (status = 403, response = Forbidden),
        JsonBodyErrors,
        V1Errors,
    )
)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<EndpointRequest>,
) -> Result<(StatusCode, axum::Json<EndpointView>), ApiError> {
    caller.require(Scope::Admin)?;
    let new = request.validate().map_err(ApiError::Invalid)?;
    match state.webhooks.check_url(&new.url).await {
        Ok(_) => {}
        Err(DeliveryFailure::Refused(reason) | DeliveryFailure::Transport(reason)) => {
            return Err(ApiError::Invalid(vec![FieldError::new("url", reason)]));
        }
    }
    let endpoint =
        webhook_endpoints::create(&state.db, caller.org_id(), &new, state.clock.now()).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(EndpointView::of(endpoint, true)),
    ))
}

/// Lists the organisation's endpoints, newest first (without their secrets).
#[utoipa::path(
    get,
    path = "/v1/webhook-endpoints",
    tag = "webhook-endpoints",
    operation_id = "list_webhook_endpoints",
    summary = "List webhook endpoints",
    params(PageParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of endpoints", body = Page<EndpointView>),
        (status = 400, response = BadRequest),
        V1Errors,
    )
)]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<PageParams>,
) -> Result<axum::Json<Page<EndpointView>>, ApiError> {
    caller.require(Scope::Read)?;
    let limit = page_limit(params.limit)?;
    let rows = webhook_endpoints::list(
        &state.db,
        caller.org_id(),
        params.starting_after.as_deref(),
        limit + 1,
    )
    .await?;
    let views: Vec<EndpointView> = rows
        .into_iter()
        .map(|e| EndpointView::of(e, false))
        .collect();
    Ok(axum::Json(Page::of(views, limit, |e| e.id.clone())))
}

async fn find(state: &AppState, caller: &Caller, id: &str) -> Result<WebhookEndpoint, ApiError> {
    webhook_endpoints::find(&state.db, caller.org_id(), id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("webhook endpoint {id}")))
}

/// One endpoint (without its secret).
#[utoipa::path(
    get,
    path = "/v1/webhook-endpoints/{id}",
    tag = "webhook-endpoints",
    operation_id = "get_webhook_endpoint",
    summary = "Get a webhook endpoint",
    params(("id" = String, Path, description = ENDPOINT_ID)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The endpoint", body = EndpointView),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        V1Errors,
    )
)]
async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<EndpointView>, ApiError> {
    caller.require(Scope::Read)?;
    let endpoint = find(&state, &caller, &id).await?;
    Ok(axum::Json(EndpointView::of(endpoint, false)))
}

/// Deletes an endpoint: its pending deliveries are cancelled.
#[utoipa::path(
    delete,
    path = "/v1/webhook-endpoints/{id}",
    tag = "webhook-endpoints",
    operation_id = "delete_webhook_endpoint",
    summary = "Delete a webhook endpoint",
    description = "No more events are sent to it and its pending deliveries are cancelled; \
        its deliveries stay listed. Needs the `admin` scope.",
    params(("id" = String, Path, description = ENDPOINT_ID)),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, response = BadRequest),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        V1Errors,
    )
)]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(Scope::Admin)?;
    if webhook_endpoints::delete(&state.db, caller.org_id(), &id, state.clock.now()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("webhook endpoint {id}")))
    }
}

/// One delivery of one event to one endpoint.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    /// `whdl_...`
    id: String,
    /// Owning organisation.
    org_id: String,
    /// The endpoint.
    endpoint_id: String,
    /// The event (`wevt_...`).
    event_id: String,
    /// The event's type.
    event_type: String,
    /// Where it stands.
    status: DeliveryStatus,
    /// Attempts made so far.
    attempts: i64,
    /// The HTTP status of the last answer, if there was one.
    #[schema(required = true)]
    last_status_code: Option<i64>,
    /// Why the last attempt failed, if it did.
    #[schema(required = true)]
    last_error: Option<String>,
    /// When the next attempt is due, while pending.
    #[schema(required = true)]
    next_attempt_at: Option<DateTime<Utc>>,
    /// When the endpoint accepted it.
    #[schema(required = true)]
    delivered_at: Option<DateTime<Utc>>,
    /// Creation time.
    created_at: DateTime<Utc>,
    /// Last change.
    updated_at: DateTime<Utc>,
}

impl From<&webhook_deliveries::Delivery> for Delivery {
    fn from(row: &webhook_deliveries::Delivery) -> Self {
        Delivery {
            id: row.id.clone(),
            org_id: row.org_id.clone(),
            endpoint_id: row.endpoint_id.clone(),
            event_id: row.event_id.clone(),
            event_type: row.event_type.clone(),
            status: row.status,
            attempts: row.attempts,
            last_status_code: row.last_status_code,
            last_error: row.last_error.clone(),
            next_attempt_at: row.next_attempt_at,
            delivered_at: row.delivered_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// One attempt of a delivery.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Attempt {
    /// 1 for the first attempt.
    attempt: i64,
    /// When it was made.
    attempted_at: DateTime<Utc>,
    /// The HTTP status answered, if any.
    #[schema(required = true)]
    status_code: Option<i64>,
    /// The start of the answer's body.
    #[schema(required = true)]
    response_body: Option<String>,
    /// Why no acceptable answer came, if none did.
    #[schema(required = true)]
    error: Option<String>,
    /// How long it took.
    duration_ms: i64,
}

impl From<&webhook_deliveries::Attempt> for Attempt {
    fn from(row: &webhook_deliveries::Attempt) -> Self {
        Attempt {
            attempt: row.attempt,
            attempted_at: row.attempted_at,
            status_code: row.status_code,
            response_body: row.response_body.clone(),
            error: row.error.clone(),
            duration_ms: row.duration_ms,
        }
    }
}

/// A delivery as the API shows it, with its attempts.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct DeliveryView {
    /// Always `webhook_delivery`.
    #[schema(schema_with = delivery_object)]
    object: &'static str,
    #[serde(flatten)]
    delivery: Delivery,
    /// Every attempt made, the first first.
    attempt_log: Vec<Attempt>,
}

/// Lists an endpoint's deliveries, newest first, each with its attempts.
#[utoipa::path(
    get,
    path = "/v1/webhook-endpoints/{id}/deliveries",
    tag = "webhook-endpoints",
    operation_id = "list_webhook_deliveries",
    summary = "List an endpoint's deliveries",
    description = "Every delivery with each attempt's status code, the start of the answer and \
        the error; still listed after the endpoint is deleted.",
    params(("id" = String, Path, description = ENDPOINT_ID), PageParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of deliveries", body = Page<DeliveryView>),
        (status = 400, response = BadRequest),
        (status = 404, response = NotFound),
        V1Errors,
    )
)]
async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(params): Query<PageParams>,
) -> Result<axum::Json<Page<DeliveryView>>, ApiError> {
    caller.require(Scope::Read)?;
    let limit = page_limit(params.limit)?;
    // Deliveries stay visible after their endpoint is deleted, but only to its organisation.
    let endpoint = webhook_endpoints::find_any(&state.db, &id)
        .await?
        .filter(|e| e.org_id == caller.org_id())
        .ok_or_else(|| ApiError::NotFound(format!("webhook endpoint {id}")))?;
    let rows = webhook_deliveries::list_for_endpoint(
        &state.db,
        caller.org_id(),
        &endpoint.id,
        params.starting_after.as_deref(),
        limit + 1,
    )
    .await?;
    let ids: Vec<String> = rows.iter().map(|d| d.id.clone()).collect();
    let mut attempts = webhook_deliveries::attempts(&state.db, &ids).await?;
    let views = rows
        .into_iter()
        .map(|delivery| {
            let (mine, rest): (Vec<_>, Vec<_>) = attempts
                .drain(..)
                .partition(|a| a.delivery_id == delivery.id);
            attempts = rest;
            DeliveryView {
                object: "webhook_delivery",
                delivery: Delivery::from(&delivery),
                attempt_log: mine.iter().map(Attempt::from).collect(),
            }
        })
        .collect();
    Ok(axum::Json(Page::of(views, limit, |d| {
        d.delivery.id.clone()
    })))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn request(types: &[&str]) -> EndpointRequest {
        EndpointRequest {
            url: "https://hooks.example.com/zencall".into(),
            event_types: types.iter().map(|t| t.to_string()).collect(),
            description: None,
        }
    }

    #[test]
    fn event_types_must_be_known_and_a_star_means_all() {
        let new = request(&["call.ended", "call.ended", "assistant.failed"])
            .validate()
            .unwrap();
        assert_eq!(new.event_types, ["call.ended", "assistant.failed"]);
        assert_eq!(
            request(&["call.ended", "*"])
                .validate()
                .unwrap()
                .event_types,
            ["*"]
        );
        let errors = request(&["call.ended", "call.exploded"])
            .validate()
            .unwrap_err();
        assert_eq!(errors[0].field, "event_types[1]");
        assert!(errors[0].message.contains("call.exploded"));
        assert_eq!(request(&[]).validate().unwrap_err()[0].field, "event_types");
    }

    #[test]
    fn a_long_description_is_refused() {
        let mut r = request(&["*"]);
        r.description = Some("x".repeat(501));
        assert_eq!(r.validate().unwrap_err()[0].field, "description");
    }
}
