//! The OpenAPI 3.1 document of the API, generated from the handlers' `#[utoipa::path]`
//! annotations and the types' `ToSchema` derives, served at `GET /openapi.json`.
//!
//! Errors are `application/problem+json` ([`Problem`]); the reusable responses below name each
//! error status once, and every operation lists those it can really answer.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr};
use utoipa::{IntoResponses, Modify, OpenApi, ToResponse};

use crate::AppState;
use crate::error::{ApiError, Problem};

/// The document's route.
pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(openapi_json))
}

/// The generated document; serve or compare [`document_json`], which fixes what utoipa writes
/// wrong.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as JSON.
pub fn document_json() -> Result<serde_json::Value, serde_json::Error> {
    let mut doc = serde_json::to_value(document())?;
    camel_case_links(&mut doc);
    Ok(doc)
}

/// utoipa 5.5 writes the fields of a response's links in snake_case (`operation_id`), where
/// OpenAPI has camelCase (`operationId`): they are renamed.
fn camel_case_links(value: &mut serde_json::Value) {
    let serde_json::Value::Object(map) = value else {
        return;
    };
    for (key, child) in map.iter_mut() {
        if key == "links"
            && let serde_json::Value::Object(links) = child
        {
            for link in links.values_mut() {
                if let serde_json::Value::Object(fields) = link {
                    for (from, to) in [
                        ("operation_id", "operationId"),
                        ("operation_ref", "operationRef"),
                        ("request_body", "requestBody"),
                    ] {
                        if let Some(v) = fields.remove(from) {
                            fields.insert(to.to_string(), v);
                        }
                    }
                }
            }
        } else {
            camel_case_links(child);
        }
    }
}

/// The document as JSON text, made once.
static DOCUMENT_JSON: LazyLock<Result<String, String>> = LazyLock::new(|| {
    document_json()
        .map(|doc| doc.to_string())
        .map_err(|e| e.to_string())
});

/// Serves this document (no key needed).
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    summary = "This OpenAPI document",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of this API",
         content_type = "application/json", body = serde_json::Value),
        (status = 408, response = RequestTimeout),
        (status = 500, response = InternalError),
    )
)]
async fn openapi_json() -> Result<Response, ApiError> {
    let json = DOCUMENT_JSON
        .as_ref()
        .map_err(|e| ApiError::Internal(e.clone()))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json.clone(),
    )
        .into_response())
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Zencall API",
        description = "Voice-AI phone assistants for small businesses: assistants, their calls, \
            outbound campaigns, your do-not-call list and consent registry, \
            and webhooks to your systems; plus the webhooks our providers call.\n\n\
            `/v1` needs `Authorization: Bearer zc_...` (scopes `read` < `write` < `admin`). Every \
            error is `application/problem+json` (RFC 9457). A method a path does not support gets \
            405 and any other path 404, both as problem+json; any request may get 408 when it \
            takes longer than `server.request_timeout_secs`."
    ),
    paths(
        crate::health::healthz,
        crate::health::readyz,
        crate::metrics::render,
        openapi_json,
        crate::assistants::list,
        crate::assistants::create,
        crate::assistants::show,
        crate::assistants::change,
        crate::assistants::remove,
        crate::assistant_config::show,
        crate::configurators::list,
        crate::configurators::show,
        crate::configurators::replace,
        crate::configurators::remove,
        crate::assistant_stats::show,
        crate::assistant_availability::show,
        crate::appointments::list,
        crate::appointments::create,
        crate::appointments::show,
        crate::appointments::change,
        crate::appointments::remove,
        crate::calls::list,
        crate::calls::show,
        crate::calls::reanalyse,
        crate::calls::history,
        crate::campaigns::list,
        crate::campaigns::create,
        crate::campaigns::show,
        crate::campaigns::start,
        crate::campaigns::pause,
        crate::campaigns::resume,
        crate::campaigns::cancel,
        crate::campaign_contacts::import,
        crate::campaign_contacts::list,
        crate::dnc::list,
        crate::dnc::add,
        crate::dnc::import,
        crate::dnc::show,
        crate::dnc::remove,
        crate::consents::list,
        crate::consents::record,
        crate::consents::import,
        crate::consents::show,
        crate::consents::withdraw,
        crate::webhook_endpoints::list,
        crate::webhook_endpoints::create,
        crate::webhook_endpoints::show,
        crate::webhook_endpoints::remove,
        crate::webhook_endpoints::deliveries,
        crate::webhooks::vapi,
        crate::webhooks::twilio_voice_status,
        crate::webhooks::stripe,
        crate::webhooks::google_calendar,
        crate::simulator::create,
        crate::simulated_onboarding::create,
        crate::calendar_connections::begin,
        crate::calendar_connections::callback,
        crate::calendar_connections::list,
        crate::calendar_connections::show,
        crate::calendar_connections::calendars,
        crate::calendar_connections::disconnect,
        crate::simulated_calendar::authorize,
        crate::simulated_calendar::list_events,
        crate::simulated_calendar::move_event,
        crate::simulated_calendar::delete_event,
        crate::billing::checkout,
        crate::billing::portal,
        crate::billing::subscription,
        crate::billing::usage,
        crate::billing_profile::show,
        crate::billing_profile::replace,
        crate::invoices::list,
        crate::invoices::show,
        crate::invoices::pdf,
        crate::payments::list,
        crate::billing_exports::fec,
        crate::stripe_simulator::show_checkout,
        crate::stripe_simulator::complete_checkout,
        crate::stripe_simulator::close_period,
        crate::stripe_simulator::void_invoice,
    ),
    components(
        schemas(Problem),
        responses(
            BadRequest,
            Unauthorized,
            SignatureRefused,
            Forbidden,
            PaymentRequired,
            NotFound,
            MethodNotAllowed,
            RequestTimeout,
            Conflict,
            PayloadTooLarge,
            UnsupportedMediaType,
            Unprocessable,
            TooManyRequests,
            InternalError,
            Unavailable,
        )
    ),
    modifiers(&Finish),
    tags(
        (name = "assistants", description = "Phone assistants: created, changed and deleted by jobs"),
        (name = "configurators", description = "Onboarding voice assistants: one talks with a \
            business owner, asks their sector's questions and creates their assistant through \
            the MCP server"),
        (name = "appointments", description = "Appointments booked with your assistants, during \
            calls or through the API, kept in step with their calendar events"),
        (name = "calls", description = "The calls of your assistants"),
        (name = "campaigns", description = "Outbound calling campaigns: legal calling windows, \
            retries, do-not-call and consent checks, pacing and progress"),
        (name = "dnc", description = "Your do-not-call list: numbers your campaigns never call"),
        (name = "consents", description = "Your consent registry: who agreed to be called, \
            and the proof"),
        (name = "webhook-endpoints", description = "Where Zencall sends your organisation's events"),
        (name = "provider-webhooks", description = "Called by Vapi, Twilio, Stripe and Google, \
            verified by signature; anything unsigned gets 401"),
        (name = "calendar", description = "Google Calendar connections: connect an account, \
            pick the calendar an assistant books into, disconnect"),
        (name = "billing", description = "Your plan and subscription (Stripe Checkout and \
            customer portal), and the call minutes billed"),
        (name = "simulator", description = "Simulated calls, payments and calendars, while the \
            providers are simulated"),
        (name = "health", description = "Liveness and readiness"),
        (name = "meta", description = "This document"),
    )
)]
struct ApiDoc;

/// The name of the API-key security scheme.
pub const BEARER: &str = "bearer";

/// What the derive cannot say: the version, and the API-key scheme.
struct Finish;

impl Modify for Finish {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi.info.version = env!("CARGO_PKG_VERSION").to_string();
        openapi.info.license = None;
        // A header that is not sent is absent, never null: the derive makes optional ones
        // nullable, which would invite clients (and fuzzers) to send `null`.
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                for parameter in operation.parameters.iter_mut().flatten() {
                    if parameter.parameter_in == ParameterIn::Header
                        && let Some(RefOr::T(Schema::Object(object))) = parameter.schema.as_mut()
                    {
                        object.schema_type = SchemaType::Type(Type::String);
                    }
                }
            }
        }
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("zc_...")
                    .description(Some(
                        "An API key, `zc_...`, with the scope `read`, `write` or `admin`",
                    ))
                    .build(),
            ),
        );
    }
}

/// A problem+json response, with these headers (name, type, description).
fn problem_response(
    description: &str,
    headers: &[(&str, Type, &str)],
) -> RefOr<utoipa::openapi::Response> {
    let mut response = ResponseBuilder::new().description(description).content(
        "application/problem+json",
        Content::new(Some(Ref::from_schema_name("Problem"))),
    );
    for (name, kind, about) in headers {
        response = response.header(
            *name,
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(kind.clone()))
                .description(Some(*about))
                .build(),
        );
    }
    response.build().into()
}

/// Declares the reusable problem responses: `Name => (description, [headers])`.
macro_rules! problem_responses {
    ($($name:ident => $description:literal $([$($header:expr),*])?;)*) => {
        $(
            #[doc = $description]
            pub struct $name;

            impl<'s> ToResponse<'s> for $name {
                fn response() -> (&'s str, RefOr<utoipa::openapi::Response>) {
                    (stringify!($name), problem_response($description, &[$($($header),*)?]))
                }
            }
        )*
    };
}

problem_responses! {
    BadRequest => "The request cannot be read: a malformed body, path or query parameter, or an unknown query parameter";
    Unauthorized => "No valid API key"
        [("WWW-Authenticate", Type::String, "`Bearer`")];
    SignatureRefused => "The delivery's signature or token is missing or wrong (no detail is given, and the refusal is recorded)";
    Forbidden => "The key's scope does not allow this request";
    PaymentRequired => "The organisation has no trialing or active subscription and its grace period is over; `detail` says why";
    NotFound => "No such resource in the caller's organisation";
    MethodNotAllowed => "The path does not support this method";
    RequestTimeout => "The request took longer than the server allows and was abandoned";
    Conflict => "The resource's state forbids this change";
    PayloadTooLarge => "The request body is larger than the server accepts";
    UnsupportedMediaType => "The body is not sent as `Content-Type: application/json`";
    Unprocessable => "The body is well-formed but invalid; `errors` names each invalid field when it can";
    TooManyRequests => "The key is over its quota per minute"
        [("Retry-After", Type::Integer, "Seconds to wait before trying again")];
    InternalError => "An unexpected failure (logged; no detail is given)";
    Unavailable => "The database is unreachable; try again shortly";
}

/// References to the reusable responses named, by status.
fn refs(statuses: &[(u16, &str)]) -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
    statuses
        .iter()
        .map(|(status, name)| {
            (
                status.to_string(),
                RefOr::Ref(Ref::from_response_name(*name)),
            )
        })
        .collect()
}

/// The errors every `/v1` operation can answer: no key, timeout, quota, failure, database down.
pub struct V1Errors;

impl IntoResponses for V1Errors {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        refs(&[
            (401, "Unauthorized"),
            (408, "RequestTimeout"),
            (429, "TooManyRequests"),
            (500, "InternalError"),
            (503, "Unavailable"),
        ])
    }
}

/// The errors of an operation with a JSON body: unreadable, too large, not JSON, invalid.
pub struct JsonBodyErrors;

impl IntoResponses for JsonBodyErrors {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        refs(&[
            (400, "BadRequest"),
            (413, "PayloadTooLarge"),
            (415, "UnsupportedMediaType"),
            (422, "Unprocessable"),
        ])
    }
}

/// The errors every provider webhook can answer: refused signature, timeout, failure, database
/// down (so the provider delivers again).
pub struct WebhookErrors;

impl IntoResponses for WebhookErrors {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        refs(&[
            (401, "SignatureRefused"),
            (408, "RequestTimeout"),
            (500, "InternalError"),
            (503, "Unavailable"),
        ])
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeSet;
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode};
    use secrecy::SecretString;
    use tower::ServiceExt;
    use zencall_core::clock::SystemClock;
    use zencall_core::config::Settings;
    use zencall_core::store::Db;
    use zencall_providers::webhook_sender::{SenderSettings, WebhookSender};

    use super::*;

    /// Every route the app serves. A route added to a router must be added here (the source
    /// check below fails otherwise) and documented (the document check fails otherwise).
    const ROUTES: &[(&str, &str)] = &[
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("GET", "/v1/assistants"),
        ("POST", "/v1/assistants"),
        ("GET", "/v1/assistants/{id}"),
        ("PATCH", "/v1/assistants/{id}"),
        ("DELETE", "/v1/assistants/{id}"),
        ("GET", "/v1/assistant-config/schema"),
        ("GET", "/v1/configurators"),
        ("GET", "/v1/configurators/{language}"),
        ("PUT", "/v1/configurators/{language}"),
        ("DELETE", "/v1/configurators/{language}"),
        ("GET", "/v1/calls"),
        ("GET", "/v1/calls/{id}"),
        ("POST", "/v1/calls/{id}/analysis"),
        ("GET", "/v1/calls/{id}/analyses"),
        ("GET", "/v1/assistants/{id}/stats"),
        ("GET", "/v1/campaigns"),
        ("POST", "/v1/campaigns"),
        ("GET", "/v1/campaigns/{id}"),
        ("POST", "/v1/campaigns/{id}/start"),
        ("POST", "/v1/campaigns/{id}/pause"),
        ("POST", "/v1/campaigns/{id}/resume"),
        ("POST", "/v1/campaigns/{id}/cancel"),
        ("GET", "/v1/campaigns/{id}/contacts"),
        ("POST", "/v1/campaigns/{id}/contacts"),
        ("GET", "/v1/dnc"),
        ("POST", "/v1/dnc"),
        ("POST", "/v1/dnc/import"),
        ("GET", "/v1/dnc/{number}"),
        ("DELETE", "/v1/dnc/{number}"),
        ("GET", "/v1/consents"),
        ("POST", "/v1/consents"),
        ("POST", "/v1/consents/import"),
        ("GET", "/v1/consents/{number}"),
        ("DELETE", "/v1/consents/{number}"),
        ("GET", "/v1/webhook-endpoints"),
        ("POST", "/v1/webhook-endpoints"),
        ("GET", "/v1/webhook-endpoints/{id}"),
        ("DELETE", "/v1/webhook-endpoints/{id}"),
        ("GET", "/v1/webhook-endpoints/{id}/deliveries"),
        ("POST", "/webhooks/vapi"),
        ("POST", "/webhooks/twilio/voice-status"),
        ("POST", "/webhooks/stripe"),
        ("POST", "/webhooks/google-calendar"),
        ("POST", "/v1/simulator/calls"),
        ("POST", "/v1/simulator/onboardings"),
        ("GET", "/v1/calendar/connections"),
        ("POST", "/v1/calendar/connections"),
        ("GET", "/v1/calendar/connections/{id}"),
        ("DELETE", "/v1/calendar/connections/{id}"),
        ("GET", "/v1/calendar/connections/{id}/calendars"),
        ("GET", "/oauth/google/callback"),
        ("GET", "/simulator/google/authorize"),
        ("GET", "/simulator/google/events"),
        ("POST", "/simulator/google/events/{id}/move"),
        ("POST", "/simulator/google/events/{id}/delete"),
        ("POST", "/v1/billing/checkout"),
        ("POST", "/v1/billing/portal"),
        ("GET", "/v1/billing/subscription"),
        ("GET", "/v1/billing/usage"),
        ("GET", "/v1/billing/profile"),
        ("PUT", "/v1/billing/profile"),
        ("GET", "/v1/billing/payments"),
        ("GET", "/v1/billing/exports/fec"),
        ("GET", "/v1/invoices"),
        ("GET", "/v1/invoices/{id}"),
        ("GET", "/v1/invoices/{id}/pdf"),
        ("GET", "/simulator/stripe/checkout/{id}"),
        ("POST", "/simulator/stripe/checkout/{id}/complete"),
        ("POST", "/simulator/stripe/close-period"),
        ("POST", "/simulator/stripe/invoices/{id}/void"),
        ("GET", "/v1/assistants/{id}/availability"),
        ("GET", "/v1/appointments"),
        ("POST", "/v1/appointments"),
        ("GET", "/v1/appointments/{id}"),
        ("PATCH", "/v1/appointments/{id}"),
        ("DELETE", "/v1/appointments/{id}"),
    ];

    const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

    fn listed() -> BTreeSet<(String, String)> {
        ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect()
    }

    fn documented() -> BTreeSet<(String, String)> {
        let doc = document_json().unwrap();
        let mut found = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                if METHODS.contains(&method.to_uppercase().as_str()) {
                    found.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
        found
    }

    #[test]
    fn the_document_lists_exactly_the_routes_served() {
        let listed = listed();
        let documented = documented();
        let undocumented: Vec<_> = listed.difference(&documented).collect();
        let unserved: Vec<_> = documented.difference(&listed).collect();
        assert!(undocumented.is_empty(), "undocumented: {undocumented:?}");
        assert!(unserved.is_empty(), "documented, not served: {unserved:?}");
    }

    #[test]
    fn every_route_in_the_routers_is_listed() {
        // Every source file of the crate, so a new module's routes are found too.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let sources: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "rs"))
            .map(|path| std::fs::read_to_string(path).unwrap())
            .collect();
        let mut in_source = BTreeSet::new();
        for source in &sources {
            for piece in source.split(".route(").skip(1) {
                if let Some(path) = piece.trim_start().strip_prefix("\"/")
                    && let Some(end) = path.find('"')
                {
                    in_source.insert(format!("/{}", &path[..end]));
                }
            }
        }
        let listed: BTreeSet<String> = ROUTES.iter().map(|(_, p)| p.to_string()).collect();
        assert_eq!(in_source, listed);
    }

    async fn app() -> Router {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let settings = Settings::defaults().unwrap();
        let db = Db::connect(&SecretString::from("sqlite::memory:"), 1)
            .await
            .unwrap();
        db.migrate().await.unwrap();
        let webhooks = WebhookSender::new(&SenderSettings {
            timeout_ms: 1000,
            allow_private_networks: false,
            allow_plain_http: false,
        })
        .unwrap();
        let calendar = zencall_providers::SimulatedCalendar::new(
            &settings.providers.google_calendar,
            &settings.server.public_url,
        );
        let payments = zencall_providers::SimulatedPayments::new(
            zencall_providers::simulated_payments::SimulatedPaymentsSettings::for_plans(
                &settings.billing,
                &settings.server.public_url,
                SecretString::from("whsec_test"),
            ),
        )
        .unwrap();
        crate::app(AppState {
            db,
            clock: Arc::new(SystemClock),
            limits: Arc::new(crate::rate_limit::RateLimits::local(&settings.rate_limits)),
            settings: Arc::new(settings),
            webhooks: Arc::new(webhooks),
            simulator: None,
            live: Arc::default(),
            calendar: Arc::new(calendar.clone()),
            simulated_calendar: Some(calendar),
            sealer: Arc::new(zencall_core::domain::sealed::Sealer::disabled()),
            payments: Arc::new(payments.clone()),
            stripe_simulator: Some(crate::stripe_simulator::StripeSimulator {
                payments,
                poster: zencall_providers::stripe_event_poster::StripeEventPoster::new(
                    "http://127.0.0.1:9",
                )
                .unwrap(),
            }),
        })
    }

    async fn status_of(app: &Router, method: &str, path: &str) -> (StatusCode, String) {
        let request = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(path.replace("{id}", "x").replace("{number}", "x"))
            .body(Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// The app answers every listed route, and no other method on their paths.
    #[tokio::test]
    async fn the_app_serves_exactly_the_listed_methods() {
        let app = app().await;
        let listed = listed();
        let paths: BTreeSet<&str> = ROUTES.iter().map(|(_, p)| *p).collect();
        for path in paths {
            for method in METHODS {
                let (status, body) = status_of(&app, method, path).await;
                if listed.contains(&(method.to_string(), path.to_string())) {
                    assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
                    assert!(!body.contains("route not found"), "{method} {path}: {body}");
                } else {
                    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
                }
            }
        }
        let (status, body) = status_of(&app, "GET", "/v1/nothing-here").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("route not found"));
    }

    #[tokio::test]
    async fn the_document_is_served_as_openapi_3_1() {
        let app = app().await;
        let (status, body) = status_of(&app, "GET", "/openapi.json").await;
        assert_eq!(status, StatusCode::OK);
        let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["info"]["title"], "Zencall API");
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(
            doc["components"]["securitySchemes"][BEARER]["scheme"],
            "bearer"
        );
    }

    #[test]
    fn links_name_existing_operations_in_camel_case() {
        let doc = document_json().unwrap();
        let text = doc.to_string();
        assert!(!text.contains("\"operation_id\""));
        let mut ids = BTreeSet::new();
        let mut targets = Vec::new();
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                ids.insert(op["operationId"].as_str().unwrap().to_string());
                for response in op["responses"].as_object().unwrap().values() {
                    for link in response["links"]
                        .as_object()
                        .into_iter()
                        .flat_map(|l| l.values())
                    {
                        targets.push(link["operationId"].as_str().unwrap().to_string());
                    }
                }
            }
        }
        assert!(!targets.is_empty());
        for target in targets {
            assert!(ids.contains(&target), "link to {target}");
        }
    }

    #[test]
    fn operation_ids_are_unique() {
        let doc = document_json().unwrap();
        let mut ids = BTreeSet::new();
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                let id = op["operationId"].as_str().unwrap();
                assert!(ids.insert(id.to_string()), "operationId {id} twice");
            }
        }
    }

    #[test]
    fn v1_operations_need_the_key_and_every_error_is_a_problem() {
        let doc = document_json().unwrap();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let secured = op
                    .get("security")
                    .is_some_and(|s| s.to_string().contains(BEARER));
                assert_eq!(secured, path.starts_with("/v1/"), "{method} {path}");
                for (status, response) in op["responses"].as_object().unwrap() {
                    if status.starts_with('4') || status.starts_with('5') {
                        let name = response["$ref"].as_str().unwrap_or_default();
                        let resolved = &doc["components"]["responses"]
                            [name.trim_start_matches("#/components/responses/")];
                        assert!(
                            resolved["content"]["application/problem+json"].is_object(),
                            "{method} {path} {status}"
                        );
                    }
                }
            }
        }
    }
}
