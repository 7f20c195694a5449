//! `/v1/appointments` end to end on both backends: booked through the API (its event written
//! to the simulated Google calendar), listed with filters and pages, moved (the event moves),
//! cancelled (the event is deleted), the three `appointment.*` events delivered, bad input
//! refused naming the field, and another organisation's key answered 404.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Europe::Paris;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};
use zencall_core::store::api_keys::Scope;
use zencall_core::store::test_db::TestDb;
use zencall_providers::calendar::{EventStatus, EventTime};

use crate::billing::await_some;
use crate::calendar::{connect, spawn};
use crate::test_app::{TestApp, key_for, new_org_key};
use crate::tool_calls::{assistant, await_event, tuesday, with_hours};

/// `hh:mm` in Paris on `day`, as an instant.
fn at(day: NaiveDate, hh: u32, mm: u32) -> DateTime<Utc> {
    day.and_hms_opt(hh, mm, 0)
        .unwrap()
        .and_local_timezone(Paris)
        .unwrap()
        .with_timezone(&Utc)
}

fn instant(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

/// The fields a 422 names.
fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect()
}

async fn book(app: &TestApp, body: Value) -> (StatusCode, Value) {
    app.call(Method::POST, "/v1/appointments", Some(&app.key), Some(body))
        .await
}

async fn get(app: &TestApp, path: &str) -> (StatusCode, Value) {
    app.call(Method::GET, path, Some(&app.key), None).await
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_api_books_lists_moves_and_cancels_an_appointment_and_its_event_follows() {
    for test_db in TestDb::all().await {
        let (app, calendar) = spawn(test_db).await;
        let hooks = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&hooks)
            .await;
        let (status, endpoint) = app
            .call(
                Method::POST,
                "/v1/webhook-endpoints",
                Some(&app.key),
                Some(json!({"url": hooks.uri(), "event_types":
                    ["appointment.booked", "appointment.updated", "appointment.cancelled"]})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{endpoint}");
        let connection = connect(&app).await;
        let connection_id = connection["id"].as_str().unwrap().to_string();
        let (asst, _) = assistant(&app, with_hours(), Some(&connection_id)).await;
        let day = tuesday();

        // Booked at 10:00 (Paris) for 30 minutes: 201, with its history and reminder.
        let (status, booked) = book(
            &app,
            json!({"assistant_id": asst, "start": at(day, 10, 0).to_rfc3339(),
                   "duration_minutes": 30, "caller_name": " Jeanne Martin ",
                   "caller_number": "06 12 34 56 78", "service": "coupe"}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{booked}");
        let id = booked["id"].as_str().unwrap().to_string();
        assert!(id.starts_with("appt_"), "{booked}");
        assert_eq!(booked["object"], "appointment");
        assert_eq!(booked["status"], "booked");
        assert_eq!(instant(&booked["start"]), at(day, 10, 0));
        assert_eq!(instant(&booked["end"]), at(day, 10, 30));
        assert_eq!(booked["duration_minutes"], 30);
        assert_eq!(booked["caller_name"], "Jeanne Martin");
        assert_eq!(booked["caller_number"], "+33612345678");
        assert_eq!(booked["call_id"], Value::Null);
        assert_eq!(booked["history"][0]["kind"], "booked");
        assert_eq!(booked["history"][0]["actor"], "api");
        assert_eq!(booked["reminder"]["status"], "scheduled", "{booked}");
        assert_eq!(
            instant(&booked["reminder"]["due_at"]),
            at(day, 10, 0) - TimeDelta::hours(24)
        );
        // PushAppointment wrote its event.
        let event = await_event(&calendar, &id, "the booked event", |e| {
            e.status != EventStatus::Cancelled
        })
        .await;
        assert_eq!(event.start, Some(EventTime::At(at(day, 10, 0))));
        let shown = await_some("the event recorded", || async {
            let (_, a) = get(&app, &format!("/v1/appointments/{id}")).await;
            (!a["calendar_event"].is_null()).then_some(a)
        })
        .await;
        assert_eq!(
            shown["calendar_event"]["connection_id"],
            connection_id.as_str()
        );
        assert_eq!(shown["calendar_event"]["event_id"], event.id.as_str());

        // A second one at 15:00, given by its end.
        let (status, second) = book(
            &app,
            json!({"assistant_id": asst, "start": at(day, 15, 0).to_rfc3339(),
                   "end": at(day, 15, 45).to_rfc3339(), "caller_name": "Paul",
                   "caller_number": "+33611111111"}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{second}");
        assert_eq!(second["duration_minutes"], 45);
        let second_id = second["id"].as_str().unwrap().to_string();

        // Refusals: taken (409), closed, too soon, bad input (422 naming the field), unknown
        // assistant (404), a read-only key (403).
        let body = |start: DateTime<Utc>| {
            json!({"assistant_id": asst, "start": start.to_rfc3339(), "duration_minutes": 30,
                   "caller_name": "Eve", "caller_number": "+33622222222"})
        };
        let (status, taken) = book(&app, body(at(day, 10, 15))).await;
        assert_eq!(status, StatusCode::CONFLICT, "{taken}");
        let (status, closed) = book(&app, body(at(day, 12, 30))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{closed}");
        assert_eq!(fields(&closed), ["start"]);
        let (status, soon) = book(&app, body(Utc::now() - TimeDelta::days(1))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{soon}");
        assert_eq!(fields(&soon), ["start"]);
        let mut bad = body(at(day, 9, 0));
        bad["caller_number"] = json!("12");
        let (status, problem) = book(&app, bad).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(fields(&problem), ["caller_number"]);
        let (status, problem) = book(
            &app,
            json!({"assistant_id": asst, "start": "mardi", "duration_minutes": 1000}),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(
            fields(&problem),
            ["start", "duration_minutes", "caller_name", "caller_number"]
        );
        let mut unknown = body(at(day, 9, 0));
        unknown["assistant_id"] = json!("asst_nope");
        let (status, problem) = book(&app, unknown).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
        let reader = key_for(&app.test_db, &app.org_id, Scope::Read).await;
        let (status, problem) = app
            .call(
                Method::POST,
                "/v1/appointments",
                Some(&reader),
                Some(body(at(day, 9, 0))),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");

        // Lists: latest start first, filtered, paged.
        let (status, all) = get(&app, "/v1/appointments").await;
        assert_eq!(status, StatusCode::OK, "{all}");
        assert_eq!(ids(&all), [second_id.clone(), id.clone()]);
        assert!(all["data"][0].get("history").is_none(), "{all}");
        let (_, page) = get(&app, "/v1/appointments?limit=1").await;
        assert_eq!(ids(&page), [second_id.as_str()]);
        assert_eq!(page["has_more"], true);
        let (_, next) = get(
            &app,
            &format!("/v1/appointments?limit=1&starting_after={second_id}"),
        )
        .await;
        assert_eq!(ids(&next), [id.as_str()]);
        assert_eq!(next["has_more"], false);
        let window = format!(
            "/v1/appointments?assistant_id={asst}&status=booked&from={}&to={}",
            urlencode(at(day, 9, 0)),
            urlencode(at(day, 12, 0))
        );
        let (status, morning) = get(&app, &window).await;
        assert_eq!(status, StatusCode::OK, "{morning}");
        assert_eq!(ids(&morning), [id.as_str()]);
        let (_, none) = get(&app, "/v1/appointments?assistant_id=asst_other").await;
        assert_eq!(ids(&none), Vec::<String>::new());
        for (query, field) in [
            ("status=done", "status"),
            ("from=tomorrow", "from"),
            ("to=2026-13-01T00:00:00Z", "to"),
            ("limit=0", "limit"),
            ("starting_after=appt_nope", "starting_after"),
        ] {
            let (status, problem) = get(&app, &format!("/v1/appointments?{query}")).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {problem}");
            assert!(
                problem["detail"].as_str().unwrap().starts_with(field),
                "{query}: {problem}"
            );
        }

        // Moved to 11:00, keeping its length: the event moves with it.
        let (status, moved) = app
            .call(
                Method::PATCH,
                &format!("/v1/appointments/{id}"),
                Some(&app.key),
                Some(json!({"start": at(day, 11, 0).to_rfc3339(), "reason": "client late"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{moved}");
        assert_eq!(instant(&moved["start"]), at(day, 11, 0));
        assert_eq!(instant(&moved["end"]), at(day, 11, 30));
        assert_eq!(moved["history"][1]["kind"], "moved");
        assert_eq!(moved["history"][1]["actor"], "api");
        assert_eq!(moved["history"][1]["reason"], "client late");
        await_event(&calendar, &id, "the event moved", |e| {
            e.start == Some(EventTime::At(at(day, 11, 0)))
                && e.end == Some(EventTime::At(at(day, 11, 30)))
        })
        .await;
        // Onto the other appointment: 409; into the lunch break: 422; nonsense: 422.
        for (patch, expected, field) in [
            (
                json!({"start": at(day, 15, 15).to_rfc3339()}),
                StatusCode::CONFLICT,
                None,
            ),
            (
                json!({"start": at(day, 12, 0).to_rfc3339(), "duration_minutes": 30}),
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("start"),
            ),
            (
                json!({"status": "booked"}),
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("status"),
            ),
            (json!({}), StatusCode::UNPROCESSABLE_ENTITY, Some("status")),
            (
                json!({"start": at(day, 9, 0).to_rfc3339(), "end": at(day, 8, 0).to_rfc3339()}),
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("end"),
            ),
        ] {
            let (status, problem) = app
                .call(
                    Method::PATCH,
                    &format!("/v1/appointments/{id}"),
                    Some(&app.key),
                    Some(patch.clone()),
                )
                .await;
            assert_eq!(status, expected, "{patch}: {problem}");
            if let Some(field) = field {
                assert_eq!(fields(&problem), [field], "{patch}: {problem}");
            }
        }

        // The second is cancelled by DELETE, twice without error; the event is deleted.
        let path = format!("/v1/appointments/{second_id}?reason=plus%20besoin");
        let (status, cancelled) = app.call(Method::DELETE, &path, Some(&app.key), None).await;
        assert_eq!(status, StatusCode::OK, "{cancelled}");
        assert_eq!(cancelled["status"], "cancelled");
        assert_eq!(cancelled["cancel_reason"], "plus besoin");
        assert_eq!(cancelled["reminder"]["status"], "none");
        let (status, again) = app
            .call(
                Method::DELETE,
                &format!("/v1/appointments/{second_id}"),
                Some(&app.key),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_eq!(again["history"].as_array().unwrap().len(), 2, "{again}");
        await_event(&calendar, &second_id, "the second event deleted", |e| {
            e.status == EventStatus::Cancelled
        })
        .await;
        // Its slot is free again (once the deletion is synced back): the first moves there.
        let free = format!(
            "/v1/assistants/{asst}/availability?from={}&to={}&duration=45",
            urlencode(at(day, 15, 0)),
            urlencode(at(day, 15, 45))
        );
        await_some("the second's slot free again", || async {
            let (_, slots) = get(&app, &free).await;
            (slots["data"].as_array().map(Vec::len) == Some(1)).then_some(())
        })
        .await;
        let (status, there) = app
            .call(
                Method::PATCH,
                &format!("/v1/appointments/{id}"),
                Some(&app.key),
                Some(json!({"start": at(day, 15, 0).to_rfc3339(), "duration_minutes": 45})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{there}");
        assert_eq!(there["duration_minutes"], 45);

        // The first is cancelled by PATCH; then nothing more can change it.
        let (status, cancelled) = app
            .call(
                Method::PATCH,
                &format!("/v1/appointments/{id}"),
                Some(&app.key),
                Some(json!({"status": "cancelled", "reason": "fermé"})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{cancelled}");
        assert_eq!(cancelled["status"], "cancelled");
        let kinds: Vec<&str> = cancelled["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["booked", "moved", "moved", "cancelled"]);
        for patch in [
            json!({"status": "cancelled"}),
            json!({"start": at(day, 9, 0).to_rfc3339()}),
        ] {
            let (status, problem) = app
                .call(
                    Method::PATCH,
                    &format!("/v1/appointments/{id}"),
                    Some(&app.key),
                    Some(patch.clone()),
                )
                .await;
            assert_eq!(status, StatusCode::CONFLICT, "{patch}: {problem}");
        }
        await_event(&calendar, &id, "the first event deleted", |e| {
            e.status == EventStatus::Cancelled
        })
        .await;
        let (_, gone) = get(&app, "/v1/appointments?status=cancelled").await;
        assert_eq!(ids(&gone).len(), 2);

        // Our endpoint heard of the first one's booking, both moves and its cancellation.
        let types = await_some("the first one's events delivered", || async {
            let types: Vec<String> = hooks
                .received_requests()
                .await
                .unwrap()
                .iter()
                .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
                .filter(|e| e["data"]["id"] == id.as_str())
                .map(|e| e["type"].as_str().unwrap().to_string())
                .collect();
            (types.len() >= 4).then_some(types)
        })
        .await;
        let mut sorted = types.clone();
        sorted.sort();
        assert_eq!(
            sorted,
            [
                "appointment.booked",
                "appointment.cancelled",
                "appointment.updated",
                "appointment.updated"
            ],
            "{types:?}"
        );

        // Another organisation sees and changes none of it.
        let (_, intruder) = new_org_key(&app.test_db, Scope::Admin).await;
        for (verb, body) in [
            (Method::GET, None),
            (Method::PATCH, Some(json!({"status": "cancelled"}))),
            (Method::DELETE, None),
        ] {
            let (status, answer) = app
                .call(
                    verb.clone(),
                    &format!("/v1/appointments/{second_id}"),
                    Some(&intruder),
                    body,
                )
                .await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{verb}: {answer}");
        }
        let (status, theirs) = app
            .call(Method::GET, "/v1/appointments", Some(&intruder), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{theirs}");
        assert_eq!(ids(&theirs), Vec::<String>::new());
        let (status, problem) = app
            .call(
                Method::POST,
                "/v1/appointments",
                Some(&intruder),
                Some(body(at(day, 9, 0))),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
        app.stop().await;
    }
}

/// An instant for a query string (`+` would read as a space).
fn urlencode(t: DateTime<Utc>) -> String {
    t.to_rfc3339().replace('+', "%2B")
}
