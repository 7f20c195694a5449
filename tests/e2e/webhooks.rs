//! Inbound webhooks end to end: verification, the inbox, deduplication, and calls.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use zencall_core::store::api_keys::Scope;
use zencall_core::store::test_db::TestDb;
use zencall_core::store::{assistants, webhook_events};
use zencall_providers::signatures;
use zencall_providers::simulator::Simulator;

use crate::test_app::{TWILIO_TOKEN, TestApp, VAPI_SECRET, marcel, new_org_key, test_settings};

/// An app with one active assistant; returns the app, the assistant's id, its id at Vapi and its number.
pub async fn app_with_assistant(db: TestDb) -> (TestApp, String, String, String) {
    let sim = Simulator::new(&test_settings().providers.simulator);
    let app = TestApp::spawn(db, &sim).await;
    let id = app.create_assistant(marcel()).await;
    let a = app.await_assistant(&id, "active").await;
    let stored = assistants::find(&app.test_db.db, &app.org_id, &id)
        .await
        .unwrap()
        .unwrap();
    (
        app,
        id,
        stored.vapi_assistant_id.unwrap(),
        a["phone_number"].as_str().unwrap().to_string(),
    )
}

pub fn vapi_headers(body: &[u8]) -> Vec<(&'static str, String)> {
    let ts = chrono::Utc::now().timestamp();
    vec![
        ("content-type", "application/json".into()),
        ("x-timestamp", ts.to_string()),
        (
            "x-signature",
            signatures::vapi::sign(VAPI_SECRET.as_bytes(), ts, body),
        ),
    ]
}

pub fn end_of_call_report(vapi_assistant: &str, number: &str) -> Value {
    json!({"message": {
        "type": "end-of-call-report",
        "endedReason": "customer-ended-call",
        "cost": 0.0831,
        "startedAt": "2026-11-20T10:00:00.000Z",
        "endedAt": "2026-11-20T10:02:05.500Z",
        "artifact": {"transcript": "AI: Bonjour, Chez Marcel.\nUser: Je voudrais réserver pour deux ce soir.", "recordingUrl": "https://storage.vapi.ai/rec-1.wav"},
        "analysis": {"summary": "Réservation pour deux ce soir."},
        "phoneNumber": {"number": number},
        "call": {"id": "vapi-call-1", "assistantId": vapi_assistant, "type": "inboundPhoneCall",
                 "customer": {"number": "+33612345678"}, "phoneCallProviderId": "CA0123456789abcdef0123456789abcdef"}
    }})
}

/// Waits until `path` lists exactly one call matching `pred`; fails after 30 s.
async fn await_call(app: &TestApp, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, list) = app
            .call(Method::GET, "/v1/calls", Some(&app.key), None)
            .await;
        let data = list["data"].as_array().unwrap().clone();
        if data.len() == 1 && pred(&data[0]) {
            return data[0].clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no matching call: {list}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn a_signed_end_of_call_report_completes_the_call_once_even_if_delivered_twice() {
    for db in TestDb::all().await {
        let (app, assistant_id, vapi_assistant, number) = app_with_assistant(db).await;
        let ringing = serde_json::to_vec(&json!({"message": {"type": "status-update", "status": "ringing",
            "call": {"id": "vapi-call-1", "assistantId": vapi_assistant, "type": "inboundPhoneCall", "customer": {"number": "+33612345678"}}}})).unwrap();
        let (status, _) = app
            .post_raw("/webhooks/vapi", &vapi_headers(&ringing), ringing.clone())
            .await;
        assert_eq!(status, StatusCode::OK);
        let report = serde_json::to_vec(&end_of_call_report(&vapi_assistant, &number)).unwrap();
        for _ in 0..2 {
            let (status, body) = app
                .post_raw("/webhooks/vapi", &vapi_headers(&report), report.clone())
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        // A late status-update never moves an ended call back.
        let (status, _) = app
            .post_raw("/webhooks/vapi", &vapi_headers(&ringing), ringing.clone())
            .await;
        assert_eq!(status, StatusCode::OK);
        let call = await_call(&app, |c| c["status"] == "ended").await;
        assert_eq!(call["assistant_id"], assistant_id.as_str());
        assert_eq!(call["direction"], "inbound");
        assert_eq!(call["from_number"], "+33612345678");
        assert_eq!(call["to_number"], number.as_str());
        assert_eq!(call["duration_secs"], 125);
        assert_eq!(call["ended_reason"], "customer-ended-call");
        assert_eq!(call["cost_usd"], "0.0831");
        assert_eq!(
            call["twilio_call_sid"],
            "CA0123456789abcdef0123456789abcdef"
        );
        assert_eq!(call["recording_url"], "https://storage.vapi.ai/rec-1.wav");
        assert!(call["transcript"].as_str().unwrap().contains("réserver"));
        let events = webhook_events::list(&app.test_db.db, "vapi", 10)
            .await
            .unwrap();
        assert_eq!(events.len(), 2, "the duplicate delivery was stored once");
        let (status, one) = app
            .call(
                Method::GET,
                &format!("/v1/calls/{}", call["id"].as_str().unwrap()),
                Some(&app.key),
                None,
            )
            .await;
        assert_eq!(
            (status, one["id"].clone()),
            (StatusCode::OK, call["id"].clone())
        );
        let (_, other_key) = new_org_key(&app.test_db, Scope::Admin).await;
        let (status, _) = app
            .call(
                Method::GET,
                &format!("/v1/calls/{}", call["id"].as_str().unwrap()),
                Some(&other_key),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (_, list) = app
            .call(Method::GET, "/v1/calls", Some(&other_key), None)
            .await;
        assert!(list["data"].as_array().unwrap().is_empty());
        app.stop().await;
    }
}

#[tokio::test]
async fn deliveries_that_fail_verification_get_401_and_are_recorded() {
    let (app, _, vapi_assistant, number) = app_with_assistant(TestDb::sqlite().await).await;
    let body = serde_json::to_vec(&end_of_call_report(&vapi_assistant, &number)).unwrap();
    let ts = chrono::Utc::now().timestamp();
    let cases: Vec<Vec<(&str, String)>> = vec![
        vec![],
        vec![
            ("x-timestamp", ts.to_string()),
            ("x-signature", signatures::vapi::sign(b"wrong", ts, &body)),
        ],
        vec![
            ("x-timestamp", (ts - 3600).to_string()),
            (
                "x-signature",
                signatures::vapi::sign(VAPI_SECRET.as_bytes(), ts - 3600, &body),
            ),
        ],
        vec![("x-vapi-secret", "guess".into())],
    ];
    for headers in cases {
        let (status, text) = app.post_raw("/webhooks/vapi", &headers, body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{headers:?}");
        let problem: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            problem["detail"], "Unauthorized",
            "no detail on why: {text}"
        );
    }
    // The shared-secret header and the previous secret are accepted.
    let (status, _) = app
        .post_raw(
            "/webhooks/vapi",
            &[("x-vapi-secret", VAPI_SECRET.into())],
            body.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let ts = chrono::Utc::now().timestamp();
    let other = serde_json::to_vec(&json!({"message": {"type": "hang"}})).unwrap();
    let headers = vec![
        ("x-timestamp", ts.to_string()),
        (
            "x-signature",
            signatures::vapi::sign(b"vapi-old-secret", ts, &other),
        ),
    ];
    let (status, _) = app.post_raw("/webhooks/vapi", &headers, other).await;
    assert_eq!(status, StatusCode::OK);
    let counts = webhook_events::rejection_counts(&app.test_db.db)
        .await
        .unwrap();
    let total: i64 = counts
        .iter()
        .filter(|(p, _, _)| p == "vapi")
        .map(|(_, _, n)| n)
        .sum();
    assert_eq!(total, 4, "{counts:?}");
    assert!(
        counts.iter().any(|(_, reason, _)| reason == "stale"),
        "{counts:?}"
    );
    // And counted for Prometheus (the recorder is per process, shared by the tests: at least).
    let metrics = reqwest::get(format!("{}/metrics", app.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let stale = metrics
        .lines()
        .find(|l| {
            l.starts_with("zencall_webhook_verification_failures_total{")
                && l.contains("provider=\"vapi\"")
                && l.contains("reason=\"stale\"")
        })
        .unwrap_or_else(|| panic!("{metrics}"));
    let value: f64 = stale.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(value >= 1.0, "{stale}");
    app.stop().await;
}

#[tokio::test]
async fn a_twilio_status_callback_is_verified_against_the_public_url() {
    for db in TestDb::all().await {
        let (app, _, _, number) = app_with_assistant(db).await;
        let params: Vec<(String, String)> = [
            ("CallSid", "CA99"),
            ("CallStatus", "busy"),
            ("Direction", "inbound"),
            ("From", "+33612345678"),
            ("To", number.as_str()),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let body = serde_urlencoded::to_string(&params).unwrap().into_bytes();
        let form = (
            "content-type",
            "application/x-www-form-urlencoded".to_string(),
        );
        let internal = format!("{}/webhooks/twilio/voice-status", app.base);
        let wrong = signatures::twilio::sign(TWILIO_TOKEN.as_bytes(), &internal, &params);
        let (status, _) = app
            .post_raw(
                "/webhooks/twilio/voice-status",
                &[form.clone(), ("x-twilio-signature", wrong)],
                body.clone(),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "signed for the internal URL"
        );
        let public = "https://zencall.example/webhooks/twilio/voice-status";
        let right = signatures::twilio::sign(TWILIO_TOKEN.as_bytes(), public, &params);
        let (status, text) = app
            .post_raw(
                "/webhooks/twilio/voice-status",
                &[form, ("x-twilio-signature", right)],
                body,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{text}");
        let call = await_call(&app, |c| c["status"] == "ended").await;
        assert_eq!(
            (
                call["ended_reason"].as_str(),
                call["twilio_call_sid"].as_str()
            ),
            (Some("busy"), Some("CA99"))
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn stripe_and_google_events_are_verified_and_stored_once() {
    let (app, _, _, _) = app_with_assistant(TestDb::sqlite().await).await;
    let body = br#"{"id": "evt_1", "type": "invoice.paid", "data": {"object": {}}}"#.to_vec();
    let ts = chrono::Utc::now().timestamp();
    for secret in ["whsec_current", "whsec_previous"] {
        let header = signatures::stripe::sign(secret.as_bytes(), ts, &body);
        let (status, _) = app
            .post_raw(
                "/webhooks/stripe",
                &[("stripe-signature", header)],
                body.clone(),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let bad = signatures::stripe::sign(b"whsec_other", ts, &body);
    let (status, _) = app
        .post_raw(
            "/webhooks/stripe",
            &[("stripe-signature", bad)],
            body.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        webhook_events::list(&app.test_db.db, "stripe", 10)
            .await
            .unwrap()
            .len(),
        1
    );

    let google = |token: &str, n: &str| {
        vec![
            ("x-goog-channel-token", token.to_string()),
            ("x-goog-channel-id", "chan-1".to_string()),
            ("x-goog-message-number", n.to_string()),
            ("x-goog-resource-state", "exists".to_string()),
        ]
    };
    let (status, _) = app
        .post_raw(
            "/webhooks/google-calendar",
            &google("google-channel-token", "7"),
            vec![],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .post_raw("/webhooks/google-calendar", &google("nope", "8"), vec![])
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let events = webhook_events::list(&app.test_db.db, "google", 10)
        .await
        .unwrap();
    assert_eq!((events.len(), events[0].event_type.as_str()), (1, "exists"));
    app.stop().await;
}

#[tokio::test]
async fn a_verified_event_is_not_acknowledged_when_it_cannot_be_stored() {
    let (app, _, vapi_assistant, number) = app_with_assistant(TestDb::sqlite().await).await;
    app.test_db.db.close().await;
    let body = serde_json::to_vec(&end_of_call_report(&vapi_assistant, &number)).unwrap();
    let (status, text) = app
        .post_raw("/webhooks/vapi", &vapi_headers(&body), body.clone())
        .await;
    assert_eq!(
        status,
        StatusCode::SERVICE_UNAVAILABLE,
        "the provider must deliver again: {text}"
    );
}
