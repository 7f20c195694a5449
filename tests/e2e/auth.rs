//! API keys and tenant isolation.

use reqwest::{Method, StatusCode};
use serde_json::json;
use zencall_core::store::api_keys::Scope;
use zencall_core::store::test_db::TestDb;
use zencall_providers::simulator::Simulator;

use crate::test_app::{TestApp, key_for, marcel, new_org_key, test_settings};

#[tokio::test]
async fn a_missing_or_unknown_key_gets_401() {
    let sim = Simulator::new(&test_settings().providers.simulator);
    let app = TestApp::spawn(TestDb::sqlite().await, &sim).await;
    for key in [None, Some("zc_0000"), Some("not-a-key"), Some("")] {
        let (status, problem) = app.call(Method::GET, "/v1/assistants", key, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{key:?}: {problem}");
        assert_eq!(problem["status"], 401);
    }
    let (status, _) = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn a_read_key_reads_but_cannot_write() {
    let sim = Simulator::new(&test_settings().providers.simulator);
    let app = TestApp::spawn(TestDb::sqlite().await, &sim).await;
    let read = key_for(&app.test_db, &app.org_id, Scope::Read).await;
    let (status, _) = app
        .call(Method::GET, "/v1/assistants", Some(&read), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, problem) = app
        .call(Method::POST, "/v1/assistants", Some(&read), Some(marcel()))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("write"));
    app.stop().await;
}

#[tokio::test]
async fn another_organisations_assistant_is_invisible_and_untouchable() {
    for db in TestDb::all().await {
        let sim = Simulator::new(&test_settings().providers.simulator);
        let app = TestApp::spawn(db, &sim).await;
        let id = app.create_assistant(marcel()).await;
        let (_, other) = new_org_key(&app.test_db, Scope::Admin).await;
        let path = format!("/v1/assistants/{id}");
        let (status, _) = app.call(Method::GET, &path, Some(&other), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = app
            .call(
                Method::PATCH,
                &path,
                Some(&other),
                Some(json!({"greeting": "pwned"})),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = app.call(Method::DELETE, &path, Some(&other), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, list) = app
            .call(Method::GET, "/v1/assistants", Some(&other), None)
            .await;
        assert!(list["data"].as_array().unwrap().is_empty());
        let a = app.await_assistant(&id, "active").await;
        assert_ne!(a["greeting"], "pwned");
        app.stop().await;
    }
}

#[tokio::test]
async fn every_response_carries_the_security_headers_and_cors_is_closed_by_default() {
    let sim = Simulator::new(&test_settings().providers.simulator);
    let app = TestApp::spawn(TestDb::sqlite().await, &sim).await;
    let client = reqwest::Client::new();
    for path in ["/healthz", "/v1/assistants", "/nowhere"] {
        let resp = client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        let h = resp.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert!(
            h["strict-transport-security"]
                .to_str()
                .unwrap()
                .starts_with("max-age=63072000")
        );
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
    }
    let preflight = client
        .request(Method::OPTIONS, format!("{}/v1/assistants", app.base))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    app.stop().await;
}

#[tokio::test]
async fn a_configured_origin_may_call_the_api_from_a_browser() {
    let sim = Simulator::new(&test_settings().providers.simulator);
    let mut settings = test_settings();
    settings.server.cors_allowed_origins = vec!["https://app.zencall.example".into()];
    let app = TestApp::spawn_with(
        TestDb::sqlite().await,
        settings,
        crate::test_app::simulated(&sim),
    )
    .await;
    let client = reqwest::Client::new();
    let preflight = client
        .request(Method::OPTIONS, format!("{}/v1/assistants", app.base))
        .header("origin", "https://app.zencall.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://app.zencall.example"
    );
    // A browser MCP client sends the MCP headers; an admin page PUTs.
    for (path, method, headers) in [
        (
            "/mcp",
            "POST",
            "authorization, content-type, accept, mcp-protocol-version",
        ),
        ("/v1/configurators/fr", "PUT", "authorization"),
    ] {
        let preflight = client
            .request(Method::OPTIONS, format!("{}{path}", app.base))
            .header("origin", "https://app.zencall.example")
            .header("access-control-request-method", method)
            .header("access-control-request-headers", headers)
            .send()
            .await
            .unwrap();
        let h = preflight.headers();
        assert_eq!(
            h["access-control-allow-origin"],
            "https://app.zencall.example"
        );
        let allowed = h["access-control-allow-headers"].to_str().unwrap();
        for header in headers.split(", ") {
            assert!(
                allowed.contains(header),
                "{path}: {header} not in {allowed}"
            );
        }
        assert!(
            h["access-control-allow-methods"]
                .to_str()
                .unwrap()
                .contains(method),
            "{path}"
        );
    }
    let other = client
        .request(Method::OPTIONS, format!("{}/v1/assistants", app.base))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    app.stop().await;
}

#[tokio::test]
async fn a_key_over_its_quota_gets_429_with_retry_after_and_other_keys_go_on() {
    let sim = Simulator::new(&test_settings().providers.simulator);
    let mut settings = test_settings();
    settings.rate_limits.admin_per_minute = 3;
    let app = TestApp::spawn_with(
        TestDb::sqlite().await,
        settings,
        crate::test_app::simulated(&sim),
    )
    .await;
    for _ in 0..3 {
        let (status, _) = app
            .call(Method::GET, "/v1/assistants", Some(&app.key), None)
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let resp = reqwest::Client::new()
        .get(format!("{}/v1/assistants", app.base))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let (_, other) = new_org_key(&app.test_db, Scope::Admin).await;
    let (status, _) = app
        .call(Method::GET, "/v1/assistants", Some(&other), None)
        .await;
    assert_eq!(status, StatusCode::OK, "another key has its own quota");
    app.stop().await;
}
