//! `/v1/assistants` end to end, on every backend, with the simulated providers.

use reqwest::{Method, StatusCode};
use serde_json::json;
use zencall_core::store::test_db::TestDb;
use zencall_providers::simulator::Simulator;

use crate::test_app::{TestApp, marcel, test_settings};

#[tokio::test]
async fn a_new_assistant_is_accepted_then_becomes_active_with_a_french_number() {
    for db in TestDb::all().await {
        let backend = db.backend();
        let sim = Simulator::new(&test_settings().providers.simulator);
        let app = TestApp::spawn(db, &sim).await;
        let (status, created) = app
            .call(
                Method::POST,
                "/v1/assistants",
                Some(&app.key),
                Some(marcel()),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{backend:?}: {created}");
        assert_eq!(created["status"], "provisioning");
        assert!(
            created["system_prompt"]
                .as_str()
                .unwrap()
                .contains("Chez Marcel")
        );
        let id = created["id"].as_str().unwrap();
        let active = app.await_assistant(id, "active").await;
        let number = active["phone_number"].as_str().unwrap();
        assert!(number.starts_with("+33"), "{number}");
        assert_eq!(sim.owned_numbers(), vec![number.to_string()]);
        assert_eq!((sim.assistant_count(), sim.imported_count()), (1, 1));
        app.stop().await;
    }
}

#[tokio::test]
async fn invalid_input_gets_a_422_with_an_error_per_field() {
    let sim = Simulator::new(&test_settings().providers.simulator);
    let app = TestApp::spawn(TestDb::sqlite().await, &sim).await;
    let body = json!({"name": "", "sector": "bakery", "business": {"name": "X", "transfer_number": "12"},
                      "phone_number": {"country": "XX"}});
    let (status, problem) = app
        .call(Method::POST, "/v1/assistants", Some(&app.key), Some(body))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    for f in [
        "name",
        "sector",
        "business.transfer_number",
        "phone_number.country",
    ] {
        assert!(fields.contains(&f), "{f} missing in {problem}");
    }
    app.stop().await;
}

#[tokio::test]
async fn unreadable_bodies_get_a_4xx_problem_never_a_5xx() {
    let sim = Simulator::new(&test_settings().providers.simulator);
    let app = TestApp::spawn(TestDb::sqlite().await, &sim).await;
    let json_ct = Some("application/json");
    let cases: Vec<(Option<&str>, Vec<u8>, u16, &str)> = vec![
        (json_ct, b"{not json".to_vec(), 400, ""),
        (json_ct, br#"{"name": 3}"#.to_vec(), 422, "name"),
        (
            json_ct,
            br#"{"name": "x", "colour": "red"}"#.to_vec(),
            422,
            "colour",
        ),
        (json_ct, vec![0xff, 0xfe, b'{'], 400, ""),
        (Some("text/plain"), b"{}".to_vec(), 415, ""),
        (json_ct, vec![b' '; 2 * 1024 * 1024], 413, ""),
    ];
    for (ct, body, expected, mention) in cases {
        let (status, content_type, text) = app.raw(Method::POST, "/v1/assistants", ct, body).await;
        assert_eq!(status.as_u16(), expected, "{text}");
        assert_eq!(content_type, "application/problem+json", "{text}");
        assert!(text.contains(mention), "{text} should mention {mention}");
    }
    let (status, _, text) = app
        .raw(Method::GET, "/v1/assistants?limit=abc", None, vec![])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(text.contains("limit"), "{text}");
    let (status, _, text) = app
        .raw(Method::GET, "/v1/assistants?status=sleeping", None, vec![])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    app.stop().await;
}

#[tokio::test]
async fn assistants_are_listed_newest_first_page_by_page_and_filtered_by_status() {
    for db in TestDb::all().await {
        let sim = Simulator::new(&test_settings().providers.simulator);
        let app = TestApp::spawn(db, &sim).await;
        let mut ids = Vec::new();
        for _ in 0..5 {
            ids.push(app.create_assistant(marcel()).await);
        }
        for id in &ids {
            app.await_assistant(id, "active").await;
        }
        let (_, page) = app
            .call(Method::GET, "/v1/assistants?limit=2", Some(&app.key), None)
            .await;
        assert_eq!(page["data"].as_array().unwrap().len(), 2);
        assert_eq!(page["data"][0]["id"], ids[4].as_str());
        assert_eq!(page["has_more"], true);
        let mut seen: Vec<String> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/assistants?limit=2&starting_after={c}"),
                None => "/v1/assistants?limit=2".to_string(),
            };
            let (_, page) = app.call(Method::GET, &path, Some(&app.key), None).await;
            seen.extend(
                page["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a["id"].as_str().unwrap().to_string()),
            );
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        let mut expected = ids.clone();
        expected.reverse();
        assert_eq!(seen, expected);
        let (_, active) = app
            .call(
                Method::GET,
                "/v1/assistants?status=active",
                Some(&app.key),
                None,
            )
            .await;
        assert_eq!(active["data"].as_array().unwrap().len(), 5);
        let (_, failed) = app
            .call(
                Method::GET,
                "/v1/assistants?status=failed",
                Some(&app.key),
                None,
            )
            .await;
        assert!(failed["data"].as_array().unwrap().is_empty());
        app.stop().await;
    }
}

#[tokio::test]
async fn a_change_is_pushed_to_the_voice_platform_and_a_deletion_releases_the_number() {
    for db in TestDb::all().await {
        let sim = Simulator::new(&test_settings().providers.simulator);
        let app = TestApp::spawn(db, &sim).await;
        let id = app.create_assistant(marcel()).await;
        app.await_assistant(&id, "active").await;
        let (status, changed) = app
            .call(
                Method::PATCH,
                &format!("/v1/assistants/{id}"),
                Some(&app.key),
                Some(json!({"greeting": "Bonjour, Chez Marcel !"})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{changed}");
        assert_eq!(changed["config_version"], 2);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let (_, a) = app
                .call(
                    Method::GET,
                    &format!("/v1/assistants/{id}"),
                    Some(&app.key),
                    None,
                )
                .await;
            if a["synced_version"] == 2 {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "never synced: {a}");
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        let (status, _) = app
            .call(
                Method::PATCH,
                &format!("/v1/assistants/{id}"),
                Some(&app.key),
                Some(json!({})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

        let (status, deleting) = app
            .call(
                Method::DELETE,
                &format!("/v1/assistants/{id}"),
                Some(&app.key),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{deleting}");
        app.await_assistant(&id, "deleted").await;
        assert!(sim.owned_numbers().is_empty());
        assert_eq!((sim.assistant_count(), sim.imported_count()), (0, 0));
        let (status, _) = app
            .call(
                Method::PATCH,
                &format!("/v1/assistants/{id}"),
                Some(&app.key),
                Some(json!({"voice": "x"})),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT);
        app.stop().await;
    }
}

#[tokio::test]
async fn errors_answered_by_the_framework_are_problems_too() {
    let sim = Simulator::new(&test_settings().providers.simulator);
    let app = TestApp::spawn(TestDb::sqlite().await, &sim).await;
    let (status, ct, text) = app
        .raw(
            Method::PUT,
            "/v1/assistants",
            Some("application/json"),
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{text}");
    assert_eq!(ct, "application/problem+json");
    let (status, ct, _) = app.raw(Method::GET, "/v2/nothing", None, vec![]).await;
    assert_eq!(
        (status, ct.as_str()),
        (StatusCode::NOT_FOUND, "application/problem+json")
    );
    app.stop().await;
}

/// A salon's configuration with its services' durations and prices.
pub fn salon() -> serde_json::Value {
    json!({
        "name": "Salon Léa", "sector": "hair_beauty_salon", "language": "fr",
        "business": {"name": "Salon Léa", "transfer_number": "01 42 86 80 00"},
        "sector_details": {"sector": "hair_beauty_salon", "services": [
            {"name": "Coupe femme", "duration_minutes": 45, "price_cents": 3500},
            {"name": "Balayage", "duration_minutes": 120}
        ]}
    })
}

#[tokio::test]
async fn the_assistant_config_schema_names_the_sector_details_and_the_sectors() {
    for db in TestDb::all().await {
        let backend = db.backend();
        let sim = Simulator::new(&test_settings().providers.simulator);
        let app = TestApp::spawn(db, &sim).await;
        let (status, schema) = app
            .call(
                Method::GET,
                "/v1/assistant-config/schema",
                Some(&app.key),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{backend:?}: {schema}");
        assert_eq!(schema["title"], "AssistantConfig");
        assert!(
            schema["$schema"]
                .as_str()
                .is_some_and(|s| s.contains("json-schema.org")),
            "{schema}"
        );
        assert!(
            schema["properties"]["sector_details"].is_object(),
            "{schema}"
        );
        let text = schema.to_string();
        for name in [
            "restaurant",
            "hair_beauty_salon",
            "craftsman",
            "liberal_profession",
            "shop",
            "sme_customer_service",
            "duration_minutes",
        ] {
            assert!(text.contains(name), "{name} missing from {text}");
        }
        let (status, problem) = app
            .call(Method::GET, "/v1/assistant-config/schema", None, None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_salon_created_with_its_services_stores_shows_and_says_them() {
    for db in TestDb::all().await {
        let backend = db.backend();
        let sim = Simulator::new(&test_settings().providers.simulator);
        let app = TestApp::spawn(db, &sim).await;
        let (status, created) = app
            .call(
                Method::POST,
                "/v1/assistants",
                Some(&app.key),
                Some(salon()),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{backend:?}: {created}");
        let id = created["id"].as_str().unwrap();
        let (status, shown) = app
            .call(
                Method::GET,
                &format!("/v1/assistants/{id}"),
                Some(&app.key),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{shown}");
        assert_eq!(
            shown["sector_details"]["services"][0],
            json!({"name": "Coupe femme", "duration_minutes": 45, "price_cents": 3500}),
            "{backend:?}: {shown}"
        );
        assert_eq!(shown["sector_details"]["sector"], "hair_beauty_salon");
        let prompt = shown["system_prompt"].as_str().unwrap();
        assert!(prompt.contains("Coupe femme (45 min, 35,00 €)"), "{prompt}");

        // New details rewrite a prompt that is still the sector's template.
        let (status, changed) = app
            .call(
                Method::PATCH,
                &format!("/v1/assistants/{id}"),
                Some(&app.key),
                Some(json!({"sector_details": {"sector": "hair_beauty_salon",
                    "services": [{"name": "Brushing", "duration_minutes": 30}]}})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{changed}");
        assert_eq!(changed["sector_details"]["services"][0]["name"], "Brushing");
        let prompt = changed["system_prompt"].as_str().unwrap();
        assert!(
            prompt.contains("Brushing (30 min)") && !prompt.contains("Coupe femme"),
            "{prompt}"
        );
        assert_eq!(changed["config_version"], 2, "{changed}");

        // A bad duration and another sector's details are named by their path.
        let mut bad = salon();
        bad["sector_details"]["services"][1]["duration_minutes"] = json!(600);
        let (status, problem) = app
            .call(Method::POST, "/v1/assistants", Some(&app.key), Some(bad))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(
            problem["errors"],
            json!([{"field": "sector_details.services[1].duration_minutes",
                    "message": "the duration must be between 5 and 480 minutes"}]),
            "{problem}"
        );
        let (status, problem) = app
            .call(
                Method::PATCH,
                &format!("/v1/assistants/{id}"),
                Some(&app.key),
                Some(json!({"sector_details": {"sector": "restaurant", "covers": 40}})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(problem["errors"][0]["field"], "sector_details", "{problem}");

        // null removes them.
        let (status, cleared) = app
            .call(
                Method::PATCH,
                &format!("/v1/assistants/{id}"),
                Some(&app.key),
                Some(json!({"sector_details": null})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{cleared}");
        assert!(cleared["sector_details"].is_null(), "{cleared}");
        app.stop().await;
    }
}
