//! Opening hours and availability end to end: structured hours given at creation and changed
//! with PATCH, the simulated Google calendar holding a busy event synced into our store, an
//! appointment booked, and the free slots that remain; bad parameters named, and an assistant
//! without structured hours refused.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc, Weekday};
use chrono_tz::Europe::Paris;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use zencall_core::domain::phone::PhoneNumber;
use zencall_core::store::appointments::{self, Actor, Booking, NewAppointment};
use zencall_core::store::test_db::TestDb;
use zencall_providers::calendar::{EventTime, NewEvent, Transparency, event_id_for};
use zencall_providers::simulated_calendar::ACCOUNT_EMAIL;

use crate::calendar::{await_event_count, connect, spawn};
use crate::test_app::{TestApp, key_for, marcel};

/// A Tuesday at least eight days ahead, so the minimum notice never matters.
fn tuesday() -> NaiveDate {
    let mut day = Utc::now().with_timezone(&Paris).date_naive() + TimeDelta::days(8);
    while day.weekday() != Weekday::Tue {
        day = day.succ_opt().unwrap();
    }
    day
}

/// `hh:mm` on `day` in Paris.
pub(crate) fn paris(day: NaiveDate, hh: u32, mm: u32) -> DateTime<Utc> {
    Paris
        .from_local_datetime(&day.and_time(NaiveTime::from_hms_opt(hh, mm, 0).unwrap()))
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}

fn hours() -> Value {
    json!({
        "time_zone": "Europe/Paris",
        "weekly": {"tuesday": [["09:00", "12:00"], ["14:00", "18:00"]],
                   "saturday": [["09:00", "13:00"]]},
        "holidays": "none",
        "closed_dates": ["2031-12-26"]
    })
}

fn with_hours(hours: Value) -> Value {
    let mut body = marcel();
    body["business"]["hours"] = hours;
    body
}

async fn availability(
    app: &TestApp,
    key: &str,
    assistant: &str,
    query: &str,
) -> (StatusCode, Value) {
    app.call(
        Method::GET,
        &format!("/v1/assistants/{assistant}/availability?{query}"),
        Some(key),
        None,
    )
    .await
}

fn window(day: NaiveDate, duration: u32) -> String {
    let from = paris(day, 0, 0).to_rfc3339();
    let to = paris(day.succ_opt().unwrap(), 0, 0).to_rfc3339();
    serde_urlencoded::to_string([
        ("from", from.as_str()),
        ("to", to.as_str()),
        ("duration", &duration.to_string()),
    ])
    .unwrap()
}

#[tokio::test]
async fn availability_is_the_hours_minus_the_calendars_busy_events_and_the_appointments() {
    for test_db in TestDb::all().await {
        let (app, calendar) = spawn(test_db).await;
        let day = tuesday();

        // Bad hours are refused naming the range.
        let mut bad = hours();
        bad["weekly"]["monday"] = json!([["09:00", "12:00"], ["14:00", "12:00"]]);
        let (status, refused) = app
            .call(
                Method::POST,
                "/v1/assistants",
                Some(&app.key),
                Some(with_hours(bad)),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert_eq!(
            refused["errors"][0]["field"],
            "business.hours.weekly.monday[1]"
        );
        assert_eq!(
            refused["errors"][0]["message"],
            "the range 14:00-12:00 ends before it starts"
        );

        // Given at creation, shown with their defaults; the free text stays.
        let (status, created) = app
            .call(
                Method::POST,
                "/v1/assistants",
                Some(&app.key),
                Some(with_hours(hours())),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{created}");
        let assistant = created["id"].as_str().unwrap().to_string();
        let shown = &created["business"]["hours"];
        assert_eq!(
            shown["weekly"]["tuesday"],
            json!([["09:00", "12:00"], ["14:00", "18:00"]])
        );
        assert_eq!(shown["weekly"]["monday"], json!([]));
        assert_eq!(shown["slot_step_minutes"], 15);
        assert_eq!(shown["min_notice_minutes"], 60);
        assert_eq!(
            created["business"]["opening_hours"],
            "mardi-samedi 12h-14h30, 19h-23h"
        );

        // The calendar holds a busy event 10:00-11:00 and a free one 15:00-16:00.
        for (key, start, transparency) in [
            ("busy", paris(day, 10, 0), Transparency::Opaque),
            ("free", paris(day, 15, 0), Transparency::Transparent),
        ] {
            let event = NewEvent {
                id: event_id_for(key),
                summary: format!("Rendez-vous {key}"),
                description: None,
                location: None,
                start: EventTime::At(start),
                end: EventTime::At(start + TimeDelta::hours(1)),
                time_zone: Some("Europe/Paris".into()),
                transparency,
                private_properties: Default::default(),
            };
            calendar.add_event_in_google(ACCOUNT_EMAIL, &event).unwrap();
        }
        let connection = connect(&app).await;
        let connection_id = connection["id"].as_str().unwrap().to_string();
        await_event_count(&app, &connection_id, 2).await;
        let (status, attached) = app
            .call(
                Method::PATCH,
                &format!("/v1/assistants/{assistant}"),
                Some(&app.key),
                Some(json!({"calendar": {"connection_id": connection_id, "calendar_id": ACCOUNT_EMAIL}})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{attached}");

        // An appointment 14:00-14:30, booked as the assistant will book during a call.
        let booking = NewAppointment {
            assistant_id: assistant.clone(),
            starts_at: paris(day, 14, 0),
            ends_at: paris(day, 14, 30),
            caller_name: "Jeanne Martin".into(),
            caller_number: PhoneNumber::parse("+33612345678", None).unwrap(),
            service: Some("dîner".into()),
            call_id: None,
            actor: Actor::Assistant,
        };
        let outcome = appointments::book(&app.test_db.db, &app.org_id, &booking, Utc::now())
            .await
            .unwrap();
        assert!(matches!(outcome, Booking::Booked(_)), "{outcome:?}");

        // A read key is enough.
        let reader = key_for(
            &app.test_db,
            &app.org_id,
            zencall_core::store::api_keys::Scope::Read,
        )
        .await;
        let (status, slots) = availability(&app, &reader, &assistant, &window(day, 30)).await;
        assert_eq!(status, StatusCode::OK, "{slots}");
        assert_eq!(slots["time_zone"], "Europe/Paris");
        assert_eq!(slots["duration_minutes"], 30);
        let starts: Vec<String> = slots["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["local_start"].as_str().unwrap()[11..16].to_string())
            .collect();
        let mut expected: Vec<String> = ["09:00", "09:15", "09:30", "11:00", "11:15", "11:30"]
            .map(String::from)
            .to_vec();
        // 14:30 to 17:30 every quarter of an hour: the transparent event leaves 15:00-16:00 free.
        for minutes in (14 * 60 + 30..=17 * 60 + 30).step_by(15) {
            expected.push(format!("{:02}:{:02}", minutes / 60, minutes % 60));
        }
        assert_eq!(starts, expected, "{slots}");
        let first = &slots["data"][0];
        assert_eq!(
            first["start"]
                .as_str()
                .unwrap()
                .parse::<DateTime<Utc>>()
                .unwrap(),
            paris(day, 9, 0)
        );
        assert!(
            first["local_end"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{day}T09:30:00"))
        );

        // Bad parameters are named.
        let from = paris(day, 0, 0).to_rfc3339();
        let far = (paris(day, 0, 0) + TimeDelta::days(32)).to_rfc3339();
        for (query, field) in [
            (format!("from={from}&to={far}&duration=30"), "to:"),
            (format!("from={from}&to={from}&duration=30"), "to:"),
            (
                "from=tomorrow&to=2031-01-01T00:00:00Z&duration=30".to_string(),
                "from:",
            ),
            (window(day, 3), "duration:"),
            (window(day, 481), "duration:"),
            (
                window(day, 30).replace("duration=30", "duration=half-hour"),
                "duration:",
            ),
            (window(day, 30).replace("&duration=30", ""), "duration:"),
        ] {
            let query = query.replace('+', "%2B");
            let (status, body) = availability(&app, &app.key, &assistant, &query).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
            assert!(
                body["detail"].as_str().unwrap().starts_with(field),
                "{query}: {body}"
            );
        }

        // Without structured hours: 409 saying what to do. Removed with PATCH, then set again.
        let (status, removed) = app
            .call(
                Method::PATCH,
                &format!("/v1/assistants/{assistant}"),
                Some(&app.key),
                Some(json!({"business": {"hours": null}})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{removed}");
        assert!(removed["business"]["hours"].is_null(), "{removed}");
        assert_eq!(removed["business"]["name"], "Chez Marcel");
        let (status, body) = availability(&app, &app.key, &assistant, &window(day, 30)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(
            body["detail"].as_str().unwrap().contains("business.hours"),
            "{body}"
        );
        let mut saturdays_only = hours();
        saturdays_only["weekly"] = json!({"saturday": [["09:00", "13:00"]]});
        let (status, changed) = app
            .call(
                Method::PATCH,
                &format!("/v1/assistants/{assistant}"),
                Some(&app.key),
                Some(json!({"business": {"hours": saturdays_only}})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{changed}");
        assert_eq!(changed["business"]["hours"]["weekly"]["tuesday"], json!([]));
        let (status, slots) = availability(&app, &app.key, &assistant, &window(day, 30)).await;
        assert_eq!(status, StatusCode::OK, "{slots}");
        assert_eq!(slots["data"], json!([]));
        let (status, refused) = app
            .call(
                Method::PATCH,
                &format!("/v1/assistants/{assistant}"),
                Some(&app.key),
                Some(json!({"business": {"hours": {"time_zone": "Mars/Olympus", "weekly": {}}}})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert_eq!(refused["errors"][0]["field"], "business.hours.time_zone");
        app.stop().await;
    }
}
