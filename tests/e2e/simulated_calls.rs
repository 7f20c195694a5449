//! Simulated calls (`POST /v1/simulator/calls`) travel the real path: the simulator POSTs
//! signed Vapi and Twilio webhooks to the API, which verifies, stores and processes them into
//! calls and our outbound events.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};
use zencall::Providers;
use zencall_core::store::api_keys::Scope;
use zencall_core::store::test_db::TestDb;
use zencall_core::store::webhook_events;
use zencall_providers::signatures;
use zencall_providers::simulator::Simulator;

use crate::test_app::{TestApp, key_for, marcel, new_org_key, test_settings};
use crate::webhooks::app_with_assistant;

/// Waits until the call with `vapi_call_id` is ended and its end-of-call report merged (the
/// reports are processed concurrently, so Twilio's may end it first); fails after 30 s.
async fn await_ended(app: &TestApp, vapi_call_id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, list) = app
            .call(Method::GET, "/v1/calls?status=ended", Some(&app.key), None)
            .await;
        if let Some(call) = list["data"].as_array().unwrap().iter().find(|c| {
            c["vapi_call_id"] == vapi_call_id
                && c["ended_reason"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("customer-"))
        }) {
            return call.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "{list}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_simulated_call_goes_through_the_signed_webhooks_to_calls_and_events() {
    for db in TestDb::all().await {
        let (app, assistant_id, _, number) = app_with_assistant(db).await;
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&server)
            .await;
        let (_, endpoint) = app
            .call(
                Method::POST,
                "/v1/webhook-endpoints",
                Some(&app.key),
                Some(json!({"url": format!("{}/hook", server.uri()), "event_types": ["call.started", "call.ended"]})),
            )
            .await;
        let secret = endpoint["secret"].as_str().unwrap().to_string();

        let (status, placed) = app
            .call(
                Method::POST,
                "/v1/simulator/calls",
                Some(&app.key),
                Some(json!({"assistant_id": assistant_id, "customer_number": "06 12 34 56 78", "talk_secs": 95})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{placed}");
        assert_eq!(placed["from_number"], "+33612345678");
        assert_eq!(placed["to_number"], number.as_str());
        let call = await_ended(&app, placed["vapi_call_id"].as_str().unwrap()).await;
        assert_eq!(call["assistant_id"], assistant_id.as_str());
        assert_eq!(call["direction"], "inbound");
        assert_eq!(call["duration_secs"], 95);
        assert_eq!(call["ended_reason"], "customer-ended-call");
        assert_eq!(call["twilio_call_sid"], placed["twilio_call_sid"]);
        assert!(call["transcript"].as_str().unwrap().contains("rendez-vous"));

        // Both providers' webhooks came in over HTTP, verified, and were stored: ringing,
        // in-progress and the end-of-call report; ringing, in-progress and completed.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let mut counts = Vec::new();
            for provider in ["vapi", "twilio"] {
                let events = webhook_events::list(&app.test_db.db, provider, 100)
                    .await
                    .unwrap();
                counts.push(events.len());
            }
            if counts == [3, 3] {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{counts:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        // And the customer heard of the call, once each way.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let types = loop {
            let got = server.received_requests().await.unwrap();
            if got.len() >= 2 {
                let mut types: Vec<String> = got
                    .iter()
                    .map(|r| {
                        let header = r
                            .headers
                            .get(signatures::zencall::HEADER)
                            .map(|v| v.to_str().unwrap());
                        signatures::zencall::verify(
                            header,
                            &r.body,
                            &[secret.as_bytes()],
                            chrono::Utc::now().timestamp(),
                        )
                        .unwrap();
                        serde_json::from_slice::<Value>(&r.body).unwrap()["type"]
                            .as_str()
                            .unwrap()
                            .to_string()
                    })
                    .collect();
                types.sort();
                break types;
            }
            assert!(tokio::time::Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(types, ["call.ended", "call.started"]);
        app.stop().await;
    }
}

#[tokio::test]
async fn an_unanswered_simulated_call_ends_without_starting() {
    let (app, assistant_id, _, _) = app_with_assistant(TestDb::sqlite().await).await;
    let (status, placed) = app
        .call(
            Method::POST,
            "/v1/simulator/calls",
            Some(&app.key),
            Some(json!({"assistant_id": assistant_id, "customer_number": "+33612345678", "outcome": "busy"})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{placed}");
    let call = await_ended(&app, placed["vapi_call_id"].as_str().unwrap()).await;
    assert_eq!(call["ended_reason"], "customer-busy");
    assert!(call["started_at"].is_null());
    assert!(call["duration_secs"].is_null());
    app.stop().await;
}

#[tokio::test]
async fn simulated_calls_are_checked_like_any_request() {
    let (app, assistant_id, _, _) = app_with_assistant(TestDb::sqlite().await).await;
    let post = |key: String, body: Value| {
        let app = &app;
        async move {
            app.call(Method::POST, "/v1/simulator/calls", Some(&key), Some(body))
                .await
        }
    };
    let (status, body) = post(
        app.key.clone(),
        json!({"assistant_id": assistant_id, "customer_number": "not a number", "outcome": "hung", "talk_secs": 0}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["customer_number", "talk_secs", "outcome"],
        "{body}"
    );
    let valid = json!({"assistant_id": assistant_id, "customer_number": "+33612345678"});
    let read = key_for(&app.test_db, &app.org_id, Scope::Read).await;
    assert_eq!(post(read, valid.clone()).await.0, StatusCode::FORBIDDEN);
    let (_, other) = new_org_key(&app.test_db, Scope::Admin).await;
    assert_eq!(post(other, valid).await.0, StatusCode::NOT_FOUND);
    let (status, _) = post(
        app.key.clone(),
        json!({"assistant_id": "asst_nope", "customer_number": "+33612345678"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn without_the_simulator_there_is_no_call_simulator() {
    // The simulator's provider traits, but not the simulator itself: as with real providers.
    let sim = Simulator::new(&test_settings().providers.simulator);
    let providers = Providers::real(Arc::new(sim.clone()), Arc::new(sim));
    let app = TestApp::spawn_with(TestDb::sqlite().await, test_settings(), providers).await;
    let id = app.create_assistant(marcel()).await;
    app.await_assistant(&id, "active").await;
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/simulator/calls",
            Some(&app.key),
            Some(json!({"assistant_id": id, "customer_number": "+33612345678"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("simulated providers"),
        "{body}"
    );
    app.stop().await;
}
