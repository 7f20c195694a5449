//! `/metrics`: the process's metrics in Prometheus's text format. The recorder is installed
//! once per process, whatever number of apps it serves (the tests start many). Histograms
//! are exported with buckets (not summaries), so they aggregate across replicas.

use std::sync::OnceLock;
use std::time::{Duration, Instant};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use axum::extract::{FromRef, MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use zencall_core::jobs::QueueName;
use zencall_core::store::{Db, usage_reconciliations};
use zencall_queue::runtime::job_metrics;

/// Refused provider webhooks, by provider and reason (`missing`, `malformed`, `stale`,
/// `mismatch`).
pub const WEBHOOK_VERIFICATION_FAILURES: &str = "zencall_webhook_verification_failures_total";
/// Counter: HTTP requests by `method`, `route` (the matched route template such as
/// `/v1/assistants/{id}`, or `unmatched`; never the raw path) and `status`.
pub const HTTP_REQUESTS: &str = "zencall_http_requests_total";
/// Histogram: seconds to answer an HTTP request, by `method`, `route` and `status`.
pub const HTTP_REQUEST_SECONDS: &str = "zencall_http_request_duration_seconds";

/// Gauge: minutes by which Stripe's meters and our usage ledger disagree, summed over the
/// metered subscriptions (as of the latest daily reconciliation).
pub const USAGE_DIFFERENCE_MINUTES: &str = "zencall_billing_usage_difference_minutes";
/// Gauge: metered subscriptions whose latest reconciliation found a difference.
pub const USAGE_MISMATCHED_SUBSCRIPTIONS: &str = "zencall_billing_usage_mismatched_subscriptions";

/// Buckets of [`HTTP_REQUEST_SECONDS`], up to the default request timeout (30 s).
const HTTP_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How long a scrape waits for the job counts before answering without them.
const COUNT_TIMEOUT: Duration = Duration::from_secs(5);

/// The process's recorder, installed on first use. `None` if another recorder was installed
/// first (then this one's metrics are not the ones being recorded).
fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = match PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(job_metrics::PICKUP_SECONDS.into()),
                    job_metrics::PICKUP_BUCKETS,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(job_metrics::RUN_SECONDS.into()),
                        job_metrics::RUN_BUCKETS,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(HTTP_REQUEST_SECONDS.into()),
                        HTTP_BUCKETS,
                    )
                }) {
                Ok(builder) => builder.build_recorder(),
                Err(e) => {
                    tracing::warn!(error = %e, "invalid histogram buckets; using summaries");
                    PrometheusBuilder::new().build_recorder()
                }
            };
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => {
                    describe();
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

fn describe() {
    metrics::describe_counter!(
        WEBHOOK_VERIFICATION_FAILURES,
        "Provider webhooks refused because their signature, secret or token did not verify"
    );
    metrics::describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests by method, matched route template and status"
    );
    metrics::describe_histogram!(
        HTTP_REQUEST_SECONDS,
        metrics::Unit::Seconds,
        "Time to answer an HTTP request, by method, matched route template and status"
    );
    job_metrics::describe();
}

/// Installs the recorder now, so metrics recorded before the first scrape are kept.
pub fn install() {
    let _ = handle();
}

/// Counts a refused provider webhook.
pub fn webhook_refused(provider: &str, reason: &'static str) {
    metrics::counter!(WEBHOOK_VERIFICATION_FAILURES, "provider" => provider.to_string(), "reason" => reason)
        .increment(1);
}

/// Middleware counting and timing every request by its matched route template. Added with
/// `Router::layer`, it runs after routing, where the template is known.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = request.method().as_str().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let labels = [
        ("method", method),
        ("route", route),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!(HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(HTTP_REQUEST_SECONDS, &labels).record(started.elapsed().as_secs_f64());
    response
}

/// Metrics routes, for any router state that holds the database.
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Db: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(render))
}

/// Sets the job-count gauges from the table; on a slow or failing database they keep their
/// last values and the scrape still answers.
async fn count_jobs(db: &Db) {
    match tokio::time::timeout(
        COUNT_TIMEOUT,
        job_metrics::unfinished_counts(db, chrono::Utc::now()),
    )
    .await
    {
        Ok(Ok(rows)) => {
            let queues = QueueName::ALL.iter().chain([&QueueName::Bench]);
            for queue in queues {
                for state in job_metrics::REPORTED_STATES {
                    let n = rows
                        .iter()
                        .find(|(q, s, _)| q == queue.as_str() && s == state)
                        .map_or(0, |(_, _, n)| *n);
                    metrics::gauge!(job_metrics::JOBS, "queue" => queue.as_str(), "state" => state)
                        .set(n as f64);
                }
            }
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot count jobs for /metrics"),
        Err(_) => tracing::warn!("counting jobs for /metrics timed out"),
    }
}

/// Sets the usage reconciliation gauges from the latest reconciliations.
async fn usage_differences(db: &Db) {
    match tokio::time::timeout(COUNT_TIMEOUT, usage_reconciliations::all(db)).await {
        Ok(Ok(rows)) => {
            let differences: Vec<i64> = rows
                .iter()
                .map(|r| r.difference().abs())
                .filter(|d| *d != 0)
                .collect();
            metrics::gauge!(USAGE_DIFFERENCE_MINUTES).set(differences.iter().sum::<i64>() as f64);
            metrics::gauge!(USAGE_MISMATCHED_SUBSCRIPTIONS).set(differences.len() as f64);
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot read usage reconciliations for /metrics"),
        Err(_) => tracing::warn!("reading usage reconciliations for /metrics timed out"),
    }
}

/// The metrics, in Prometheus's text exposition format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    summary = "Prometheus metrics",
    responses(
        (status = 200, description = "Metrics in Prometheus's text format (version 0.0.4)", content_type = "text/plain", body = String),
        (status = 408, response = crate::openapi::RequestTimeout),
    )
)]
async fn render(State(db): State<Db>) -> impl IntoResponse {
    count_jobs(&db).await;
    usage_differences(&db).await;
    let body = handle().map(PrometheusHandle::render).unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}
