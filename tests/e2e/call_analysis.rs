//! Transcript analysis end to end: a call that ends with a transcript is analysed by a job
//! queued with it, once per analyzer version however often its report comes; the result shows
//! on the call, filters call lists, feeds the assistant's statistics, is announced by
//! `call.analyzed`, and can be made again while the old one stays in the history. Bad input
//! gives a `skipped` analysis with its reason, and a language model that fails falls back to
//! the offline analyzer.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};
use zencall_core::store::api_keys::Scope;
use zencall_core::store::test_db::TestDb;
use zencall_providers::llm_analyzer::LlmAnalyzer;
use zencall_providers::simulator::Simulator;

use crate::test_app::{TestApp, key_for, marcel, simulated, test_settings};
use crate::webhooks::{app_with_assistant, end_of_call_report, vapi_headers};

/// Waits for the call whose voice-platform id is `vapi_call_id` to exist; returns its id.
async fn await_call_id(app: &TestApp, vapi_call_id: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, list) = app
            .call(Method::GET, "/v1/calls?status=ended", Some(&app.key), None)
            .await;
        if let Some(call) = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["vapi_call_id"] == vapi_call_id)
        {
            return call["id"].as_str().unwrap().to_string();
        }
        assert!(tokio::time::Instant::now() < deadline, "{list}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits until call `id` shows an analysis satisfying `ready`; returns the call.
async fn await_analysis(app: &TestApp, id: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        let (status, call) = app
            .call(
                Method::GET,
                &format!("/v1/calls/{id}"),
                Some(&app.key),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{call}");
        if !call["analysis"].is_null() && ready(&call["analysis"]) {
            return call;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "call {id} was never analysed: {call}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn simulate(app: &TestApp, assistant_id: &str, scenario: &str) -> String {
    let (status, placed) = app
        .call(
            Method::POST,
            "/v1/simulator/calls",
            Some(&app.key),
            Some(
                json!({"assistant_id": assistant_id, "customer_number": "06 12 34 56 78",
                        "talk_secs": 80, "scenario": scenario}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{placed}");
    await_call_id(app, placed["vapi_call_id"].as_str().unwrap()).await
}

/// The `call.analyzed` deliveries a fake endpoint received.
async fn analyzed_events(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
        .filter(|e| e["type"] == "call.analyzed")
        .collect()
}

async fn await_events(server: &MockServer, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let events = analyzed_events(server).await;
        if events.len() >= n {
            return events;
        }
        assert!(tokio::time::Instant::now() < deadline, "{events:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn a_french_complaint_reads_negative_is_announced_filtered_and_can_be_analysed_again() {
    for db in TestDb::all().await {
        let (app, assistant_id, _, _) = app_with_assistant(db).await;
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&server)
            .await;
        let (status, _) = app
            .call(
                Method::POST,
                "/v1/webhook-endpoints",
                Some(&app.key),
                Some(json!({"url": format!("{}/hook", server.uri()), "event_types": ["call.analyzed"]})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);

        let id = simulate(&app, &assistant_id, "complaint").await;
        let call = await_analysis(&app, &id, |_| true).await;
        let analysis = &call["analysis"];
        assert_eq!(analysis["status"], "completed", "{analysis}");
        assert_eq!(analysis["language"], "fr");
        assert_eq!(analysis["analyzer"], "lexicon");
        assert_eq!(analysis["sentiment"]["label"], "negative", "{analysis}");
        assert_eq!(analysis["intents"][0]["name"], "complaint", "{analysis}");
        assert!(
            !analysis["intents"][0]["trigger"]
                .as_str()
                .unwrap()
                .is_empty()
        );
        assert!(
            analysis["summary"]
                .as_str()
                .unwrap()
                .starts_with("Client : ")
        );
        assert!(!analysis["actions"].as_array().unwrap().is_empty());
        assert!(
            analysis["provider_analysis"]["summary"].is_string(),
            "{analysis}"
        );
        assert_eq!(call["sentiment"], "negative");
        assert_eq!(call["intents"][0], "complaint");

        // Lists filter on the current analysis; bad filters name the field.
        for (query, expected) in [
            ("sentiment=negative", 1),
            ("intent=complaint", 1),
            ("sentiment=positive", 0),
            ("intent=booking", 0),
        ] {
            let (status, list) = app
                .call(
                    Method::GET,
                    &format!("/v1/calls?{query}"),
                    Some(&app.key),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{list}");
            assert_eq!(
                list["data"].as_array().unwrap().len(),
                expected,
                "{query}: {list}"
            );
        }
        for (query, field) in [
            ("sentiment=furious", "sentiment"),
            ("intent=chat", "intent"),
        ] {
            let (status, problem) = app
                .call(
                    Method::GET,
                    &format!("/v1/calls?{query}"),
                    Some(&app.key),
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert!(
                problem["detail"].as_str().unwrap().starts_with(field),
                "{problem}"
            );
        }

        let events = await_events(&server, 1).await;
        assert_eq!(events[0]["data"]["call_id"], id.as_str());
        assert_eq!(events[0]["data"]["id"], analysis["id"]);
        assert_eq!(events[0]["data"]["sentiment"]["label"], "negative");

        // Analysing again needs the write scope, keeps the old analysis, and is announced.
        let reader = key_for(&app.test_db, &app.org_id, Scope::Read).await;
        let (status, _) = app
            .call(
                Method::POST,
                &format!("/v1/calls/{id}/analysis"),
                Some(&reader),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, request) = app
            .call(
                Method::POST,
                &format!("/v1/calls/{id}/analysis"),
                Some(&app.key),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{request}");
        assert!(request["id"].as_str().unwrap().starts_with("anr_"));
        let first = analysis["id"].clone();
        let again = await_analysis(&app, &id, |a| a["id"] != first).await;
        assert_eq!(again["analysis"]["current"], true);
        let (_, history) = app
            .call(
                Method::GET,
                &format!("/v1/calls/{id}/analyses"),
                Some(&app.key),
                None,
            )
            .await;
        let history = history["data"].as_array().unwrap().clone();
        assert_eq!(history.len(), 2);
        assert_eq!(history[0]["id"], again["analysis"]["id"]);
        assert_eq!(history[1]["id"], first);
        assert_eq!(history[1]["current"], false);
        await_events(&server, 2).await;

        let (status, _) = app
            .call(
                Method::POST,
                "/v1/calls/call_nope/analysis",
                Some(&app.key),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        app.stop().await;
    }
}

#[tokio::test]
async fn an_english_booking_reads_positive_and_counts_in_the_assistants_statistics() {
    for db in TestDb::all().await {
        let sim = Simulator::new(&test_settings().providers.simulator);
        let app = TestApp::spawn(db, &sim).await;
        let mut body = marcel();
        body["language"] = json!("en");
        let assistant_id = app.create_assistant(body).await;
        app.await_assistant(&assistant_id, "active").await;

        let id = simulate(&app, &assistant_id, "booking").await;
        let call = await_analysis(&app, &id, |_| true).await;
        let analysis = &call["analysis"];
        assert_eq!(analysis["language"], "en");
        assert_eq!(analysis["sentiment"]["label"], "positive", "{analysis}");
        assert_eq!(analysis["intents"][0]["name"], "booking", "{analysis}");
        assert!(
            analysis["summary"]
                .as_str()
                .unwrap()
                .starts_with("Caller: ")
        );

        let (status, stats) = app
            .call(
                Method::GET,
                &format!("/v1/assistants/{assistant_id}/stats"),
                Some(&app.key),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{stats}");
        assert_eq!(stats["calls"], 1);
        assert_eq!(stats["answered"], 1);
        assert_eq!(stats["total_duration_secs"], 80);
        assert_eq!(stats["mean_duration_secs"], 80.0);
        assert_eq!(
            stats["sentiment"],
            json!({"positive": 1, "neutral": 0, "negative": 0})
        );
        assert_eq!(
            stats["top_intents"][0],
            json!({"intent": "booking", "calls": 1})
        );
        assert_eq!(stats["days"].as_array().unwrap().len(), 1);
        assert_eq!(stats["days"][0]["calls"], 1);

        let (status, problem) = app
            .call(
                Method::GET,
                &format!("/v1/assistants/{assistant_id}/stats?from=2026-01-01T00:00:00Z&to=2025-01-01T00:00:00Z"),
                Some(&app.key),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
        let (status, _) = app
            .call(
                Method::GET,
                "/v1/assistants/asst_nope/stats",
                Some(&app.key),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        app.stop().await;
    }
}

/// Posts a signed end-of-call report for call `vapi_call_id` with this transcript.
async fn report(
    app: &TestApp,
    vapi_assistant: &str,
    number: &str,
    vapi_call_id: &str,
    transcript: &str,
    cost: f64,
) {
    let mut body = end_of_call_report(vapi_assistant, number);
    body["message"]["call"]["id"] = json!(vapi_call_id);
    body["message"]["call"]["phoneCallProviderId"] = json!(format!("CA{:032x}", cost.to_bits()));
    body["message"]["artifact"]["transcript"] = json!(transcript);
    body["message"]["cost"] = json!(cost);
    let bytes = serde_json::to_vec(&body).unwrap();
    let (status, answer) = app
        .post_raw("/webhooks/vapi", &vapi_headers(&bytes), bytes.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

async fn analysis_jobs(app: &TestApp) -> i64 {
    let sql = "SELECT COUNT(*) FROM job_search WHERE kind = 'AnalyzeTranscript'";
    match app.test_db.db.pool() {
        zencall_core::store::Pool::Postgres(p) => {
            sqlx::query_scalar(sql).fetch_one(p).await.unwrap()
        }
        zencall_core::store::Pool::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
    }
}

#[tokio::test]
async fn a_report_delivered_again_is_analysed_once_and_bad_transcripts_are_skipped_with_a_reason() {
    for db in TestDb::all().await {
        let mut settings = test_settings();
        settings.analysis.max_transcript_chars = 2_000;
        let sim = Simulator::new(&settings.providers.simulator);
        let app = TestApp::spawn_with(db, settings, simulated(&sim)).await;
        let assistant_id = app.create_assistant(marcel()).await;
        let number = app.await_assistant(&assistant_id, "active").await["phone_number"]
            .as_str()
            .unwrap()
            .to_string();
        let vapi_assistant =
            zencall_core::store::assistants::find(&app.test_db.db, &app.org_id, &assistant_id)
                .await
                .unwrap()
                .unwrap()
                .vapi_assistant_id
                .unwrap();

        // Two different deliveries of one call's report (a provider retry with a new body):
        // one analysis job.
        let text = "AI: Bonjour.\nUser: Je voudrais réserver une table pour quatre ce soir, merci beaucoup !";
        report(&app, &vapi_assistant, &number, "vapi-twice", text, 0.05).await;
        report(&app, &vapi_assistant, &number, "vapi-twice", text, 0.06).await;
        let id = await_call_id(&app, "vapi-twice").await;
        let call = await_analysis(&app, &id, |_| true).await;
        assert_eq!(call["analysis"]["intents"][0]["name"], "booking");
        assert_eq!(analysis_jobs(&app).await, 1);

        // An answered call without a transcript.
        report(&app, &vapi_assistant, &number, "vapi-silent", "", 0.01).await;
        let id = await_call_id(&app, "vapi-silent").await;
        let call = await_analysis(&app, &id, |_| true).await;
        assert_eq!(call["analysis"]["status"], "skipped");
        assert_eq!(
            call["analysis"]["skipped_reason"],
            "the call has no transcript"
        );
        assert!(call["sentiment"].is_null());

        // Another language.
        let german = "User: Guten Tag, ich möchte gerne einen Termin für nächste Woche vereinbaren, wenn möglich am Donnerstag oder Freitag.";
        report(&app, &vapi_assistant, &number, "vapi-german", german, 0.02).await;
        let id = await_call_id(&app, "vapi-german").await;
        let call = await_analysis(&app, &id, |_| true).await;
        assert_eq!(call["analysis"]["status"], "skipped");
        assert_eq!(call["analysis"]["language"], "unknown");
        assert!(
            call["analysis"]["skipped_reason"]
                .as_str()
                .unwrap()
                .contains("language")
        );

        // A transcript longer than analysis.max_transcript_chars is cut, and the analysis says so.
        let long = format!(
            "{text}\n{}",
            "User: Je répète, une table pour quatre. ".repeat(2_000)
        );
        report(&app, &vapi_assistant, &number, "vapi-long", &long, 0.03).await;
        let id = await_call_id(&app, "vapi-long").await;
        let call = await_analysis(&app, &id, |_| true).await;
        assert_eq!(call["analysis"]["status"], "completed");
        let notes = call["analysis"]["notes"].to_string();
        assert!(
            notes.contains("cut to its first 2000 characters"),
            "{notes}"
        );
        app.stop().await;
    }
}

/// A language-model endpoint that always answers `status`.
async fn failing_llm(status: u16) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(status))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn a_language_model_that_keeps_failing_is_retried_then_replaced_by_the_offline_analyzer() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let db = TestDb::sqlite().await;
    let server = failing_llm(503).await;
    let mut settings = test_settings();
    settings.analysis.llm.base_url = format!("{}/v1", server.uri());
    settings.analysis.llm.model = "test-model".into();
    settings.analysis.llm.timeout_ms = 2_000;
    let llm = LlmAnalyzer::new(
        &settings.analysis.llm,
        Arc::new(zencall_providers::analyzer::LexiconAnalyzer),
    )
    .unwrap();
    let sim = Simulator::new(&settings.providers.simulator);
    let app = TestApp::spawn_with(db, settings, simulated(&sim).with_analyzer(Arc::new(llm))).await;
    let assistant_id = app.create_assistant(marcel()).await;
    app.await_assistant(&assistant_id, "active").await;
    let id = simulate(&app, &assistant_id, "complaint").await;
    let call = await_analysis(&app, &id, |_| true).await;
    let analysis = &call["analysis"];
    assert_eq!(analysis["analyzer"], "lexicon", "{analysis}");
    let reason = analysis["fallback_reason"].as_str().unwrap();
    assert!(reason.contains("attempt 6 of 6"), "{reason}");
    assert_eq!(analysis["sentiment"]["label"], "negative");
    assert_eq!(server.received_requests().await.unwrap().len(), 6);
    app.stop().await;
}
