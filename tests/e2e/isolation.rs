//! Tenant isolation on every endpoint: another organisation's admin key, aimed at each route of
//! the OpenAPI document with this organisation's ids and numbers, reads nothing and changes
//! nothing. The routes come from `/openapi.json`, so a new route without a rule here fails this
//! test.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wiremock::MockServer;
use zencall_core::store::api_keys::Scope;
use zencall_core::store::calendar_connections::{self, CalendarEntry, Connected};
use zencall_core::store::test_db::TestDb;
use zencall_core::store::webhook_events;

use crate::test_app::{TestApp, new_org_key};
use crate::webhooks::app_with_assistant;

/// The number on our do-not-call list and in our consent registry.
const OUR_NUMBER: &str = "+33611223344";
/// The number the intruder lists and records in its own organisation.
const THEIR_NUMBER: &str = "+33655667788";

/// This organisation's resources, by the first path segment after `/v1/`.
struct Owned {
    assistant: String,
    call: String,
    endpoint: String,
    consent: String,
    campaign: String,
    calendar_connection: String,
    invoice: String,
    appointment: String,
    configurator: String,
}

impl Owned {
    fn id_for(&self, path: &str) -> &str {
        match path.split('/').nth(2) {
            Some("assistants") => &self.assistant,
            Some("calls") => &self.call,
            Some("webhook-endpoints") => &self.endpoint,
            Some("dnc" | "consents") => OUR_NUMBER,
            Some("campaigns") => &self.campaign,
            Some("calendar") => &self.calendar_connection,
            Some("invoices") => &self.invoice,
            Some("appointments") => &self.appointment,
            // Our configurator is known by its language.
            Some("configurators") => "fr",
            other => panic!("no isolation rule for {path} ({other:?}): add one to this test"),
        }
    }

    fn all(&self) -> [&str; 10] {
        [
            &self.configurator,
            &self.appointment,
            &self.campaign,
            &self.invoice,
            &self.calendar_connection,
            &self.assistant,
            &self.call,
            &self.endpoint,
            &self.consent,
            OUR_NUMBER,
        ]
    }
}

/// A consent body for `number`.
fn consent_for(number: &str) -> Value {
    json!({"number": number, "given_at": "2026-09-01T10:00:00Z", "method": "web_form",
           "proof": "web form #1"})
}

/// A body that would be valid for the route, pointing at this organisation's resources.
fn body_for(method: &Method, path: &str, owned: &Owned, hook_url: &str) -> Option<Value> {
    match (method.as_str(), path) {
        ("POST", "/v1/assistants") => Some(crate::test_app::marcel()),
        ("PATCH", "/v1/assistants/{id}") => Some(json!({"greeting": "Vous êtes chez l'intrus."})),
        ("POST", "/v1/webhook-endpoints") => Some(json!({"url": hook_url, "event_types": ["*"]})),
        ("POST", "/v1/dnc") => Some(json!({"number": THEIR_NUMBER})),
        ("POST", "/v1/dnc/import") => Some(json!({"entries": [{"number": THEIR_NUMBER}]})),
        ("POST", "/v1/consents") => Some(consent_for(THEIR_NUMBER)),
        ("POST", "/v1/consents/import") => Some(json!({"consents": [consent_for(THEIR_NUMBER)]})),
        // Our assistant and number, which are not the intruder's: refused with 422.
        ("POST", "/v1/campaigns") => Some(json!({
            "name": "Intrusion", "assistant_id": owned.assistant, "caller_number": "+33142868000",
            "purpose": "service", "calling_rules": {"preset": "us-tcpa"}, "time_zone": "Europe/Paris"
        })),
        ("POST", "/v1/campaigns/{id}/contacts") => {
            Some(json!({"contacts": [{"number": THEIR_NUMBER}]}))
        }
        ("POST", p) if p.starts_with("/v1/campaigns/{id}/") => None,
        ("POST", "/v1/calls/{id}/analysis") => None,
        // The intruder has no configurator in English: 404.
        ("POST", "/v1/simulator/onboardings") => Some(json!({"sector": "shop", "language": "en"})),
        ("POST", "/v1/simulator/calls") => {
            Some(json!({"assistant_id": owned.assistant, "customer_number": "+33612345678"}))
        }
        // The intruder subscribes for itself (its own customer, its own checkout), then opens
        // its own portal: paths sort, so the checkout comes first.
        ("POST", "/v1/billing/checkout") => {
            Some(json!({"plan": "starter", "email": "intrus@example.fr"}))
        }
        ("POST", "/v1/billing/portal") => None,
        // The intruder gives its own billing profile.
        ("PUT", "/v1/billing/profile") => Some(json!({
            "legal_name": "Intrus SAS", "email": "intrus@example.fr", "address_line1": "1 rue X",
            "postal_code": "75001", "city": "Paris", "country": "FR"
        })),
        // Our assistant: refused with 404.
        ("POST", "/v1/appointments") => Some(json!({
            "assistant_id": owned.assistant, "start": "2031-06-03T08:00:00Z",
            "duration_minutes": 30, "caller_name": "Intrus", "caller_number": THEIR_NUMBER
        })),
        ("PATCH", "/v1/appointments/{id}") => Some(json!({"status": "cancelled"})),
        // The intruder provisions its own configurator in our language: ours is untouched.
        ("PUT", "/v1/configurators/{language}") => None,
        // The intruder begins connecting a calendar of its own.
        ("POST", "/v1/calendar/connections") => None,
        ("GET" | "DELETE", _) => None,
        _ => panic!("no isolation rule for {method} {path}: add one to this test"),
    }
}

/// The query a route needs to get past its parameter checks to the owner check.
fn query_for(path: &str) -> &'static str {
    match path {
        "/v1/assistants/{id}/availability" => {
            "?from=2031-06-03T00:00:00Z&to=2031-06-10T00:00:00Z&duration=30"
        }
        _ => "",
    }
}

#[tokio::test]
async fn another_organisation_can_neither_read_nor_change_anything_of_ours() {
    for db in TestDb::all().await {
        let (app, assistant, _, number) = app_with_assistant(db).await;
        let hooks = MockServer::start().await;
        let (_, endpoint) = app
            .call(
                Method::POST,
                "/v1/webhook-endpoints",
                Some(&app.key),
                Some(json!({"url": format!("{}/ours", hooks.uri()), "event_types": ["*"]})),
            )
            .await;
        let (status, placed) = app
            .call(
                Method::POST,
                "/v1/simulator/calls",
                Some(&app.key),
                Some(json!({"assistant_id": assistant, "customer_number": "+33612345678"})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{placed}");
        let call = await_call_id(&app).await;
        let (status, listed) = app
            .call(
                Method::POST,
                "/v1/dnc",
                Some(&app.key),
                Some(json!({"number": OUR_NUMBER, "reason": "ours"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{listed}");
        let (status, consent) = app
            .call(
                Method::POST,
                "/v1/consents",
                Some(&app.key),
                Some(consent_for(OUR_NUMBER)),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{consent}");
        let (status, campaign) = app
            .call(
                Method::POST,
                "/v1/campaigns",
                Some(&app.key),
                Some(json!({
                    "name": "Ours", "assistant_id": assistant, "caller_number": number,
                    "purpose": "service", "calling_rules": {"preset": "fr-consumer"},
                    "time_zone": "Europe/Paris"
                })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{campaign}");
        let owned = Owned {
            campaign: campaign["id"].as_str().unwrap().to_string(),
            assistant: assistant.clone(),
            call,
            endpoint: endpoint["id"].as_str().unwrap().to_string(),
            consent: consent["id"].as_str().unwrap().to_string(),
            calendar_connection: connect_a_calendar(&app).await,
            invoice: issue_an_invoice(&app).await,
            appointment: book_an_appointment(&app).await,
            configurator: provision_a_configurator(&app).await,
        };
        let before = snapshot(&app, &owned).await;

        let (_, intruder) = new_org_key(&app.test_db, Scope::Admin).await;
        let (status, doc) = app.call(Method::GET, "/openapi.json", None, None).await;
        assert_eq!(status, StatusCode::OK);
        let mut checked = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            if !path.starts_with("/v1/") {
                continue;
            }
            for (verb, _) in item.as_object().unwrap() {
                let Ok(method) = verb.to_uppercase().parse::<Method>() else {
                    continue;
                };
                if !matches!(method.as_str(), "GET" | "POST" | "PATCH" | "PUT" | "DELETE") {
                    continue;
                }
                let owns_one = path.contains('{');
                let url = match owns_one {
                    true => path
                        .replace("{id}", owned.id_for(path))
                        .replace("{number}", owned.id_for(path))
                        .replace("{language}", owned.id_for(path)),
                    false => path.clone(),
                };
                let url = format!("{url}{}", query_for(path));
                let body = body_for(&method, path, &owned, &format!("{}/intruder", hooks.uri()));
                // An answer may repeat an id the intruder sent; nothing else of ours may show.
                let sent = format!(
                    "{url} {}",
                    body.as_ref().map(Value::to_string).unwrap_or_default()
                );
                let (status, answer) = app.call(method.clone(), &url, Some(&intruder), body).await;
                let mut text = answer.to_string();
                for id in owned.all().into_iter().filter(|id| sent.contains(id)) {
                    text = text.replace(id, "");
                }
                if method == Method::PUT && path == "/v1/configurators/{language}" {
                    assert_eq!(status, StatusCode::ACCEPTED, "{method} {url}: {answer}");
                } else if owns_one
                    || path == "/v1/simulator/calls"
                    || path == "/v1/simulator/onboardings"
                    || path == "/v1/appointments" && method == Method::POST
                {
                    assert_eq!(status, StatusCode::NOT_FOUND, "{method} {url}: {answer}");
                } else if method == Method::GET && path == "/v1/assistant-config/schema" {
                    // The same schema for every organisation: it holds nothing of anyone's.
                    assert_eq!(status, StatusCode::OK, "{method} {url}: {answer}");
                    let (_, ours) = app.call(method.clone(), &url, Some(&app.key), None).await;
                    assert_eq!(answer, ours, "{url}");
                } else if method == Method::GET && path == "/v1/billing/profile" {
                    // The intruder has given none yet: ours is not shown instead.
                    assert_eq!(status, StatusCode::NOT_FOUND, "{method} {url}: {answer}");
                } else if method == Method::POST && path == "/v1/campaigns" {
                    assert_eq!(
                        status,
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "{method} {url}: {answer}"
                    );
                } else {
                    assert!(status.is_success(), "{method} {url}: {status} {answer}");
                }
                for id in owned.all() {
                    assert!(!text.contains(id), "{method} {url} shows {id}: {text}");
                }
                checked += 1;
            }
        }
        assert!(checked >= 23, "only {checked} operations under /v1");
        // Lists filtered by our ids show nothing either.
        for query in [
            format!("/v1/calls?assistant_id={}", owned.assistant),
            format!("/v1/webhook-endpoints/{}/deliveries", owned.endpoint),
        ] {
            let (status, answer) = app.call(Method::GET, &query, Some(&intruder), None).await;
            let leaked = owned.all().iter().any(|id| answer.to_string().contains(id));
            assert!(
                status == StatusCode::NOT_FOUND || (status.is_success() && !leaked),
                "{query}: {status} {answer}"
            );
        }
        // The MCP door: our assistant is "not found" to every tool, and lists show none of ours.
        let mcp = crate::mcp::connect(&app, &intruder).await;
        let id = owned.assistant.as_str();
        for (tool, args) in [
            ("get_assistant", json!({"assistant_id": id})),
            (
                "update_assistant",
                json!({"assistant_id": id, "greeting": "Chez l'intrus."}),
            ),
            (
                "update_assistant",
                json!({"assistant_id": id, "sector_details": {"sector": "shop", "delivery": true}}),
            ),
            (
                "provision_phone_number",
                json!({"assistant_id": id, "area_code": "1"}),
            ),
        ] {
            let text = crate::mcp::refusal(crate::mcp::call(&mcp, tool, args).await);
            assert_eq!(text, format!("assistant {id} not found"), "{tool}");
        }
        // The intruder's own assistant (made by the sweep above) is all it lists.
        for args in [json!({}), json!({"starting_after": id})] {
            let page = crate::mcp::ok(crate::mcp::call(&mcp, "list_assistants", args).await);
            let text = page.to_string();
            for ours in owned.all() {
                assert!(!text.contains(ours), "list_assistants shows {ours}: {text}");
            }
        }
        mcp.cancel().await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            snapshot(&app, &owned).await,
            before,
            "our resources changed"
        );
        app.stop().await;
    }
}

/// The simulated call's id, once all six of its reports are processed (so it changes no more).
async fn await_call_id(app: &TestApp) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut processed = 0;
        for provider in ["vapi", "twilio"] {
            let events = webhook_events::list(&app.test_db.db, provider, 100)
                .await
                .unwrap();
            processed += events.iter().filter(|e| e.processed_at.is_some()).count();
        }
        let (_, list) = app
            .call(Method::GET, "/v1/calls?status=ended", Some(&app.key), None)
            .await;
        if let (6, Some(id)) = (processed, list["data"][0]["id"].as_str()) {
            return id.to_string();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{processed} processed; {list}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Our resources as we see them.
/// A calendar connection of ours, stored as the OAuth callback stores one (its tokens are
/// never opened here: every request of the intruder must stop before).
async fn connect_a_calendar(app: &TestApp) -> String {
    let calendars = [CalendarEntry {
        id: "salon@example.fr".into(),
        summary: "Salon".into(),
        primary: true,
        time_zone: Some("Europe/Paris".into()),
        access_role: Some("owner".into()),
        writable: true,
    }];
    let connected = Connected {
        org_id: &app.org_id,
        account: "salon@example.fr",
        calendars: &calendars,
        default_calendar_id: "salon@example.fr",
        scopes: &[],
    };
    let now = chrono::Utc::now();
    let mut tx = app.test_db.db.begin().await.unwrap();
    let id = calendar_connections::new_connection_id();
    let connection = calendar_connections::upsert_connected(
        &mut tx,
        &id,
        &connected,
        "sealed-refresh",
        "sealed-access",
        now + chrono::Duration::hours(1),
        now,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    connection.id
}

async fn snapshot(app: &TestApp, owned: &Owned) -> Vec<Value> {
    let mut seen = Vec::new();
    for path in [
        format!("/v1/assistants/{}", owned.assistant),
        format!("/v1/calls/{}", owned.call),
        format!("/v1/webhook-endpoints/{}", owned.endpoint),
        "/v1/webhook-endpoints".to_string(),
        "/v1/assistants".to_string(),
        format!("/v1/dnc/{OUR_NUMBER}"),
        format!("/v1/consents/{OUR_NUMBER}"),
        "/v1/dnc".to_string(),
        "/v1/consents".to_string(),
        format!("/v1/campaigns/{}", owned.campaign),
        format!("/v1/campaigns/{}/contacts", owned.campaign),
        "/v1/campaigns".to_string(),
        format!("/v1/calendar/connections/{}", owned.calendar_connection),
        format!("/v1/invoices/{}", owned.invoice),
        "/v1/invoices".to_string(),
        "/v1/billing/profile".to_string(),
        "/v1/calendar/connections".to_string(),
        format!("/v1/appointments/{}", owned.appointment),
        "/v1/appointments".to_string(),
        "/v1/configurators/fr".to_string(),
        "/v1/configurators".to_string(),
    ] {
        let (status, body) = app.call(Method::GET, &path, Some(&app.key), None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        seen.push(body);
    }
    seen
}

/// Provisions our configurator in French and waits until it is active; returns its id.
async fn provision_a_configurator(app: &TestApp) -> String {
    let (status, asked) = app
        .call(Method::PUT, "/v1/configurators/fr", Some(&app.key), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{asked}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, current) = app
            .call(Method::GET, "/v1/configurators/fr", Some(&app.key), None)
            .await;
        if current["status"] == "active" {
            return current["id"].as_str().unwrap().to_string();
        }
        assert!(tokio::time::Instant::now() < deadline, "{current}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Books an appointment of ours with an assistant that has opening hours; returns its id.
async fn book_an_appointment(app: &TestApp) -> String {
    let (assistant, _) =
        crate::tool_calls::assistant(app, crate::tool_calls::with_hours(), None).await;
    let start = crate::tool_calls::tuesday()
        .and_hms_opt(10, 0, 0)
        .unwrap()
        .and_local_timezone(chrono_tz::Europe::Paris)
        .unwrap()
        .to_rfc3339();
    let (status, booked) = app
        .call(
            Method::POST,
            "/v1/appointments",
            Some(&app.key),
            Some(
                json!({"assistant_id": assistant, "start": start, "duration_minutes": 30,
                        "caller_name": "Jeanne", "caller_number": OUR_NUMBER}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{booked}");
    booked["id"].as_str().unwrap().to_string()
}

/// Gives our billing profile and issues one invoice of ours (as a finalized Stripe invoice
/// would); returns its id.
async fn issue_an_invoice(app: &TestApp) -> String {
    let (status, profile) = app
        .call(
            Method::PUT,
            "/v1/billing/profile",
            Some(&app.key),
            Some(json!({
                "legal_name": "Chez Marcel SARL", "email": "compta@chez-marcel.fr",
                "address_line1": "12 rue des Lilas", "postal_code": "69003", "city": "Lyon",
                "country": "FR"
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{profile}");
    let settings = zencall_core::config::Settings::defaults().unwrap();
    let profile = zencall_core::store::billing_profiles::find(&app.test_db.db, &app.org_id)
        .await
        .unwrap()
        .unwrap()
        .profile();
    let now = chrono::Utc::now();
    let charged = zencall_core::domain::invoice::ChargedInvoice {
        id: "in_ours".into(),
        number: None,
        currency: "eur".into(),
        lines: vec![zencall_core::domain::invoice::ChargedLine {
            description: Some("Zencall".into()),
            price_id: None,
            quantity: Some(1),
            amount: 1000,
            period_start: now,
            period_end: now + chrono::TimeDelta::days(30),
        }],
        subtotal: 1000,
        tax: 200,
        total: 1200,
        finalized_at: now,
        due_date: None,
    };
    let billing = &settings.billing;
    let document = zencall_core::domain::invoice::build(
        &charged,
        &profile,
        &billing.seller,
        &billing.invoices,
        &billing.plans,
    )
    .unwrap();
    zencall_worker::invoicing::issue(
        &app.test_db.db,
        &app.org_id,
        document,
        &billing.invoices,
        None,
        now,
    )
    .await
    .unwrap()
    .expect("not voided")
    .invoice
    .id
}
