//! Outbound webhooks end to end: endpoints, signed deliveries of our events to a local fake
//! customer server, retries, deliveries listed with their attempts, the SSRF guard and scopes.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};
use zencall_core::store::api_keys::Scope;
use zencall_core::store::test_db::TestDb;
use zencall_providers::signatures;
use zencall_providers::simulator::Simulator;

use crate::test_app::{TestApp, key_for, marcel, new_org_key, simulated, test_settings};
use crate::webhooks::{app_with_assistant, end_of_call_report, vapi_headers};

/// Registers an endpoint; returns its id and secret.
async fn register(app: &TestApp, url: &str, types: &[&str]) -> (String, String) {
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/webhook-endpoints",
            Some(&app.key),
            Some(json!({"url": url, "event_types": types, "description": "CRM"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let secret = body["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    (body["id"].as_str().unwrap().to_string(), secret)
}

/// Waits until `server` has received `n` requests on `route`; fails after 30 s.
async fn await_requests(server: &MockServer, route: &str, n: usize) -> Vec<Request> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let got: Vec<Request> = server
            .received_requests()
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.url.path() == route)
            .collect();
        if got.len() >= n {
            return got;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{route} received {} of {n} requests",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Checks the request's signature with `secret` and returns its JSON body.
fn verified(request: &Request, secret: &str) -> Value {
    let header = request
        .headers
        .get(signatures::zencall::HEADER)
        .map(|v| v.to_str().unwrap());
    signatures::zencall::verify(
        header,
        &request.body,
        &[secret.as_bytes()],
        chrono::Utc::now().timestamp(),
    )
    .unwrap();
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        request.headers.get("zencall-event-id").unwrap(),
        body["id"].as_str().unwrap()
    );
    body
}

/// The deliveries of `endpoint`, once the newest has `status`; fails after 30 s.
async fn await_deliveries(app: &TestApp, endpoint: &str, status: &str) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (code, page) = app
            .call(
                Method::GET,
                &format!("/v1/webhook-endpoints/{endpoint}/deliveries"),
                Some(&app.key),
                None,
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{page}");
        let data = page["data"].as_array().unwrap().clone();
        if data.first().is_some_and(|d| d["status"] == status) {
            return data;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {status} delivery: {page}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn endpoints_receive_signed_events_of_the_types_they_want_once() {
    for db in TestDb::all().await {
        let sim = Simulator::new(&test_settings().providers.simulator);
        let app = TestApp::spawn(db, &sim).await;
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_string("thanks"))
            .mount(&server)
            .await;
        let (assistants_hook, secret) = register(
            &app,
            &format!("{}/assistants", server.uri()),
            &["assistant.provisioned", "assistant.failed"],
        )
        .await;
        let (calls_hook, _) =
            register(&app, &format!("{}/calls", server.uri()), &["call.ended"]).await;

        let id = app.create_assistant(marcel()).await;
        app.await_assistant(&id, "active").await;
        let got = await_requests(&server, "/assistants", 1).await;
        let event = verified(&got[0], &secret);
        assert_eq!(event["type"], "assistant.provisioned");
        assert_eq!(event["org_id"], app.org_id.as_str());
        assert_eq!(event["data"]["id"], id.as_str());
        assert_eq!(event["data"]["status"], "active");
        assert!(
            event["data"]["phone_number"]
                .as_str()
                .unwrap()
                .starts_with("+33")
        );
        assert_eq!(
            got[0].headers.get("content-type").unwrap(),
            "application/json"
        );

        let deliveries = await_deliveries(&app, &assistants_hook, "delivered").await;
        assert_eq!(deliveries.len(), 1);
        assert_eq!(deliveries[0]["event_type"], "assistant.provisioned");
        assert_eq!(deliveries[0]["attempts"], 1);
        let log = deliveries[0]["attempt_log"].as_array().unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0]["status_code"], 200);
        assert_eq!(log[0]["response_body"], "thanks");

        // The endpoint that wants only call.ended heard nothing, and nothing more came.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(await_requests(&server, "/assistants", 1).await.len(), 1);
        let (_, page) = app
            .call(
                Method::GET,
                &format!("/v1/webhook-endpoints/{calls_hook}/deliveries"),
                Some(&app.key),
                None,
            )
            .await;
        assert_eq!(page["data"], json!([]));

        // The secret is shown only at creation.
        let (status, listed) = app
            .call(Method::GET, "/v1/webhook-endpoints", Some(&app.key), None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(listed["data"].as_array().unwrap().len(), 2);
        assert!(listed["data"][0].get("secret").is_none(), "{listed}");
        app.stop().await;
    }
}

#[tokio::test]
async fn call_events_are_sent_once_even_when_the_provider_repeats_itself() {
    for db in TestDb::all().await {
        let (app, _, vapi_assistant, number) = app_with_assistant(db).await;
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(204))
            .mount(&server)
            .await;
        let (hook, secret) = register(&app, &format!("{}/hook", server.uri()), &["*"]).await;
        let report = serde_json::to_vec(&end_of_call_report(&vapi_assistant, &number)).unwrap();
        for _ in 0..2 {
            let (status, body) = app
                .post_raw("/webhooks/vapi", &vapi_headers(&report), report.clone())
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        // `*` includes the analysis of the call, announced once too.
        let got = await_requests(&server, "/hook", 3).await;
        let mut types: Vec<String> = got
            .iter()
            .map(|r| verified(r, &secret)["type"].as_str().unwrap().to_string())
            .collect();
        types.sort();
        assert_eq!(types, ["call.analyzed", "call.ended", "call.started"]);
        let ended = got
            .iter()
            .map(|r| verified(r, &secret))
            .find(|e| e["type"] == "call.ended")
            .unwrap();
        assert_eq!(ended["data"]["duration_secs"], 125);
        assert!(
            ended["data"]["transcript"]
                .as_str()
                .unwrap()
                .contains("réserver")
        );
        let deliveries = await_deliveries(&app, &hook, "delivered").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(await_requests(&server, "/hook", 3).await.len(), 3);
        assert_eq!(deliveries.len(), 3);
        app.stop().await;
    }
}

#[tokio::test]
async fn a_failing_endpoint_is_retried_and_every_attempt_is_kept() {
    for db in TestDb::all().await {
        let sim = Simulator::new(&test_settings().providers.simulator);
        let mut settings = test_settings();
        settings.webhooks.outbound.max_attempts = 3;
        let app = TestApp::spawn_with(db, settings, simulated(&sim)).await;
        let server = MockServer::start().await;
        // The flaky endpoint fails twice then accepts; the broken one always fails.
        Mock::given(path("/flaky"))
            .respond_with(ResponseTemplate::new(503).set_body_string("busy"))
            .up_to_n_times(2)
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(path("/flaky"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&server)
            .await;
        Mock::given(path("/broken"))
            .respond_with(ResponseTemplate::new(500).set_body_string("x".repeat(10_000)))
            .mount(&server)
            .await;
        let (flaky, _) = register(
            &app,
            &format!("{}/flaky", server.uri()),
            &["assistant.provisioned"],
        )
        .await;
        let (broken, _) = register(
            &app,
            &format!("{}/broken", server.uri()),
            &["assistant.provisioned"],
        )
        .await;
        let id = app.create_assistant(marcel()).await;
        app.await_assistant(&id, "active").await;

        let delivered = await_deliveries(&app, &flaky, "delivered").await;
        let codes: Vec<&Value> = delivered[0]["attempt_log"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| &a["status_code"])
            .collect();
        assert_eq!(codes, [&json!(503), &json!(503), &json!(200)]);
        assert_eq!(delivered[0]["attempts"], 3);

        let failed = await_deliveries(&app, &broken, "failed").await;
        let log = failed[0]["attempt_log"].as_array().unwrap();
        assert_eq!(log.len(), 3);
        assert!(log[0]["response_body"].as_str().unwrap().len() <= 2048);
        assert_eq!(failed[0]["last_status_code"], 500);
        assert!(
            failed[0]["last_error"]
                .as_str()
                .unwrap()
                .contains("gave up after 3 attempts"),
            "{}",
            failed[0]
        );
        assert!(failed[0]["next_attempt_at"].is_null());
        app.stop().await;
    }
}

#[tokio::test]
async fn deleting_an_endpoint_stops_its_deliveries() {
    let sim = Simulator::new(&test_settings().providers.simulator);
    let mut settings = test_settings();
    settings.webhooks.outbound.retry_base_secs = 30;
    settings.webhooks.outbound.retry_max_secs = 30;
    let app = TestApp::spawn_with(TestDb::sqlite().await, settings, simulated(&sim)).await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&server)
        .await;
    let (hook, _) = register(&app, &format!("{}/hook", server.uri()), &["*"]).await;
    let id = app.create_assistant(marcel()).await;
    app.await_assistant(&id, "active").await;
    let pending = await_deliveries(&app, &hook, "pending").await;
    assert!(!pending[0]["next_attempt_at"].is_null());
    let path = format!("/v1/webhook-endpoints/{hook}");
    let (status, _) = app.call(Method::DELETE, &path, Some(&app.key), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app.call(Method::GET, &path, Some(&app.key), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.call(Method::DELETE, &path, Some(&app.key), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Its deliveries stay visible, cancelled.
    let cancelled = await_deliveries(&app, &hook, "cancelled").await;
    assert_eq!(cancelled.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn endpoints_on_private_addresses_or_plain_http_are_refused() {
    let sim = Simulator::new(&test_settings().providers.simulator);
    let mut settings = test_settings();
    settings.webhooks.outbound.allow_private_networks = false;
    settings.webhooks.outbound.allow_plain_http = false;
    let app = TestApp::spawn_with(TestDb::sqlite().await, settings, simulated(&sim)).await;
    for (url, words) in [
        ("https://127.0.0.1/hook", "private"),
        ("https://10.1.2.3/hook", "private"),
        ("https://169.254.169.254/latest/meta-data", "private"),
        ("https://[::1]/hook", "private"),
        ("https://localhost:8443/hook", "private"),
        ("http://hooks.example.com/zencall", "https"),
        ("ftp://hooks.example.com/zencall", "https"),
        ("not a url", "url"),
    ] {
        let (status, body) = app
            .call(
                Method::POST,
                "/v1/webhook-endpoints",
                Some(&app.key),
                Some(json!({"url": url, "event_types": ["*"]})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
        assert_eq!(body["errors"][0]["field"], "url", "{url}: {body}");
        let message = body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .to_lowercase();
        assert!(message.contains(words), "{url}: {message}");
    }
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/webhook-endpoints",
            Some(&app.key),
            Some(json!({"url": "https://hooks.example.com", "event_types": ["call.exploded"], "secret": "mine"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("secret"), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn only_admins_manage_endpoints_and_only_in_their_organisation() {
    let sim = Simulator::new(&test_settings().providers.simulator);
    let app = TestApp::spawn(TestDb::sqlite().await, &sim).await;
    let (hook, _) = register(&app, "http://127.0.0.1:9/hook", &["*"]).await;
    let body = json!({"url": "http://127.0.0.1:9/other", "event_types": ["*"]});
    let write = key_for(&app.test_db, &app.org_id, Scope::Write).await;
    let read = key_for(&app.test_db, &app.org_id, Scope::Read).await;
    let (status, _) = app
        .call(
            Method::POST,
            "/v1/webhook-endpoints",
            Some(&write),
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let path = format!("/v1/webhook-endpoints/{hook}");
    let (status, _) = app.call(Method::DELETE, &path, Some(&write), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app.call(Method::GET, &path, Some(&read), None).await;
    assert_eq!(status, StatusCode::OK);

    let (_, other) = new_org_key(&app.test_db, Scope::Admin).await;
    for (m, p) in [
        (Method::GET, path.clone()),
        (Method::DELETE, path.clone()),
        (Method::GET, format!("{path}/deliveries")),
    ] {
        let (status, _) = app.call(m.clone(), &p, Some(&other), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{m} {p}");
    }
    let (_, listed) = app
        .call(Method::GET, "/v1/webhook-endpoints", Some(&other), None)
        .await;
    assert_eq!(listed["data"], json!([]));
    let (status, _) = app.call(Method::GET, &path, Some(&app.key), None).await;
    assert_eq!(status, StatusCode::OK, "still there for its owner");
    app.stop().await;
}
