//! Zencall HTTP API: a thin axum layer that authenticates, validates, writes and enqueues,
//! then answers. Every resource has its own `router()`, merged here.

pub mod appointments;
pub mod assistant_availability;
pub mod assistant_calendar;
pub mod assistant_config;
pub mod assistant_stats;
pub mod assistants;
pub mod auth;
pub mod billing;
pub mod billing_exports;
pub mod billing_profile;
pub mod board;
pub mod calendar_connections;
pub mod calls;
pub mod campaign_contacts;
pub mod campaigns;
pub mod configurators;
pub mod consents;
pub mod dnc;
pub mod error;
pub mod extract;
pub mod health;
pub mod http;
pub mod invoices;
pub mod mcp;
pub mod metrics;
pub mod openapi;
pub mod operations;
pub mod payments;
pub mod rate_limit;
pub mod security;
pub mod simulated_calendar;
pub mod simulated_onboarding;
pub mod simulator;
pub mod stripe_simulator;
pub mod tool_calls;
pub mod webhook_endpoints;
pub mod webhooks;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;
use zencall_core::clock::Clock;
use zencall_core::config::Settings;
use zencall_core::store::Db;

/// What every handler can reach; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Storage.
    pub db: Db,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Configuration.
    pub settings: Arc<Settings>,
    /// Request quotas per API key.
    pub limits: Arc<rate_limit::RateLimits>,
    /// Checks the URLs customers register for our events.
    pub webhooks: Arc<zencall_providers::webhook_sender::WebhookSender>,
    /// The simulated providers, when they stand in for the real ones in this process.
    pub simulator: Option<zencall_providers::simulator::Simulator>,
    /// Tells open queue board pages when the queue changed.
    pub live: Arc<board::live::LiveFeed>,
    /// The calendar provider (Google Calendar or the simulated calendar).
    pub calendar: Arc<dyn zencall_providers::CalendarProvider>,
    /// The simulated calendar, when it stands in for Google in this process.
    pub simulated_calendar: Option<zencall_providers::SimulatedCalendar>,
    /// Seals and opens the calendar tokens stored.
    pub sealer: Arc<zencall_core::domain::sealed::Sealer>,
    /// Stripe Billing, or the simulated payments provider.
    pub payments: Arc<dyn zencall_providers::Payments>,
    /// The simulated payments provider and the poster of its events, when it stands in for
    /// Stripe in this process; its routes are mounted only then.
    pub stripe_simulator: Option<stripe_simulator::StripeSimulator>,
}

impl axum::extract::FromRef<AppState> for Db {
    fn from_ref(state: &AppState) -> Db {
        state.db.clone()
    }
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    metrics::install();
    // The first request reading a phone number would load its metadata: load it now, aside.
    std::thread::spawn(zencall_core::domain::phone::PhoneNumber::warm_up);
    let settings = state.settings.clone();
    let timeout = Duration::from_secs(settings.server.request_timeout_secs);
    let simulating_calendar = state.simulated_calendar.is_some();
    let simulating_payments = state.stripe_simulator.is_some();
    let (routes, _) = documented_routes(simulating_calendar, simulating_payments).split_for_parts();
    let (upload, _) = campaign_contacts::limit_upload(
        campaign_contacts::upload_router(),
        settings.campaigns.max_upload_bytes,
        Duration::from_secs(settings.campaigns.upload_timeout_secs),
    )
    .split_for_parts();
    let router = routes
        .merge(board::router())
        .merge(mcp::router(&state))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        // Uploads stream for longer than an ordinary request: their own limit and timeout.
        .merge(upload)
        .fallback(error::not_found)
        .with_state(state)
        .layer(DefaultBodyLimit::max(settings.server.body_limit_bytes))
        .layer(axum::middleware::map_response(
            error::problem_for_bare_errors,
        ));
    security::protect(router, &settings.server)
        .layer(TraceLayer::new_for_http())
        .layer(axum::middleware::from_fn(metrics::track))
}

/// The routes the API documents, each resource registering its handlers with their OpenAPI
/// paths, so a route served is a route documented. The simulators' routes are mounted only
/// while they stand in for the providers; the contact upload, which has its own body limit
/// and timeout, is apart ([`campaign_contacts::upload_router`]). The board and `/mcp` are not
/// part of the document.
pub fn documented_routes(
    simulating_calendar: bool,
    simulating_payments: bool,
) -> OpenApiRouter<AppState> {
    let routes = OpenApiRouter::new()
        .merge(health::router())
        .merge(metrics::router())
        .merge(assistants::router())
        .merge(assistant_config::router())
        .merge(configurators::router())
        .merge(assistant_stats::router())
        .merge(assistant_availability::router())
        .merge(appointments::router())
        .merge(calls::router())
        .merge(campaigns::router())
        .merge(dnc::router())
        .merge(consents::router())
        .merge(campaign_contacts::list_router())
        .merge(webhooks::router())
        .merge(webhook_endpoints::router())
        .merge(openapi::router())
        .merge(simulator::router())
        .merge(simulated_onboarding::router())
        .merge(calendar_connections::router())
        .merge(billing::router())
        .merge(billing_profile::router())
        .merge(invoices::router())
        .merge(payments::router())
        .merge(billing_exports::router());
    let routes = if simulating_calendar {
        routes.merge(simulated_calendar::router())
    } else {
        routes
    };
    if simulating_payments {
        routes.merge(stripe_simulator::router())
    } else {
        routes
    }
}

/// The operations endpoints alone (`/healthz`, `/readyz`, `/metrics`), for the roles that
/// serve no API: workers and schedulers.
pub fn ops_app(db: Db) -> Router {
    metrics::install();
    let (routes, _) = OpenApiRouter::new()
        .merge(health::router())
        .merge(metrics::router())
        .split_for_parts();
    routes
        .fallback(error::not_found)
        .with_state(db)
        .layer(TraceLayer::new_for_http())
        .layer(axum::middleware::from_fn(metrics::track))
}

/// Serves the operations endpoints on `listener` until `shutdown` resolves.
pub async fn serve_ops(
    listener: tokio::net::TcpListener,
    db: Db,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, ops_app(db))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Serves the API on `listener` until `shutdown` resolves, then finishes open requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Board pages hold event streams open: end them, or shutdown would wait for them.
    let live = state.live.clone();
    let shutdown = async move {
        shutdown.await;
        live.close();
    };
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
