//! The OpenAPI 3.1 document of the API, generated from the handlers' `#[utoipa::path]`
//! annotations and the types' `ToSchema` derives, served at `GET /openapi.json`.
//!
//! Errors are `application/problem+json` ([`Problem`]); the reusable responses below name each
//! error status once, and every operation lists those it can really answer.

use std::collections::BTreeMap;
use std::sync::LazyLock;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
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
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(openapi_json))
}

/// The generated document: what [`ApiDoc`] says of the whole API, then the paths every
/// resource registers with its routes ([`crate::documented_routes`], the simulators' included),
/// then [`Finish`]. Serve or compare [`document_json`], which fixes what utoipa writes wrong.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(
        crate::documented_routes(true, true)
            .merge(crate::campaign_contacts::upload_router())
            .into_openapi(),
    );
    Finish.modify(&mut doc);
    doc
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

    const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

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

    /// Routes are registered with `routes!` (utoipa-axum), which documents them: a plain
    /// axum `route` call in a resource module would serve a path the document does not show.
    /// The board and `/mcp`, in their own folders, are not part of the document.
    #[test]
    fn every_resource_registers_its_routes_with_their_documentation() {
        // Every source file of the crate's top folder, so a new module's routes are found too.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let (mut undocumented, mut annotated) = (BTreeSet::new(), BTreeSet::new());
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let source = std::fs::read_to_string(&path).unwrap();
            for piece in source.split(".route(").skip(1) {
                if let Some(route) = piece.trim_start().strip_prefix("\"/")
                    && let Some(end) = route.find('"')
                {
                    let file = path.file_name().unwrap().to_string_lossy().into_owned();
                    undocumented.insert(format!("{file}: /{}", &route[..end]));
                }
            }
            // Each annotated handler: `#[utoipa::path(method, path = "/...", ...`.
            for piece in source.split("#[utoipa::path(").skip(1) {
                let method = piece.trim_start().split(',').next().unwrap_or("").trim();
                if let Some(route) = piece.split("path = \"").nth(1)
                    && let Some(end) = route.find('"')
                    && METHODS.contains(&method.to_uppercase().as_str())
                {
                    annotated.insert((method.to_uppercase(), route[..end].to_string()));
                }
            }
        }
        assert!(undocumented.is_empty(), "{undocumented:?}");
        // Every annotated handler is registered, so none is left out of the document.
        let documented = documented();
        let unregistered: Vec<_> = annotated.difference(&documented).collect();
        let unannotated: Vec<_> = documented.difference(&annotated).collect();
        assert!(
            unregistered.is_empty() && unannotated.is_empty(),
            "annotated, not registered: {unregistered:?}; documented, not found annotated: \
             {unannotated:?}"
        );
    }

    async fn app() -> axum::Router {
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

    async fn status_of(app: &axum::Router, method: &str, path: &str) -> (StatusCode, String) {
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

    /// The app answers every documented operation, and no other method on their paths.
    #[tokio::test]
    async fn the_app_serves_exactly_the_documented_methods() {
        let app = app().await;
        let documented = documented();
        let paths: BTreeSet<&str> = documented.iter().map(|(_, p)| p.as_str()).collect();
        for path in paths {
            for method in METHODS {
                let (status, body) = status_of(&app, method, path).await;
                if documented.contains(&(method.to_string(), path.to_string())) {
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
