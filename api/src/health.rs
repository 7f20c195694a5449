//! `/healthz`: the process answers. `/readyz`: the database answers and is migrated. Served
//! by every role: on the API's port, and on the operations port of workers and schedulers.

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zencall_core::store::Db;

/// Health routes, for any router state that holds the database.
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Db: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// The process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    summary = "Liveness",
    responses((status = 200, description = "The process answers", content_type = "text/plain", body = String, example = "ok"))
)]
async fn healthz() -> &'static str {
    "ok"
}

/// The database answers and is migrated.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    summary = "Readiness",
    responses(
        (status = 200, description = "The database answers and is migrated", content_type = "text/plain", body = String, example = "ready"),
        (status = 408, response = crate::openapi::RequestTimeout),
        (status = 503, response = crate::openapi::Unavailable),
    )
)]
async fn readyz(State(db): State<Db>) -> (StatusCode, &'static str) {
    if db.is_ready().await {
        (StatusCode::OK, "ready")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "database unreachable or not migrated",
        )
    }
}
