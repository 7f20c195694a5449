//! Campaigns end to end on the real clock: contacts imported from CSV, the campaign started,
//! the simulator answering each outbound call with a signed end-of-call report, outcomes
//! recorded, and the campaign completing, with every rule kept.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use zencall_core::store::test_db::TestDb;

use crate::test_app::TestApp;
use crate::webhooks::app_with_assistant;

/// A schedule open at every hour of every day, so the test does not depend on when it runs.
fn always_open() -> Value {
    let day = json!([{"start": "00:00", "end": "24:00"}]);
    json!({
        "schedule": {
            "monday": day, "tuesday": day, "wednesday": day, "thursday": day,
            "friday": day, "saturday": day, "sunday": day
        },
        "holidays": "none"
    })
}

async fn create_campaign(app: &TestApp, assistant: &str, number: &str, extra: Value) -> Value {
    let mut body = json!({
        "name": "Rappel rendez-vous",
        "assistant_id": assistant,
        "caller_number": number,
        "purpose": "service",
        "calling_rules": always_open(),
        "time_zone": "Europe/Paris",
        "max_attempts": 1,
        "max_concurrent_calls": 3
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (status, campaign) = app
        .call(Method::POST, "/v1/campaigns", Some(&app.key), Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{campaign}");
    campaign
}

/// Waits until the campaign is in `state`; fails after 60 s.
async fn await_state(app: &TestApp, id: &str, state: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (_, campaign) = app
            .call(
                Method::GET,
                &format!("/v1/campaigns/{id}"),
                Some(&app.key),
                None,
            )
            .await;
        if campaign["state"] == state {
            return campaign;
        }
        assert!(tokio::time::Instant::now() < deadline, "{campaign}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn contacts(app: &TestApp, id: &str) -> Vec<Value> {
    let (status, page) = app
        .call(
            Method::GET,
            &format!("/v1/campaigns/{id}/contacts?limit=100"),
            Some(&app.key),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_campaign_calls_each_contact_once_skips_listed_numbers_and_completes() {
    for db in TestDb::all().await {
        let (app, assistant, _, number) = app_with_assistant(db).await;
        let campaign = create_campaign(&app, &assistant, &number, json!({})).await;
        let id = campaign["id"].as_str().unwrap();
        assert_eq!(campaign["state"], "draft");

        let (status, listed) = app
            .call(
                Method::POST,
                "/v1/dnc",
                Some(&app.key),
                Some(json!({"number": "06 12 34 56 99", "reason": "asked by letter"})),
            )
            .await;
        assert!(status.is_success(), "{listed}");

        let mut csv = String::from("téléphone;nom;rdv\n");
        for i in 10..22 {
            csv.push_str(&format!("06 12 34 56 {i};Client {i};jeudi\n"));
        }
        csv.push_str("+33612345610;Client dix;vendredi\n"); // duplicate of the first, merged
        csv.push_str("12;Nobody;lundi\n"); // invalid, line 15
        csv.push_str("06 12 34 56 99;Listed;mardi\n");
        let (status, _, answer) = app
            .raw(
                Method::POST,
                &format!("/v1/campaigns/{id}/contacts"),
                Some("text/csv"),
                csv.into_bytes(),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let import: Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(import["imported"], 13, "{import}");
        assert_eq!(import["merged"], 1, "{import}");
        assert_eq!(import["invalid_count"], 1, "{import}");
        assert_eq!(import["invalid"][0]["line"], 15, "{import}");

        let (status, started) = app
            .call(
                Method::POST,
                &format!("/v1/campaigns/{id}/start"),
                Some(&app.key),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{started}");
        assert_eq!(started["state"], "running");

        let done = await_state(&app, id, "completed").await;
        let progress = &done["progress"];
        assert_eq!(progress["contacts_total"], 13, "{done}");
        assert_eq!(progress["contacts"]["skipped"], 1, "{done}");
        assert_eq!(progress["attempts"], 12, "{done}");
        assert_eq!(progress["calls_in_progress"], 0, "{done}");

        let all = contacts(&app, id).await;
        assert_eq!(all.len(), 13);
        for c in &all {
            if c["number"] == "+33612345699" {
                assert_eq!(c["state"], "skipped", "{c}");
                assert_eq!(c["skip_reason"], "do_not_call", "{c}");
                assert!(c["attempts"].as_array().unwrap().is_empty(), "{c}");
                continue;
            }
            let attempts = c["attempts"].as_array().unwrap();
            assert_eq!(attempts.len(), 1, "{c}");
            assert_eq!(attempts[0]["state"], "ended", "{c}");
            let outcome = attempts[0]["outcome"].as_str().unwrap();
            let expected = if matches!(outcome, "completed" | "refused") {
                "completed"
            } else {
                "failed"
            };
            assert_eq!(c["state"], expected, "{c}");
        }
        let merged = all.iter().find(|c| c["number"] == "+33612345610").unwrap();
        assert_eq!(merged["name"], "Client dix");
        assert_eq!(merged["variables"]["rdv"], "vendredi");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_paused_campaign_places_no_call_until_resumed_and_a_cancelled_one_none_at_all() {
    for db in TestDb::all().await {
        let (app, assistant, _, number) = app_with_assistant(db).await;
        let campaign = create_campaign(
            &app,
            &assistant,
            &number,
            json!({"max_concurrent_calls": 1}),
        )
        .await;
        let id = campaign["id"].as_str().unwrap();
        let contacts_body = json!({"contacts": (20..30)
            .map(|i| json!({"number": format!("+336123456{i}")}))
            .collect::<Vec<_>>()});
        let (status, import) = app
            .call(
                Method::POST,
                &format!("/v1/campaigns/{id}/contacts"),
                Some(&app.key),
                Some(contacts_body),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{import}");
        assert_eq!(import["imported"], 10);
        let path = |action: &str| format!("/v1/campaigns/{id}/{action}");
        let (status, _) = app
            .call(Method::POST, &path("start"), Some(&app.key), None)
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, paused) = app
            .call(Method::POST, &path("pause"), Some(&app.key), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{paused}");
        assert_eq!(paused["state"], "paused");
        let placed_at_pause = placed(&app, id).await;
        // Whatever was queued before the pause runs now and must place nothing.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(placed(&app, id).await, placed_at_pause);

        let (status, again) = app
            .call(Method::POST, &path("pause"), Some(&app.key), None)
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{again}");

        let (status, _) = app
            .call(Method::POST, &path("resume"), Some(&app.key), None)
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, cancelled) = app
            .call(Method::POST, &path("cancel"), Some(&app.key), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{cancelled}");
        assert_eq!(cancelled["state"], "cancelled");
        let placed_at_cancel = placed(&app, id).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(placed(&app, id).await, placed_at_cancel);
        assert!(placed_at_cancel <= 10);
        let (status, _, refused) = app
            .raw(
                Method::POST,
                &format!("/v1/campaigns/{id}/contacts"),
                Some("text/csv"),
                b"number\n+33612345678\n".to_vec(),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{refused}");
        app.stop().await;
    }
}

/// Attempts handed to the voice platform so far.
async fn placed(app: &TestApp, id: &str) -> usize {
    contacts(app, id)
        .await
        .iter()
        .flat_map(|c| c["attempts"].as_array().unwrap().clone())
        .filter(|a| !a["placed_at"].is_null())
        .count()
}

#[tokio::test]
async fn invalid_campaigns_and_uploads_are_refused_with_the_field_named() {
    let db = TestDb::sqlite().await;
    let (app, assistant, _, number) = app_with_assistant(db).await;
    let (status, problem) = app
        .call(
            Method::POST,
            "/v1/campaigns",
            Some(&app.key),
            Some(json!({
                "name": "",
                "assistant_id": assistant,
                "caller_number": "+33999",
                "purpose": "service",
                "calling_rules": {"preset": "fr-weekend"},
                "time_zone": "Europe/Lutece",
                "max_attempts": 0,
                "max_concurrent_calls": 500
            })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for field in [
        "name",
        "caller_number",
        "time_zone",
        "calling_rules.preset",
        "max_attempts",
        "max_concurrent_calls",
    ] {
        assert!(fields.contains(&field), "{field} not in {problem}");
    }
    let (status, problem) = app
        .call(
            Method::POST,
            "/v1/campaigns",
            Some(&app.key),
            Some(json!({
                "name": "Someone else's number",
                "assistant_id": assistant,
                "caller_number": "+33142868001",
                "purpose": "service",
                "calling_rules": {"preset": "fr-consumer"},
                "time_zone": "Europe/Paris"
            })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "caller_number", "{problem}");

    let campaign = create_campaign(&app, &assistant, &number, json!({})).await;
    let id = campaign["id"].as_str().unwrap();
    let upload = format!("/v1/campaigns/{id}/contacts");
    let (status, _, body) = app
        .raw(
            Method::POST,
            &upload,
            Some("text/csv"),
            b"nom;ville\nLea;Lyon\n".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("number"), "{body}");
    let (status, _, body) = app
        .raw(
            Method::POST,
            &upload,
            Some("application/xml"),
            b"<a/>".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    app.stop().await;
}
