//! `/metrics`: the process's counters in Prometheus's text format. The recorder is installed
//! once per process, whatever number of apps it serves (the tests start many).

use std::sync::OnceLock;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Refused provider webhooks, by provider and reason (`missing`, `malformed`, `stale`,
/// `mismatch`).
pub const WEBHOOK_VERIFICATION_FAILURES: &str = "zencall_webhook_verification_failures_total";

/// The process's recorder, installed on first use. `None` if another recorder was installed
/// first (then this one's counters are not the ones being recorded).
fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => {
                    metrics::describe_counter!(
                        WEBHOOK_VERIFICATION_FAILURES,
                        "Provider webhooks refused because their signature, secret or token did not verify"
                    );
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "a metrics recorder was already installed");
                    None
                }
            }
        })
        .as_ref()
}

/// Installs the recorder now, so counters incremented before the first scrape are kept.
pub fn install() {
    let _ = handle();
}

/// Counts a refused provider webhook.
pub fn webhook_refused(provider: &str, reason: &'static str) {
    metrics::counter!(WEBHOOK_VERIFICATION_FAILURES, "provider" => provider.to_string(), "reason" => reason)
        .increment(1);
}

/// Metrics routes, for any router state.
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new().route("/metrics", get(render))
}

/// The counters, in Prometheus's text exposition format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    summary = "Prometheus metrics",
    responses(
        (status = 200, description = "Counters in Prometheus's text format (version 0.0.4)", content_type = "text/plain", body = String),
        (status = 408, response = crate::openapi::RequestTimeout),
    )
)]
async fn render() -> impl IntoResponse {
    let body = handle().map(PrometheusHandle::render).unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}
