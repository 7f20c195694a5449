//! Calendar connections end to end, with the simulated Google Calendar: connecting through the
//! consent page and the OAuth callback, the full sync, a change in Google reaching us as a
//! push notification and an incremental sync, a revoked grant, and a bad state.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use reqwest::{Method, StatusCode, Url};
use secrecy::SecretString;
use serde_json::{Value, json};
use zencall_core::config::Settings;
use zencall_core::store::calendar_events;
use zencall_core::store::test_db::TestDb;
use zencall_providers::SimulatedCalendar;
use zencall_providers::calendar::{EventTime, NewEvent, Transparency, event_id_for};
use zencall_providers::calendar_notifier::CalendarNotifier;
use zencall_providers::simulated_calendar::{ACCOUNT_EMAIL, HOLIDAY_CALENDAR_ID};
use zencall_providers::simulator::Simulator;
use zencall_queue::board::admin::{self, JobState};

use crate::test_app::{TestApp, marcel, simulated, test_settings};

fn settings() -> Settings {
    // The test settings seal calendar tokens with a test key.
    test_settings()
}

pub(crate) async fn spawn(test_db: TestDb) -> (TestApp, SimulatedCalendar) {
    let settings = settings();
    let sim = Simulator::new(&settings.providers.simulator);
    let calendar = SimulatedCalendar::new(
        &settings.providers.google_calendar,
        &settings.server.public_url,
    );
    let providers = simulated(&sim).with_simulated_calendar(calendar.clone());
    (
        TestApp::spawn_with(test_db, settings, providers).await,
        calendar,
    )
}

fn event(key: &str, days: i64) -> NewEvent {
    let start = Utc::now() + TimeDelta::days(days);
    NewEvent {
        id: event_id_for(key),
        summary: format!("Rendez-vous {key}"),
        description: None,
        location: None,
        start: EventTime::At(start),
        end: EventTime::At(start + TimeDelta::minutes(45)),
        time_zone: Some("Europe/Paris".into()),
        transparency: Transparency::Opaque,
        private_properties: Default::default(),
    }
}

/// Awaits `check` on the connection, or fails after ten seconds.
async fn await_connection(
    app: &TestApp,
    id: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..200 {
        let (status, body) = app
            .call(
                Method::GET,
                &format!("/v1/calendar/connections/{id}"),
                Some(&app.key),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if check(&body) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the connection never got {what}");
}

pub(crate) async fn await_event_count(app: &TestApp, connection_id: &str, expected: i64) {
    for _ in 0..200 {
        let n = calendar_events::count(&app.test_db.db, &app.org_id, connection_id)
            .await
            .unwrap();
        if n == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the connection never had {expected} events");
}

/// Connects the simulated account through the consent page and the callback.
pub(crate) async fn connect(app: &TestApp) -> Value {
    let (status, begun) = app
        .call(
            Method::POST,
            "/v1/calendar/connections",
            Some(&app.key),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{begun}");
    let url = Url::parse(begun["authorization_url"].as_str().unwrap()).unwrap();
    assert_eq!(url.path(), "/simulator/google/authorize");
    let state = url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    // The consent page redirects the browser to our callback, as Google does.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let consent = browser
        .get(format!(
            "{}/simulator/google/authorize?state={state}",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(consent.status(), StatusCode::SEE_OTHER);
    let location = Url::parse(consent.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(location.path(), "/oauth/google/callback");
    let path = format!("{}?{}", location.path(), location.query().unwrap());
    let (status, connection) = app.call(Method::GET, &path, None, None).await;
    assert_eq!(status, StatusCode::OK, "{connection}");
    // The state served once.
    let (status, again) = app.call(Method::GET, &path, None, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{again}");
    assert!(
        again["detail"].as_str().unwrap().contains("state"),
        "{again}"
    );
    connection
}

#[tokio::test]
async fn a_connected_calendar_syncs_follows_changes_and_stops_on_a_revoked_grant() {
    for test_db in TestDb::all().await {
        let (app, calendar) = spawn(test_db).await;
        for (key, days) in [("a", 1), ("b", 2), ("c", 3)] {
            calendar
                .add_event_in_google(ACCOUNT_EMAIL, &event(key, days))
                .unwrap();
        }

        let connection = connect(&app).await;
        assert_eq!(connection["status"], "active", "{connection}");
        assert_eq!(connection["account"], ACCOUNT_EMAIL);
        assert_eq!(connection["calendar_id"], ACCOUNT_EMAIL);
        assert!(
            !connection.to_string().contains("sim-access"),
            "tokens never shown"
        );
        let id = connection["id"].as_str().unwrap().to_string();

        // The full sync stores the events; the watch opens a channel.
        await_connection(&app, &id, "a sync", |c| !c["last_synced_at"].is_null()).await;
        await_event_count(&app, &id, 3).await;
        for _ in 0..200 {
            if !calendar.open_channels().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(calendar.open_channels().len(), 1);

        let (status, list) = app
            .call(
                Method::GET,
                &format!("/v1/calendar/connections/{id}/calendars"),
                Some(&app.key),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let calendars = list["data"].as_array().unwrap();
        assert_eq!(calendars.len(), 2);
        let holiday = calendars
            .iter()
            .find(|c| c["id"] == HOLIDAY_CALENDAR_ID)
            .unwrap();
        assert_eq!(holiday["writable"], false);

        // An assistant books into a writable calendar of the connection, never a read-only one.
        let assistant = app.create_assistant(marcel()).await;
        let (status, refused) = app
            .call(
                Method::PATCH,
                &format!("/v1/assistants/{assistant}"),
                Some(&app.key),
                Some(
                    json!({"calendar": {"connection_id": id, "calendar_id": HOLIDAY_CALENDAR_ID}}),
                ),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert_eq!(
            refused["errors"][0]["field"], "calendar.calendar_id",
            "{refused}"
        );
        let (status, changed) = app
            .call(
                Method::PATCH,
                &format!("/v1/assistants/{assistant}"),
                Some(&app.key),
                Some(json!({"calendar": {"connection_id": id, "calendar_id": ACCOUNT_EMAIL}})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{changed}");
        assert_eq!(changed["calendar"]["connection_id"], id.as_str());

        // Cancelled in Google: the notification queues an incremental sync that removes it.
        let notifier = CalendarNotifier::new(&app.base).unwrap();
        let notes = calendar
            .cancel_event_in_google(ACCOUNT_EMAIL, &event_id_for("b"))
            .unwrap();
        assert_eq!(notes.len(), 1);
        assert_eq!(notifier.deliver(&notes[0]).await.unwrap(), 200);
        await_event_count(&app, &id, 2).await;

        // A notification with another token is refused.
        let mut forged = notes[0].clone();
        forged.token = SecretString::from("not-the-channel-token");
        forged.message_number += 100;
        assert_eq!(notifier.deliver(&forged).await.unwrap(), 401);

        // The owner revokes our access: the next sync marks the connection, and is not retried.
        calendar.revoke_all_grants();
        let notes = calendar
            .add_event_in_google(ACCOUNT_EMAIL, &event("d", 4))
            .unwrap();
        assert_eq!(notifier.deliver(&notes[0]).await.unwrap(), 200);
        let lost = await_connection(&app, &id, "needs_reconnect", |c| {
            c["status"] == "needs_reconnect"
        })
        .await;
        assert!(
            lost["status_reason"]
                .as_str()
                .unwrap()
                .contains("invalid_grant"),
            "{lost}"
        );
        for _ in 0..200 {
            let counts = admin::counts(&app.test_db.db, "calendar").await.unwrap();
            if counts.get(&JobState::Dead).copied().unwrap_or(0) >= 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let counts = admin::counts(&app.test_db.db, "calendar").await.unwrap();
        assert_eq!(
            counts.get(&JobState::Dead).copied().unwrap_or(0),
            1,
            "{counts:?}"
        );
        assert_eq!(
            counts.get(&JobState::Retrying).copied().unwrap_or(0),
            0,
            "{counts:?}"
        );
        assert_eq!(
            calendar_events::count(&app.test_db.db, &app.org_id, &id)
                .await
                .unwrap(),
            2
        );

        // Disconnecting forgets it and detaches it from the assistant.
        let (status, gone) = app
            .call(
                Method::DELETE,
                &format!("/v1/calendar/connections/{id}"),
                Some(&app.key),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{gone}");
        assert_eq!(gone["status"], "disconnected");
        let (_, a) = app
            .call(
                Method::GET,
                &format!("/v1/assistants/{assistant}"),
                Some(&app.key),
                None,
            )
            .await;
        assert!(a["calendar"].is_null(), "{a}");
        app.stop().await;
    }
}

#[tokio::test]
async fn a_callback_with_a_bad_state_is_refused_naming_it() {
    for test_db in TestDb::all().await {
        let (app, _calendar) = spawn(test_db).await;
        for path in [
            "/oauth/google/callback?code=abc&state=never-given",
            "/oauth/google/callback?code=abc",
        ] {
            let (status, body) = app.call(Method::GET, path, None, None).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
            assert!(
                body["detail"].as_str().unwrap().starts_with("state:"),
                "{body}"
            );
        }
        // Connecting needs the admin scope.
        let reader = crate::test_app::key_for(
            &app.test_db,
            &app.org_id,
            zencall_core::store::api_keys::Scope::Read,
        )
        .await;
        let (status, _) = app
            .call(
                Method::POST,
                "/v1/calendar/connections",
                Some(&reader),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        app.stop().await;
    }
}

#[tokio::test]
async fn without_an_encryption_key_calendars_cannot_be_connected() {
    let sim = Simulator::new(&test_settings().providers.simulator);
    let mut settings = test_settings();
    settings.calendar.encryption_keys.clear();
    settings.calendar.active_key_id.clear();
    let app = TestApp::spawn_with(TestDb::sqlite().await, settings, simulated(&sim)).await;
    let (status, body) = app
        .call(
            Method::POST,
            "/v1/calendar/connections",
            Some(&app.key),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("calendar.encryption_keys"),
        "{body}"
    );
    app.stop().await;
}
