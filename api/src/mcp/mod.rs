//! The MCP server at `/mcp`: the assistants' operations as tools for AI agents, over
//! streamable HTTP, stateless (every POST stands alone, answered with JSON). It is a second
//! door to the operations REST uses ([`crate::operations`]), with the same API keys, scopes,
//! validation and tenant rules.

pub mod auth;
pub mod tools;
pub mod types;

use std::sync::Arc;

use axum::Router;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use zencall_core::config::Settings;

use crate::AppState;

/// The `Host` names accepted when `mcp.allowed_hosts` is empty, besides `server.public_url`'s.
const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// `/mcp`, behind the API-key layer.
pub fn router(state: &AppState) -> Router<AppState> {
    let tools_state = state.clone();
    let service = StreamableHttpService::new(
        move || Ok(tools::ZencallTools::new(tools_state.clone())),
        Arc::new(NeverSessionManager::default()),
        config(&state.settings),
    );
    Router::new()
        .nest_service("/mcp", service)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
}

/// Stateless, JSON answers, the API's body limit, and the allowed hosts.
fn config(settings: &Settings) -> StreamableHttpServerConfig {
    StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_max_request_body_bytes(settings.server.body_limit_bytes)
        .with_allowed_hosts(allowed_hosts(settings))
}

/// `mcp.allowed_hosts`, or when it is empty the loopback names and `server.public_url`'s host.
/// Never empty: the MCP service would take an empty list as "any host".
pub fn allowed_hosts(settings: &Settings) -> Vec<String> {
    if !settings.mcp.allowed_hosts.is_empty() {
        return settings.mcp.allowed_hosts.clone();
    }
    let mut hosts: Vec<String> = LOOPBACK_HOSTS.iter().map(|h| h.to_string()).collect();
    if let Ok(uri) = settings.server.public_url.parse::<axum::http::Uri>()
        && let Some(host) = uri.host()
    {
        let host = host.trim_matches(['[', ']']).to_ascii_lowercase();
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    hosts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_hosts_are_the_loopback_names_and_the_public_urls_host() {
        let mut settings = Settings::defaults().expect("defaults");
        settings.server.public_url = "https://API.zencall.example:8443/base".into();
        assert_eq!(
            allowed_hosts(&settings),
            ["localhost", "127.0.0.1", "::1", "api.zencall.example"]
        );
    }

    #[test]
    fn configured_hosts_replace_the_defaults() {
        let mut settings = Settings::defaults().expect("defaults");
        settings.mcp.allowed_hosts = vec!["mcp.zencall.example".into()];
        assert_eq!(allowed_hosts(&settings), ["mcp.zencall.example"]);
    }
}
