//! Headers every response carries, and CORS: closed unless origins are configured.

use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use zencall_core::config::ServerSettings;

/// The content security policy: nothing from elsewhere, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds CORS and the security headers to every response of `router` (replacing any a handler set).
pub fn protect(router: Router, server: &ServerSettings) -> Router {
    let hsts = if server.hsts {
        "max-age=63072000; includeSubDomains"
    } else {
        "max-age=0"
    };
    let headers: [(HeaderName, &'static str); 5] = [
        (header::STRICT_TRANSPORT_SECURITY, hsts),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CONTENT_SECURITY_POLICY, CSP),
    ];
    let mut router = router.layer(cors(server));
    for (name, value) in headers {
        router = router.layer(SetResponseHeaderLayer::overriding(
            name,
            HeaderValue::from_static(value),
        ));
    }
    router
}

/// The headers a browser MCP client (the MCP inspector, say) sends to `/mcp`.
const MCP_PROTOCOL_VERSION: &str = "mcp-protocol-version";
const MCP_SESSION_ID: &str = "mcp-session-id";
const LAST_EVENT_ID: &str = "last-event-id";

/// CORS for the configured origins, for the REST routes and `/mcp` alike (an MCP client in a
/// browser sends and reads the MCP headers); with none, no cross-origin request is allowed.
fn cors(server: &ServerSettings) -> CorsLayer {
    let origins: Vec<HeaderValue> = server
        .cors_allowed_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            HeaderName::from_static(MCP_PROTOCOL_VERSION),
            HeaderName::from_static(MCP_SESSION_ID),
            HeaderName::from_static(LAST_EVENT_ID),
        ])
        .expose_headers([
            HeaderName::from_static(MCP_SESSION_ID),
            header::WWW_AUTHENTICATE,
            header::RETRY_AFTER,
        ])
        .max_age(std::time::Duration::from_secs(600))
}
