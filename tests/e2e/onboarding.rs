//! The six scripted onboardings (one French business per sector), each driven through rmcp's
//! client over HTTP from `initialize` to an `active` assistant with a number, on every
//! backend, with the simulated providers; then REST shows the configuration the owner gave,
//! and the first validation named the field first heard wrong.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use zencall_core::domain::sector::Sector;
use zencall_core::store::test_db::TestDb;
use zencall_providers::simulated_onboarding::{self as onboarding, OnboardingScript};
use zencall_providers::simulator::Simulator;

use crate::test_app::{TestApp, test_settings};

/// Runs `sector`'s script through MCP on every backend and checks what was stored.
async fn onboard(sector: Sector) {
    let script = OnboardingScript::for_sector(sector);
    for db in TestDb::all().await {
        let backend = db.backend();
        let sim = Simulator::new(&test_settings().providers.simulator);
        let app = TestApp::spawn(db, &sim).await;
        let client = onboarding::connect(&app.base, &app.key).await.unwrap();
        let report = onboarding::run(&client, &script, Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{sector:?} on {backend:?}: {e:#}"));
        client.cancel().await.unwrap();

        assert_eq!(report.refused_field, script.mistake.refused_field);
        assert!(!report.refusal.is_empty(), "{report:?}");
        assert_eq!(report.final_draft, script.corrected_draft());
        assert_eq!(report.calls[0].tool, "tools/list");
        assert!(report.to_active >= report.calls.iter().map(|c| c.latency).sum::<Duration>());

        let (status, stored) = app
            .call(
                Method::GET,
                &format!("/v1/assistants/{}", report.assistant_id),
                Some(&app.key),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{stored}");
        let context = format!("{sector:?} on {backend:?}: {stored}");
        assert_eq!(stored["status"], "active", "{context}");
        assert_eq!(stored["phone_number"], report.phone_number.as_str());
        assert_eq!(sim.owned_numbers(), vec![report.phone_number.clone()]);
        let area = script.answer("phone_number.area_code").unwrap();
        let prefix = format!("+33{}", area.value.as_str().unwrap());
        assert!(report.phone_number.starts_with(&prefix), "{context}");

        for answer in &script.answers {
            let got = match answer.field {
                "phone_number.country" => &stored["phone_country"],
                "phone_number.area_code" => &stored["area_code"],
                field => stored
                    .pointer(&format!("/{}", field.replace('.', "/")))
                    .unwrap_or(&Value::Null),
            };
            assert_eq!(got, answer.expected(), "{}: {context}", answer.field);
        }
        let expected = script.stored_config();
        assert_eq!(stored["sector_details"], expected["sector_details"]);
        assert_eq!(stored["business"]["hours"], expected["business"]["hours"]);
        assert!(
            stored["business"]["transfer_number"]
                .as_str()
                .is_some_and(|n| n.starts_with("+33")),
            "{context}"
        );
        if script.answer("greeting").is_none() {
            let name = expected["business"]["name"].as_str().unwrap();
            assert!(
                stored["greeting"].as_str().unwrap().contains(name),
                "{context}"
            );
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn a_restaurant_is_onboarded_through_mcp() {
    onboard(Sector::Restaurant).await;
}

#[tokio::test]
async fn a_hair_salon_is_onboarded_through_mcp() {
    onboard(Sector::HairBeautySalon).await;
}

#[tokio::test]
async fn a_craftsman_is_onboarded_through_mcp() {
    onboard(Sector::Craftsman).await;
}

#[tokio::test]
async fn a_doctors_practice_is_onboarded_through_mcp() {
    onboard(Sector::LiberalProfession).await;
}

#[tokio::test]
async fn a_shop_is_onboarded_through_mcp() {
    onboard(Sector::Shop).await;
}

#[tokio::test]
async fn a_customer_service_is_onboarded_through_mcp() {
    onboard(Sector::SmeCustomerService).await;
}
