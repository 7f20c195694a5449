//! The configurator, end to end on every backend with the simulated providers: an admin asks
//! for it, a job makes it at the (simulated) voice platform with its prompt and our `/mcp` as
//! its tool server, and the key it was given opens the MCP tools, the way Vapi calls them
//! during an onboarding call. Provisioning again replaces the key and revokes the old one;
//! deleting removes it from the voice platform and revokes its key.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use zencall_core::store::api_keys::Scope;
use zencall_core::store::test_db::TestDb;
use zencall_providers::simulator::Simulator;

use crate::mcp::connect;
use crate::test_app::{TestApp, key_for, new_org_key, test_settings};

/// Waits until the configurator in `language` has `status`; fails after 30 s.
async fn await_configurator(app: &TestApp, language: &str, status: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (code, body) = app
            .call(
                Method::GET,
                &format!("/v1/configurators/{language}"),
                Some(&app.key),
                None,
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{body}");
        if body["status"] == status {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "configurator {language} never became {status}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn a_configurator_is_made_at_the_voice_platform_with_our_mcp_server_and_a_key_that_opens_it()
{
    for db in TestDb::all().await {
        let backend = db.backend();
        let sim = Simulator::new(&test_settings().providers.simulator);
        let app = TestApp::spawn(db, &sim).await;

        let (status, asked) = app
            .call(Method::PUT, "/v1/configurators/fr", Some(&app.key), None)
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{backend:?}: {asked}");
        assert_eq!(asked["status"], "provisioning");
        assert!(asked["mcp_url"].as_str().unwrap().ends_with("/mcp"));
        let salon = asked["questions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["sector"] == "hair_beauty_salon")
            .unwrap();
        assert!(
            salon["questions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|q| q["field"] == "sector_details.services"),
            "{salon}"
        );

        let active = await_configurator(&app, "fr", "active").await;
        let voice_id = active["voice_assistant_id"].as_str().unwrap();
        let spec = sim.assistant_spec(voice_id).expect("at the voice platform");
        assert_eq!(spec.external_id, active["id"].as_str().unwrap());
        assert_eq!(spec.language, "fr");
        assert!(spec.greeting.contains("cinq minutes"), "{}", spec.greeting);
        for tool in [
            "get_sector_template",
            "validate_assistant_config",
            "create_assistant_and_provision_number",
            "get_assistant",
        ] {
            assert!(spec.system_prompt.contains(tool), "{backend:?}: {tool}");
        }
        assert!(spec.system_prompt.contains("sector: craftsman"));
        let server = spec
            .tool_server
            .clone()
            .expect("our MCP server as tool server");
        assert_eq!(server.url, active["mcp_url"].as_str().unwrap());

        // The voice platform calls our tools with the key it was given.
        let client = connect(&app, &server.api_key).await;
        let tools = client.list_all_tools().await.unwrap();
        assert!(
            tools
                .iter()
                .any(|t| t.name == "create_assistant_and_provision_number")
        );
        client.cancel().await.unwrap();

        // Provisioning again updates the same assistant with a new key; the old one is revoked.
        let (status, _) = app
            .call(Method::PUT, "/v1/configurators/fr", Some(&app.key), None)
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let again = await_configurator(&app, "fr", "active").await;
        assert_eq!(again["voice_assistant_id"], active["voice_assistant_id"]);
        assert_ne!(again["api_key_id"], active["api_key_id"]);
        let renewed = sim.assistant_spec(voice_id).unwrap().tool_server.unwrap();
        assert_ne!(renewed.api_key, server.api_key);
        let (status, _) = app
            .call(Method::GET, "/v1/assistants", Some(&server.api_key), None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{backend:?}: old key");
        let (status, _) = app
            .call(Method::GET, "/v1/assistants", Some(&renewed.api_key), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{backend:?}: new key");

        let (_, listed) = app
            .call(Method::GET, "/v1/configurators", Some(&app.key), None)
            .await;
        assert_eq!(listed["data"].as_array().unwrap().len(), 1, "{listed}");

        // Deleted: gone from the voice platform, its key revoked, then forgotten.
        let (status, deleting) = app
            .call(Method::DELETE, "/v1/configurators/fr", Some(&app.key), None)
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{deleting}");
        assert_eq!(deleting["status"], "deleting");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let (status, body) = app
                .call(Method::GET, "/v1/configurators/fr", Some(&app.key), None)
                .await;
            if status == StatusCode::NOT_FOUND {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{body}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert!(sim.assistant_spec(voice_id).is_none(), "{backend:?}");
        let (status, _) = app
            .call(Method::GET, "/v1/assistants", Some(&renewed.api_key), None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{backend:?}: revoked");
        let (status, _) = app
            .call(Method::DELETE, "/v1/configurators/fr", Some(&app.key), None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        app.stop().await;
    }
}

#[tokio::test]
async fn configurators_are_refused_without_admin_scope_in_a_bad_language_and_across_organisations()
{
    for db in TestDb::all().await {
        let sim = Simulator::new(&test_settings().providers.simulator);
        let app = TestApp::spawn(db, &sim).await;
        let read = key_for(&app.test_db, &app.org_id, Scope::Read).await;
        let write = key_for(&app.test_db, &app.org_id, Scope::Write).await;
        for key in [&read, &write] {
            let (status, body) = app
                .call(Method::PUT, "/v1/configurators/fr", Some(key), None)
                .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        }
        let (status, _) = app
            .call(Method::DELETE, "/v1/configurators/fr", Some(&write), None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, body) = app
            .call(Method::PUT, "/v1/configurators/de", Some(&app.key), None)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            body["detail"].as_str().unwrap().starts_with("language:"),
            "{body}"
        );
        let (status, _) = app
            .call(Method::GET, "/v1/configurators/en", Some(&read), None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        let (status, _) = app
            .call(Method::PUT, "/v1/configurators/en", Some(&app.key), None)
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        await_configurator(&app, "en", "active").await;
        let (_, other) = new_org_key(&app.test_db, Scope::Admin).await;
        let (status, _) = app
            .call(Method::GET, "/v1/configurators/en", Some(&other), None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "another organisation's");
        let (_, listed) = app
            .call(Method::GET, "/v1/configurators", Some(&other), None)
            .await;
        assert_eq!(listed["data"], Value::Array(vec![]));
        app.stop().await;
    }
}

#[tokio::test]
async fn a_simulated_owner_calls_the_configurator_and_their_assistant_becomes_active() {
    for db in TestDb::all().await {
        let backend = db.backend();
        let sim = Simulator::new(&test_settings().providers.simulator);
        let app = TestApp::spawn(db, &sim).await;
        let onboard = |body: Value| {
            app.call(
                Method::POST,
                "/v1/simulator/onboardings",
                Some(&app.key),
                Some(body),
            )
        };
        let (status, body) = onboard(serde_json::json!({"sector": "shop"})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "no configurator yet: {body}");
        let (status, body) =
            onboard(serde_json::json!({"sector": "bakery", "language": "de"})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let fields: Vec<&str> = body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, ["sector", "language"], "{body}");

        let (status, _) = app
            .call(Method::PUT, "/v1/configurators/fr", Some(&app.key), None)
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let configurator = await_configurator(&app, "fr", "active").await;
        let (status, body) = onboard(serde_json::json!({"sector": "hair_beauty_salon"})).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{backend:?}: {body}");
        assert_eq!(body["configurator_id"], configurator["id"]);

        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let (assistant, number) = loop {
            let played = sim.onboardings();
            assert_eq!(played.len(), 1);
            if let Some(outcome) = &played[0].outcome {
                break outcome
                    .clone()
                    .unwrap_or_else(|e| panic!("{backend:?}: {e}"));
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{backend:?}: {played:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let (status, stored) = app
            .call(
                Method::GET,
                &format!("/v1/assistants/{assistant}"),
                Some(&app.key),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{stored}");
        assert_eq!(stored["status"], "active", "{backend:?}: {stored}");
        assert_eq!(stored["phone_number"], number.as_str());
        assert_eq!(stored["sector"], "hair_beauty_salon");
        assert_eq!(stored["sector_details"]["sector"], "hair_beauty_salon");
        app.stop().await;
    }
}
